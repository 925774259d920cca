package ingress

import (
	"maps"
	"strings"
	"testing"
)

func TestKeyValues(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
		bad  string
	}{
		{in: "", want: nil},
		{in: " , ,", want: nil},
		{in: " team = web , env=prod ,", want: map[string]string{"team": "web", "env": "prod"}},
		// The AWS Load Balancer Controller keeps a repeated key's last value.
		{in: "a=1,a=2", want: map[string]string{"a": "2"}},
		{in: "a=", want: map[string]string{"a": ""}},
		{in: "a==b", want: map[string]string{"a": "=b"}},
		{in: "a=1,b", bad: "b"},
		{in: "=1", bad: "=1"},
		{in: "a=1, = 2", bad: "= 2"},
	} {
		pairs, bad := KeyValues(tc.in)
		if bad != tc.bad || !maps.Equal(KeyValueMap(pairs), tc.want) || (bad != "" && pairs != nil) {
			t.Errorf("KeyValues(%q) = %v, %q; want %v, %q", tc.in, pairs, bad, tc.want, tc.bad)
		}
	}
}

// Every key=value list is read alike: the annotations, and the class values merged into them.
func TestKeyValueListsReadAlike(t *testing.T) {
	for _, in := range []string{"team = web,env=prod", "team=web,team=ops", "team", "=web", " team = , ,"} {
		pairs, bad := KeyValues(in)
		tags, err := annotations{annTags: in}.tags()
		if (bad != "") != (err != nil) || (err == nil && !maps.Equal(tags, KeyValueMap(pairs))) {
			t.Errorf("tags(%q) = %v, %v; KeyValues = %v, %q", in, tags, err, KeyValueMap(pairs), bad)
		}
		over := map[string]classValue{}
		if err := mergePairs(over, annotations{annTags: in}, annTags, "tags", []pair{{"owner", "x"}}, nil); err != nil {
			t.Fatal(err)
		}
		switch merged, ok := over[annTags]; {
		case bad != "" && ok:
			t.Errorf("mergePairs merged into %q, which does not parse: %q", in, merged.value)
		case bad == "":
			want := KeyValueMap(pairs)
			if want == nil {
				want = map[string]string{}
			}
			want["owner"] = "x"
			got, _ := KeyValues(merged.value)
			if !maps.Equal(KeyValueMap(got), want) {
				t.Errorf("mergePairs(%q) = %q, want %v", in, merged.value, want)
			}
		}
	}
}

func FuzzKeyValues(f *testing.F) {
	for _, s := range []string{"a=1,b=2", " a = 1 ,,", "a=1,a=2", "a", "=1", "a==b,c=", "\u00a0a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pairs, bad := KeyValues(s)
		if bad != "" {
			if pairs != nil || !strings.Contains(s, bad) {
				t.Fatalf("KeyValues(%q) = %v, %q: a refused list gives no pairs and names an item of it", s, pairs, bad)
			}
			return
		}
		var items []string
		for _, p := range pairs {
			if p.Key == "" || strings.ContainsAny(p.Key, "=,") || strings.Contains(p.Value, ",") ||
				strings.TrimSpace(p.Key) != p.Key || strings.TrimSpace(p.Value) != p.Value {
				t.Fatalf("KeyValues(%q) gave pair %q=%q", s, p.Key, p.Value)
			}
			items = append(items, p.Key+"="+p.Value)
		}
		// What was read reads back the same.
		again, bad := KeyValues(strings.Join(items, ","))
		if bad != "" || !maps.Equal(KeyValueMap(again), KeyValueMap(pairs)) {
			t.Fatalf("KeyValues(%q) = %v, which reads back as %v, %q", s, pairs, again, bad)
		}
	})
}
