package mm2

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestProbe(t *testing.T) {
	ctx := testCtx(t)
	log := zerolog.New(zerolog.NewTestWriter(t))
	tgt := newKfake(t)
	cl := newClient(t, tgt)

	checks := Probe(ctx, cl, offsetsTopic, "dc1", []string{"orders"}, log)
	if len(checks) != 1 || checks[0].OK || !strings.Contains(checks[0].Detail, "does not exist") {
		t.Fatalf("missing topic: %+v", checks)
	}

	createTopic(ctx, t, cl, offsetsTopic, 3, true)
	writeOffsets(ctx, t, newWriter(t, tgt, cl, offsetsTopic),
		offsetRecord("MirrorSourceConnector", "dc1", "orders", 0, 5),
		offsetRecord("MirrorSourceConnector", "dc1", "orders", 1, 5),
		offsetRecord("MirrorSourceConnector", "dc1", "payments", 0, 5),
		offsetRecord("MirrorSourceConnector", "dc2", "orders", 0, 5),
	)

	tests := []struct {
		alias  string
		topics []string
		want   []string // "ok|fail name: detail fragment"
	}{
		{"dc1", []string{"orders", "shipments"}, []string{
			"ok offsets topic " + offsetsTopic + ": 3 partitions",
			"ok offsets of alias dc1: 3 partition offsets for 2 topics",
			"ok offsets of topic orders: 2 partitions, connector MirrorSourceConnector",
			"fail offsets of topic shipments: no offsets yet",
		}},
		{"dc9", nil, []string{
			"ok offsets topic " + offsetsTopic + ": 3 partitions",
			"fail offsets of alias dc9: 0 partition offsets for 0 topics; aliases present: dc1, dc2",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.alias, func(t *testing.T) {
			checks := Probe(ctx, cl, offsetsTopic, tt.alias, tt.topics, log)
			if len(checks) != len(tt.want) {
				t.Fatalf("got %d checks %+v, want %d", len(checks), checks, len(tt.want))
			}
			for i, c := range checks {
				status := map[bool]string{true: "ok", false: "fail"}[c.OK]
				got := fmt.Sprintf("%s %s: %s", status, c.Name, c.Detail)
				want := tt.want[i]
				prefix, frag, _ := strings.Cut(want, ": ")
				if !strings.HasPrefix(got, prefix+": ") || !strings.Contains(got, frag) {
					t.Errorf("check %d = %q, want %q", i, got, want)
				}
			}
		})
	}
}
