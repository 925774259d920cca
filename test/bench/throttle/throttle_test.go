// Package throttle benchmarks creating Ingresses on AWS (moto) behind a proxy that enforces AWS's per-account
// token buckets and answers with AWS's throttling errors: how close cloudlb's pacing gets to the lower bound the
// buckets set, how many of its calls are refused, and how many calls of each operation it makes.
package throttle

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
	"github.com/cloudlb/cloudlb/test/bench"
)

const (
	ns     = "throttle"
	region = "us-east-1"
	// paths per host, each to its own Service (a target group each); every Ingress has two hosts.
	paths     = 3
	endpoints = 2
)

// BenchmarkThrottledCreate creates CLOUDLB_BENCH_INGRESSES Ingresses (default 50) of 2 hosts × 3 paths with IP
// targets, each path to its own Service of 2 endpoints, behind a proxy enforcing cloudlb's default buckets
// (AWS's, throttle.go) scaled by CLOUDLB_BENCH_RATE_SCALE (default 1); the controller paces by the same
// buckets (CLOUDLB_BENCH_ACCOUNT_SHARE below 1 makes the proxy's smaller). Created means: every Ingress has its address, and every target group got its targets. It reports
// the time to created, the lower bound (for each bucket, the calls it let through beyond its burst divided by
// its refill rate; the largest), their ratio, the share of calls throttled, and the calls per operation.
func BenchmarkThrottledCreate(b *testing.B) {
	bench.Once(b)
	n, scale := bench.EnvInt(b, "CLOUDLB_BENCH_INGRESSES", 50, 1), envFloat(b, "CLOUDLB_BENCH_RATE_SCALE", 1)
	// share < 1 plays an account whose buckets other tools use too: the proxy enforces that share of the buckets
	// the controller paces by, and the controller has to find it out from AWS's throttling errors.
	share := envFloat(b, "CLOUDLB_BENCH_ACCOUNT_SHARE", 1)
	ctx := context.Background()
	ctrl.SetLogger(bench.Logger())
	env := bench.Start(b)

	motoURL, cfg, vpc := bench.Moto(b, region)
	limits := map[string]cloudaws.BucketLimit{}
	proxy := test.NewBucketProxy(motoURL, func(svc, op string) (string, float64, float64) {
		key, l := cloudaws.APIBucket(svc, op)
		// As the controller scales them (--aws-api-rate-scale), times the share.
		l = cloudaws.BucketLimit{Burst: max(1, math.Round(l.Burst*scale*share)), Rate: l.Rate * scale * share}
		limits[key] = l
		return key, l.Burst, l.Rate
	})
	b.Cleanup(proxy.Close)
	provider, err := cloudaws.NewFromConfig(ctx, cloudaws.Options{ClusterName: bench.Options().ClusterName, ClusterID: "bench-cluster-id",
		Region: region, VPCID: vpc, EndpointURL: proxy.URL, MaxRetries: 10, APIRateScale: scale})
	if err != nil {
		b.Fatal(err)
	}

	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	bench.Write(b, n*paths, func(i int) error {
		name := service(i/paths, i%paths)
		if err := env.Client.Create(ctx, bench.Service(ns, name)); err != nil {
			return err
		}
		ips := make([]string, endpoints)
		for k := range ips {
			ips[k] = fmt.Sprintf("172.31.%d.%d", 100+i/120, (i%120)*endpoints+k+1)
		}
		return env.Client.Create(ctx, bench.EndpointSlice(ns, name, name+"-1", ips))
	})
	bench.RunManager(b, env.Config, provider, bench.Options())

	start := time.Now()
	bench.Write(b, n, func(i int) error { return env.Client.Create(ctx, ingress(i)) })
	var accepted, throttled, perBucket map[string]int
	bench.Poll(b, 20*time.Minute, "every Ingress to have its address and every target group its targets", func() bool {
		accepted, throttled, perBucket = proxy.Counts()
		return accepted["Elastic Load Balancing v2:RegisterTargets"] >= n*paths && addressed(ctx, env.Client) == n
	})
	created := time.Since(start)
	verifyTargets(ctx, b, cfg, n*paths)

	// The lower bound: no client gets more from a bucket than its burst and then its refill rate.
	bound, boundBy := 0.0, ""
	for key, calls := range perBucket {
		l := limits[key]
		if t := max(0, float64(calls)-l.Burst) / l.Rate; t > bound {
			bound, boundBy = t, key
		}
	}
	total, refused := bench.Sum(accepted), bench.Sum(throttled)
	byOp := map[string]int{}
	for call, k := range accepted {
		_, op, _ := strings.Cut(call, ":")
		byOp[op] += k
	}
	b.Logf("%d Ingresses, buckets ×%g, account share %g: created in %.1f s; bound %.1f s (%s: %d calls, burst %g, %g/s); %.2f× the bound; %d of %d calls throttled (%.2f%%)",
		n, scale, share, created.Seconds(), bound, boundBy, perBucket[boundBy], limits[boundBy].Burst, limits[boundBy].Rate,
		created.Seconds()/bound, refused, total+refused, 100*float64(refused)/float64(total+refused))
	b.Logf("calls per operation (forwarded): %s", test.Summary(byOp))
	if refused > 0 {
		b.Logf("throttled: %v", throttled)
	}
	for _, key := range slices.Sorted(maps.Keys(perBucket)) {
		b.Logf("bucket %-45s %5d calls, burst %4g, %5g/s: at least %.1f s", key, perBucket[key], limits[key].Burst, limits[key].Rate,
			max(0, float64(perBucket[key])-limits[key].Burst)/limits[key].Rate)
	}
	b.ReportMetric(created.Seconds(), "s-to-created")
	b.ReportMetric(bound, "s-lower-bound")
	b.ReportMetric(created.Seconds()/bound, "x-bound")
	b.ReportMetric(100*float64(refused)/float64(total+refused), "%-throttled")
	b.ReportMetric(float64(total)/float64(n), "calls/ingress")
	writes := 0
	for op, k := range byOp {
		if !test.IsReadOnly(op) {
			writes += k
		}
	}
	b.ReportMetric(float64(writes)/float64(n), "writes/ingress")
}

