package elasticsearch

import (
	"context"
	"errors"
	"fmt"
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

	if s.cfg.DataStream {
		return append([]Check{reach, auth}, s.probeStream(ctx, info)...)
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

// probeStream reports the data stream, its template and its retention:
// what exists, what differs from the settings and what lagship sends at
// start to make them agree.
func (s *Sink) probeStream(ctx context.Context, info serverInfo) []Check {
	name := s.cfg.Index
	stream := Check{Name: "elasticsearch data stream " + name}
	st, err := s.inspectStream(ctx, info)
	if err != nil {
		stream.Detail = err.Error()
		return []Check{stream}
	}
	steps, perr := s.plan(st)
	if perr != nil {
		stream.Detail = perr.Error()
		return []Check{stream}
	}
	stream.OK = true
	switch {
	case !st.Exists:
		stream.Detail = "does not exist; lagship creates it at start"
	default:
		kind := "data stream"
		if st.TimeSeries {
			kind = "time series data stream"
		}
		stream.Detail = fmt.Sprintf("%s with %d backing indices (write index %s)", kind, len(st.BackingIndices), st.BackingIndices[len(st.BackingIndices)-1])
		if len(st.TimeRanges) > 0 {
			stream.Detail += fmt.Sprintf("; accepts @timestamp from %s on", st.TimeRanges[0][0])
		}
		switch {
		case st.HasLifecycle && st.Retention != "":
			stream.Detail += "; lifecycle retention " + st.Retention
		case st.HasLifecycle:
			stream.Detail += "; lifecycle without retention"
		case st.ILMPolicy != "":
			stream.Detail += "; ILM policy " + st.ILMPolicy
		default:
			stream.Detail += "; no retention"
		}
		if st.Lifecycle && s.cfg.Retention != "" && !sameRetention(st.Retention, s.cfg.Retention, st.HasLifecycle) {
			stream.Detail += " (settings say " + s.cfg.Retention + ": lagship updates it at start)"
		}
	}
	tmpl := Check{Name: "elasticsearch index template " + s.TemplateName(), OK: true}
	switch {
	case !st.TemplateExists:
		tmpl.Detail = "does not exist; lagship installs it at start"
	case !st.TemplateCurrent:
		tmpl.Detail = "differs from what the settings make (retention, tsds, mapping or an older lagship); lagship updates it at start"
	default:
		tmpl.Detail = "up to date"
	}
	checks := []Check{stream, tmpl}
	if st.PolicyWanted {
		pol := Check{Name: "elasticsearch ILM policy " + name, OK: true}
		switch {
		case !st.PolicyExists:
			pol.Detail = "does not exist; lagship installs it at start (Elasticsearch " + st.Version + " predates the data stream lifecycle of 8.14)"
		case !st.PolicyCurrent:
			pol.Detail = "differs from the settings (retention " + s.cfg.Retention + "); lagship updates it at start"
		default:
			pol.Detail = "up to date: deletes backing indices " + s.cfg.Retention + " after their rollover"
		}
		checks = append(checks, pol)
	}
	if s.cfg.Retention == "" {
		checks[0].Detail += ". retention is empty: Elasticsearch keeps every document forever"
	}
	if len(steps) > 0 {
		var what []string
		for _, stp := range steps {
			what = append(what, stp.what)
		}
		checks[0].Detail += ". At start lagship sends: " + strings.Join(what, ", ")
	}
	return checks
}
