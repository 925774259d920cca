package targets

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	crfake "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
)

// A record keeps the bindings of an Ingress that was refused, whose target groups were never created: each
// sync that finds its group missing waits twice as long as the last, up to five minutes, and one that finds
// it resets the wait.
func TestMissingTargetGroupBacksOff(t *testing.T) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	rec := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: "shop.app"}, Spec: v1alpha1.LoadBalancerSpec{Stack: graceStack},
		Status: v1alpha1.LoadBalancerStatus{TargetGroups: []v1alpha1.TargetGroupBinding{{ID: graceTG, ServiceNamespace: "shop",
			ServiceName: "web", ServicePort: 80, TargetType: string(cloud.TargetTypeIP)}}}}
	c := crfake.NewClientBuilder().WithScheme(s).WithStatusSubresource(&v1alpha1.LoadBalancer{}).
		WithIndex(&v1alpha1.LoadBalancer{}, indexBindingService, bindingServices).
		WithObjects(rec, graceService("uid-1")).Build()
	p := fake.New()
	r := &Reconciler{Client: c, Provider: p}
	reconcileOnce := func() ctrl.Result {
		t.Helper()
		res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "shop", Name: "web"}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	ensure := func(tgs ...cloud.TargetGroup) {
		t.Helper()
		if _, err := p.Ensure(context.Background(), &cloud.LoadBalancer{Stack: graceStack, Name: "app", TargetGroups: tgs}, cloud.Known{}); err != nil {
			t.Fatal(err)
		}
	}

	ensure() // the load balancer exists, without the target group
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if res := reconcileOnce(); res.RequeueAfter != w {
			t.Fatalf("try %d: requeue after %v, want %v", i+1, res.RequeueAfter, w)
		}
		if got := p.CallCount(fake.MethodSyncTargets, graceStack); got != i+1 {
			t.Fatalf("try %d: %d target syncs, want one per try", i+1, got)
		}
	}

	ensure(cloud.TargetGroup{ID: graceTG, TargetType: cloud.TargetTypeIP})
	if res := reconcileOnce(); res != (ctrl.Result{}) {
		t.Fatalf("created: got %+v, want no requeue", res)
	}
	ensure()
	if err := c.Get(context.Background(), types.NamespacedName{Name: "shop.app"}, rec); err != nil {
		t.Fatal(err)
	}
	rec.Status.TargetsSynced = nil
	if err := c.Status().Update(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if res := reconcileOnce(); res.RequeueAfter != 5*time.Second {
		t.Fatalf("missing again after a success: requeue after %v, want the backoff reset to 5s", res.RequeueAfter)
	}
}

// The backoff never delays a target group the Ingress reconciler has just created: its apply enqueues the
// Service at once.
func TestApplyOfTheRecordEnqueuesItsServices(t *testing.T) {
	old := &v1alpha1.LoadBalancer{Status: v1alpha1.LoadBalancerStatus{AppliedHash: "a"}}
	cur := old.DeepCopy()
	if bindingsOrDigestsDropped(event.UpdateEvent{ObjectOld: old, ObjectNew: cur}) {
		t.Fatal("an update that changed nothing passed")
	}
	cur.Status.AppliedHash = "b"
	if !bindingsOrDigestsDropped(event.UpdateEvent{ObjectOld: old, ObjectNew: cur}) {
		t.Fatal("an apply did not pass")
	}
	cur = old.DeepCopy()
	now := metav1.Now()
	cur.Status.LastAppliedTime = &now
	if !bindingsOrDigestsDropped(event.UpdateEvent{ObjectOld: old, ObjectNew: cur}) {
		t.Fatal("an apply of the same hash did not pass")
	}
}
