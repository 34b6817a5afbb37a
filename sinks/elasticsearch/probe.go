package elasticsearch

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
)

// Check is one line of `lagship check`.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// Probe checks that the cluster answers, that the credentials are accepted
// and what state the index is in. It changes nothing. No detail ever
// contains a password or an API key.
func (s *Sink) Probe(ctx context.Context) []Check {
	where := strings.Join(s.cfg.Addresses, ", ")
	reach := Check{Name: "elasticsearch reachable"}
	auth := Check{Name: "elasticsearch authentication"}
	idx := Check{Name: "elasticsearch index " + s.cfg.Index}

	res, err := s.es.Info(s.es.Info.WithContext(ctx))
	if err != nil {
		reach.Detail = "no answer from " + where + ": " + err.Error()
		auth.Detail, idx.Detail = "skipped: cluster not reachable", "skipped: cluster not reachable"
		return []Check{reach, auth, idx}
	}
	defer closeBody(res)
	reach.OK = true
	if res.IsError() {
		reach.Detail = "answered at " + where
		e := responseError(res)
		auth.Detail = e.Error()
		if res.StatusCode != 401 && res.StatusCode != 403 {
			auth.Detail = "GET / failed: " + e.Error()
		}
		idx.Detail = "skipped: not authenticated"
		return []Check{reach, auth, idx}
	}
	var info struct {
		ClusterName string `json:"cluster_name"`
		Version     struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	_ = json.NewDecoder(res.Body).Decode(&info)
	reach.Detail = "Elasticsearch " + info.Version.Number + ", cluster " + info.ClusterName + " at " + where
	if major, _, _ := strings.Cut(info.Version.Number, "."); major != "" {
		if n, err := strconv.Atoi(major); err == nil && n < 8 {
			reach.OK = false
			reach.Detail += ": lagship needs Elasticsearch 8"
		}
	}
	auth.OK = true
	switch {
	case s.cfg.APIKey != "":
		auth.Detail = "API key accepted"
	case s.cfg.Username != "":
		auth.Detail = "user " + s.cfg.Username + " accepted"
	default:
		auth.Detail = "no credentials configured; the cluster allows anonymous access"
	}

	st, err := s.InspectIndex(ctx)
	if err != nil {
		idx.Detail = err.Error()
		return []Check{reach, auth, idx}
	}
	idx.OK = !st.NeedsTopicFix() && len(st.IntegerLagFields) == 0
	idx.Detail = st.Summary()
	if st.NeedsTopicFix() {
		idx.Detail += ". Fix it in place from Kibana Dev Tools with:\n\n" + st.FixRequests()
	}
	if len(st.IntegerLagFields) > 0 {
		idx.Detail += ". Partition fields " + strings.Join(st.IntegerLagFields, ", ") +
			" are integer: lags above 2147483647 will be rejected; use a new index created by lagship"
	}
	return []Check{reach, auth, idx}
}
