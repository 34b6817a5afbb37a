package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/internal/testutil/syncbuf"
)

// fakeClock advances only when slept on.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return nil
}

func (c *fakeClock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// request is what the receiver saw.
type request struct {
	At     time.Duration // on the fake clock, since the start
	Path   string
	Header http.Header
	Body   string
	Code   int
}

// receiver is a recording HTTP server on 127.0.0.1; answer decides each
// response (code, body, headers).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []request
	answer func(n int, r *http.Request) (int, string, http.Header)
	clock  *fakeClock
	start  time.Time
}

func newReceiver(t *testing.T, clock *fakeClock, answer func(n int, r *http.Request) (int, string, http.Header)) *receiver {
	rc := &receiver{answer: answer, clock: clock}
	if clock != nil {
		rc.start = clock.Now()
	}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.reqs)
		rc.mu.Unlock()
		code, body, h := 200, "ok", http.Header(nil)
		if rc.answer != nil {
			code, body, h = rc.answer(n, r)
		}
		var at time.Duration
		if rc.clock != nil {
			at = rc.clock.Now().Sub(rc.start)
		}
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, request{At: at, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: string(b), Code: code})
		rc.mu.Unlock()
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

func (rc *receiver) delivered() []request {
	var out []request
	for _, r := range rc.requests() {
		if r.Code/100 == 2 {
			out = append(out, r)
		}
	}
	return out
}

// harness runs one notifier's delivery loop.
type harness struct {
	n    *notifier
	logs *syncbuf.Buffer
	svc  *Service
}

func startNotifier(t *testing.T, cfg Notifier, clock Clock) *harness {
	t.Helper()
	Settings{cfg}.SetDefaults()
	cfg = Settings{cfg}[0]
	if cfg.Type == "" {
		cfg.Type = TypeWebhook
	}
	if cfg.MinStatus == "" {
		cfg.MinStatus = "WARN"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = configkit.Duration(5 * time.Second)
	}
	logs := &syncbuf.Buffer{}
	svc, err := New(nil, nil, t.TempDir()+"/state.json", zerolog.New(logs), Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	n, err := svc.build(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("notifier did not stop")
		}
	})
	return &harness{n: n, logs: logs, svc: svc}
}

func firing() Event { ev := SampleEvent(true); return ev }

// TestDeliveryOutage: the receiver is down (503) for 20 s when the incident
// fires; the message arrives once, after it is back, the first two retries
// within about 10 s.
func TestDeliveryOutage(t *testing.T) {
	clock := &fakeClock{now: t0}
	rc := newReceiver(t, clock, func(n int, r *http.Request) (int, string, http.Header) {
		if clock.Now().Sub(t0) < 20*time.Second {
			return 503, "service unavailable", nil
		}
		return 200, "ok", nil
	})
	h := startNotifier(t, Notifier{Name: "hook", URL: configkit.Secret(rc.URL + "/hook")}, clock)
	h.n.q.put(firing())
	await.True(t, 10*time.Second, "delivery", func() bool { return h.n.c.sent.Load() == 1 })
	got := rc.delivered()
	if len(got) != 1 {
		t.Fatalf("delivered %d times", len(got))
	}
	var ev Event
	if err := json.Unmarshal([]byte(got[0].Body), &ev); err != nil || ev.Event != Firing || ev.Status != "STOP" {
		t.Fatalf("body %s: %v", got[0].Body, err)
	}
	sl := clock.slept()
	if len(sl) < 2 || sl[0]+sl[1] > 10*time.Second {
		t.Errorf("first retries after %v", sl)
	}
	for _, r := range rc.requests() {
		t.Logf("t=+%v POST %s -> %d", r.At, r.Path, r.Code)
	}
	if n := h.n.c.retries.Load(); n != int64(len(rc.requests())-1) {
		t.Errorf("retries counted %d for %d requests", n, len(rc.requests()))
	}
	if h.n.q.len() != 0 {
		t.Errorf("queue holds %d", h.n.q.len())
	}
}

