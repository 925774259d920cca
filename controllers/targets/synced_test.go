package targets

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	crfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
)

// The syncs of the target groups of one record write their digests concurrently: one that lost the race writes
// its digest on the fresh record instead of failing (which logged an error and delayed its group), unless the
// Ingress reconciler applied a model in between, which may have replaced the group: then it fails, to sync again.
func TestRecordSyncedRetriesOnlyOtherWriters(t *testing.T) {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := types.NamespacedName{Name: "shop.app"}
	rec := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: key.Name}, Spec: v1alpha1.LoadBalancerSpec{Stack: "shop/app"},
		Status: v1alpha1.LoadBalancerStatus{AppliedHash: "h1"}}
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

	stale := read()
	other := read()
	other.Status.TargetsSynced = map[string]string{"tg-b": "db"}
	if err := c.Status().Update(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := r.recordSynced(ctx, stale, "tg-a", "da"); err != nil {
		t.Fatalf("a conflict with another group's sync: %v", err)
	}
	if got := read().Status.TargetsSynced; got["tg-a"] != "da" || got["tg-b"] != "db" {
		t.Fatalf("digests %v, want both groups'", got)
	}

	stale = read()
	applied := read()
	applied.Status.AppliedHash, applied.Status.TargetsSynced = "h2", nil
	if err := c.Status().Update(ctx, applied); err != nil {
		t.Fatal(err)
	}
	if err := r.recordSynced(ctx, stale, "tg-a", "da2"); !apierrors.IsConflict(err) {
		t.Fatalf("after an apply: %v, want a conflict so that the group is synced again", err)
	}
	if got := read().Status.TargetsSynced; len(got) != 0 {
		t.Fatalf("digests %v after an apply, want none", got)
	}
}
