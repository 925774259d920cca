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

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

var _ = Describe("Dry-run", func() {
	var (
		ctx context.Context
		ns  string
	)

	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "dry-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		Expect(k8s.Create(ctx, service(ns, "api", 8080))).To(Succeed())
	})

	record := func(name string) func() v1alpha1.LoadBalancerStatus {
		return func() v1alpha1.LoadBalancerStatus {
			var lb v1alpha1.LoadBalancer
			if err := k8s.Get(ctx, client.ObjectKey{Name: ns + "." + name}, &lb); err != nil {
				return v1alpha1.LoadBalancerStatus{}
			}
			return lb.Status
		}
	}
	dryRunReason := func(st v1alpha1.LoadBalancerStatus) string {
		if c := meta.FindStatusCondition(st.Conditions, "DryRun"); c != nil {
			return c.Reason
		}
		return ""
	}
	dryRunEvents := func(ing *networkingv1.Ingress, reason string) []string {
		var out []string
		for _, e := range events(ing) {
			if e.Reason == reason {
				Expect(e.Series).To(BeNil(), "one Event per plan, not one per reconcile")
				out = append(out, e.Note)
			}
		}
		return out
	}
	setDryRun := func(ing *networkingv1.Ingress, v *string) {
		GinkgoHelper()
		Expect(update(ing, func(i *networkingv1.Ingress) {
			if v == nil {
				delete(i.Annotations, ingress.AnnDryRun)
				return
			}
			if i.Annotations == nil {
				i.Annotations = map[string]string{}
			}
			i.Annotations[ingress.AnnDryRun] = *v
		})).To(Succeed())
	}
	// touch changes an unrelated annotation, which reconciles the stack again.
	touch := func(ing *networkingv1.Ingress, v string) {
		GinkgoHelper()
		Expect(update(ing, func(i *networkingv1.Ingress) {
			if i.Annotations == nil {
				i.Annotations = map[string]string{}
			}
			i.Annotations["example.com/touch"] = v
		})).To(Succeed())
	}

	It("plans a new Ingress without creating anything, and removing the annotation applies exactly that plan", func() {
		ing := newIngress(ns, "app", ptr.To(ourClass), rule("app.example.com", "/", networkingv1.PathTypePrefix, "web", 80))
		ing.Annotations = map[string]string{ingress.AnnDryRun: "true"}
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		stack := ns + "/app"

		Eventually(record("app")).Should(WithTransform(dryRunReason, Equal("Planned")))
		st := record("app")()
		Expect(st.Plan).To(ContainElements(HavePrefix("+ create load-balancer "), HavePrefix("+ create listener "),
			HavePrefix("+ create rule "), HavePrefix("+ create target-group ")))
		Eventually(dryRunEvents).WithArguments(ing, "DryRun").Should(ConsistOf(
			SatisfyAll(ContainSubstring("changes planned"), ContainSubstring("+ create load-balancer"))))
		plans := provider.CallCount(fake.MethodPlan, stack)

		// A reconcile that changes nothing the plan is made from does not plan again.
		touch(ing, "1")
		Consistently(func(g Gomega) {
			g.Expect(provider.CallCount(fake.MethodEnsure, stack)).To(BeZero())
			g.Expect(provider.CallCount(fake.MethodSyncTargets, stack)).To(BeZero())
			g.Expect(provider.CallCount(fake.MethodPlan, stack)).To(Equal(plans))
			g.Expect(provider.LoadBalancer(stack)).To(BeNil())
			g.Expect(get(ing).Finalizers).To(BeEmpty())
			g.Expect(hostname(ing)).To(BeEmpty())
			g.Expect(record("app")().TargetGroups).To(BeEmpty())
			g.Expect(dryRunEvents(ing, "DryRun")).To(HaveLen(1))
		}).Should(Succeed())

		// A change of the model does.
		Expect(update(ing, func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths = append(i.Spec.Rules[0].HTTP.Paths, path("/api", networkingv1.PathTypePrefix, "api", 8080))
		})).To(Succeed())
		Eventually(func() int { return provider.CallCount(fake.MethodPlan, stack) }).Should(Equal(plans + 1))
		Eventually(record("app")).ShouldNot(WithTransform(func(s v1alpha1.LoadBalancerStatus) []string { return s.Plan }, Equal(st.Plan)))
		st = record("app")()

		setDryRun(ing, nil)
		expectAddress(ing, stack)
		Expect(provider.Applied(stack).Lines()).To(Equal(st.Plan))
		Expect(get(ing).Finalizers).To(ContainElement(cloud.Finalizer))
		Eventually(record("app")).Should(SatisfyAll(WithTransform(dryRunReason, BeEmpty()),
			WithTransform(func(s v1alpha1.LoadBalancerStatus) []string { return s.Plan }, BeEmpty())))
	})

	It("plans an edit without applying it, and removing the annotation applies exactly that plan", func() {
		ing := newIngress(ns, "app", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		stack := ns + "/app"
		expectAddress(ing, stack)
		ensures := provider.CallCount(fake.MethodEnsure, stack)

		Expect(update(ing, func(i *networkingv1.Ingress) {
			i.Annotations = map[string]string{ingress.AnnDryRun: "true"}
			i.Spec.Rules[0].HTTP.Paths = append(i.Spec.Rules[0].HTTP.Paths, path("/api", networkingv1.PathTypePrefix, "api", 8080))
		})).To(Succeed())
		Eventually(record("app")).Should(WithTransform(dryRunReason, Equal("Planned")))
		st := record("app")()
		Expect(st.Plan).To(ContainElements(HavePrefix("+ create rule "), HavePrefix("+ create target-group ")))
		Expect(st.Plan).NotTo(ContainElement(HavePrefix("+ create load-balancer")))
		Consistently(func(g Gomega) {
			g.Expect(provider.CallCount(fake.MethodEnsure, stack)).To(Equal(ensures))
			g.Expect(rulePaths(stack)).To(Equal([]string{"/"}))
		}).Should(Succeed())

		setDryRun(ing, nil)
		Eventually(rulePaths).WithArguments(stack).Should(Equal([]string{"/api", "/"}))
		Expect(provider.Applied(stack).Lines()).To(Equal(st.Plan))
	})

	It("does not apply a plan that changed since it was reviewed, until the annotation is set and removed again", func() {
		ing := newIngress(ns, "app", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		stack := ns + "/app"
		expectAddress(ing, stack)
		setDryRun(ing, ptr.To("true"))
		Eventually(record("app")).Should(WithTransform(dryRunReason, Equal("Planned")))
		Expect(record("app")().Plan).To(BeEmpty())

		// The cloud changes behind the plan's back: the load balancer is gone.
		Expect(provider.Delete(ctx, stack, cloud.Known{})).To(Succeed())
		ensures := provider.CallCount(fake.MethodEnsure, stack)
		setDryRun(ing, nil)
		Eventually(record("app")).Should(WithTransform(dryRunReason, Equal("PlanChanged")))
		Expect(record("app")().Plan).To(ContainElement(HavePrefix("+ create load-balancer")))
		Eventually(dryRunEvents).WithArguments(ing, "PlanChanged").Should(HaveLen(1))
		touch(ing, "1")
		Consistently(func() int { return provider.CallCount(fake.MethodEnsure, stack) }).Should(Equal(ensures))

		setDryRun(ing, ptr.To("true"))
		Eventually(record("app")).Should(WithTransform(dryRunReason, Equal("Planned")))
		setDryRun(ing, nil)
		Eventually(func() *cloud.LoadBalancer { return provider.LoadBalancer(stack) }).ShouldNot(BeNil())
		Expect(provider.Applied(stack).Lines()).To(ContainElement(HavePrefix("+ create load-balancer")))
	})

	It("treats a value that is not a boolean as a dry-run, with a Warning naming the annotation", func() {
		ing := newIngress(ns, "app", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		ing.Annotations = map[string]string{ingress.AnnDryRun: "yes"}
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(warningNotes).WithArguments(ing, "InvalidAnnotation").Should(ContainElement(ContainSubstring(ingress.AnnDryRun)))
		Eventually(record("app")).Should(WithTransform(dryRunReason, Equal("Planned")))
		Expect(provider.CallCount(fake.MethodEnsure, ns+"/app")).To(BeZero())
	})

	It("makes a whole group dry-run when one member asks for it", func() {
		a := newIngress(ns, "a", ptr.To(ourClass), rule("", "/a", networkingv1.PathTypePrefix, "web", 80))
		a.Annotations = map[string]string{"alb.ingress.kubernetes.io/group.name": ns + "-g"}
		b := newIngress(ns, "b", ptr.To(ourClass), rule("", "/b", networkingv1.PathTypePrefix, "api", 8080))
		b.Annotations = map[string]string{"alb.ingress.kubernetes.io/group.name": ns + "-g", ingress.AnnDryRun: "true"}
		Expect(k8s.Create(ctx, b)).To(Succeed())
		Expect(k8s.Create(ctx, a)).To(Succeed())
		Eventually(func() []string {
			var lb v1alpha1.LoadBalancer
			if err := k8s.Get(ctx, client.ObjectKey{Name: ns + "-g"}, &lb); err != nil || dryRunReason(lb.Status) != "Planned" {
				return nil
			}
			return lb.Status.Plan
		}).Should(ContainElements(ContainSubstring(`"/a"`), ContainSubstring(`"/b"`)))
		Consistently(func() int { return provider.CallCount(fake.MethodEnsure, ns+"-g") }).Should(BeZero())
		Expect(get(a).Finalizers).To(BeEmpty())
	})
})