func service(ing, path int) string { return fmt.Sprintf("s%02d-%d", ing, path) }

// ingress is the i'th Ingress: hosts a<i>.example.com and b<i>.example.com, each with paths /p0, /p1 and /p2 to
// the Ingress's three Services, IP targets.
func ingress(i int) *networkingv1.Ingress {
	var ps []networkingv1.HTTPIngressPath
	for k := range paths {
		ps = append(ps, networkingv1.HTTPIngressPath{Path: fmt.Sprintf("/p%d", k), PathType: ptr.To(networkingv1.PathTypePrefix),
			Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: service(i, k),
				Port: networkingv1.ServiceBackendPort{Number: 80}}}})
	}
	var rules []networkingv1.IngressRule
	for _, h := range []string{"a", "b"} {
		rules = append(rules, networkingv1.IngressRule{Host: fmt.Sprintf("%s%d.example.com", h, i),
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: ps}}})
	}
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("ing-%02d", i),
			Annotations: map[string]string{"alb.ingress.kubernetes.io/target-type": "ip"}},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("cloudlb"), Rules: rules},
	}
}

// addressed counts the Ingresses whose status carries their load balancer's address.
func addressed(ctx context.Context, c client.Client) int {
	var list networkingv1.IngressList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return 0
	}
	k := 0
	for _, ing := range list.Items {
		if len(ing.Status.LoadBalancer.Ingress) > 0 && ing.Status.LoadBalancer.Ingress[0].Hostname != "" {
			k++
		}
	}
	return k
}

// verifyTargets checks in moto itself, past the proxy, that there are want target groups holding their
// endpoints each.
func verifyTargets(ctx context.Context, b *testing.B, cfg aws.Config, want int) {
	b.Helper()
	c := elbv2.NewFromConfig(cfg)
	var arns []string
	pages := elbv2.NewDescribeTargetGroupsPaginator(c, &elbv2.DescribeTargetGroupsInput{})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, tg := range out.TargetGroups {
			arns = append(arns, aws.ToString(tg.TargetGroupArn))
		}
	}
	if len(arns) != want {
		b.Fatalf("%d target groups, want %d", len(arns), want)
	}
	for _, arn := range arns {
		out, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
		if err != nil {
			b.Fatal(err)
		}
		if len(out.TargetHealthDescriptions) != endpoints {
			b.Errorf("target group %s holds %d targets, want %d", arn, len(out.TargetHealthDescriptions), endpoints)
		}
	}
}

func envFloat(b *testing.B, name string, def float64) float64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0) {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return f
}
