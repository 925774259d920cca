package ingress

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
	cloudfake "github.com/cloudlb/cloudlb/cloud/fake"
)

// The dry run of a takeover (plan --all --adopt-lbc-resources) reports what the reconciler does to a group an
// Ingress left with LBC's finalizer: its stack deleted once the Ingress is served where it went, held until then.
func TestPlanStaleLBCGroups(t *testing.T) {
	g := NewWithT(t)
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	_ = elbv2.AddToScheme(scheme)
	lbcIngress := func(name, group, finalizer string) *networkingv1.Ingress {
		return &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Annotations: map[string]string{annGroupName: group},
				Finalizers: []string{lbcGroupFinalizerPrefix + group, lbcGroupFinalizerPrefix + finalizer}},
			Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("alb"), DefaultBackend: &networkingv1.IngressBackend{
				Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
		}
	}
	// b left old for served, where it is applied and Ready; d left kept for unserved, which is not applied yet.
	b, c, d := lbcIngress("b", "served", "old"), lbcIngress("c", "kept", "kept"), lbcIngress("d", "unserved", "kept")
	served := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: recordName("served")}, Spec: v1alpha1.LoadBalancerSpec{Stack: "served"},
		Status: v1alpha1.LoadBalancerStatus{AppliedHash: "h", Members: []v1alpha1.MemberStatus{{Name: "ns/b", Applied: true}},
			Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Ready", LastTransitionTime: metav1.Now()}}}}
	live := fake.NewClientBuilder().WithScheme(scheme).WithObjects(b, c, d, served,
		&networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "alb"}, Spec: networkingv1.IngressClassSpec{Controller: LBCControllerName}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}, Spec: corev1.ServiceSpec{
			Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080}}, Type: corev1.ServiceTypeNodePort}},
	).Build()

	plans, err := Plan(context.Background(), PlanConfig{Provider: cloudfake.New(), Scheme: scheme, ClusterName: "c",
		ControllerNames: []string{ControllerName, LBCControllerName}, AdoptLBC: true}, client.Reader(live), nil, true)
	g.Expect(err).NotTo(HaveOccurred())
	byStack := map[string]StackPlan{}
	for _, sp := range plans {
		byStack[sp.Stack] = sp
	}
	g.Expect(byStack).To(HaveKeyWithValue("old", HaveField("Released", true)), "old's stack is deleted: b is served where it went")
	g.Expect(byStack).To(HaveKeyWithValue("kept", And(HaveField("Held", []string{"ns/d"}), HaveField("Changes", BeEmpty()))),
		"kept is not applied while d is not served where it went")
	text, _ := PlanText(plans)
	g.Expect(text).To(And(ContainSubstring("- delete stack old"), ContainSubstring("until ns/d, which left it")))
}
