package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"
)

// sender delivers a batch of messages in one attempt.
type sender interface {
	send(ctx context.Context, batch []Event) result
	// batch is how many messages one request may carry.
	batch() int
}

// result is one attempt's outcome.
type result struct {
	code       int    // HTTP status (0: no answer)
	answer     string // the receiver's answer, trimmed
	err        error  // nil: delivered
	permanent  bool   // do not retry
	retryAfter time.Duration
}

// maxAnswer is how much of a receiver's answer is kept for the log.
const maxAnswer = 512

// poster is the HTTP part every sender shares.
type poster struct {
	url      string
	redacted string
	headers  http.Header
	client   *http.Client
	secrets  *redactor
}

func newPoster(n *Notifier, endpoint string) *poster {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "lagship")
	var values []string
	for k, v := range n.Headers {
		h.Set(k, v.Reveal())
		values = append(values, v.Reveal())
	}
	return &poster{
		url: endpoint, redacted: RedactURL(endpoint), headers: h, secrets: newRedactor(endpoint, values),
		client: &http.Client{
			Timeout: time.Duration(n.Timeout),
			// A redirect is an answer to show, not to follow: its
			// Location would end up in errors.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// post sends body once. Neither its errors nor the answer it keeps carry
// the URL's path or query or a header value.
func (p *poster) post(ctx context.Context, body []byte) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return result{err: fmt.Errorf("building the request to %s failed", p.redacted), permanent: true}
	}
	req.Header = p.headers.Clone()
	res, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return result{err: fmt.Errorf("POST %s: %s", p.redacted, p.secrets.scrub(err.Error()))}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	// Redacted before it is cut, so that no piece of a secret remains.
	r := result{code: res.StatusCode, answer: trimAnswer(p.secrets.scrub(string(b)))}
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return r
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusRequestTimeout || res.StatusCode >= 500:
		r.retryAfter, _ = ParseRetryAfter(res.Header.Get("Retry-After"), time.Now())
	default:
		r.permanent = true
	}
	// The reason phrase is the receiver's too.
	r.err = fmt.Errorf("POST %s: %s", p.redacted, p.secrets.scrub(res.Status))
	return r
}

func trimAnswer(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxAnswer {
		s = s[:maxAnswer] + "…"
	}
	return s
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date (RFC 9110 §10.2.3), relative to now. A date in the past is 0. It
// reports false for an empty or unreadable value.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	switch {
	case d < 0:
		return 0, true
	case d > maxRetryAfter:
		return maxRetryAfter, true
	}
	return d, true
}

// maxRetryAfter caps what a receiver may ask for: the whole retry budget.
const maxRetryAfter = DefaultGiveUp

// webhook posts one message per request: the default JSON, or the template.
type webhook struct {
	*poster
	tmpl *template.Template
}

func newWebhook(n *Notifier) (*webhook, error) {
	w := &webhook{poster: newPoster(n, n.URL.Reveal())}
	if n.Template != "" {
		t, err := parseTemplate(n.Name, n.Template)
		if err != nil {
			return nil, err
		}
		w.tmpl = t
	}
	return w, nil
}

func (w *webhook) batch() int { return 1 }

// Body renders the body of ev.
func (w *webhook) body(ev *Event) ([]byte, error) {
	if w.tmpl == nil {
		return json.Marshal(ev)
	}
	var b bytes.Buffer
	if err := w.tmpl.Execute(&b, ev.templateData()); err != nil {
		return nil, fmt.Errorf("rendering the template: %s", strings.TrimPrefix(err.Error(), "template: "))
	}
	return b.Bytes(), nil
}

func (w *webhook) send(ctx context.Context, batch []Event) result {
	var r result
	for i := range batch {
		b, err := w.body(&batch[i])
		if err != nil {
			return result{err: err, permanent: true}
		}
		if r = w.post(ctx, b); r.err != nil {
			return r
		}
	}
	return r
}

// Alert is Alertmanager's postableAlert (API v2), without generatorURL:
// lagship has no page of its own to link an alert to.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    string            `json:"startsAt,omitempty"`
	EndsAt      string            `json:"endsAt,omitempty"`
}

// AlertName is the alertname label of every alert lagship sends.
const AlertName = "MirrorMakerLag"

// alertmanager posts every queued message in one request to
// <url>/api/v2/alerts. The status is a label, so an update (WARN → STOP)
// ends the alert of the old status and starts one of the new.
type alertmanager struct {
	*poster
	mu   sync.Mutex
	open map[Key]string // the status label last sent firing
}

func newAlertmanager(n *Notifier) *alertmanager {
	u := strings.TrimRight(n.URL.Reveal(), "/") + "/api/v2/alerts"
	return &alertmanager{poster: newPoster(n, u), open: map[Key]string{}}
}

func (a *alertmanager) batch() int { return 500 }

// alerts are the alerts that carry ev: for a firing message, the alert of
// its status (and the end of the alert of a previous status); for a
// resolved one, the end of the alert of the last firing status. open is
// the status label now firing for the incident ("" for none).
func (a *alertmanager) alerts(ev *Event) (out []Alert, open string) {
	a.mu.Lock()
	was, ok := a.open[ev.key()]
	a.mu.Unlock()
	at := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	mk := func(st string, end bool) Alert {
		al := Alert{
			Labels: map[string]string{"alertname": AlertName, "mirror": ev.Mirror, "cluster": ev.Cluster, "group": ev.Group, "topic": ev.Topic,
				"status": st, "severity": severity(st)},
			Annotations: map[string]string{"summary": ev.Summary(), "description": ev.Description()},
			StartsAt:    at(ev.StartedAt),
		}
		if ev.Test {
			al.Labels["alertname"] = AlertName + "Test"
			al.Labels["test"] = "true"
			al.EndsAt = at(ev.Time.Add(5 * time.Minute))
		}
		if end {
			al.EndsAt = at(ev.Time)
		}
		return al
	}
	if ev.Event == Resolved {
		if ok && was != ev.PreviousStatus {
			out = append(out, mk(was, true))
		}
		if ev.PreviousStatus != "" {
			out = append(out, mk(ev.PreviousStatus, true))
		}
		return out, ""
	}
	if ok && was != ev.Status {
		out = append(out, mk(was, true))
	}
	return append(out, mk(ev.Status, false)), ev.Status
}

// restore tells the sender which alerts were firing before a restart.
func (a *alertmanager) restore(incs []Incident) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, in := range incs {
		a.open[Key{in.Mirror, in.Topic}] = in.Status
	}
}

func (a *alertmanager) send(ctx context.Context, batch []Event) result {
	var alerts []Alert
	open := make([]string, len(batch))
	for i := range batch {
		al, o := a.alerts(&batch[i])
		alerts = append(alerts, al...)
		open[i] = o
	}
	b, err := json.Marshal(alerts)
	if err != nil {
		return result{err: err, permanent: true}
	}
	r := a.post(ctx, b)
	if r.err == nil || r.permanent {
		a.mu.Lock()
		for i := range batch {
			switch k := batch[i].key(); {
			case batch[i].Test:
			case open[i] == "":
				delete(a.open, k)
			default:
				a.open[k] = open[i]
			}
		}
		a.mu.Unlock()
	}
	return r
}

// Render is the body a webhook notifier sends for ev: its template's
// output, or the default JSON.
func Render(n *Notifier, ev Event) ([]byte, error) {
	w, err := newWebhook(n)
	if err != nil {
		return nil, err
	}
	return w.body(&ev)
}
