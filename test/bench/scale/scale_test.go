// Package scale benchmarks the targets path at the shape the AWS Load Balancer Controller's maintainers
// measured at about 7 GiB: 50 target groups of 1,000 endpoints each. The aim is under 200 MiB.
package scale

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/cloudlb/cloudlb/test/bench"
)

const (
	services         = 50
	slicesPerService = 10
	endpointsPer     = 100 // the EndpointSlice controller's default maximum per slice
)

// BenchmarkTargets50x1000 loads 50 Services of 1,000 endpoints (10 EndpointSlices of 100 each), each behind
// its own IP-mode Ingress, and waits until the fake holds all 50,000 targets.
func BenchmarkTargets50x1000(b *testing.B) {
	bench.Once(b)
	ctx := context.Background()
	ctrl.SetLogger(bench.Logger())
	env := bench.Start(b)
	const ns = "scale"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	provider := bench.NewRecorder()
	bench.RunManager(b, env.Config, provider, bench.Options())

	name := func(i int) string { return fmt.Sprintf("svc-%02d", i) }
	bench.Write(b, services, func(i int) error {
		if err := env.Client.Create(ctx, bench.Service(ns, name(i))); err != nil {
			return err
		}
		return env.Client.Create(ctx, bench.Ingress(ns, name(i)))
	})
	// Endpoints are written once every load balancer exists and its empty target set is synced, so that what
	// follows is the targets path alone.
	bench.Poll(b, 2*time.Minute, "50 load balancers", func() bool {
		for i := range services {
			if stack, _ := bench.TargetGroup(ns, name(i)); provider.LoadBalancer(stack) == nil {
				return false
			}
		}
		return true
	})
	provider.Quiet(b, time.Minute)
	provider.ResetBatches()
	b.Logf("before any endpoint: peak RSS %.0f MiB, heap %.0f MiB", bench.PeakRSSMiB(b), bench.HeapMiB())

	bench.Write(b, services*slicesPerService, func(i int) error {
		svc, slice := i/slicesPerService, i%slicesPerService
		addrs := bench.IPs(fmt.Sprintf("10.%d", svc), slice*endpointsPer, endpointsPer)
		return env.Client.Create(ctx, bench.EndpointSlice(ns, name(svc), fmt.Sprintf("%s-%d", name(svc), slice), addrs))
	})
	lastWrite := time.Now()
	// Each target group is polled until it is complete, and no more: a poll copies and sorts its targets.
	left := services
	bench.Poll(b, 5*time.Minute, "50,000 targets registered", func() bool {
		for left > 0 && len(provider.Targets(bench.TargetGroup(ns, name(left-1)))) == slicesPerService*endpointsPer {
			left--
		}
		return left == 0
	})
	registered := time.Since(lastWrite)

	provider.Quiet(b, time.Minute)
	calls, registerCalls, largest := 0, 0, 0
	for _, batch := range provider.Batches() {
		calls++
		if batch.Registered > 0 {
			registerCalls++
		}
		largest = max(largest, batch.Registered+batch.Deregistered)
	}
	b.ReportMetric(registered.Seconds(), "s-to-registered")
	b.ReportMetric(float64(calls), "sync-calls")
	b.ReportMetric(float64(registerCalls), "register-calls")
	b.ReportMetric(float64(largest), "largest-batch")
	// Both figures are of the whole test process: the controller, and also the benchmark's own client objects
	// (the slices it built to write), the fake cloud's 50,000 targets and the recorder's copy of them. The API
	// server and etcd are separate processes and not included.
	b.ReportMetric(bench.HeapMiB(), "heap-MiB")
	b.ReportMetric(bench.PeakRSSMiB(b), "peak-rss-MiB")
}
