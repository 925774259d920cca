package aws

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/cloudlb/cloudlb/cloud"
)

// AWS counts the external-managed keys a resource keeps: a model that fits alone may not fit beside them, and
// must be refused before any change rather than fail halfway through an apply.
func TestMakePlanCountsExternalTagsAgainstTheLimit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		external []string
		wantErr  string
	}{
		{name: "without external keys the model fits"},
		{name: "an external key on the load balancer takes the last free tag", external: []string{"billing"},
			wantErr: "load balancer: 50 tags (49 wanted and 1 external-managed ones it carries) exceed the AWS limit of 49"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, a := testDesired(), testActual()
			d.lb.Tags = map[string]string{}
			for i := range 45 {
				d.lb.Tags[fmt.Sprintf("k%02d", i)] = "v"
			}
			retag(d)
			d.policy = newTagPolicy(nil, tc.external)
			a.lbs[0].tags["billing"] = "finance"
			_, err := makePlan(d, a)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("makePlan: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("makePlan error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// A new target group's own tags add to the stack's: refused before any change, not by AWS (TooManyTags) when the
// group is created halfway through an apply.
func TestMakePlanRefusesANewTargetGroupOverTheTagLimit(t *testing.T) {
	base := len(tgTags(testDesired(), testDesired().lb.TargetGroups[0]))
	// 49 tags fit: one is kept for cloud.TagRetiredAt.
	for _, over := range []bool{false, true} {
		d, a := testDesired(), testActual()
		a.targetGroups = nil
		tg := &d.lb.TargetGroups[0]
		tg.Tags = map[string]string{}
		for i := range maxTags - 1 - base {
			tg.Tags[fmt.Sprintf("k%02d", i)] = "v"
		}
		if over {
			tg.Tags["one-more"] = "v"
		}
		_, err := makePlan(d, a)
		switch {
		case !over && err != nil:
			t.Errorf("49 tags: makePlan: %v", err)
		case over && (err == nil || !strings.Contains(err.Error(), "target group "+tg.ID+": 50 tags")):
			t.Errorf("50 tags: makePlan error %v, want the target group's tags refused", err)
		}
	}
}

// --default-tags win over every tag the model asks for, as in the AWS Load Balancer Controller; ownership wins over
// both; external-managed keys are written by no one.
func TestDefaultTagsPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name               string
		defaults, lb, tg   map[string]string
		external           []string
		wantLB, wantTGUser map[string]string
	}{
		{name: "annotation only", lb: map[string]string{"team": "web"},
			wantLB: map[string]string{"team": "web"}, wantTGUser: map[string]string{"team": "web"}},
		{name: "defaults only", defaults: map[string]string{"env": "prod"},
			wantLB: map[string]string{"env": "prod"}, wantTGUser: map[string]string{"env": "prod"}},
		{name: "the same key: the default wins", defaults: map[string]string{"team": "platform"}, lb: map[string]string{"team": "web", "app": "shop"},
			wantLB: map[string]string{"team": "platform", "app": "shop"}, wantTGUser: map[string]string{"team": "platform", "app": "shop"}},
		{name: "a target group's own tag beats the stack's, not the default", defaults: map[string]string{"team": "platform"},
			lb: map[string]string{"tier": "lb"}, tg: map[string]string{"tier": "backend", "team": "svc"},
			wantLB: map[string]string{"team": "platform", "tier": "lb"}, wantTGUser: map[string]string{"team": "platform", "tier": "backend"}},
		{name: "an external key is never written", lb: map[string]string{"billing": "me", "team": "web"}, tg: map[string]string{"billing": "svc"},
			external: []string{"billing"}, wantLB: map[string]string{"team": "web"}, wantTGUser: map[string]string{"team": "web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Clients{}, Options{ClusterName: testCluster, ClusterID: testClusterID, DefaultTags: tc.defaults, ExternalManagedTags: tc.external})
			lb := p.tagsFor(tc.lb, testStack, "load-balancer")
			if want := ownerTags("load-balancer", tc.wantLB); !maps.Equal(lb, want) {
				t.Errorf("load balancer tags %v, want %v", lb, want)
			}
			d := &desired{tags: lb, policy: p.tags}
			tg := tgTags(d, cloud.TargetGroup{ID: apiID, Tags: tc.tg})
			if want := ownerTags(apiID, tc.wantTGUser); !maps.Equal(tg, want) {
				t.Errorf("target group tags %v, want %v", tg, want)
			}
		})
	}
}
