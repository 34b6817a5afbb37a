package kibana

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/lagship/lagship/internal/tlsconfig"
)

// ImportOptions says where and how to import.
type ImportOptions struct {
	// URL is Kibana's base URL, e.g. https://kibana.example:5601, including
	// any base path Kibana is served under. It must not carry credentials.
	URL string
	// Space is the Kibana space to import into; "" means the default space.
	Space string
	// Username and Password authenticate with basic auth; APIKey (the
	// base64 "id:key" form Kibana shows as "encoded") with an ApiKey
	// header. Set one or the other, or neither when security is off.
	Username string
	Password string
	APIKey   string
	// CAFile is a PEM file of CA certificates trusted in addition to the
	// system roots.
	CAFile string
	// InsecureSkipVerify turns off TLS certificate verification.
	InsecureSkipVerify bool
	// HTTPClient, when set, sends the request; CAFile and
	// InsecureSkipVerify are then ignored.
	HTTPClient *http.Client
}

// ImportResult is Kibana's answer to an import.
type ImportResult struct {
	Success      bool
	SuccessCount int
	Errors       []ImportError
}

// ImportError is one object Kibana did not import.
type ImportError struct {
	ID    string
	Type  string
	Title string
	// Kind is Kibana's error type: conflict, ambiguous_conflict,
	// missing_references, unsupported_type or unknown.
	Kind   string
	Reason string
}

func (e ImportError) String() string {
	s := fmt.Sprintf("%s %q", e.Type, e.ID)
	if e.Title != "" {
		s += fmt.Sprintf(" (%s)", e.Title)
	}
	return s + ": " + e.Reason
}

// DefaultImportTimeout bounds an import when Import builds its own client.
const DefaultImportTimeout = 2 * time.Minute

// maxResponse is how much of Kibana's answer Import reads.
const maxResponse = 8 << 20

var spaceRE = regexp.MustCompile(`^[a-z0-9_-]+$`)

