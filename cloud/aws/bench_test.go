package aws_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/smithy-go/middleware"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
	"github.com/cloudlb/cloudlb/test/bench"
)

// BenchmarkProviderCalls reports the AWS calls, by operation, of a stack's life against moto: the first
// Ensure of three paths, an Ensure with nothing changed, adding a path, registering 1,000 targets, one step of
// a rolling update, and Delete. Counts, unlike moto's timings, say what the calls would cost on AWS (API rate
// limits are per operation). A life ends where it began, so each iteration is one life and the figures are
// per life. It starts its own moto: the Ginkgo suite's starts only under TestAWSProvider, which `-run '^$'`
// skips.
func BenchmarkProviderCalls(b *testing.B) {
	ctx := context.Background()
	motoURL, _, vpc := bench.Moto(b, region)
	counter := &test.CallCounter{}
	p, err := cloudaws.NewFromConfig(ctx, cloudaws.Options{ClusterName: cluster, ClusterID: clusterID, Region: region, VPCID: vpc,
		EndpointURL: motoURL, MaxRetries: 8, APIOptions: []func(*middleware.Stack) error{counter.Middleware}})
	if err != nil {
		b.Fatal(err)
	}

	const stack = "default/web"
	ensure := func(paths ...string) func() error {
		return func() error { _, err := p.Ensure(ctx, model(stack, paths...), cloud.Known{}); return err }
	}
	// targets syncs n IP targets from the VPC's range into the /api target group, starting at the from'th.
	targets := func(from, n int) func() error {
		return func() error {
			ts := make([]cloud.Target, n)
			for i := range ts {
				ts[i] = cloud.Target{ID: fmt.Sprintf("172.31.%d.%d", (from+i)/250, (from+i)%250+1), Port: 8080}
			}
			_, err := p.SyncTargets(ctx, stack, model(stack, "/api").TargetGroups[0].ID, ts)
			return err
		}
	}
	phases := []struct {
		name string
		run  func() error
	}{
		{"create", ensure("/api", "/admin", "/")},
		{"noop", ensure("/api", "/admin", "/")},
		{"add-path", ensure("/api", "/admin", "/v2", "/")},
		{"register-1000", targets(0, 1000)},
		// One step of a rolling update: 100 targets out, 100 in.
		{"replace-100", targets(100, 1000)},
		{"delete", func() error { return p.Delete(ctx, stack, cloud.Known{}) }},
	}
	calls, mutating, lives := map[string]int{}, map[string]int{}, 0
	for b.Loop() {
		for _, phase := range phases {
			counter.Reset()
			if err := phase.run(); err != nil {
				b.Fatalf("%s: %v", phase.name, err)
			}
			// Every attempt counts, retries included: a retried call costs AWS rate limit too.
			calls[phase.name] += len(counter.Calls())
			mutating[phase.name] += len(counter.Mutating())
			if lives == 0 {
				b.Logf("%s: %s", phase.name, test.Summary(counter.Counts()))
			}
		}
		lives++
	}
	for _, phase := range phases {
		b.ReportMetric(float64(calls[phase.name])/float64(lives), phase.name+"-aws-calls")
		b.ReportMetric(float64(mutating[phase.name])/float64(lives), phase.name+"-mutating")
	}
}
