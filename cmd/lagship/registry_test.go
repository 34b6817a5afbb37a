package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/internal/configkit"
	"github.com/lagship/lagship/internal/health"
	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/sources"
	"github.com/lagship/lagship/sources/all"
)

// constSettings is a collection method that exists only in this test: a
// mirror whose every partition lags by a number the file gives. It shows
// what a new method needs: its own settings type with Validate, Build and
// Probe, and one line in a registry; cmd/lagship and internal/config do not
// change.
type constSettings struct {
	Lag        int64 `yaml:"lag"`
	Partitions int   `yaml:"partitions"`
}

func (s *constSettings) Validate(r configkit.Reporter, _ sources.Spec) {
	if s.Partitions < 1 {
		r.Errorf([]any{"partitions"}, "must be at least 1")
	}
}

func (s *constSettings) Build(env *sources.Env, spec sources.Spec) (*sources.Mirror, error) {
	return sources.Shared(env, "const/"+configkit.Fingerprint(*s, spec.Name), func() (*sources.Mirror, error) {
		return &sources.Mirror{Source: constSource{s.Lag, s.Partitions}, Group: "const-group", Cluster: "nowhere"}, nil
	})
}

func (s *constSettings) Probe(context.Context, *sources.Env, sources.Spec) []health.Check {
	return []health.Check{{Name: "const", OK: true, Detail: "always"}}
}

type constSource struct {
	lag int64
	n   int
}

func (c constSource) Collect(context.Context, time.Time, string) (pipeline.Sample, error) {
	committed, ends := make([]int64, c.n), make([]int64, c.n)
	for p := range ends {
		committed[p], ends[p] = 100, 100+c.lag
	}
	return pipeline.SampleFromOffsets(committed, ends), nil
}

func TestFourthMethodNeedsOneRegistrationLine(t *testing.T) {
	reg := append(slices.Clone(all.Methods), sources.Method{Name: "const", New: func() sources.Settings { return &constSettings{} }})
	const file = `
clusters:
  - name: dc1
    brokers: ["127.0.0.1:1"]
mirrors:
  - name: fixed
    method: const
    lag: 7
    partitions: 3
    topics: [orders]
`
	cfg, err := config.ParseWith("f.yaml", []byte(file), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	srcs := newSources(context.Background(), zerolog.Nop())
	defer srcs.Close()
	tasks, err := srcs.plan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	docs := collectOnce(context.Background(), tasks, time.Unix(1700000000, 0).UTC(), nil, func(_ pipeline.Task, err error) { t.Error(err) })
	if len(docs) != 1 {
		t.Fatalf("docs %v", docs)
	}
	got := string(docs[0].AppendJSON(nil))
	want := `{"@timestamp":"2023-11-14T22:13:20.000Z","topic":"orders","p0":7,"p1":7,"p2":7,"mirror":"fixed","group":"const-group","cluster":"nowhere","method":"const","total_lag":21,"max_lag":7,"partition_count":3}`
	if got != want {
		t.Errorf("document\n got %s\nwant %s", got, want)
	}

	// The method's own validation reports at file:line; its keys are
	// unknown to other methods.
	_, err = config.ParseWith("f.yaml", []byte(`
mirrors:
  - name: fixed
    method: const
    partitions: 0
    topics: [orders]
  - name: other
    cluster: dc1
    group: g
    lag: 3
    topics: [orders]
clusters:
  - name: dc1
    brokers: ["127.0.0.1:1"]
`), nil, reg)
	for _, want := range []string{"f.yaml:5: mirrors[0].partitions: must be at least 1", "f.yaml:10: mirrors[1].lag: is not used by method native (it is a key of method const)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant %q", err, want)
		}
	}
}
