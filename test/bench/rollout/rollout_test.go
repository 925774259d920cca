// Package rollout benchmarks the targets path through a rolling update: how many registration calls it makes,
// and how large each one is.
package rollout

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/test/bench"
)

const (
	steps   = 10
	perStep = 100
	// stepInterval is how long a step takes, as pods start and turn ready: longer than a batch window, so
	// that the figures show a rollout's cost per step rather than one coalesced call. Not two windows: each
	// sync's own status patch re-enqueues the Service one window later (a no-op pass), and a step written
	// just as that pass starts would be split over two calls.
	stepInterval = 3 * bench.BatchWindow
)

// BenchmarkRollingUpdate1000 replaces the 1,000 endpoints of one Service in 10 steps of 100, as a Deployment
// rollout does: each step adds a slice of 100 new ready pods and marks 100 old ones terminating; the old
// slices go at the end, as their pods finish terminating.
func BenchmarkRollingUpdate1000(b *testing.B) {
	bench.Once(b)
	ctx := context.Background()
	ctrl.SetLogger(bench.Logger())
	env := bench.Start(b)
	const ns, name = "rollout", "web"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	provider := bench.NewRecorder()
	bench.RunManager(b, env.Config, provider, bench.Options())
	stack, tg := bench.TargetGroup(ns, name)

	if err := env.Client.Create(ctx, bench.Service(ns, name)); err != nil {
		b.Fatal(err)
	}
	if err := env.Client.Create(ctx, bench.Ingress(ns, name)); err != nil {
		b.Fatal(err)
	}
	old := make([]string, 0, steps*perStep)
	for i := range steps {
		slice := bench.EndpointSlice(ns, name, fmt.Sprintf("old-%d", i), bench.IPs("10.1", i*perStep, perStep))
		if err := env.Client.Create(ctx, slice); err != nil {
			b.Fatal(err)
		}
		old = append(old, bench.IPs("10.1", i*perStep, perStep)...)
	}
	bench.Poll(b, 2*time.Minute, "1,000 old targets", func() bool { return len(provider.Targets(stack, tg)) == len(old) })
	provider.Quiet(b, time.Minute)
	provider.ResetBatches()

	for i := range steps {
		fresh := bench.EndpointSlice(ns, name, fmt.Sprintf("new-%d", i), bench.IPs("10.2", i*perStep, perStep))
		if err := env.Client.Create(ctx, fresh); err != nil {
			b.Fatal(err)
		}
		stale := bench.EndpointSlice(ns, name, fmt.Sprintf("old-%d", i), nil)
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(stale), stale); err != nil {
			b.Fatal(err)
		}
		bench.Terminate(stale)
		if err := env.Client.Update(ctx, stale); err != nil {
			b.Fatal(err)
		}
		time.Sleep(stepInterval)
	}
	for i := range steps {
		stale := bench.EndpointSlice(ns, name, fmt.Sprintf("old-%d", i), nil)
		if err := env.Client.Delete(ctx, stale); err != nil {
			b.Fatal(err)
		}
	}
	want := targets(bench.IPs("10.2", 0, steps*perStep))
	bench.Poll(b, time.Minute, "the 1,000 new targets", func() bool { return slices.Equal(provider.Targets(stack, tg), want) })

	provider.Quiet(b, time.Minute)
	if got := provider.Targets(stack, tg); !slices.Equal(got, want) {
		b.Fatalf("after the rollout the target group holds %d targets, want the %d new ones", len(got), len(want))
	}
	calls, registerCalls, deregisterCalls, largest, maxTargets := 0, 0, 0, 0, 0
	for _, batch := range provider.Batches() {
		calls++
		if batch.Registered > 0 {
			registerCalls++
		}
		if batch.Deregistered > 0 {
			deregisterCalls++
		}
		largest = max(largest, batch.Registered+batch.Deregistered)
		maxTargets = max(maxTargets, batch.Targets)
	}
	b.ReportMetric(float64(calls), "sync-calls")
	b.ReportMetric(float64(registerCalls), "register-calls")
	b.ReportMetric(float64(deregisterCalls), "deregister-calls")
	// A batch is the targets one call registered plus those it deregistered.
	b.ReportMetric(float64(largest), "largest-batch")
	b.ReportMetric(float64(maxTargets), "max-targets-per-call")
}

// targets are addrs on the benchmark's target port, in the fake's order.
func targets(addrs []string) []cloud.Target {
	out := make([]cloud.Target, len(addrs))
	for i, a := range addrs {
		out[i] = cloud.Target{ID: a, Port: bench.TargetPort}
	}
	slices.SortFunc(out, func(a, b cloud.Target) int { return strings.Compare(a.ID, b.ID) })
	return out
}
