// Package targetsync benchmarks target syncs in one Ingress group of 50 members that share 3 Services, on AWS
// (moto): how many writes of the LoadBalancer record conflict, how many reconciles and AWS calls it takes until
// every target group holds all its targets, and how many DescribeTargetHealth calls one edit of one member costs.
package targetsync

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/test"
	"github.com/cloudlb/cloudlb/test/bench"
)

const (
	members  = 50
	services = 3
	// endpoints per Service.
	endpoints = 10
	ns        = "targetsync"
	group     = "targets"
	region    = "us-east-1"
	edited    = members / 2
	// quietSilence is longer than the targets controller waits before it reads targets still in their first
	// health check again (5s), so that counts taken after the calls stop include every call that a phase set
	// off, and none of them falls into the next phase.
	quietSilence = 8 * time.Second
)

// BenchmarkTargets50Members3Services creates 3 Services with 10 ready endpoints each and 50 Ingresses of one group,
// member i routing to Service i%3, each member with its own target group. It waits until every target group holds
// its Service's endpoints in moto, then adds a path to one member. It reports the conflicts the API server
// returned on LoadBalancer records, the targets reconciles and AWS calls until the targets were all registered,
// and the DescribeTargetHealth calls of the edit.
func BenchmarkTargets50Members3Services(b *testing.B) {
	bench.Once(b)
	ctx := context.Background()
	ctrl.SetLogger(bench.Logger())
	env := bench.Start(b)
	counter := &test.CallCounter{}
	provider, awsCfg := bench.AWSProvider(b, region, counter)
	elb := elbv2.NewFromConfig(awsCfg)
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	for s := range services {
		name := service(s)
		if err := env.Client.Create(ctx, bench.Service(ns, name)); err != nil {
			b.Fatal(err)
		}
		if err := env.Client.Create(ctx, bench.EndpointSlice(ns, name, name+"-1", bench.IPs("172.31", s*250, endpoints))); err != nil {
			b.Fatal(err)
		}
	}
	conflicts := &conflictCounter{}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return conflicts.wrap(rt) })
	bench.RunManager(b, cfg, provider, bench.Options())

	start := time.Now()
	bench.Write(b, members, func(i int) error { return env.Client.Create(ctx, member(i)) })
	hash := bench.GroupConverged(b, env.Client, group, members, "")
	applied := time.Since(start)
	bench.Poll(b, 5*time.Minute, "every target group's targets synced", func() bool {
		var rec v1alpha1.LoadBalancer
		return env.Client.Get(ctx, client.ObjectKey{Name: group}, &rec) == nil && len(rec.Status.TargetGroups) == members &&
			!slices.ContainsFunc(rec.Status.TargetGroups, func(tg v1alpha1.TargetGroupBinding) bool { return rec.Status.TargetsSynced[tg.ID] == "" })
	})
	filled := time.Since(start)
	allTargets(b, elb, env.Client)
	bench.QuietCalls(b, counter, quietSilence, 2*time.Minute)
	createCounts := counter.Counts()
	reconciles, errs := reconcileCounts(b)
	createConflicts := conflicts.n.Load()
	b.Logf("create: %s", test.Summary(createCounts))

	counter.Reset()
	ing := &networkingv1.Ingress{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(member(edited)), ing); err != nil {
		b.Fatal(err)
	}
	paths := &ing.Spec.Rules[0].HTTP.Paths
	*paths = append(*paths, path(fmt.Sprintf("/app-%02d/v2", edited), service(edited%services)))
	if err := env.Client.Update(ctx, ing); err != nil {
		b.Fatal(err)
	}
	bench.GroupConverged(b, env.Client, group, members, hash)
	bench.QuietCalls(b, counter, quietSilence, 2*time.Minute)
	editCounts := counter.Counts()
	b.Logf("edit: %s", test.Summary(editCounts))

	b.ReportMetric(float64(createConflicts), "record-conflicts")
	b.ReportMetric(float64(conflicts.n.Load()-createConflicts), "edit-record-conflicts")
	b.ReportMetric(applied.Seconds(), "s-to-applied")
	b.ReportMetric(filled.Seconds(), "s-to-targets-synced")
	b.ReportMetric(float64(reconciles), "targets-reconciles")
	b.ReportMetric(float64(errs), "targets-reconcile-errors")
	b.ReportMetric(float64(createCounts["DescribeTargetHealth"]), "create-DescribeTargetHealth")
	b.ReportMetric(float64(createCounts["RegisterTargets"]), "create-RegisterTargets")
	b.ReportMetric(float64(editCounts["DescribeTargetHealth"]), "edit-DescribeTargetHealth")
	b.ReportMetric(float64(len(counter.Calls())), "edit-aws-calls")

	b.Logf("figures: %d record conflicts (edit: %d), %.1fs to applied, %.1fs until the record says every group is synced, %d targets reconciles (%d errors), "+
		"create DescribeTargetHealth=%d RegisterTargets=%d, edit DescribeTargetHealth=%d", createConflicts, conflicts.n.Load()-createConflicts,
		applied.Seconds(), filled.Seconds(), reconciles, errs, createCounts["DescribeTargetHealth"], createCounts["RegisterTargets"],
		editCounts["DescribeTargetHealth"])

	// Counts do not depend on the machine, so they may gate.
	if createConflicts != 0 {
		b.Errorf("%d conflicts writing LoadBalancer records, want none", createConflicts)
	}
	if n := createCounts["RegisterTargets"]; n != members {
		b.Errorf("%d RegisterTargets calls for %d target groups, want one each", n, members)
	}
	// The edit adds a rule to a target group that exists: no group is replaced, so none is synced again.
	if n := editCounts["DescribeTargetHealth"]; n > 1 {
		b.Errorf("one edit: %d DescribeTargetHealth calls, want at most 1", n)
	}
}

