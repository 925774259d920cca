package ingress_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

var _ = Describe("Class changes", func() {
	var (
		ctx context.Context
		ns  string
	)

	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "class-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
	})

	stack := func(name string) string { return ns + "/" + name }
	served := func(name string, class *string, annotations map[string]string) *networkingv1.Ingress {
		GinkgoHelper()
		ing := newIngress(ns, name, class, rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		ing.Annotations = annotations
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		expectAddress(ing, stack(name))
		return ing
	}
	expectHeld := func(ing *networkingv1.Ingress, why string) {
		GinkgoHelper()
		Eventually(warningNotes).WithArguments(ing, "LoadBalancerHeld").Should(ContainElement(ContainSubstring(why)))
		Consistently(func() *cloud.LoadBalancer { return provider.LoadBalancer(stack(ing.Name)) }).ShouldNot(BeNil())
		Expect(provider.CallCount(fake.MethodDelete, stack(ing.Name))).To(BeZero())
		Expect(get(ing).Finalizers).To(ContainElement(cloud.Finalizer))
		Expect(hostname(ing)).NotTo(BeEmpty())
	}
	expectDeletedWithIngress := func(ing *networkingv1.Ingress) {
		GinkgoHelper()
		Expect(k8s.Delete(ctx, ing)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(ing), ing)) }).Should(BeTrue())
		Expect(provider.LoadBalancer(stack(ing.Name))).To(BeNil())
	}

	It("holds the load balancer when --ingress-class is renamed", func() {
		ing := served("legacy", nil, map[string]string{"kubernetes.io/ingress.class": "cloudlb"})
		// A controller restarted with --ingress-class=renamed.
		renamed := &ingress.Reconciler{Client: mgr.GetClient(), Provider: provider, Recorder: mgr.GetEventRecorder("cloudlb"),
			ClusterName: clusterName, LegacyClass: "renamed"}
		res, err := renamed.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ing)})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(BeZero())
		expectHeld(ing, `--ingress-class="renamed"`)
	})

	It("holds the load balancer when the legacy annotation names another class", func() {
		ing := served("legacy", nil, map[string]string{"kubernetes.io/ingress.class": "cloudlb"})
		Expect(update(ing, func(i *networkingv1.Ingress) { i.Annotations["kubernetes.io/ingress.class"] = "nginx" })).To(Succeed())
		expectHeld(ing, `"nginx"`)
		expectDeletedWithIngress(ing)
	})

	It("holds the load balancer when another default class replaces ours", func() {
		// An Ingress made before any default class existed keeps naming none: admission sets the default only on
		// create.
		ing := newIngress(ns, "classless", nil, rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		ours := ingressClass("cloudlb-default-"+ns, ingress.ControllerName, true)
		Expect(k8s.Create(ctx, ours)).To(Succeed())
		expectAddress(ing, stack("classless"))
		Expect(get(ing).Spec.IngressClassName).To(BeNil())

		theirs := ingressClass("other-default-"+ns, "example.com/other", true)
		Expect(k8s.Create(ctx, theirs)).To(Succeed())
		DeferCleanup(func() { Expect(k8s.Delete(context.Background(), theirs)).To(Succeed()) })
		// As during a helm uninstall, which deletes our IngressClass first.
		Expect(k8s.Delete(ctx, ours)).To(Succeed())
		expectHeld(ing, "no default IngressClass of this controller")
		expectDeletedWithIngress(ing)
	})

	It("holds the load balancer when its IngressClass is deleted", func() {
		class := ingressClass("cloudlb-"+ns, ingress.ControllerName, false)
		Expect(k8s.Create(ctx, class)).To(Succeed())
		ing := served("app", ptr.To(class.Name), nil)
		Expect(k8s.Delete(ctx, class)).To(Succeed())
		expectHeld(ing, "does not exist")

		By("a class that comes back serves the Ingress again")
		Expect(k8s.Create(ctx, ingressClass(class.Name, ingress.ControllerName, false))).To(Succeed())
		DeferCleanup(func() { Expect(k8s.Delete(context.Background(), ingressClass(class.Name, "", false))).To(Succeed()) })
		Expect(update(ing, func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Path = "/again" })).To(Succeed())
		Eventually(rulePaths).WithArguments(stack("app")).Should(Equal([]string{"/again"}))
	})

	It("releases the load balancer only to an IngressClass of another controller that claims the Ingress", func() {
		ing := served("legacy-to-other", nil, map[string]string{"kubernetes.io/ingress.class": "cloudlb"})
		Expect(update(ing, func(i *networkingv1.Ingress) {
			delete(i.Annotations, "kubernetes.io/ingress.class")
			i.Spec.IngressClassName = ptr.To("other")
		})).To(Succeed())
		Eventually(func() []string { return get(ing).Finalizers }).ShouldNot(ContainElement(cloud.Finalizer))
		Expect(provider.LoadBalancer(stack("legacy-to-other"))).To(BeNil())
		Expect(warningReasons(ing)).NotTo(ContainElement("LoadBalancerHeld"))
	})
})
