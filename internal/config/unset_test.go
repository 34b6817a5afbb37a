package config

import (
	"errors"
	"strings"
	"testing"
)

// TestUnsetVariableOneError: a value whose ${VAR} is not set is reported
// once, as unset, not a second time by the checks its empty value would
// fail; problems elsewhere are still reported in the same pass.
func TestUnsetVariableOneError(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []string // exactly these errors, in order
	}{
		{"es password", "elasticsearch: {username: elastic, password: ${ES_PASSWORD}}\n" + base,
			[]string{"f.yaml:1: elasticsearch.password: environment variable ES_PASSWORD is not set (referenced as ${ES_PASSWORD})"}},
		{"es password block", "elasticsearch:\n  username: elastic\n  password: ${ES_PASSWORD}\n" + base,
			[]string{"f.yaml:3: elasticsearch.password: environment variable ES_PASSWORD is not set (referenced as ${ES_PASSWORD})"}},
		{"es password, and a bad index", "elasticsearch:\n  username: elastic\n  password: ${ES_PASSWORD}\n  index: Bad\n" + base,
			[]string{
				"f.yaml:3: elasticsearch.password: environment variable ES_PASSWORD is not set (referenced as ${ES_PASSWORD})",
				`f.yaml:4: elasticsearch.index: "Bad" is not a valid index name`,
			}},
		{"mirror name", strings.Replace(base, "name: mm", "name: ${MIRROR}", 1),
			[]string{"f.yaml:6: mirrors[0].name: environment variable MIRROR is not set (referenced as ${MIRROR})"}},
		{"mirror name unset, and its topics missing", strings.Replace(strings.Replace(base, "name: mm", "name: ${MIRROR}", 1), "    topics: [orders]\n", "", 1),
			[]string{
				"f.yaml:6: mirrors[0].name: environment variable MIRROR is not set (referenced as ${MIRROR})",
				"f.yaml:6: mirrors[0]: topics is required",
			}},
		{"quoted duration", "interval: \"${TICK}\"\n" + base,
			[]string{"f.yaml:1: interval: environment variable TICK is not set (referenced as ${TICK})"}},
		{"sasl password in a flow mapping", strings.Replace(base, `    brokers: ["kafka1:9092"]`, "    brokers: [\"kafka1:9092\"]\n    sasl: {mechanism: PLAIN, username: u, password: ${KAFKA_PW}}", 1),
			[]string{"f.yaml:5: clusters[0].sasl.password: environment variable KAFKA_PW is not set (referenced as ${KAFKA_PW})"}},
		{"unset group, and an unknown cluster in another mirror", base + "  - {name: m2, cluster: dc9, group: g, topics: [t]}\n" +
			"  - {name: m3, cluster: dc1, group: \"${GROUP}\", topics: [t]}\n",
			[]string{
				`f.yaml:10: mirrors[1].cluster: cluster "dc9" is not defined under clusters (defined: dc1)`,
				"f.yaml:11: mirrors[2].group: environment variable GROUP is not set (referenced as ${GROUP})",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.src), env(nil))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v (%T), want config.Errors", err, err)
			}
			if len(errs) != len(tc.want) {
				t.Fatalf("%d errors, want %d:\n%v", len(errs), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(errs[i].Error(), w) {
					t.Errorf("error %d: %q\nwant prefix %q", i, errs[i], w)
				}
			}
		})
	}
}

// TestSetVariableStillValidated: once set, the value is checked as any
// other (the suppression is about unknown values only).
func TestSetVariableStillValidated(t *testing.T) {
	_, err := Parse("f.yaml", []byte("elasticsearch: {username: \"${ES_USER}\", password: x}\n"+base), env(map[string]string{"ES_USER": ""}))
	if err == nil || !strings.Contains(err.Error(), "username and password go together") {
		t.Fatalf("error %v", err)
	}
}
