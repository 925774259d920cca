// Package group benchmarks one Ingress group of 50 members on AWS (moto): the calls, by operation, of creating
// them together, and of then adding one path to one member.
package group

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudlb/cloudlb/test"
	"github.com/cloudlb/cloudlb/test/bench"
)

const (
	members = 50
	ns      = "group"
	group   = "bench"
	region  = "us-east-1"
	// edited is the member that gets a second path: one in the middle, so that its new rule goes between
	// others' rules.
	edited = members / 2
)

// BenchmarkGroup50Members creates 50 Ingresses of one group together (each one path, all to one Service), waits
// until the group's load balancer serves all of them, then adds one path to one member. It reports the AWS
// calls of each phase, by operation, and gates on the counts: one load balancer and one target group per member
// are created and nothing is deleted, and the edit writes exactly one rule.
func BenchmarkGroup50Members(b *testing.B) {
	bench.Once(b)
	ctx := context.Background()
	ctrl.SetLogger(bench.Logger())
	env := bench.Start(b)
	counter := &test.CallCounter{}
	provider, _ := bench.AWSProvider(b, region, counter)
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	if err := env.Client.Create(ctx, bench.Service(ns, "web")); err != nil {
		b.Fatal(err)
	}
	bench.RunManager(b, env.Config, provider, bench.Options())

	start := time.Now()
	bench.Write(b, members, func(i int) error { return env.Client.Create(ctx, member(i)) })
	hash := bench.GroupConverged(b, env.Client, group, members, "")
	created := time.Since(start)
	bench.QuietCalls(b, counter, 4*bench.BatchWindow, time.Minute)
	createCounts := counter.Counts()
	createCalls, createMutating := len(counter.Calls()), len(counter.Mutating())
	b.Logf("create: %s", test.Summary(createCounts))

	counter.Reset()
	start = time.Now()
	ing := &networkingv1.Ingress{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(member(edited)), ing); err != nil {
		b.Fatal(err)
	}
	paths := &ing.Spec.Rules[0].HTTP.Paths
	*paths = append(*paths, path(fmt.Sprintf("/app-%02d/v2", edited)))
	if err := env.Client.Update(ctx, ing); err != nil {
		b.Fatal(err)
	}
	bench.GroupConverged(b, env.Client, group, members, hash)
	edit := time.Since(start)
	bench.QuietCalls(b, counter, 4*bench.BatchWindow, time.Minute)
	editCounts := counter.Counts()
	b.Logf("edit: %s", test.Summary(editCounts))

	b.ReportMetric(created.Seconds(), "s-to-created")
	b.ReportMetric(float64(createCalls), "create-aws-calls")
	b.ReportMetric(float64(createMutating), "create-mutating")
	b.ReportMetric(float64(createCounts["CreateRule"]), "create-CreateRule")
	b.ReportMetric(edit.Seconds(), "s-to-edited")
	b.ReportMetric(float64(len(counter.Calls())), "edit-aws-calls")
	b.ReportMetric(float64(len(counter.Mutating())), "edit-mutating")
	b.ReportMetric(float64(editCounts["DescribeTargetHealth"]), "edit-DescribeTargetHealth")
	// Of the whole test process: the controller, the benchmark's client, and the AWS SDK's clients. The API
	// server, etcd and moto are other processes.
	b.ReportMetric(bench.HeapMiB(), "heap-MiB")
	b.ReportMetric(bench.PeakRSSMiB(b), "peak-rss-MiB")

	// Counts do not depend on the machine, so they may gate.
	if n := createCounts["CreateLoadBalancer"]; n != 1 {
		b.Errorf("creating the group: %d CreateLoadBalancer calls, want 1", n)
	}
	// Each member has its own target group, as in the AWS Load Balancer Controller, created once.
	if n := createCounts["CreateTargetGroup"]; n != members {
		b.Errorf("creating the group: %d CreateTargetGroup calls, want %d", n, members)
	}
	for op, n := range createCounts {
		if strings.HasPrefix(op, "Delete") || strings.HasPrefix(op, "Deregister") {
			b.Errorf("creating the group: %d %s calls, want none", n, op)
		}
	}
	if m := counter.Mutating(); !slices.Equal(m, []string{"CreateRule"}) {
		b.Errorf("adding one path to one member: writes %v, want exactly one CreateRule", m)
	}
}

func path(p string) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: p, PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}
}

// member is the i'th Ingress of the group: one path, /app-<i>, to web:80 with IP targets.
func member(i int) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("app-%02d", i), Annotations: map[string]string{
			"alb.ingress.kubernetes.io/group.name": group, "alb.ingress.kubernetes.io/target-type": "ip"}},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("cloudlb"), Rules: []networkingv1.IngressRule{{
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{path(fmt.Sprintf("/app-%02d", i))}}}}}},
	}
}
