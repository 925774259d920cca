package main

import (
	"slices"
	"testing"
)

func TestParseControllerNames(t *testing.T) {
	for _, tc := range []struct {
		in    string
		adopt bool
		want  []string
		err   bool
	}{
		{"cloudlb.io/alb", false, []string{"cloudlb.io/alb"}, false},
		{"cloudlb.io/alb", true, []string{"cloudlb.io/alb", "ingress.k8s.aws/alb"}, false},
		{" cloudlb.io/alb , example.com/alb,cloudlb.io/alb", false, []string{"cloudlb.io/alb", "example.com/alb"}, false},
		{"ingress.k8s.aws/alb,cloudlb.io/alb", true, []string{"ingress.k8s.aws/alb", "cloudlb.io/alb"}, false},
		// LBC's class without the takeover would put a second load balancer beside each of LBC's.
		{"cloudlb.io/alb,ingress.k8s.aws/alb", false, nil, true},
		{" , ", false, nil, true},
	} {
		got, err := parseControllerNames(tc.in, tc.adopt)
		if (err != nil) != tc.err {
			t.Errorf("parseControllerNames(%q, %t) error = %v, want error %t", tc.in, tc.adopt, err, tc.err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("parseControllerNames(%q, %t) = %q, want %q", tc.in, tc.adopt, got, tc.want)
		}
	}
}
