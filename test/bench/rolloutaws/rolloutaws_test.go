// Package rolloutaws benchmarks a rolling update of 1,000 pods on AWS (moto) behind a proxy that enforces AWS's
// API buckets: the registration calls it costs, how long until the target group holds exactly the new pods, and
// whether the target group was ever left without targets on the way.
package rolloutaws

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
	"github.com/cloudlb/cloudlb/test/bench"
)

const (
	region  = "us-east-1"
	steps   = 10
	perStep = 100
	// stepInterval is how long a step takes as its pods start and turn ready, as in test/bench/rollout.
	stepInterval = 3 * bench.BatchWindow
	register     = "Elastic Load Balancing v2:RegisterTargets"
	deregister   = "Elastic Load Balancing v2:DeregisterTargets"
)

// BenchmarkRollingUpdate1000AWS replaces the 1,000 endpoints of one Service behind an IP-mode Ingress in 10
// steps of 100, as test/bench/rollout does against the fake, but with the AWS provider against moto behind
// the bucket proxy (cloudlb's default buckets, as AWS's). It reports the RegisterTargets and
// DeregisterTargets calls of the rollout, the calls throttled, the seconds from the first step until the
// target group holds exactly the new pods, and the fewest targets a sample of the group (every 500ms, read
// from moto past the proxy) found during the rollout.
func BenchmarkRollingUpdate1000AWS(b *testing.B) {
	bench.Once(b)
	ctx := context.Background()
	ctrl.SetLogger(bench.Logger())
	env := bench.Start(b)
	const ns, name = "rollout", "web"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	motoURL, cfg, vpc := bench.Moto(b, region)
	proxy := test.NewBucketProxy(motoURL, func(svc, op string) (string, float64, float64) {
		key, l := cloudaws.APIBucket(svc, op)
		return key, l.Burst, l.Rate
	})
	b.Cleanup(proxy.Close)
	provider, err := cloudaws.NewFromConfig(ctx, cloudaws.Options{ClusterName: bench.Options().ClusterName, ClusterID: "bench-cluster-id",
		Region: region, VPCID: vpc, EndpointURL: proxy.URL, MaxRetries: 10})
	if err != nil {
		b.Fatal(err)
	}
	bench.RunManager(b, env.Config, provider, bench.Options())

	if err := env.Client.Create(ctx, bench.Service(ns, name)); err != nil {
		b.Fatal(err)
	}
	if err := env.Client.Create(ctx, bench.Ingress(ns, name)); err != nil {
		b.Fatal(err)
	}
	// Addresses in the VPC moto prepared (172.31.0.0/16): old pods 172.31.0-3.x, new pods 172.31.4-7.x.
	for i := range steps {
		slice := bench.EndpointSlice(ns, name, fmt.Sprintf("old-%d", i), bench.IPs("172.31", i*perStep, perStep))
		if err := env.Client.Create(ctx, slice); err != nil {
			b.Fatal(err)
		}
	}
	elb := elbv2.NewFromConfig(cfg)
	var arn string
	bench.Poll(b, 5*time.Minute, "the target group to hold the 1,000 old pods", func() bool {
		if arn == "" {
			out, err := elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{})
			if err != nil || len(out.TargetGroups) == 0 {
				return false
			}
			arn = aws.ToString(out.TargetGroups[0].TargetGroupArn)
		}
		return exactly(ctx, elb, arn, addrs(bench.IPs("172.31", 0, steps*perStep)))
	})
	// Start from a quiet controller, so that the counts below are the rollout's.
	time.Sleep(4 * bench.BatchWindow)
	before, throttledBefore, _ := proxy.Counts()
	fewest := sample(ctx, b, elb, arn)

	start := time.Now()
	for i := range steps {
		fresh := bench.EndpointSlice(ns, name, fmt.Sprintf("new-%d", i), bench.IPs("172.31", (steps+i)*perStep, perStep))
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
		if err := env.Client.Delete(ctx, bench.EndpointSlice(ns, name, fmt.Sprintf("old-%d", i), nil)); err != nil {
			b.Fatal(err)
		}
	}
	written := time.Since(start)
	want := addrs(bench.IPs("172.31", steps*perStep, steps*perStep))
	bench.Poll(b, 5*time.Minute, "the target group to hold exactly the 1,000 new pods", func() bool {
		return exactly(ctx, elb, arn, want)
	})
	done := time.Since(start)
	least := fewest()
	time.Sleep(4 * bench.BatchWindow)
	after, throttledAfter, _ := proxy.Counts()

	registers, deregisters := after[register]-before[register], after[deregister]-before[deregister]
	throttled := bench.Sum(throttledAfter) - bench.Sum(throttledBefore)
	total := bench.Sum(after) - bench.Sum(before)
	b.Logf("rollout of %d pods in %d steps (%.1f s of writes): exact after %.1f s; %d RegisterTargets, %d DeregisterTargets; %d of %d calls throttled; fewest targets seen %d",
		steps*perStep, steps, written.Seconds(), done.Seconds(), registers, deregisters, throttled, total+throttled, least)
	b.Logf("calls of the rollout (forwarded): %s", test.Summary(diff(after, before)))
	b.ReportMetric(done.Seconds(), "s-to-exact")
	b.ReportMetric(float64(registers), "register-calls")
	b.ReportMetric(float64(deregisters), "deregister-calls")
	b.ReportMetric(float64(throttled), "throttled")
	b.ReportMetric(float64(least), "fewest-targets")
	// Counts may gate: make before break never leaves the group with fewer targets than one step's worth
	// of ready pods.
	if least < perStep {
		b.Errorf("the target group held %d targets at one point of the rollout, want at least %d", least, perStep)
	}
}

// exactly says whether the group holds exactly want. It reads at most twice a second: each read of 1,000
// targets is work for moto, which serves the controller's calls on the same thread.
func exactly(ctx context.Context, elb *elbv2.Client, arn string, want []string) bool {
	held, err := registered(ctx, elb, arn)
	if err == nil && slices.Equal(held, want) {
		return true
	}
	time.Sleep(500 * time.Millisecond)
	return false
}

// registered is the sorted addresses of the targets in the group that are not draining.
func registered(ctx context.Context, elb *elbv2.Client, arn string) ([]string, error) {
	out, err := elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
	if err != nil {
		return nil, err
	}
	var held []string
	for _, h := range out.TargetHealthDescriptions {
		if h.TargetHealth != nil && h.TargetHealth.State == elbv2types.TargetHealthStateEnumDraining {
			continue
		}
		held = append(held, aws.ToString(h.Target.Id))
	}
	slices.Sort(held)
	return held, nil
}

// sample reads the group every 500ms until the benchmark ends; the returned func is the fewest targets read.
func sample(ctx context.Context, b *testing.B, elb *elbv2.Client, arn string) func() int {
	var mu sync.Mutex
	fewest := math.MaxInt
	stop := make(chan struct{})
	go func() {
		for {
			if held, err := registered(ctx, elb, arn); err == nil {
				mu.Lock()
				fewest = min(fewest, len(held))
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	b.Cleanup(func() { close(stop) })
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return fewest
	}
}

func addrs(in []string) []string { return slices.Sorted(slices.Values(in)) }

func diff(after, before map[string]int) map[string]int {
	out := maps.Clone(after)
	for k, v := range before {
		if out[k] -= v; out[k] == 0 {
			delete(out, k)
		}
	}
	return out
}
