package httpapi

import (
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/pipeline/status"
)

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"cls": func(s string) string {
		if s == "-" {
			return ""
		}
		return strings.ToLower(s)
	},
}).Parse(pageHTML))

type pageData struct {
	Version    string
	Uptime     string
	Now        string
	Query      string
	Refresh    int
	Components []componentRow
	Mirrors    []pageMirror
	Topics     int
	Shown      int
}

type componentRow struct {
	Name, State, Detail string
	Bad                 bool
}

type pageMirror struct {
	Name, Method, Where, Status string
	Rows                        []pageRow
}

type pageRow struct {
	Topic, Status, TimeLag, Partitions string
	TotalLag, MaxLag                   int64
	Spark                              template.HTML
	rank                               status.Status
}

// humanize writes a duration as "4m 12s", "2h 3m", "850ms".
func humanize(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm %ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// sparkline draws the history as an inline SVG polyline (no script).
func sparkline(h []int64) template.HTML {
	if len(h) < 2 {
		return ""
	}
	const w, ht = 120.0, 24.0
	lo, hi := h[0], h[0]
	for _, v := range h {
		lo, hi = min(lo, v), max(hi, v)
	}
	span := float64(hi - lo)
	var pts strings.Builder
	for i, v := range h {
		x := w * float64(i) / float64(len(h)-1)
		y := ht - 2
		if span > 0 {
			y = ht - 2 - (ht-4)*float64(v-lo)/span
		}
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
	}
	return template.HTML(fmt.Sprintf(`<svg class="spark" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="total lag over the last %d ticks, from %d to %d"><polyline fill="none" stroke="currentColor" stroke-width="1.5" points="%s"/></svg>`,
		w, ht, w, ht, len(h), h[0], h[len(h)-1], strings.TrimSpace(pts.String())))
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	doc := s.statusDoc("", "")
	data := pageData{
		Version: s.agent.Version,
		Uptime:  humanize(s.now().Sub(s.agent.Started).Round(time.Second)),
		Now:     s.now().UTC().Format("2006-01-02 15:04:05Z"),
		Query:   q,
		Refresh: 5,
	}
	for _, rep := range s.agent.Components {
		for _, st := range rep.Health() {
			row := componentRow{Name: st.Component, State: string(st.State), Bad: st.State != health.Up}
			var parts []string
			if st.Detail != "" {
				parts = append(parts, st.Detail)
			}
			if v, ok := st.Counters["spooled"]; ok && v > 0 {
				parts = append(parts, fmt.Sprintf("%d documents (%s) in the spool", v, humanBytes(st.Counters["spool_bytes"])))
			}
			if st.LastError != "" && st.State != health.Up {
				parts = append(parts, "last error: "+st.LastError)
			}
			row.Detail = strings.Join(parts, "; ")
			data.Components = append(data.Components, row)
		}
	}
	sort.SliceStable(data.Components, func(i, j int) bool { return data.Components[i].Bad && !data.Components[j].Bad })
	for _, m := range doc.Mirrors {
		pm := pageMirror{Name: m.Name, Method: m.Method, Where: strings.Trim(m.Cluster+" · "+m.Group, " ·"), Status: orDash(m.Status)}
		for _, t := range m.Topics {
			data.Topics++
			if q != "" && !strings.Contains(strings.ToLower(m.Name+" "+t.Topic+" "+t.Status), strings.ToLower(q)) {
				continue
			}
			st, _ := status.Parse(t.Status)
			row := pageRow{Topic: t.Topic, Status: orDash(t.Status), TotalLag: t.TotalLag, MaxLag: t.MaxLag, rank: st,
				Partitions: fmt.Sprintf("%d/%d", t.known, t.PartitionCount), TimeLag: "-", Spark: sparkline(t.history)}
			if t.MaxTimeLag != nil {
				row.TimeLag = humanize(time.Duration(*t.MaxTimeLag * float64(time.Second)))
			}
			pm.Rows = append(pm.Rows, row)
			data.Shown++
		}
		sort.SliceStable(pm.Rows, func(i, j int) bool {
			if pm.Rows[i].rank != pm.Rows[j].rank {
				return pm.Rows[i].rank > pm.Rows[j].rank
			}
			return pm.Rows[i].Topic < pm.Rows[j].Topic
		})
		data.Mirrors = append(data.Mirrors, pm)
	}
	// Worst mirror first.
	sort.SliceStable(data.Mirrors, func(i, j int) bool {
		a, _ := status.Parse(data.Mirrors[i].Status)
		b, _ := status.Parse(data.Mirrors[j].Status)
		return a > b
	})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	if err := pageTmpl.Execute(w, data); err != nil {
		s.log.Error("rendering the status page", "error", err)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanBytes writes a size in B, KiB, MiB or GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 2 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMG"[i])
}
