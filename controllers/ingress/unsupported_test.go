package ingress_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
)

var _ = Describe("Annotations cloudlb does not implement", func() {
	var (
		ctx context.Context
		ns  string
	)

	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ann-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
	})

	stack := func(name string) string { return ns + "/" + name }

	It("gives a new Ingress no load balancer and leaves an existing one as it is", func() {
		fresh := newIngress(ns, "fresh", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		fresh.Annotations = map[string]string{"alb.ingress.kubernetes.io/waf-acl-id": "acl-1"}
		Expect(k8s.Create(ctx, fresh)).To(Succeed())
		Eventually(warningNotes).WithArguments(fresh, "UnsupportedAnnotation").Should(ContainElement(
			"cloudlb does not implement annotation alb.ingress.kubernetes.io/waf-acl-id yet; the load balancer is left as it is"))
		Expect(provider.CallCount(fake.MethodEnsure, stack("fresh"))).To(BeZero())
		Expect(provider.LoadBalancer(stack("fresh"))).To(BeNil())

		ing := newIngress(ns, "app", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(hostname).WithArguments(ing).ShouldNot(BeEmpty())
		before := provider.LoadBalancer(stack("app"))
		ensures := provider.CallCount(fake.MethodEnsure, stack("app"))

		// A WAF Classic web ACL, which a load balancer built without it would silently drop.
		Expect(update(ing, func(i *networkingv1.Ingress) {
			i.Annotations = map[string]string{"alb.ingress.kubernetes.io/web-acl-id": "acl-1"}
			i.Spec.Rules[0].HTTP.Paths[0].Path = "/changed"
		})).To(Succeed())
		Eventually(warningNotes).WithArguments(ing, "UnsupportedAnnotation").
			Should(ContainElement(ContainSubstring("alb.ingress.kubernetes.io/web-acl-id")))
		Expect(provider.CallCount(fake.MethodEnsure, stack("app"))).To(Equal(ensures))
		Expect(provider.CallCount(fake.MethodDelete, stack("app"))).To(BeZero())
		Expect(provider.LoadBalancer(stack("app"))).To(Equal(before))
		Expect(hostname(ing)).NotTo(BeEmpty())
		Expect(get(ing).Finalizers).To(ContainElement(cloud.Finalizer))
	})

	It("refuses an Ingress whose backend Service carries an alb.ingress.kubernetes.io/ annotation until it is removed", func() {
		svc := service(ns, "authd", 80)
		svc.Annotations = map[string]string{"alb.ingress.kubernetes.io/waf-acl-id": "acl-1", "team": "web"}
		Expect(k8s.Create(ctx, svc)).To(Succeed())
		ing := newIngress(ns, "app", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "authd", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(warningNotes).WithArguments(ing, "UnsupportedAnnotation").Should(ContainElement(ContainSubstring(
			"backend Service " + ns + "/authd has annotation alb.ingress.kubernetes.io/waf-acl-id")))
		Expect(provider.CallCount(fake.MethodEnsure, stack("app"))).To(BeZero())

		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(svc), svc)).To(Succeed())
		delete(svc.Annotations, "alb.ingress.kubernetes.io/waf-acl-id")
		Expect(k8s.Update(ctx, svc)).To(Succeed())
		expectAddress(ing, stack("app"))
	})

	It("applies a backend Service's override when its annotation changes", func() {
		svc := service(ns, "grpc", 80)
		Expect(k8s.Create(ctx, svc)).To(Succeed())
		ing := newIngress(ns, "app", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "grpc", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		expectAddress(ing, stack("app"))
		Expect(provider.LoadBalancer(stack("app")).TargetGroups[0].ProtocolVersion).To(BeEmpty())

		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(svc), svc)).To(Succeed())
		svc.Annotations = map[string]string{"alb.ingress.kubernetes.io/backend-protocol-version": "GRPC"}
		Expect(k8s.Update(ctx, svc)).To(Succeed())
		Eventually(func() cloud.TargetGroup { return provider.LoadBalancer(stack("app")).TargetGroups[0] }).Should(And(
			HaveField("ProtocolVersion", "GRPC"), HaveField("HealthCheck.GRPCCodes", "12")))
	})

	It("warns about unknown keys on each change, even when nothing is applied", func() {
		ing := newIngress(ns, "app", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		ing.Annotations = map[string]string{"alb.ingress.kubernetes.io/healthcheck-pth": "/healthz"}
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		expectAddress(ing, stack("app"))
		Eventually(warningNotes).WithArguments(ing, "UnknownAnnotation").Should(ContainElement(ContainSubstring(
			"(did you mean alb.ingress.kubernetes.io/healthcheck-path?)")))
		ensures := provider.CallCount(fake.MethodEnsure, stack("app"))

		// An ignored key changes nothing in the model: no apply, and still a warning.
		Expect(update(ing, func(i *networkingv1.Ingress) { i.Annotations["alb.ingress.kubernetes.io/websocket-paths"] = "/ws" })).To(Succeed())
		Eventually(warningNotes).WithArguments(ing, "UnknownAnnotation").Should(ContainElement(ContainSubstring(
			"alb.ingress.kubernetes.io/websocket-paths are not read by cloudlb or by the AWS Load Balancer Controller")))
		Expect(provider.CallCount(fake.MethodEnsure, stack("app"))).To(Equal(ensures))
	})
})
