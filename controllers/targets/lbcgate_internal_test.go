package targets

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	crfake "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/test"
)

// healthByStack reports a target's health per stack, where the fake reports it per target.
type healthByStack struct {
	*fake.Provider
	state map[string]cloud.TargetState
}

func (p healthByStack) SyncTargets(ctx context.Context, stack, tgID string, targets []cloud.Target) ([]cloud.TargetHealth, error) {
	out, err := p.Provider.SyncTargets(ctx, stack, tgID, targets)
	for i := range out {
		out[i].State = p.state[stack]
	}
	return out, err
}

// An LBC gate whose target group cloudlb did not adopt (it made its own for the backend) falls back on the
// Service port that LBC's binding names, and turns true only once the target is healthy in every target group of
// that port. A gate of a binding that cloudlb's TargetGroupBinding reconciler serves is not the targets
// reconciler's: it is left alone.
func TestLBCGateFallsBackOnTheServicePortOfLBCsBinding(t *testing.T) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme, elbv2.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	arn := func(name string) string {
		return "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/" + name + "/0123456789abcdef"
	}
	var records []*v1alpha1.LoadBalancer
	p := healthByStack{Provider: fake.New(), state: map[string]cloud.TargetState{}}
	for _, name := range []string{"app", "other"} {
		stack, id := "shop/"+name, "shop/"+name+"/web:80"
		records = append(records, &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: "shop." + name}, Spec: v1alpha1.LoadBalancerSpec{Stack: stack},
			Status: v1alpha1.LoadBalancerStatus{TargetGroups: []v1alpha1.TargetGroupBinding{{ID: id, ServiceNamespace: "shop",
				ServiceName: "web", ServicePort: 80, TargetType: string(cloud.TargetTypeIP), CloudID: arn("k8s-shop-web-" + name)}}}})
		if _, err := p.Ensure(context.Background(), &cloud.LoadBalancer{Stack: stack, Name: name,
			TargetGroups: []cloud.TargetGroup{{ID: id, TargetType: cloud.TargetTypeIP}}}, cloud.Known{}); err != nil {
			t.Fatal(err)
		}
	}
	lbcTGB := &elbv2.TargetGroupBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "k8s-shop-web-old",
		Labels: map[string]string{"ingress.k8s.aws/stack-namespace": "shop", "ingress.k8s.aws/stack-name": "app"}},
		Spec: elbv2.TargetGroupBindingSpec{TargetGroupARN: arn("k8s-shop-web-old"), ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromString("http")}}}
	userTGB := &elbv2.TargetGroupBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "mine"},
		Spec: elbv2.TargetGroupBindingSpec{TargetGroupARN: arn("mine"), ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}}}
	lbcGate, userGate := corev1.PodConditionType(LBCGatePrefix+lbcTGB.Name), corev1.PodConditionType(LBCGatePrefix+userTGB.Name)
	slice := test.EndpointSlice("shop", "web-1", "web", "http", 8080, "10.0.0.1")
	slice.Endpoints[0].Conditions.Ready = ptr.To(false)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: slice.Endpoints[0].TargetRef.Name, Labels: map[string]string{"app": "web"}},
		Spec:   corev1.PodSpec{ReadinessGates: []corev1.PodReadinessGate{{ConditionType: lbcGate}, {ConditionType: userGate}}},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}}}}
	cl := crfake.NewClientBuilder().WithScheme(s).WithStatusSubresource(&v1alpha1.LoadBalancer{}, &corev1.Pod{}).
		WithIndex(&v1alpha1.LoadBalancer{}, indexBindingService, bindingServices).
		WithIndex(&v1alpha1.LoadBalancer{}, indexBindingGate, bindingGates).
		WithIndex(&v1alpha1.LoadBalancer{}, indexBindingTGName, bindingTGNames).
		WithIndex(&corev1.Pod{}, indexLBCGated, lbcGatedIndex).
		WithObjects(records[0], records[1], graceService("uid-1"), slice, pod, lbcTGB, userTGB).Build()
	r := &Reconciler{Client: cl, Provider: p, AdoptLBC: true}
	run := func() reconcile.Result {
		t.Helper()
		res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "shop", Name: "web"}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	condition := func(gate corev1.PodConditionType) corev1.PodCondition {
		t.Helper()
		cur := &corev1.Pod{}
		if err := cl.Get(context.Background(), types.NamespacedName{Namespace: "shop", Name: pod.Name}, cur); err != nil {
			t.Fatal(err)
		}
		for _, c := range cur.Status.Conditions {
			if c.Type == gate {
				return c
			}
		}
		return corev1.PodCondition{}
	}

	// A target group of the port that does not exist (yet) says nothing of the target's health there.
	p.RemoveOutOfBand("shop/other", "shop/other/web:80")
	p.state["shop/app"] = cloud.TargetHealthy
	run()
	if c := condition(lbcGate); c.Status != corev1.ConditionFalse {
		t.Fatalf("LBC gate %+v: want false while one of its target groups is missing", c)
	}
	if _, err := p.Ensure(context.Background(), &cloud.LoadBalancer{Stack: "shop/other", Name: "other",
		TargetGroups: []cloud.TargetGroup{{ID: "shop/other/web:80", TargetType: cloud.TargetTypeIP}}}, cloud.Known{}); err != nil {
		t.Fatal(err)
	}

	// The other target group is synced last: a verdict that only kept the last group's would let the gate go.
	p.state["shop/app"], p.state["shop/other"] = cloud.TargetInitial, cloud.TargetHealthy
	if res := run(); res.RequeueAfter != 5*time.Second {
		t.Fatalf("requeue after %v, want a health poll while the gate waits", res.RequeueAfter)
	}
	for _, stack := range []string{"shop/app", "shop/other"} {
		if got := p.Targets(stack, stack+"/web:80"); len(got) != 1 {
			t.Fatalf("%s: targets %v, want the pod's, registered for its LBC gate", stack, got)
		}
	}
	if c := condition(lbcGate); c.Status != corev1.ConditionFalse || c.Reason != lbcGateWaiting {
		t.Fatalf("LBC gate %+v: want false while one of its target groups has the target initial", c)
	}
	if c := condition(userGate); c.Status != "" {
		t.Fatalf("gate of a binding cloudlb serves as a TargetGroupBinding: %+v, want it left alone", c)
	}

	p.state["shop/app"] = cloud.TargetHealthy
	if res := run(); res.RequeueAfter != 0 {
		t.Fatalf("requeue after %v once healthy everywhere", res.RequeueAfter)
	}
	if c := condition(lbcGate); c.Status != corev1.ConditionTrue || c.Reason != "TargetHealthy" {
		t.Fatalf("LBC gate %+v: want true once healthy in both target groups", c)
	}
	if c := condition(userGate); c.Status != "" {
		t.Fatalf("gate of a binding cloudlb serves as a TargetGroupBinding: %+v, want it left alone", c)
	}
}
