package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/tlsconfig"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/sinks/delivery"
)

// Sink writes batches to one index. Create it with New; hand it to a
// delivery.Output, which calls Prepare and Write.
type Sink struct {
	cfg Config
	log zerolog.Logger
	tp  *elastictransport.Client
	// bodies keeps request bodies from one Write to the next. Not a
	// sync.Pool: a GC empties that within two cycles, and with the GC
	// running every tick or two at 10,000 documents a tick, a 3 MB body
	// was made anew most ticks.
	bodies chan *[]byte

	mu        sync.Mutex
	warnedOld bool
	warned    map[string]bool
	lastOut   time.Time // last warning about documents outside TSDS bounds

	outside atomic.Uint64
	// fresh is set by a Prepare that succeeded and cleared by the next
	// Write: a second Prepare before any write (the agent's set-up check
	// at start, then the delivery loop's own) has nothing to redo.
	fresh atomic.Bool
}

var _ delivery.Writer = (*Sink)(nil)

// New builds the client. It does not contact the cluster: Prepare and Probe
// do.
func New(cfg Config, log zerolog.Logger) (*Sink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sink{
		cfg: cfg,
		log: log.With().Str("sink", "elasticsearch").Str("index", cfg.Index).Logger(),
	}
	s.bodies = make(chan *[]byte, 2)

	// The CA file is trusted in addition to the system roots, as for Kafka
	// and Kibana.
	tlsCfg, err := tlsconfig.Client(tlsconfig.Options{CAFile: cfg.CAFile, InsecureSkipVerify: cfg.InsecureSkipVerify})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	urls := make([]*url.URL, len(cfg.Addresses))
	for i, a := range cfg.Addresses {
		if urls[i], err = url.Parse(strings.TrimRight(a, "/")); err != nil {
			return nil, fmt.Errorf("elasticsearch: addresses[%d]: %w", i, err)
		}
	}
	tp, err := elastictransport.New(elastictransport.Config{
		UserAgent:     "lagship",
		URLs:          urls,
		Username:      cfg.Username,
		Password:      cfg.Password,
		APIKey:        cfg.APIKey,
		Transport:     tr,
		RetryOnStatus: []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
		MaxRetries:    cfg.MaxRetries,
		RetryBackoff:  s.backoff,
		// A request cut by the delivery layer's timeout is not retried by
		// the client: the delivery layer decides what comes next.
		RetryOnError:             func(_ *http.Request, err error) bool { return !errors.Is(err, context.DeadlineExceeded) },
		CompressRequestBody:      cfg.Compress,
		CompressRequestBodyLevel: cfg.CompressLevel,
		PoolCompressor:           cfg.Compress,
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: creating client: %w", err)
	}
	s.tp = tp
	return s, nil
}

// Index is the index the sink writes to.
func (s *Sink) Index() string { return s.cfg.Index }

// backoff is the delay before retry n (1-based): RetryBackoff doubled each
// time up to MaxBackoff, with jitter in its upper half.
func (s *Sink) backoff(n int) time.Duration {
	d := s.cfg.RetryBackoff
	for i := 1; i < n && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxBackoff)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// Prepare checks that the server is Elasticsearch, installs the index
// template and creates the index when it does not exist; with DataStream,
// it sets up the data stream instead (datastream.go).
func (s *Sink) Prepare(ctx context.Context) error {
	if s.fresh.Swap(false) {
		return nil
	}
	err := s.prepare(ctx)
	s.fresh.Store(err == nil)
	return err
}

func (s *Sink) prepare(ctx context.Context) error {
	info, err := s.info(ctx)
	if err != nil {
		return err
	}
	if s.cfg.DataStream {
		return s.prepareStream(ctx, info)
	}
	if err := s.EnsureTemplate(ctx); err != nil {
		return err
	}
	return s.EnsureIndex(ctx)
}

// Close releases idle connections.
func (s *Sink) Close() {
	if err := s.tp.Close(context.Background()); err != nil {
		s.log.Debug().Err(err).Msg("closing the elasticsearch client")
	}
}

// serverInfo is what GET / says.
type serverInfo struct {
	ClusterName string `json:"cluster_name"`
	Tagline     string `json:"tagline"`
	Version     struct {
		Number string `json:"number"`
	} `json:"version"`
}

// info reads GET / and makes sure an Elasticsearch 8 or later answered.
func (s *Sink) info(ctx context.Context) (serverInfo, error) {
	var info serverInfo
	where := strings.Join(s.cfg.Addresses, ", ")
	res, err := esapi.InfoRequest{}.Do(ctx, s.tp)
	if err != nil {
		return info, fmt.Errorf("no answer from %s: %w", where, err)
	}
	defer closeBody(res)
	if res.IsError() {
		return info, fmt.Errorf("GET / at %s: %w", where, responseError(res))
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	jerr := json.Unmarshal(body, &info)
	if res.Header.Get("X-Elastic-Product") != "Elasticsearch" || jerr != nil || info.Version.Number == "" {
		return info, fmt.Errorf("the server at %s is not Elasticsearch: GET / answered %s, %s", where, res.Status(), describeBody(res.Header.Get("Content-Type"), body))
	}
	if major, _, _ := strings.Cut(info.Version.Number, "."); major != "" {
		if n, err := strconv.Atoi(major); err == nil && n < 8 {
			return info, fmt.Errorf("%s runs Elasticsearch %s: lagship needs Elasticsearch 8 or later", where, info.Version.Number)
		}
	}
	return info, nil
}

// describeBody says in a few words what a server that is not Elasticsearch
// answered.
func describeBody(contentType string, body []byte) string {
	text := strings.Join(strings.Fields(string(body)), " ")
	if len(text) > 120 {
		text = text[:120] + "..."
	}
	if contentType == "" {
		contentType = "no content type"
	}
	if text == "" {
		return contentType + ", empty body"
	}
	return contentType + ": " + strconv.Quote(text)
}

// Write sends recs as one _bulk request of "create" items, with the
// records' deterministic _id; in a time series data stream, which makes the
// _id from the dimensions and @timestamp and refuses any other, without.
func (s *Sink) Write(ctx context.Context, recs []delivery.Record, res []delivery.Result) error {
	s.fresh.Store(false)
	var bp *[]byte
	select {
	case bp = <-s.bodies:
	default:
		b := make([]byte, 0, 64<<10)
		bp = &b
	}
	defer func() {
		if cap(*bp) <= 8<<20 {
			select {
			case s.bodies <- bp:
			default:
			}
		}
	}()
	b := (*bp)[:0]
	need := 0
	for _, r := range recs {
		need += len(r.Body) + len(r.ID) + 24
	}
	if cap(b) < need {
		b = make([]byte, 0, need)
	}
	for _, r := range recs {
		if s.cfg.TSDS {
			b = append(b, `{"create":{}}`+"\n"...)
		} else {
			b = append(b, `{"create":{"_id":`...)
			b = pipeline.AppendJSONString(b, r.ID)
			b = append(b, "}}\n"...)
		}
		b = append(b, r.Body...)
		b = append(b, '\n')
	}
	*bp = b
	resp, err := esapi.BulkRequest{Index: s.cfg.Index, Body: bytes.NewReader(b)}.Do(ctx, s.tp)
	if err != nil {
		return fmt.Errorf("bulk request of %d documents: %w", len(recs), err)
	}
	defer closeBody(resp)
	if resp.IsError() {
		rerr := responseError(resp)
		var ee *esError
		errors.As(rerr, &ee)
		switch st := resp.StatusCode; {
		case st == http.StatusNotFound && ee != nil && ee.Type == "index_not_found_exception":
			return fmt.Errorf("bulk request: %w: %w", delivery.ErrNotPrepared, rerr)
		case st >= 400 && st < 500 && st != http.StatusUnauthorized && st != http.StatusForbidden &&
			st != http.StatusRequestTimeout && st != http.StatusTooManyRequests:
			return &delivery.RefusedError{Status: st, Reason: rerr.Error()}
		}
		return fmt.Errorf("bulk request of %d documents: %w", len(recs), rerr)
	}
	// The answer is read into the request's buffer, no longer needed.
	ans := bytes.NewBuffer((*bp)[:0])
	if _, err := ans.ReadFrom(resp.Body); err != nil {
		return fmt.Errorf("bulk request of %d documents: reading the answer: %w", len(recs), err)
	}
	*bp = ans.Bytes()[:0]
	if allCreated(ans.Bytes(), len(recs)) {
		for i := range res {
			res[i] = delivery.Result{Outcome: delivery.Delivered}
		}
		return nil
	}
	var out bulkResponse
	if err := json.Unmarshal(ans.Bytes(), &out); err != nil {
		return fmt.Errorf("bulk request of %d documents: the answer is not a bulk response: %w", len(recs), err)
	}
	if len(out.Items) != len(recs) {
		return fmt.Errorf("bulk request of %d documents: the answer has %d items", len(recs), len(out.Items))
	}
	missing := false
	for i, it := range out.Items {
		r := it.result()
		switch {
		case r.Status == http.StatusCreated || r.Status == http.StatusOK:
			res[i] = delivery.Result{Outcome: delivery.Delivered}
		case r.Status == http.StatusConflict:
			res[i] = delivery.Result{Outcome: delivery.Duplicate}
		case r.Status == http.StatusTooManyRequests || r.Status >= 500:
			res[i] = delivery.Result{Outcome: delivery.Retry, Reason: r.Error.describe(r.Status)}
		case r.Status == http.StatusNotFound && r.Error.Type == "index_not_found_exception":
			missing = true
		case outsideBounds(r.Error) && aheadOfBounds(r.Error.Reason):
			res[i] = delivery.Result{Outcome: delivery.Retry, Reason: "newer than the time series data stream's write index accepts yet (a clock ahead of Elasticsearch's, or its end time not moved yet); sent again later: " + r.Error.describe(r.Status)}
		case outsideBounds(r.Error):
			res[i] = delivery.Result{Outcome: delivery.Refused, Reason: "outside the time bounds of the time series data stream (older than its oldest backing index accepts; see index.look_back_time): " + r.Error.describe(r.Status)}
			s.outside.Add(1)
			s.warnOutside(r)
		default:
			res[i] = delivery.Result{Outcome: delivery.Refused, Reason: r.Error.describe(r.Status)}
			s.logRejected(recs[i].ID, r)
		}
	}
	if missing {
		return fmt.Errorf("bulk request: index %s: %w", s.cfg.Index, delivery.ErrNotPrepared)
	}
	return nil
}

// allCreated reports whether a bulk answer says that every one of its n
// items succeeded, without decoding the items: its "errors" is false, and
// it holds n item statuses. Elasticsearch writes "errors" before "items"
// (and the items' keys in a fixed order), so only the head of the answer
// is parsed; every other answer is decoded in full. At 10,000 documents a
// request, decoding every item of an answer that says nothing failed was
// a tenth of the agent's CPU.
func allCreated(body []byte, n int) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	failed := true
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		switch t {
		case "errors":
			v, err := dec.Token()
			if err != nil {
				return false
			}
			b, ok := v.(bool)
			failed = !ok || b
		case "items":
			if failed {
				return false
			}
			return createdItems(body[dec.InputOffset():]) == n
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return false
			}
		}
	}
	return false
}

