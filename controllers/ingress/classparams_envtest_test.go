package ingress_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

var _ = Describe("IngressClassParams", func() {
	var (
		ctx   context.Context
		ns    string
		class *networkingv1.IngressClass
	)

	// withParams creates an IngressClass of ours naming the IngressClassParams "params-<ns>", and that object
	// with spec unless spec is nil.
	withParams := func(spec *elbv2.IngressClassParamsSpec) *elbv2.IngressClassParams {
		GinkgoHelper()
		class = ingressClass("params-"+ns, ingress.ControllerName, false)
		class.Spec.Parameters = &networkingv1.IngressClassParametersReference{APIGroup: ptr.To("elbv2.k8s.aws"),
			Kind: "IngressClassParams", Name: "params-" + ns}
		Expect(k8s.Create(ctx, class)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, class))).To(Succeed()) })
		p := &elbv2.IngressClassParams{ObjectMeta: metav1.ObjectMeta{Name: "params-" + ns}}
		if spec != nil {
			p.Spec = *spec
			Expect(k8s.Create(ctx, p)).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, p))).To(Succeed()) })
		}
		return p
	}
	editParams := func(p *elbv2.IngressClassParams, mutate func(*elbv2.IngressClassParamsSpec)) {
		GinkgoHelper()
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		mutate(&p.Spec)
		Expect(k8s.Update(ctx, p)).To(Succeed())
	}
	newApp := func(ann map[string]string) *networkingv1.Ingress {
		GinkgoHelper()
		ing := newIngress(ns, "app", ptr.To(class.Name), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		ing.Annotations = ann
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		return ing
	}
	schemeOf := func(stack string) cloud.Scheme {
		if lb := provider.LoadBalancer(stack); lb != nil {
			return lb.Scheme
		}
		return ""
	}

	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "icp-", Labels: map[string]string{"team": "web"}}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
	})

	It("overrides the Ingress's annotation, with a Warning naming both, and an edit re-reconciles the stack", func() {
		p := withParams(&elbv2.IngressClassParamsSpec{Scheme: ptr.To(elbv2.LoadBalancerSchemeInternetFacing)})
		ing := newApp(map[string]string{"alb.ingress.kubernetes.io/scheme": "internal"})
		expectAddress(ing, ns+"/app")
		Expect(schemeOf(ns + "/app")).To(Equal(cloud.SchemeInternetFacing))
		Eventually(warningNotes).WithArguments(ing, "OverriddenByIngressClass").Should(ContainElement(
			`annotation alb.ingress.kubernetes.io/scheme="internal" is overridden by IngressClass ` + class.Name +
				`: IngressClassParams ` + p.Name + ` sets spec.scheme`))

		// Nothing about the Ingress changes: only the params object does.
		editParams(p, func(s *elbv2.IngressClassParamsSpec) { s.Scheme = ptr.To(elbv2.LoadBalancerSchemeInternal) })
		Eventually(schemeOf).WithArguments(ns + "/app").Should(Equal(cloud.SchemeInternal))
	})

	It("refuses the Ingresses of namespaces its namespaceSelector does not select", func() {
		p := withParams(&elbv2.IngressClassParamsSpec{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "db"}}})
		ing := newApp(nil)
		Eventually(warningNotes).WithArguments(ing, "NamespaceNotAllowed").Should(ContainElement(ContainSubstring(
			"spec.namespaceSelector: namespace " + ns + " is not selected (team=db)")))
		Consistently(provider.CallCount).WithArguments(fake.MethodEnsure, ns+"/app").Should(BeZero())

		editParams(p, func(s *elbv2.IngressClassParamsSpec) { s.NamespaceSelector.MatchLabels["team"] = "web" })
		expectAddress(ing, ns+"/app")
	})

	It("refuses new Ingresses while the object is missing, and holds a served one's load balancer as it is", func() {
		p := withParams(nil)
		ing := newApp(nil)
		Eventually(warningNotes).WithArguments(ing, "IngressClassParametersNotFound").Should(ContainElement(ContainSubstring(
			"IngressClassParams " + p.Name + ": not found")))
		Expect(provider.CallCount(fake.MethodEnsure, ns+"/app")).To(BeZero())

		// Its creation is a change of the params: the stack is reconciled.
		p.Spec.Scheme = ptr.To(elbv2.LoadBalancerSchemeInternetFacing)
		Expect(k8s.Create(ctx, p)).To(Succeed())
		expectAddress(ing, ns+"/app")
		Expect(schemeOf(ns + "/app")).To(Equal(cloud.SchemeInternetFacing))
		before := provider.LoadBalancer(ns + "/app")

		Expect(k8s.Delete(ctx, p)).To(Succeed())
		Expect(update(ing, func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Path = "/changed" })).To(Succeed())
		// The stack is reconciled (its record says the member is left out, as last applied) and nothing in the
		// cloud changes.
		Eventually(func() string {
			record := &v1alpha1.LoadBalancer{}
			if err := k8s.Get(ctx, client.ObjectKey{Name: ns + ".app"}, record); err != nil {
				return err.Error()
			}
			if c := meta.FindStatusCondition(record.Status.Conditions, "Ready"); c != nil {
				return c.Reason
			}
			return ""
		}).Should(Equal("MembersLeftOut"))
		Expect(provider.CallCount(fake.MethodDelete, ns+"/app")).To(BeZero())
		Expect(provider.LoadBalancer(ns + "/app")).To(Equal(before))
		Expect(hostname(ing)).NotTo(BeEmpty())
	})
})
