package targets

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	crfake "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/test"
)

// A gate turns true only for a target that is healthy, or that the load balancer does not use at all (an
// Availability Zone it does not span): a target group the record binds whose target is still in its first
// health check, or failing it, keeps the pod unready and is read again.
func TestGateReleasedOnlyForHealthyOrUnusedTargets(t *testing.T) {
	for _, c := range []struct {
		state   cloud.TargetState
		release string // the gate's reason once true; empty when the gate must stay
	}{
		{cloud.TargetHealthy, "TargetHealthy"},
		{cloud.TargetUnused, "TargetUnused"},
		{cloud.TargetInitial, ""},
		{cloud.TargetUnhealthy, ""},
		{cloud.TargetUnknown, ""},
	} {
		t.Run(string(c.state), func(t *testing.T) {
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
			gate := gateCondition(graceStack, graceTG)
			slice := test.EndpointSlice("shop", "web-1", "web", "http", 8080, "10.0.0.1")
			slice.Endpoints[0].Conditions.Ready = ptr.To(false) // the gate is the only condition missing
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: slice.Endpoints[0].TargetRef.Name},
				Status: corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}}}}
			pod.Labels = map[string]string{GatedPodLabel: "true", "app": "web"}
			pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: gate}}
			pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}}
			cl := crfake.NewClientBuilder().WithScheme(s).WithStatusSubresource(&v1alpha1.LoadBalancer{}, &corev1.Pod{}).
				WithIndex(&v1alpha1.LoadBalancer{}, indexBindingService, bindingServices).
				WithIndex(&v1alpha1.LoadBalancer{}, indexBindingGate, bindingGates).
				WithObjects(rec, graceService("uid-1"), slice, pod).Build()
			p := fake.New()
			if _, err := p.Ensure(context.Background(), &cloud.LoadBalancer{Stack: graceStack, Name: "app",
				TargetGroups: []cloud.TargetGroup{{ID: graceTG, TargetType: cloud.TargetTypeIP}}}, cloud.Known{}); err != nil {
				t.Fatal(err)
			}
			p.SetHealth(cloud.Target{ID: "10.0.0.1", Port: 8080}, c.state)
			r := &Reconciler{Client: cl, Provider: p}
			res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "shop", Name: "web"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Targets(graceStack, graceTG); len(got) != 1 {
				t.Fatalf("targets: got %v, want the gated pod's", got)
			}
			cur := &corev1.Pod{}
			if err := cl.Get(context.Background(), types.NamespacedName{Namespace: "shop", Name: pod.Name}, cur); err != nil {
				t.Fatal(err)
			}
			var reason string
			for _, cond := range cur.Status.Conditions {
				if cond.Type == gate && cond.Status == corev1.ConditionTrue {
					reason = cond.Reason
				}
			}
			if reason != c.release {
				t.Fatalf("gate reason %q, want %q", reason, c.release)
			}
			if wantRetry := c.release == ""; (res.RequeueAfter == 5*time.Second) != wantRetry {
				t.Fatalf("requeue after %v; want a retry: %v", res.RequeueAfter, wantRetry)
			}
		})
	}
}
