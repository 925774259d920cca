package main

import (
	"maps"
	"testing"
)

func TestParseTags(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
		err  bool
	}{
		{"", map[string]string{}, false},
		{"team=web, env = prod ,", map[string]string{"team": "web", "env": "prod"}, false},
		{"empty=", map[string]string{"empty": ""}, false},
		{"team", nil, true},
		{"=x", nil, true},
		// Default tags must not forge or override ownership.
		{"cloudlb.io/cluster=other", nil, true},
		{"AWS:createdBy=me", nil, true},
	} {
		got, err := parseTags(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("parseTags(%q) error = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if !tc.err && !maps.Equal(got, tc.want) {
			t.Errorf("parseTags(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
