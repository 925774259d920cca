package main

import (
	"context"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudlb/cloudlb/controllers"
	"github.com/cloudlb/cloudlb/test"
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

func TestReadClusterID(t *testing.T) {
	env, err := test.NewEnvironment()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()

	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := controllers.ClusterID(ctx, cfg, "")
	if err != nil {
		t.Fatalf("readClusterID: %v", err)
	}
	var ns corev1.Namespace
	if err := c.Get(ctx, client.ObjectKey{Name: "kube-system"}, &ns); err != nil {
		t.Fatal(err)
	}
	if id != string(ns.UID) || id == "" {
		t.Errorf("cluster ID %q, want the UID of kube-system %q", id, ns.UID)
	}
	if id, err := controllers.ClusterID(ctx, cfg, "from-flag"); err != nil || id != "from-flag" {
		t.Errorf("the flag must override: got %q, %v", id, err)
	}

	// A controller that may not read namespaces fails start-up, saying why, instead of running without identity.
	denied := rest.CopyConfig(cfg)
	denied.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:cloudlb:no-rights"}
	if _, err := controllers.ClusterID(ctx, denied, ""); err == nil || !strings.Contains(err.Error(), "kube-system") {
		t.Errorf("without get on namespaces: got %v, want an error naming kube-system", err)
	}
}

func TestParseTagKeys(t *testing.T) {
	defaults := map[string]string{"team": "platform"}
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "", want: nil},
		{in: "billing, owner ,billing,", want: []string{"billing", "owner"}},
		// cloudlb's ownership keys are never someone else's.
		{in: "cloudlb.io/stack", err: "reserved prefix"},
		{in: "aws:cloudformation:stack-name", err: "reserved prefix"},
		// A key cannot be both set by cloudlb on every resource and never touched by it.
		{in: "owner,team", err: "also in --default-tags"},
	} {
		got, err := parseTagKeys(tc.in, defaults)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseTagKeys(%q) error %v, want %q", tc.in, err, tc.err)
			}
		case err != nil || !slices.Equal(got, tc.want):
			t.Errorf("parseTagKeys(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// The controller and plan read --default-target-type through one function: both refuse what the other refuses.
func TestParseTargetType(t *testing.T) {
	for in, ok := range map[string]bool{"instance": true, "ip": true, "": false, "IP": false, "alb": false} {
		got, err := parseTargetType(in)
		if (err == nil) != ok || (ok && string(got) != in) {
			t.Errorf("parseTargetType(%q) = %q, %v; want ok=%v", in, got, err, ok)
		}
	}
	if _, err := parsePlanFlags([]string{"--cluster-name=c", "--all", "--default-target-type=alb"}, io.Discard); err == nil {
		t.Error("plan accepted --default-target-type=alb")
	}
}
