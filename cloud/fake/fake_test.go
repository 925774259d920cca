package fake_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
)

// TestFaultInjection covers the fake's injection knobs, which controller tests rely on to mean what they say.
func TestFaultInjection(t *testing.T) {
	ctx := context.Background()
	p := fake.New()
	lb := &cloud.LoadBalancer{Stack: "ns/a", Name: "a", TargetGroups: []cloud.TargetGroup{{ID: "tg"}}}

	boom := errors.New("boom")
	p.FailNext(fake.MethodEnsure, boom)
	if _, err := p.Ensure(ctx, lb, cloud.Known{}); !errors.Is(err, boom) {
		t.Fatalf("first Ensure: %v, want the queued error", err)
	}
	st, err := p.Ensure(ctx, lb, cloud.Known{})
	if err != nil || st.DNSName != fake.DNSName(lb) {
		t.Fatalf("second Ensure: %v %q, want success with the deterministic name", err, st.DNSName)
	}
	if p.LoadBalancer("ns/a") == nil || p.CallCount(fake.MethodEnsure, "ns/a") != 2 {
		t.Fatal("both calls are recorded and the second one stored the model")
	}

	p.Inject(fake.MethodDelete, func(stack string) error {
		if stack == "ns/a" {
			return boom
		}
		return nil
	})
	if err := p.Delete(ctx, "ns/b", cloud.Known{}); err != nil {
		t.Fatalf("Inject must only fail the stacks it names: %v", err)
	}
	if err := p.Delete(ctx, "ns/a", cloud.Known{}); !errors.Is(err, boom) || p.LoadBalancer("ns/a") == nil {
		t.Fatalf("injected Delete: %v; a failed Delete must keep the load balancer", err)
	}
	p.Inject(fake.MethodDelete, nil)
	if err := p.Delete(ctx, "ns/a", cloud.Known{}); err != nil || p.LoadBalancer("ns/a") != nil {
		t.Fatalf("Delete after Inject(nil): %v", err)
	}

	if _, err := p.SyncTargets(ctx, "ns/a", "tg", nil); !cloud.IsNotFound(err) {
		t.Fatalf("targets of a deleted stack: %v, want not found", err)
	}

	p.SetLatency(fake.MethodStacks, time.Hour)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := p.Stacks(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a delayed call must give up with its context: %v", err)
	}
}