// Import sends bundle (NDJSON saved objects, see Bundle) to Kibana's saved
// objects import API with overwrite on, so objects with the same ids are
// replaced. Kibana answers 200 even when some objects fail; Import then
// returns the result together with an error naming each failed object.
func Import(ctx context.Context, opts ImportOptions, bundle []byte) (ImportResult, error) {
	endpoint, err := importURL(opts)
	if err != nil {
		return ImportResult{}, err
	}
	where := endpoint.Redacted()
	objs, err := parseObjects(bundle)
	if err != nil {
		return ImportResult{}, fmt.Errorf("kibana import to %s: %w", where, err)
	}
	client, err := clientFor(opts)
	if err != nil {
		return ImportResult{}, err
	}

	body, contentType, err := multipartBody(bundle)
	if err != nil {
		return ImportResult{}, fmt.Errorf("kibana import to %s: %w", where, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint.String(), body)
	if err != nil {
		return ImportResult{}, fmt.Errorf("kibana import to %s: %w", where, err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("kbn-xsrf", "true")
	authorize(req, opts)

	resp, err := client.Do(req)
	if err != nil {
		return ImportResult{}, fmt.Errorf("kibana import to %s: %w", where, scrubError(err, opts))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return ImportResult{}, fmt.Errorf("kibana import to %s: reading the answer: %w", where, scrubError(err, opts))
	}
	if resp.StatusCode != http.StatusOK {
		return ImportResult{}, fmt.Errorf("kibana import to %s: HTTP %s: %s", where, resp.Status, excerpt(raw, opts))
	}
	res, err := parseImportResponse(raw)
	if err != nil {
		return ImportResult{}, fmt.Errorf("kibana import to %s: %w: %s", where, err, excerpt(raw, opts))
	}
	if !res.Success || len(res.Errors) > 0 {
		parts := make([]string, len(res.Errors))
		for i, e := range res.Errors {
			parts[i] = e.String()
		}
		msg := fmt.Sprintf("%d of %d objects failed", len(res.Errors), len(objs))
		if len(parts) == 0 {
			msg = "Kibana reported failure without naming an object"
		}
		return res, fmt.Errorf("kibana import to %s: %s: %s", where, msg, strings.Join(parts, "; "))
	}
	return res, nil
}

// clientFor returns opts.HTTPClient, or a client built from opts' TLS
// settings.
func clientFor(opts ImportOptions) (*http.Client, error) {
	if opts.APIKey != "" && (opts.Username != "" || opts.Password != "") {
		return nil, errors.New("kibana import: set either an API key or a username and password, not both")
	}
	if opts.HTTPClient != nil {
		return opts.HTTPClient, nil
	}
	return newClient(opts)
}

// authorize sets the Authorization header opts ask for.
func authorize(req *http.Request, opts ImportOptions) {
	switch {
	case opts.APIKey != "":
		req.Header.Set("Authorization", "ApiKey "+opts.APIKey)
	case opts.Username != "" || opts.Password != "":
		req.SetBasicAuth(opts.Username, opts.Password)
	}
}

// importURL builds <url>[/s/<space>]/api/saved_objects/_import?overwrite=true.
func importURL(opts ImportOptions) (*url.URL, error) {
	u, err := baseURL(opts)
	if err != nil {
		return nil, err
	}
	p := u.Path
	if opts.Space != "" && opts.Space != "default" {
		if !spaceRE.MatchString(opts.Space) {
			return nil, fmt.Errorf("kibana import: space %q is not a Kibana space id (lowercase letters, digits, _ and -)", opts.Space)
		}
		p += "/s/" + opts.Space
	}
	u.Path = p + "/api/saved_objects/_import"
	u.RawQuery = "overwrite=true"
	return u, nil
}

// baseURL checks opts.URL and returns it without a trailing slash.
func baseURL(opts ImportOptions) (*url.URL, error) {
	if opts.URL == "" {
		return nil, errors.New("kibana import: no Kibana URL")
	}
	u, err := url.Parse(opts.URL)
	if err != nil {
		// url.Parse quotes the input, which may hold credentials.
		return nil, errors.New("kibana import: Kibana URL does not parse")
	}
	if u.User != nil {
		return nil, fmt.Errorf("kibana import: Kibana URL %s carries credentials; set a username and password or an API key instead", u.Redacted())
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("kibana import: Kibana URL %s is not an http(s) URL such as https://kibana:5601", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("kibana import: Kibana URL %s has a query or fragment", u.Redacted())
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func newClient(opts ImportOptions) (*http.Client, error) {
	tlsConf, err := tlsconfig.Client(tlsconfig.Options{CAFile: opts.CAFile, InsecureSkipVerify: opts.InsecureSkipVerify})
	if err != nil {
		return nil, fmt.Errorf("kibana import: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	return &http.Client{Transport: tr, Timeout: DefaultImportTimeout}, nil
}

func multipartBody(bundle []byte) (io.Reader, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="lagship.ndjson"`)
	h.Set("Content-Type", "application/ndjson")
	part, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if _, err := part.Write(bundle); err != nil {
		return nil, "", err
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return &buf, mw.FormDataContentType(), nil
}

// importResponse is the JSON body of a 200 answer.
type importResponse struct {
	Success      *bool `json:"success"`
	SuccessCount int   `json:"successCount"`
	Errors       []struct {
		ID    string `json:"id"`
		Type  string `json:"type"`
		Title string `json:"title"`
		Meta  struct {
			Title string `json:"title"`
		} `json:"meta"`
		Error struct {
			Type       string `json:"type"`
			Reason     string `json:"reason"`
			Message    string `json:"message"`
			StatusCode int    `json:"statusCode"`
			References []struct {
				Type string `json:"type"`
				ID   string `json:"id"`
			} `json:"references"`
			DestinationID string            `json:"destinationId"`
			Destinations  []json.RawMessage `json:"destinations"`
		} `json:"error"`
	} `json:"errors"`
}

// parseImportResponse reads the body of a 200 answer of the import API.
func parseImportResponse(b []byte) (ImportResult, error) {
	var r importResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return ImportResult{}, fmt.Errorf("answer is not the import API's JSON: %w", err)
	}
	if r.Success == nil {
		return ImportResult{}, errors.New("answer has no success field")
	}
	res := ImportResult{Success: *r.Success, SuccessCount: r.SuccessCount}
	for _, e := range r.Errors {
		ie := ImportError{ID: e.ID, Type: e.Type, Title: e.Title, Kind: e.Error.Type}
		if ie.Title == "" {
			ie.Title = e.Meta.Title
		}
		var reason string
		switch {
		case e.Error.Message != "":
			reason = e.Error.Message
		case e.Error.Reason != "":
			reason = e.Error.Reason
		case e.Error.Type == "missing_references":
			var missing []string
			for _, ref := range e.Error.References {
				missing = append(missing, fmt.Sprintf("%s %q", ref.Type, ref.ID))
			}
			reason = strings.Join(missing, ", ")
		case e.Error.Type == "conflict":
			reason = "an object with this id already exists"
			if e.Error.DestinationID != "" {
				reason += fmt.Sprintf(" (destination %q)", e.Error.DestinationID)
			}
		case e.Error.Type == "ambiguous_conflict":
			reason = fmt.Sprintf("matches %d existing objects", len(e.Error.Destinations))
		case e.Error.Type == "unsupported_type":
			reason = "this Kibana does not support the type"
		}
		switch {
		case reason == "" && ie.Kind == "":
			reason = "unknown error"
		case reason == "":
			reason = ie.Kind
		case ie.Kind != "" && !strings.HasPrefix(reason, ie.Kind):
			reason = ie.Kind + ": " + reason
		}
		if e.Error.StatusCode != 0 {
			reason += fmt.Sprintf(" (status %d)", e.Error.StatusCode)
		}
		ie.Reason = reason
		res.Errors = append(res.Errors, ie)
	}
	return res, nil
}

// excerpt returns the start of an answer for an error message, with any
// secret of opts blanked out.
func excerpt(b []byte, opts ImportOptions) string {
	var msg struct {
		Message string `json:"message"`
	}
	s := ""
	if json.Unmarshal(b, &msg) == nil && msg.Message != "" {
		s = msg.Message
	} else {
		s = strings.Join(strings.Fields(string(b)), " ")
	}
	s = scrub(s, opts)
	const limit = 512
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

func scrub(s string, opts ImportOptions) string {
	basic := ""
	if opts.Password != "" {
		basic = base64.StdEncoding.EncodeToString([]byte(opts.Username + ":" + opts.Password))
	}
	for _, secret := range []string{basic, opts.Password, opts.APIKey} {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// scrubError keeps err's chain (context errors stay detectable) unless its
// text holds a secret.
func scrubError(err error, opts ImportOptions) error {
	if s := err.Error(); scrub(s, opts) != s {
		return errors.New(scrub(s, opts))
	}
	return err
}