// createdItems counts the item statuses in the items of a bulk answer, or
// returns -1 when one of them is not 2xx. Inside the JSON strings of an
// answer a quote is always escaped, so the pattern only matches an item's
// own key.
func createdItems(items []byte) int {
	key := []byte(`"status":`)
	n := 0
	for {
		i := bytes.Index(items, key)
		if i < 0 {
			return n
		}
		items = items[i+len(key):]
		if len(items) == 0 || items[0] != '2' {
			return -1
		}
		n++
	}
}

type bulkResponse struct {
	Items []bulkEntry `json:"items"`
}

type bulkItem struct {
	Status int       `json:"status"`
	Error  itemError `json:"error"`
}

type itemError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
	Cause  struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"caused_by"`
}

func (e itemError) describe(status int) string {
	s := fmt.Sprintf("%d %s: %s", status, e.Type, e.Reason)
	if e.Cause.Type != "" {
		s += " (caused by " + e.Cause.Type + ": " + e.Cause.Reason + ")"
	}
	return s
}

// bulkEntry is one item of a bulk answer, keyed by its action.
type bulkEntry map[string]bulkItem

func (m bulkEntry) result() bulkItem {
	for _, it := range m {
		return it
	}
	return bulkItem{}
}

// warnOutside explains, at most once a minute, why a time series data
// stream refuses documents for their @timestamp.
func (s *Sink) warnOutside(it bulkItem) {
	now := time.Now()
	s.mu.Lock()
	due := now.Sub(s.lastOut) >= time.Minute
	if due {
		s.lastOut = now
	}
	s.mu.Unlock()
	if due {
		s.log.Warn().Uint64("outside_time_bounds", s.outside.Load()).Str("reason", it.Error.Reason).
			Msg("the time series data stream refuses documents whose @timestamp is older than its oldest backing index accepts (a replay after a long outage, or a spool older than the stream); they are set aside in the spool's rejected/ directory and not retried")
	}
}

// logRejected explains a mapping refusal once per kind of error and field a
// minute; the delivery layer logs each refused document too.
func (s *Sink) logRejected(id string, it bulkItem) {
	s.log.Debug().Str("doc_id", id).Int("status", it.Status).Str("error_type", it.Error.Type).
		Str("reason", it.Error.Reason).Str("caused_by", it.Error.Cause.Reason).
		Msg("elasticsearch refused a document (check the index mapping)")
}
