package targets

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	crfake "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/test"
)

// A digest is written on a record read before other writes, the Ingress reconciler's apply included, without a
// conflict: it patches its own entry only. Written after an apply that made the group anew, it no longer
// matches, so the group is synced again; after an apply that kept the group, it still does.
func TestRecordSyncedNeverConflicts(t *testing.T) {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := types.NamespacedName{Name: "shop.app"}
	rec := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: key.Name}, Spec: v1alpha1.LoadBalancerSpec{Stack: "shop/app"},
		Status: v1alpha1.LoadBalancerStatus{AppliedHash: "h1", TargetGroups: []v1alpha1.TargetGroupBinding{{ID: "tg-a", CloudID: "arn-1"}}}}
	c := crfake.NewClientBuilder().WithScheme(s).WithStatusSubresource(&v1alpha1.LoadBalancer{}).WithObjects(rec).Build()
	r := &Reconciler{Client: c}
	read := func() *v1alpha1.LoadBalancer {
		t.Helper()
		out := &v1alpha1.LoadBalancer{}
		if err := c.Get(ctx, key, out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	targets := []cloud.Target{{ID: "10.0.0.1", Port: 8080}}

	stale := read()
	digest := syncDigest(binding{TargetGroupBinding: stale.Status.TargetGroups[0], record: stale}, targets)
	applied := read()
	applied.Status.AppliedHash, applied.Status.TargetsSynced = "h2", map[string]string{"tg-b": "db"}
	applied.Status.TargetGroups[0].CloudID = "arn-2"
	if err := c.Status().Update(ctx, applied); err != nil {
		t.Fatal(err)
	}
	if err := r.recordSynced(ctx, stale, "tg-a", digest); err != nil {
		t.Fatalf("a digest written on a record read before an apply: %v", err)
	}
	fresh := read()
	if got := fresh.Status.TargetsSynced; got["tg-a"] != digest || got["tg-b"] != "db" {
		t.Fatalf("digests %v, want both groups'", got)
	}
	if syncDigest(binding{TargetGroupBinding: fresh.Status.TargetGroups[0], record: fresh}, targets) == digest {
		t.Fatal("a digest of the group before it was made anew matches the new group: its targets would never be registered")
	}

	kept := fresh.DeepCopy()
	kept.Status.TargetGroups[0].CloudID = "arn-1"
	kept.Status.AppliedHash = "h3"
	if syncDigest(binding{TargetGroupBinding: kept.Status.TargetGroups[0], record: kept}, targets) != digest {
		t.Fatal("an apply that kept the group invalidated its digest")
	}
}

// An apply that keeps two of three target groups and makes the third anew costs one sync, not three. Without
// cloud IDs, any apply re-syncs every group, as before they existed.
func TestApplyResyncsOnlyGroupsMadeAnew(t *testing.T) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := []string{"shop/app/web:80", "shop/app/web:80-b", "shop/app/web:80-c"}
	rec := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: "shop.app"}, Spec: v1alpha1.LoadBalancerSpec{Stack: graceStack},
		Status: v1alpha1.LoadBalancerStatus{AppliedHash: "h1"}}
	var tgs []cloud.TargetGroup
	for _, id := range ids {
		rec.Status.TargetGroups = append(rec.Status.TargetGroups, v1alpha1.TargetGroupBinding{ID: id, ServiceNamespace: "shop",
			ServiceName: "web", ServicePort: 80, TargetType: string(cloud.TargetTypeIP), CloudID: id + "#1"})
		tgs = append(tgs, cloud.TargetGroup{ID: id, TargetType: cloud.TargetTypeIP})
	}
	c := crfake.NewClientBuilder().WithScheme(s).WithStatusSubresource(&v1alpha1.LoadBalancer{}).
		WithIndex(&v1alpha1.LoadBalancer{}, indexBindingService, bindingServices).
		WithObjects(rec, graceService("uid-1"), test.EndpointSlice("shop", "web-1", "web", "http", 8080, "10.0.0.1")).Build()
	p := fake.New()
	if _, err := p.Ensure(ctx, &cloud.LoadBalancer{Stack: graceStack, Name: "app", TargetGroups: tgs}, cloud.Known{}); err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Client: c, Provider: p}
	syncs := func() int {
		t.Helper()
		if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "shop", Name: "web"}}); err != nil {
			t.Fatal(err)
		}
		n := p.CallCount(fake.MethodSyncTargets, "")
		p.Reset()
		if _, err := p.Ensure(ctx, &cloud.LoadBalancer{Stack: graceStack, Name: "app", TargetGroups: tgs}, cloud.Known{}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	apply := func(mutate func(*v1alpha1.LoadBalancerStatus)) {
		t.Helper()
		cur := &v1alpha1.LoadBalancer{}
		if err := c.Get(ctx, types.NamespacedName{Name: "shop.app"}, cur); err != nil {
			t.Fatal(err)
		}
		now := metav1.NewTime(time.Now().Add(time.Hour))
		cur.Status.AppliedHash, cur.Status.LastAppliedTime = cur.Status.AppliedHash+"'", &now
		mutate(&cur.Status)
		if err := c.Status().Update(ctx, cur); err != nil {
			t.Fatal(err)
		}
	}

	if n := syncs(); n != 3 {
		t.Fatalf("first pass: %d syncs, want 3", n)
	}
	// As a cloudlb from before cloud IDs left its record: a restart after the upgrade costs no call.
	apply(func(st *v1alpha1.LoadBalancerStatus) {
		st.TargetsSynced = map[string]string{}
		for i := range st.TargetGroups {
			st.TargetGroups[i].CloudID = ""
			st.TargetsSynced[st.TargetGroups[i].ID] = digestOf([]cloud.Target{{ID: "10.0.0.1", Port: 8080}})
		}
	})
	if n := syncs(); n != 0 {
		t.Fatalf("digests written before cloud IDs: %d syncs, want 0", n)
	}
	apply(func(st *v1alpha1.LoadBalancerStatus) {
		for i := range st.TargetGroups {
			st.TargetGroups[i].CloudID = st.TargetGroups[i].ID + "#1"
		}
	})
	if n := syncs(); n != 3 {
		t.Fatalf("the first apply that records cloud IDs: %d syncs, want 3", n)
	}
	if n := syncs(); n != 0 {
		t.Fatalf("nothing changed: %d syncs, want 0", n)
	}
	apply(func(st *v1alpha1.LoadBalancerStatus) { st.TargetGroups[2].CloudID = ids[2] + "#2" })
	if n := syncs(); n != 1 {
		t.Fatalf("an apply that made one group anew: %d syncs, want 1", n)
	}
	apply(func(st *v1alpha1.LoadBalancerStatus) {
		for i := range st.TargetGroups {
			st.TargetGroups[i].CloudID = ""
		}
	})
	if n := syncs(); n != 3 {
		t.Fatalf("an apply without cloud IDs: %d syncs, want 3", n)
	}
	apply(func(*v1alpha1.LoadBalancerStatus) {})
	if n := syncs(); n != 3 {
		t.Fatalf("a second apply without cloud IDs: %d syncs, want 3", n)
	}
}