// TestDeliveryAnswers: which answers are retried, and how.
func TestDeliveryAnswers(t *testing.T) {
	cases := []struct {
		name      string
		answers   []int // per attempt; the last repeats
		header    http.Header
		wantReqs  int
		sent      int64
		rejected  int64
		expired   int64
		firstWait time.Duration
		log       string
	}{
		{"2xx", []int{202}, nil, 1, 1, 0, 0, 0, "notification sent"},
		{"400 is permanent, logged with the answer", []int{400}, nil, 1, 0, 1, 0, 0, `"answer":"answer 0"`},
		{"404 is permanent", []int{404}, nil, 1, 0, 1, 0, 0, "not retried"},
		{"500 then 200", []int{500, 200}, nil, 2, 1, 0, 0, time.Second, "retrying"},
		{"429 honours Retry-After", []int{429, 200}, http.Header{"Retry-After": {"7"}}, 2, 1, 0, 0, 7 * time.Second, "retrying"},
		{"5xx for ever: lost after 10 minutes", []int{502}, nil, 0, 0, 0, 1, time.Second, "notification lost"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := &fakeClock{now: t0}
			rc := newReceiver(t, clock, func(n int, r *http.Request) (int, string, http.Header) {
				code := c.answers[min(n, len(c.answers)-1)]
				return code, fmt.Sprintf("answer %d", n), c.header
			})
			h := startNotifier(t, Notifier{Name: "hook", URL: configkit.Secret(rc.URL)}, clock)
			h.n.q.put(firing())
			await.True(t, 10*time.Second, "an outcome", func() bool {
				return h.n.c.sent.Load()+h.n.c.rejected.Load()+h.n.c.expired.Load() > 0
			})
			if c.wantReqs > 0 && len(rc.requests()) != c.wantReqs {
				t.Errorf("%d requests, want %d", len(rc.requests()), c.wantReqs)
			}
			if h.n.c.sent.Load() != c.sent || h.n.c.rejected.Load() != c.rejected || h.n.c.expired.Load() != c.expired {
				t.Errorf("sent %d rejected %d expired %d", h.n.c.sent.Load(), h.n.c.rejected.Load(), h.n.c.expired.Load())
			}
			if sl := clock.slept(); c.firstWait > 0 && (len(sl) == 0 || sl[0] != c.firstWait) {
				t.Errorf("waits %v, want first %v", sl, c.firstWait)
			}
			if c.expired > 0 {
				var total time.Duration
				for _, d := range clock.slept() {
					total += d
					if d > DefaultMaxDelay {
						t.Errorf("waited %v > cap", d)
					}
				}
				if total > DefaultGiveUp {
					t.Errorf("retried for %v", total)
				}
				t.Logf("gave up after %d attempts, %v of retries", len(rc.requests()), total)
			}
			if !strings.Contains(h.logs.String(), c.log) {
				t.Errorf("log lacks %q:\n%s", c.log, h.logs.String())
			}
		})
	}
}

// TestDeliveryTimeoutAndRefused: a receiver that does not answer in time,
// and one that refuses connections, are retried.
func TestDeliveryTimeoutAndRefused(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		clock := &fakeClock{now: t0}
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		rc := newReceiver(t, clock, func(n int, r *http.Request) (int, string, http.Header) {
			if n == 0 {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}
			return 200, "ok", nil
		})
		// Only the first request hangs; the timeout is long enough that a
		// busy machine (-race) does not also time out the answered retry.
		h := startNotifier(t, Notifier{Name: "hook", URL: configkit.Secret(rc.URL), Timeout: configkit.Duration(time.Second)}, clock)
		h.n.q.put(firing())
		await.True(t, 10*time.Second, "delivery", func() bool { return h.n.c.sent.Load() == 1 })
		if h.n.c.retries.Load() < 1 || !strings.Contains(h.logs.String(), "Timeout") {
			t.Errorf("retries %d; log:\n%s", h.n.c.retries.Load(), h.logs.String())
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		clock := &fakeClock{now: t0}
		h := startNotifier(t, Notifier{Name: "hook", URL: configkit.Secret("http://" + addr + "/x")}, clock)
		h.n.q.put(firing())
		await.True(t, 20*time.Second, "loss", func() bool { return h.n.c.expired.Load() == 1 })
		if h.n.c.retries.Load() < 5 || !strings.Contains(h.logs.String(), "connection refused") {
			t.Errorf("retries %d; log:\n%s", h.n.c.retries.Load(), h.logs.String())
		}
	})
}

