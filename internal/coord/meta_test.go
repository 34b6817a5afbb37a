package coord

import (
	"reflect"
	"testing"
)

func TestMetaRoundTrip(t *testing.T) {
	cases := []Meta{
		{},
		{Host: "agent-1", Version: "v1.2.3", Hash: "abc", Owned: []string{"m/t1", "ssh:mm1"}},
		{Host: "ü", Owned: []string{""}},
		{Host: "h", Owned: []string{"m/a", "ssh:x"}, Weights: []int{16, 0}},
	}
	for _, m := range cases {
		got, err := UnmarshalMeta(MarshalMeta(m))
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip %+v gave %+v", m, got)
		}
	}
}

func TestAssignmentRoundTrip(t *testing.T) {
	cases := []Assignment{
		{},
		{LeaderHash: "h", Units: []string{"m/a"}, Members: []MemberView{{ID: "1", Host: "x", Version: "v", Hash: "h", Units: 1, Owned: []string{"m/a"}}, {ID: "2", Units: 0}}},
	}
	for _, a := range cases {
		got, err := UnmarshalAssignment(MarshalAssignment(a))
		if err != nil {
			t.Fatalf("%+v: %v", a, err)
		}
		if !reflect.DeepEqual(got, a) {
			t.Errorf("round trip %+v gave %+v", a, got)
		}
	}
	if a, err := UnmarshalAssignment(nil); err != nil || a.Units != nil {
		t.Errorf("empty payload: %+v, %v", a, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := MarshalMeta(Meta{Host: "h", Owned: []string{"a", "b"}})
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"other format", append([]byte{9}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(append([]byte{}, good...), 0)},
		{"huge count", []byte{metaFormat, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"huge string", []byte{metaFormat, 0xff, 0xff, 0xff, 0x0f}},
		{"weights do not match the owned units", MarshalMeta(Meta{Owned: []string{"a"}, Weights: []int{1, 2}})},
	}
	for _, tc := range cases {
		if _, err := UnmarshalMeta(tc.b); err == nil {
			t.Errorf("%s: decoded without error", tc.name)
		}
	}
}

func FuzzUnmarshalMeta(f *testing.F) {
	f.Add(MarshalMeta(Meta{Host: "agent-1", Version: "v1", Hash: "abc", Owned: []string{"m/t1"}}))
	f.Add([]byte{metaFormat})
	big := Meta{Host: "h"}
	for _, u := range estateUnits(500) {
		big.Owned = append(big.Owned, u.Key)
	}
	f.Add(MarshalMeta(big)) // deflated
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := UnmarshalMeta(b)
		if err != nil {
			return
		}
		again, err := UnmarshalMeta(MarshalMeta(m))
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoding %+v: %+v, %v", m, again, err)
		}
	})
}

func FuzzUnmarshalAssignment(f *testing.F) {
	f.Add(MarshalAssignment(Assignment{LeaderHash: "h", Units: []string{"a"}, Members: []MemberView{{ID: "1", Units: 1}}}))
	f.Add([]byte{assignFormat, 0, 0, 3})
	big := Assignment{LeaderHash: "h"}
	for _, u := range estateUnits(500) {
		big.Units = append(big.Units, u.Key)
	}
	f.Add(MarshalAssignment(big)) // deflated
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := UnmarshalAssignment(b)
		if err != nil || len(b) == 0 {
			return
		}
		again, err := UnmarshalAssignment(MarshalAssignment(a))
		if err != nil || !reflect.DeepEqual(again, a) {
			t.Fatalf("re-encoding %+v: %+v, %v", a, again, err)
		}
	})
}
