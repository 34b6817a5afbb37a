package elasticsearch

import (
	"context"
	"errors"
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

	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	info, err := s.info(ctx)
	if err != nil {
		var ee *esError
		if errors.As(err, &ee) {
			reach.OK = true
			reach.Detail = "answered at " + where
			auth.Detail = ee.Error()
			if ee.Status != 401 && ee.Status != 403 {
				auth.Detail = "GET / failed: " + ee.Error()
			}
			idx.Detail = "skipped: not authenticated"
			return []Check{reach, auth, idx}
		}
		reach.Detail = err.Error()
		auth.Detail, idx.Detail = "skipped: cluster not reachable", "skipped: cluster not reachable"
		return []Check{reach, auth, idx}
	}
	reach.OK = true
	reach.Detail = "Elasticsearch " + info.Version.Number + ", cluster " + info.ClusterName + " at " + where
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
