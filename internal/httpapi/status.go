package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/lagship/lagship/pipeline/status"
)

// StatusDoc is the /status answer. Fields are absent when unknown.
type StatusDoc struct {
	Time    string         `json:"time"`
	Mirrors []MirrorStatus `json:"mirrors"`
	// Coordination is the agents' group, when the agent is in one.
	Coordination any `json:"coordination,omitempty"`
}

// MirrorStatus is one mirror in /status.
type MirrorStatus struct {
	Name    string        `json:"name"`
	Method  string        `json:"method"`
	Cluster string        `json:"cluster,omitempty"`
	Group   string        `json:"group,omitempty"`
	Status  string        `json:"status,omitempty"`
	Topics  []TopicStatus `json:"topics"`
}

// TopicStatus is one topic in /status.
type TopicStatus struct {
	Topic          string            `json:"topic"`
	Status         string            `json:"status,omitempty"`
	TotalLag       int64             `json:"total_lag"`
	MaxLag         int64             `json:"max_lag"`
	MaxTimeLag     *float64          `json:"max_time_lag,omitempty"`
	PartitionCount int               `json:"partition_count"`
	Partitions     []PartitionStatus `json:"partitions"`

	at      time.Time
	known   int
	history []int64
}

// PartitionStatus is one partition in /status.
type PartitionStatus struct {
	Partition int      `json:"partition"`
	Status    string   `json:"status,omitempty"`
	Lag       *int64   `json:"lag,omitempty"`
	TimeLag   *float64 `json:"time_lag,omitempty"`
	Committed *int64   `json:"committed,omitempty"`
	LogEnd    *int64   `json:"log_end,omitempty"`
}

func seconds(d time.Duration) *float64 {
	v := math.Round(d.Seconds()*1000) / 1000
	return &v
}

func known(v int64) *int64 {
	if v < 0 {
		return nil
	}
	return &v
}

// statusDoc builds the answer, filtered by mirror and topic ("" = all).
func (s *Server) statusDoc(mirror, topic string) StatusDoc {
	byMirror := map[string][]status.TopicStatus{}
	for _, t := range s.topics() {
		byMirror[t.Target.Mirror] = append(byMirror[t.Target.Mirror], t)
	}
	doc := StatusDoc{Time: s.now().UTC().Format(time.RFC3339), Mirrors: []MirrorStatus{}}
	for _, m := range s.mirrors() {
		if mirror != "" && m.Name != mirror {
			continue
		}
		ms := MirrorStatus{Name: m.Name, Method: m.Method, Cluster: m.Cluster, Group: m.Group, Topics: []TopicStatus{}}
		var worst status.Status
		for _, t := range byMirror[m.Name] {
			if topic != "" && t.Target.Topic != topic {
				continue
			}
			worst = status.Worse(worst, t.Status)
			ts := TopicStatus{Topic: t.Target.Topic, Status: t.Status.String(), TotalLag: t.TotalLag, MaxLag: t.MaxLag,
				PartitionCount: len(t.Partitions), Partitions: make([]PartitionStatus, len(t.Partitions)),
				at: t.At, known: t.Known, history: t.History}
			if t.HasTimeLag {
				ts.MaxTimeLag = seconds(t.MaxTimeLag)
			}
			for p, r := range t.Partitions {
				ps := PartitionStatus{Partition: p, Status: r.Status.String(), Lag: known(r.Lag), Committed: known(r.Committed), LogEnd: known(r.LogEnd)}
				if r.HasTimeLag {
					ps.TimeLag = seconds(r.TimeLag)
				}
				ts.Partitions[p] = ps
			}
			if t.Target.Cluster != "" {
				ms.Cluster = t.Target.Cluster
			}
			if t.Target.Group != "" {
				ms.Group = t.Target.Group
			}
			ms.Topics = append(ms.Topics, ts)
		}
		ms.Status = worst.String()
		doc.Mirrors = append(doc.Mirrors, ms)
	}
	sort.Slice(doc.Mirrors, func(i, j int) bool { return doc.Mirrors[i].Name < doc.Mirrors[j].Name })
	if s.agent.Coordination != nil {
		doc.Coordination = s.agent.Coordination()
	}
	return doc
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.statusDoc(r.URL.Query().Get("mirror"), r.URL.Query().Get("topic")))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// writeProblems answers 200 {"status":ok} or 503 with the problems.
func writeProblems(w http.ResponseWriter, problems []Problem, ok string) {
	if len(problems) == 0 {
		writeJSON(w, http.StatusOK, map[string]any{"status": ok})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not " + ok, "problems": problems})
}
