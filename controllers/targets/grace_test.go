package targets

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crfake "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/test"
)

const (
	graceStack = "shop/app"
	graceTG    = "shop/app/web:80"
	grace      = 2 * time.Minute
)

// graceFixture is a Service bound to one IP target group holding two targets, synced once.
type graceFixture struct {
	t        *testing.T
	c        client.Client
	provider *fake.Provider
	clock    *clocktesting.FakeClock
	r        *Reconciler
}

func newGraceFixture(t *testing.T) *graceFixture {
	t.Helper()
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
		WithObjects(rec, graceService("uid-1"), test.EndpointSlice("shop", "web-1", "web", "http", 8080, "10.0.0.1", "10.0.0.2")).Build()
	p := fake.New()
	if _, err := p.Ensure(context.Background(), &cloud.LoadBalancer{Stack: graceStack, Name: "app",
		TargetGroups: []cloud.TargetGroup{{ID: graceTG, TargetType: cloud.TargetTypeIP}}}, cloud.Known{}); err != nil {
		t.Fatal(err)
	}
	f := &graceFixture{t: t, c: c, provider: p, clock: clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))}
	f.r = &Reconciler{Client: c, Provider: p, ServiceDeletionGrace: grace, Clock: f.clock}
	if res := f.reconcile(); res != (ctrl.Result{}) {
		t.Fatalf("first sync: got %+v", res)
	}
	f.expectTargets(2)
	return f
}

func graceService(uid types.UID) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: uid},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
}

func (f *graceFixture) reconcile() ctrl.Result {
	f.t.Helper()
	res, err := f.r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "shop", Name: "web"}})
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

func (f *graceFixture) expectTargets(n int) {
	f.t.Helper()
	if got := f.provider.Targets(graceStack, graceTG); len(got) != n {
		f.t.Fatalf("targets: got %v, want %d", got, n)
	}
}

func (f *graceFixture) syncCalls() int {
	return f.provider.CallCount(fake.MethodSyncTargets, graceStack)
}

// deleteService deletes the Service and, as the garbage collector does, its EndpointSlices.
func (f *graceFixture) deleteService() {
	f.t.Helper()
	ctx := context.Background()
	if err := f.c.Delete(ctx, graceService("")); err != nil {
		f.t.Fatal(err)
	}
	if err := f.c.DeleteAllOf(ctx, &discoveryv1.EndpointSlice{}, client.InNamespace("shop")); err != nil {
		f.t.Fatal(err)
	}
}

func (f *graceFixture) create(objs ...client.Object) {
	f.t.Helper()
	for _, o := range objs {
		if err := f.c.Create(context.Background(), o); err != nil {
			f.t.Fatal(err)
		}
	}
}

func TestDeletedServiceDrainsAfterTheGrace(t *testing.T) {
	f := newGraceFixture(t)
	calls := f.syncCalls()
	f.deleteService()

	if res := f.reconcile(); res.RequeueAfter != grace {
		t.Fatalf("right after the delete: got %+v, want a requeue after the whole grace", res)
	}
	f.clock.Step(grace - time.Second)
	if res := f.reconcile(); res.RequeueAfter != time.Second {
		t.Fatalf("near the end of the grace: got %+v, want a requeue after the second left", res)
	}
	if got := f.syncCalls(); got != calls {
		t.Fatalf("within the grace: %d target syncs, want none", got-calls)
	}
	f.expectTargets(2)

	f.clock.Step(time.Second)
	if res := f.reconcile(); res != (ctrl.Result{}) {
		t.Fatalf("after the grace: got %+v", res)
	}
	f.expectTargets(0)
}

func TestServiceRecreatedWithinTheGraceKeepsItsTargets(t *testing.T) {
	f := newGraceFixture(t)
	calls := f.syncCalls()
	f.deleteService()
	f.reconcile()
	f.clock.Step(grace / 2)

	// Back under the same name, before the EndpointSlice controller has written its slices.
	f.create(graceService("uid-2"))
	if res := f.reconcile(); res.RequeueAfter != grace/2 {
		t.Fatalf("re-created, no endpoints yet: got %+v, want a requeue at the end of the grace", res)
	}
	f.create(test.EndpointSlice("shop", "web-new", "web", "http", 8080, "10.0.0.1", "10.0.0.2"))
	if res := f.reconcile(); res != (ctrl.Result{}) {
		t.Fatalf("re-created with its endpoints: got %+v", res)
	}
	if got := f.syncCalls(); got != calls {
		t.Fatalf("the same endpoints came back: %d target syncs, want none", got-calls)
	}
	f.expectTargets(2)

	// The grace has ended with the Service back: emptied now, it drains at once.
	if err := f.c.DeleteAllOf(context.Background(), &discoveryv1.EndpointSlice{}, client.InNamespace("shop")); err != nil {
		t.Fatal(err)
	}
	if res := f.reconcile(); res != (ctrl.Result{}) {
		t.Fatalf("emptied: got %+v", res)
	}
	f.expectTargets(0)
}

func TestServiceReplacedBetweenTwoReconcilesKeepsItsTargets(t *testing.T) {
	f := newGraceFixture(t)
	calls := f.syncCalls()
	// kubectl replace --force within one batch window: the reconciler never sees the Service missing.
	f.deleteService()
	f.create(graceService("uid-2"))
	if res := f.reconcile(); res.RequeueAfter != grace {
		t.Fatalf("replaced, no endpoints yet: got %+v, want a requeue after the grace", res)
	}
	if got := f.syncCalls(); got != calls {
		t.Fatalf("replaced: %d target syncs, want none", got-calls)
	}
	f.expectTargets(2)

	f.clock.Step(grace)
	f.reconcile()
	f.expectTargets(0)
}
