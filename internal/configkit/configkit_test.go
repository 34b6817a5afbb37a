package configkit

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://es-node1:9200", "https://es-node1:9200"},
		{"https://elastic:hunter2@es:9200", "https://REDACTED@es:9200"},
		{"https://elastic:hun@ter2@es:9200/", "https://REDACTED@es:9200/"},
		{"https://elastic:hun/ter2@es:9200", "https://REDACTED@es:9200"},
		{"https://u:hunter2#x@es:9200", "https://REDACTED@es:9200"},
		{"es://u:hun%zzter2@x", "es://REDACTED@x"},
		{"es-node1:9200", "es-node1:9200"},
		{"u:hunter2@es:9200", "REDACTED@es:9200"},
		{"u:hun@ter2@es:9200", "REDACTED@es:9200"},
	} {
		got := RedactURL(tc.in)
		if got != tc.want || strings.Contains(got, "hun") {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