func service(i int) string { return fmt.Sprintf("svc-%d", i) }

// conflictCounter counts the API server's 409 answers to writes of LoadBalancer records.
type conflictCounter struct{ n atomic.Int64 }

func (c *conflictCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err == nil && resp.StatusCode == http.StatusConflict && strings.Contains(req.URL.Path, "/loadbalancers/") {
			c.n.Add(1)
		}
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// reconcileCounts reads the targets controller's reconciles, and those that returned an error, from
// controller-runtime's metrics.
func reconcileCounts(b *testing.B) (total, errs int) {
	b.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var controller, result string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "controller":
					controller = l.GetValue()
				case "result":
					result = l.GetValue()
				}
			}
			if controller == "targets" {
				total += int(m.GetCounter().GetValue())
				if result == "error" {
					errs += int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return total, errs
}

func path(p, svc string) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: p, PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}}}}
}

// member is the i'th Ingress of the group: one path, /app-<i>, to svc-<i%3>:80 with IP targets.
func member(i int) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("app-%02d", i), Annotations: map[string]string{
			"alb.ingress.kubernetes.io/group.name": group, "alb.ingress.kubernetes.io/target-type": "ip"}},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("cloudlb"), Rules: []networkingv1.IngressRule{{
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{path(fmt.Sprintf("/app-%02d", i), service(i%services))}}}}}},
	}
}

// allTargets waits until each of the load balancer's 50 target groups holds its Service's endpoints, read from
// moto with the benchmark's own client (its calls are not counted), at most once a second: the record's digests
// must not claim more than the cloud holds.
func allTargets(b *testing.B, elb *elbv2.Client, c client.Client) {
	b.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Minute)
	for ; ; time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			b.Fatal("timed out after 5m waiting for every target group to hold all its targets")
		}
		var rec v1alpha1.LoadBalancer
		if err := c.Get(ctx, client.ObjectKey{Name: group}, &rec); err != nil || rec.Status.ID == "" {
			continue
		}
		tgs, err := elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: aws.String(rec.Status.ID)})
		if err != nil || len(tgs.TargetGroups) != members {
			continue
		}
		full := 0
		for _, tg := range tgs.TargetGroups {
			h, err := elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn})
			if err == nil && len(h.TargetHealthDescriptions) == endpoints {
				full++
			}
		}
		if full == members {
			return
		}
	}
}