// TestDeliveryKeepsNewest: while a message is retried, a newer state of
// its incident replaces it; the receiver never gets the stale one.
func TestDeliveryKeepsNewest(t *testing.T) {
	clock := &fakeClock{now: t0}
	gate := make(chan struct{})
	var once sync.Once
	rc := newReceiver(t, clock, func(n int, r *http.Request) (int, string, http.Header) {
		if n == 0 {
			once.Do(func() { close(gate) })
			return 503, "busy", nil
		}
		return 200, "ok", nil
	})
	slow := &gatedClock{fakeClock: clock, wait: make(chan struct{})}
	h := startNotifier(t, Notifier{Name: "hook", URL: configkit.Secret(rc.URL)}, slow)
	h.n.q.put(firing())
	<-gate
	res := SampleEvent(false)
	h.n.q.put(res)
	close(slow.wait)
	await.True(t, 10*time.Second, "delivery", func() bool { return h.n.c.sent.Load() == 1 })
	got := rc.delivered()
	if len(got) != 1 || !strings.Contains(got[0].Body, `"event":"resolved"`) {
		t.Fatalf("delivered %+v", got)
	}
	if h.n.c.superseded.Load() != 1 {
		t.Errorf("superseded %d", h.n.c.superseded.Load())
	}
}

// gatedClock's first sleep waits for wait to close.
type gatedClock struct {
	*fakeClock
	wait chan struct{}
}

func (g *gatedClock) Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-g.wait:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.fakeClock.Sleep(ctx, d)
}

