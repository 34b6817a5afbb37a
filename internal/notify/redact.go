package notify

import (
	"encoding/json"
	"html"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// minSecret is the length from which a path segment, a query value or a
// word of a header value is redacted on its own wherever it appears.
const minSecret = 8

// redactor removes a receiver's secrets from what it answered and from
// errors. Receivers echo the request ("Cannot POST /services/T0/B0/X",
// a redirect's body, a JSON error with escaped slashes), so it removes,
// in any letter case, the URL, its path as sent and decoded, its query,
// every path segment and query value of minSecret characters or more, the
// credentials and the header values (and their long words), each also
// percent-, HTML- and JSON-escaped.
type redactor struct {
	re       *regexp.Regexp // nil: nothing to redact
	url      string
	redacted string
}

func newRedactor(rawURL string, headers []string) *redactor {
	r := &redactor{url: rawURL, redacted: RedactURL(rawURL)}
	var secrets []string
	add := func(s string, min int) {
		if len(s) >= min {
			secrets = append(secrets, s)
		}
	}
	add(rawURL, 1)
	if u, err := url.Parse(rawURL); err == nil {
		for _, p := range []string{u.Path, u.RawPath, u.EscapedPath(), u.Opaque} {
			if p != "/" {
				add(p, 2)
			}
			for _, seg := range strings.Split(p, "/") {
				add(seg, minSecret)
				if ds, err := url.PathUnescape(seg); err == nil {
					add(ds, minSecret) // a segment holding %2F
				}
			}
		}
		add(u.RawQuery, 1)
		for _, kv := range strings.Split(u.RawQuery, "&") {
			add(kv, minSecret)
			if _, v, ok := strings.Cut(kv, "="); ok {
				add(v, minSecret)
				if dv, err := url.QueryUnescape(v); err == nil {
					add(dv, minSecret)
				}
			}
		}
		add(u.Fragment, minSecret)
		if u.User != nil {
			add(u.User.String(), 1)
			if pw, ok := u.User.Password(); ok {
				add(pw, 4)
			}
		}
	}
	for _, h := range headers {
		add(h, 4)
		for _, w := range strings.Fields(h) {
			add(w, minSecret)
		}
	}
	seen := map[string]bool{}
	var alts []string
	for _, s := range secrets {
		js, _ := json.Marshal(s)
		for _, v := range []string{s, url.PathEscape(s), url.QueryEscape(s), html.EscapeString(s), string(js[1 : len(js)-1])} {
			for _, v := range []string{v, strings.ReplaceAll(v, "/", `\/`)} {
				// A decoded %ff is not UTF-8, which a regexp cannot
				// hold; its escaped forms are there.
				if !seen[v] && utf8.ValidString(v) {
					seen[v] = true
					alts = append(alts, regexp.QuoteMeta(v))
				}
			}
		}
	}
	if len(alts) == 0 {
		return r
	}
	// Longest first: the regexp takes the first alternative that matches.
	sort.SliceStable(alts, func(i, j int) bool { return len(alts[i]) > len(alts[j]) })
	r.re = regexp.MustCompile("(?i)" + strings.Join(alts, "|"))
	return r
}

// scrub replaces every secret in s: the URL by its redacted form, a path
// by /[redacted], anything else by [redacted].
func (r *redactor) scrub(s string) string {
	if r.re == nil {
		return s
	}
	return r.re.ReplaceAllStringFunc(s, func(m string) string {
		switch {
		case strings.EqualFold(m, r.url):
			return r.redacted
		case strings.HasPrefix(m, "/") || strings.HasPrefix(m, `\/`):
			return "/[redacted]"
		}
		return "[redacted]"
	})
}