// TestSecretsNeverLogged: the URL's path and query and the header values
// of a failing receiver appear in no log line and no error.
func TestSecretsNeverLogged(t *testing.T) {
	const path, query, header = "T0SECRETPATH/B0SECRETPATH", "token=SECRETQUERY", "Bearer SECRETHEADER"
	secrets := []string{"SECRETPATH", "SECRETQUERY", "SECRETHEADER"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	for _, c := range []struct {
		name string
		code int
	}{{"500", 500}, {"400", 400}, {"302", 302}, {"refused", 0}} {
		t.Run(c.name, func(t *testing.T) {
			clock := &fakeClock{now: t0}
			rc := newReceiver(t, clock, func(n int, r *http.Request) (int, string, http.Header) {
				return c.code, "no", http.Header{"Location": {"http://elsewhere/" + path}}
			})
			base := rc.URL
			if c.code == 0 {
				base = "http://" + refused
			}
			u := base + "/services/" + path + "?" + query
			cfg := Notifier{Name: "hook", URL: configkit.Secret(u), Headers: map[string]configkit.Secret{"Authorization": header}}
			h := startNotifier(t, cfg, clock)
			h.n.q.put(firing())
			await.True(t, 20*time.Second, "an outcome", func() bool { return h.n.c.rejected.Load()+h.n.c.expired.Load() > 0 })
			_, _, err := Send(context.Background(), &h.n.cfg, t0)
			if err == nil {
				t.Fatal("the test message did not fail")
			}
			out := h.logs.String() + "\n" + err.Error()
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("%q leaked:\n%s", s, out)
				}
			}
			if !strings.Contains(out, "/[redacted]") {
				t.Errorf("no redacted URL in:\n%s", out)
			}
			if c.code != 0 {
				if got := rc.requests()[0].Header.Get("Authorization"); got != header {
					t.Errorf("header sent %q", got)
				}
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T/B/X":     "https://hooks.slack.com/[redacted]",
		"http://alertmanager:9093":                   "http://alertmanager:9093",
		"http://alertmanager:9093/":                  "http://alertmanager:9093",
		"http://am:9093/?token=x":                    "http://am:9093/[redacted]",
		"https://user:pw@example.com/x":              "https://[redacted]@example.com/[redacted]",
		"::not a url":                                "[redacted URL]",
		"https://example.webhook.office.com/a/b?c=d": "https://example.webhook.office.com/[redacted]",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAnswerRedacted: receivers that echo the request's path and query in
// their answer (a 404 "Cannot POST /services/...", a redirect's HTML body,
// a JSON error with escaped slashes, the query URL-encoded) reach neither
// the log nor what Send returns to lagship notify test.
func TestAnswerRedacted(t *testing.T) {
	const path = "/services/T0AAAA1111/B0SECRETSEG/XsecretTail0123456789"
	const query = "token=SECRETQUERYVALUE&sig=SECRETSIGNATURE"
	// T0AA: the answer is cut at 512 characters in the middle of T0AAAA1111.
	secrets := []string{"T0AA", "B0SECRETSEG", "XsecretTail0123456789", "SECRETQUERYVALUE", "SECRETSIGNATURE", "SECRETHEADERTOKEN"}
	for _, c := range []struct {
		name   string
		code   int
		answer func(r *http.Request) string
	}{
		{"404 echoes path and query", 404, func(r *http.Request) string {
			return "Cannot POST " + r.URL.RequestURI()
		}},
		{"404 JSON with escaped slashes and a long answer", 404, func(r *http.Request) string {
			head := `{"auth":"` + r.Header.Get("Authorization") + `","query":"` + url.QueryEscape(r.URL.RawQuery) +
				`","segment":"` + url.PathEscape("B0SECRETSEG") + `","padding":"`
			route := `","error":"no route ` + strings.ReplaceAll(r.URL.RequestURI(), "/", `\/`) + `"}`
			// The answer shown is cut at 512 characters: here, 4
			// characters into T0AAAA1111.
			pad := 512 - len(head) - strings.Index(route, "T0AAAA1111") - 4
			return head + strings.Repeat("x", pad) + route
		}},
		{"302 redirect body", 302, func(r *http.Request) string {
			return `<a href="https://elsewhere.example` + html.EscapeString(r.URL.RequestURI()) + `">Found</a>.`
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := &fakeClock{now: t0}
			rc := newReceiver(t, clock, func(n int, r *http.Request) (int, string, http.Header) {
				return c.code, c.answer(r), http.Header{"Location": {"https://elsewhere.example" + r.URL.RequestURI()}}
			})
			cfg := Notifier{Name: "hook", URL: configkit.Secret(rc.URL + path + "?" + query),
				Headers: map[string]configkit.Secret{"Authorization": "Bearer SECRETHEADERTOKEN"}}
			h := startNotifier(t, cfg, clock)
			h.n.q.put(firing())
			await.True(t, 10*time.Second, "the rejection's log line", func() bool { return strings.Contains(h.logs.String(), "not retried") })
			code, answer, err := Send(context.Background(), &h.n.cfg, t0)
			if err == nil || code != c.code {
				t.Fatalf("Send: %d %v", code, err)
			}
			if got := rc.requests()[0].Body; !strings.Contains(rc.requests()[0].Path, "B0SECRETSEG") || got == "" {
				t.Fatalf("the receiver saw %q", rc.requests()[0].Path)
			}
			out := h.logs.String() + "\n" + err.Error() + "\n" + answer
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("%q leaked:\n%s", s, out)
				}
			}
			if !strings.Contains(answer, "[redacted]") || !strings.Contains(h.logs.String(), `"answer":`) {
				t.Errorf("answer %q; log:\n%s", answer, h.logs.String())
			}
			t.Logf("answer shown: %s", answer)
		})
	}
}

func TestRedactorForms(t *testing.T) {
	r := newRedactor("https://hooks.example.com/services/T0AAAA1111/B0BBBB2222/cccc%2Fdddd3333?key=K3YK3YK3Y&x=1", []string{"Bearer T0K3NT0K3N"})
	for in, want := range map[string]string{
		"POST https://hooks.example.com/services/T0AAAA1111/B0BBBB2222/cccc%2Fdddd3333?key=K3YK3YK3Y&x=1: refused": "POST https://hooks.example.com/[redacted]: refused",
		"no route /SERVICES/t0aaaa1111/b0bbbb2222/CCCC%2fDDDD3333":                                                 "no route /[redacted]",
		"team t0aaaa1111 unknown":              "team [redacted] unknown",
		"bad key=K3YK3YK3Y":                    "bad [redacted]",
		"bad key K3YK3YK3Y":                    "bad key [redacted]",
		"path cccc/dddd3333":                   "path [redacted]",
		"token T0K3NT0K3N is not valid":        "token [redacted] is not valid",
		"x=1 and short words stay as they are": "x=1 and short words stay as they are",
	} {
		if got := r.scrub(in); got != want {
			t.Errorf("scrub(%q) = %q, want %q", in, got, want)
		}
	}
}
