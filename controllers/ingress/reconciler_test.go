package ingress_test

import (
	"context"
	"errors"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

const ourClass = "cloudlb"

var _ = Describe("Ingress reconciler", func() {
	var (
		ctx context.Context
		ns  string
	)

	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
	})

	stack := func(name string) string { return ns + "/" + name }

	It("writes the load balancer's DNS name into the Ingress status", func() {
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		ing := newIngress(ns, "app", ptr.To(ourClass), rule("app.example.com", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())

		expectAddress(ing, stack("app"))
		Expect(hostname(ing)).To(Equal(strings.ToLower(hostname(ing))))
		Expect(get(ing).Finalizers).To(ContainElement(cloud.Finalizer))

		var record v1alpha1.LoadBalancer
		Expect(k8s.Get(ctx, client.ObjectKey{Name: ns + ".app"}, &record)).To(Succeed())
		Expect(record.Spec.Stack).To(Equal(stack("app")))
		Expect(record.Status.DNSName).To(Equal(hostname(ing)))
		Expect(record.Status.ID).To(Equal("fake://" + stack("app")))
		Expect(record.Status.Ingresses).To(ConsistOf(stack("app")))
	})

	It("adds a rule to the load balancer when a path is added", func() {
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		Expect(k8s.Create(ctx, service(ns, "api", 8080))).To(Succeed())
		ing := newIngress(ns, "app", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(rulePaths).WithArguments(stack("app")).Should(Equal([]string{"/"}))

		Expect(update(ing, func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths = append(i.Spec.Rules[0].HTTP.Paths, path("/api", networkingv1.PathTypePrefix, "api", 8080))
		})).To(Succeed())

		// The longer prefix is evaluated first.
		Eventually(rulePaths).WithArguments(stack("app")).Should(Equal([]string{"/api", "/"}))
		lb := provider.LoadBalancer(stack("app"))
		Expect(lb.TargetGroups).To(HaveLen(2))
	})

	It("deletes the load balancer and then releases the Ingress", func() {
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		ing := newIngress(ns, "app", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(hostname).WithArguments(ing).ShouldNot(BeEmpty())

		Expect(k8s.Delete(ctx, ing)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(ing), ing)) }).Should(BeTrue())
		Expect(provider.LoadBalancer(stack("app"))).To(BeNil())
		Expect(provider.CallCount(fake.MethodDelete, stack("app"))).To(BeNumerically(">=", 1))
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: ns + ".app"}, &v1alpha1.LoadBalancer{}))
		}).Should(BeTrue())
	})

	It("keeps the finalizer until the cloud delete succeeds", func() {
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		ing := newIngress(ns, "app", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(hostname).WithArguments(ing).ShouldNot(BeEmpty())

		boom := errors.New("injected delete failure")
		provider.FailNext(fake.MethodDelete, boom, boom)
		Expect(k8s.Delete(ctx, ing)).To(Succeed())
		Eventually(warningReasons).WithArguments(ing).Should(ContainElement("DeleteFailed"))
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(ing), ing)) }).Should(BeTrue())
		Expect(provider.LoadBalancer(stack("app"))).To(BeNil())
	})

	It("waits without a warning while the cloud finishes a deletion", func() {
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		ing := newIngress(ns, "app", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(hostname).WithArguments(ing).ShouldNot(BeEmpty())

		provider.Inject(fake.MethodDelete, func(s string) error {
			if s == stack("app") {
				return cloud.Errorf(cloud.KindPending, "security group still attached to network interfaces being released")
			}
			return nil
		})
		DeferCleanup(func() { provider.Inject(fake.MethodDelete, nil) })
		Expect(k8s.Delete(ctx, ing)).To(Succeed())
		Eventually(func() int { return provider.CallCount(fake.MethodDelete, stack("app")) }).Should(BeNumerically(">=", 1))
		Consistently(func() []string { return get(ing).Finalizers }).Should(ContainElement(cloud.Finalizer))
		Expect(warningReasons(ing)).NotTo(ContainElement("DeleteFailed"))
		// Pending is not an error: no hot retry loop while AWS takes its time.
		Expect(provider.CallCount(fake.MethodDelete, stack("app"))).To(Equal(1))
	})

	It("does not hot-loop on a model the cloud refuses", func() {
		provider.Inject(fake.MethodEnsure, func(s string) error {
			if s == stack("bad") {
				return cloud.Errorf(cloud.KindInvalidSpec, "found subnets in 1 availability zone(s), need at least 2")
			}
			return nil
		})
		DeferCleanup(func() { provider.Inject(fake.MethodEnsure, nil) })
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		ing := newIngress(ns, "bad", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(warningNotes).WithArguments(ing, "EnsureFailed").Should(ContainElement(ContainSubstring("availability zone")))
		Consistently(func() int { return provider.CallCount(fake.MethodEnsure, stack("bad")) }).Should(Equal(1))
	})

	It("leaves an Ingress of another class alone", func() {
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		ing := newIngress(ns, "theirs", ptr.To("other"), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		legacy := newIngress(ns, "legacy-theirs", nil, rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		legacy.Annotations = map[string]string{"kubernetes.io/ingress.class": "nginx"}
		Expect(k8s.Create(ctx, legacy)).To(Succeed())

		Consistently(func() []string { return append(get(ing).Finalizers, get(legacy).Finalizers...) }).Should(BeEmpty())
		for _, s := range []string{stack("theirs"), stack("legacy-theirs")} {
			Expect(provider.CallCount(fake.MethodEnsure, s)).To(BeZero())
			Expect(provider.CallCount(fake.MethodDelete, s)).To(BeZero())
		}
	})

	It("serves the legacy kubernetes.io/ingress.class annotation when it names our class", func() {
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		ing := newIngress(ns, "legacy", nil, rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		ing.Annotations = map[string]string{"kubernetes.io/ingress.class": "cloudlb"}
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		expectAddress(ing, stack("legacy"))
	})

	It("releases an Ingress that moves to another class", func() {
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		ing := newIngress(ns, "mover", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(hostname).WithArguments(ing).ShouldNot(BeEmpty())

		Expect(update(ing, func(i *networkingv1.Ingress) { i.Spec.IngressClassName = ptr.To("other") })).To(Succeed())
		Eventually(func() []string { return get(ing).Finalizers }).ShouldNot(ContainElement(cloud.Finalizer))
		Expect(provider.LoadBalancer(stack("mover"))).To(BeNil())
		Expect(hostname(ing)).To(BeEmpty())
	})

	It("leaves the load balancer alone while the Ingress's class does not exist", func() {
		class := ingressClass("cloudlb-temporary", ingress.ControllerName, false)
		Expect(k8s.Create(ctx, class)).To(Succeed())
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		ing := newIngress(ns, "app", ptr.To(class.Name), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(hostname).WithArguments(ing).ShouldNot(BeEmpty())

		// As when an uninstall deletes the IngressClass before the controller.
		Expect(k8s.Delete(ctx, class)).To(Succeed())
		Eventually(warningReasons).WithArguments(ing).Should(ContainElement("LoadBalancerHeld"))
		Consistently(func() *cloud.LoadBalancer { return provider.LoadBalancer(stack("app")) }).ShouldNot(BeNil())
		Expect(provider.CallCount(fake.MethodDelete, stack("app"))).To(BeZero())
		Expect(get(ing).Finalizers).To(ContainElement(cloud.Finalizer))
		Expect(hostname(ing)).NotTo(BeEmpty())

		By("deleting the Ingress still deletes its load balancer")
		Expect(k8s.Delete(ctx, ing)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(ing), ing)) }).Should(BeTrue())
		Expect(provider.LoadBalancer(stack("app"))).To(BeNil())
	})

	It("honours the default IngressClass for an Ingress that names none", func() {
		def := ingressClass("cloudlb-default", ingress.ControllerName, true)
		Expect(k8s.Create(ctx, def)).To(Succeed())
		DeferCleanup(func() { Expect(k8s.Delete(ctx, def)).To(Succeed()) })
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		ing := newIngress(ns, "classless", nil, rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		expectAddress(ing, stack("classless"))
	})

	It("reports every warning of one apply, not only the first", func() {
		for _, name := range []string{"one", "two"} {
			svc := service(ns, name, 80)
			svc.Spec.Type = corev1.ServiceTypeClusterIP
			Expect(k8s.Create(ctx, svc)).To(Succeed())
		}
		ing := newIngress(ns, "degraded", ptr.To(ourClass), rule("", "/one", networkingv1.PathTypePrefix, "one", 80))
		ing.Spec.Rules[0].HTTP.Paths = append(ing.Spec.Rules[0].HTTP.Paths, path("/two", networkingv1.PathTypePrefix, "two", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		expectAddress(ing, stack("degraded"))
		// Events of one reason are folded into a count by the recorder: both messages must survive that.
		Eventually(func() string { return strings.Join(warningNotes(ing, "Degraded"), "\n") }).Should(
			And(ContainSubstring(ns+"/one"), ContainSubstring(ns+"/two")))
	})

	It("ensures an Ingress re-created under the same name even when a record of its predecessor is left", func() {
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		ing := newIngress(ns, "again", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing.DeepCopy())).To(Succeed())
		expectAddress(ing, stack("again"))
		key := client.ObjectKey{Name: ns + ".again"}
		var old v1alpha1.LoadBalancer
		Eventually(func() string { Expect(k8s.Get(ctx, key, &old)).To(Succeed()); return old.Status.AppliedHash }).ShouldNot(BeEmpty())

		Expect(k8s.Delete(ctx, get(ing))).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, key, &v1alpha1.LoadBalancer{})) }).Should(BeTrue())
		Expect(provider.LoadBalancer(stack("again"))).To(BeNil())
		// What a crash between the finalizer's removal and the record's deletion leaves behind.
		stale := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: key.Name}, Spec: old.Spec}
		Expect(k8s.Create(ctx, stale)).To(Succeed())
		stale.Status = old.Status
		stale.Status.LastAppliedTime = ptr.To(metav1.Now())
		Expect(k8s.Status().Update(ctx, stale)).To(Succeed())

		Expect(k8s.Create(ctx, ing.DeepCopy())).To(Succeed())
		Eventually(func() *cloud.LoadBalancer { return provider.LoadBalancer(stack("again")) }).ShouldNot(BeNil())
		expectAddress(ing, stack("again"))
	})

	It("warns about a missing Service and converges once it exists", func() {
		ing := newIngress(ns, "early", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "late", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(warningNotes).WithArguments(ing, "ServiceNotFound").Should(ContainElement(ContainSubstring(ns + "/late")))
		Expect(provider.LoadBalancer(stack("early"))).To(BeNil())

		Expect(k8s.Create(ctx, service(ns, "late", 80))).To(Succeed())
		expectAddress(ing, stack("early"))
	})

	It("reads the Services of a weighted forward action, and converges once they exist", func() {
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		ing := newIngress(ns, "canary", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "split", 0))
		ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port = networkingv1.ServiceBackendPort{Name: "use-annotation"}
		ing.Annotations = map[string]string{"alb.ingress.kubernetes.io/actions.split": `{"type":"forward","forwardConfig":{"targetGroups":[` +
			`{"serviceName":"web","servicePort":80,"weight":90},{"serviceName":"web-canary","servicePort":"http","weight":10}]}}`}
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(warningNotes).WithArguments(ing, "ServiceNotFound").Should(ContainElement(ContainSubstring(ns + "/web-canary")))
		Expect(provider.LoadBalancer(stack("canary"))).To(BeNil())

		// The Service named only inside the action is watched: creating it converges the Ingress.
		Expect(k8s.Create(ctx, service(ns, "web-canary", 80))).To(Succeed())
		expectAddress(ing, stack("canary"))
		fwd := provider.LoadBalancer(stack("canary")).Listeners[0].Rules[0].Action.Forward
		Expect(fwd).To(Equal([]cloud.WeightedTargetGroup{{TargetGroupID: stack("canary") + "/web:80", Weight: 90},
			{TargetGroupID: stack("canary") + "/web-canary:80", Weight: 10}}))
	})

	It("warns about an invalid annotation and leaves the load balancer as it is", func() {
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		ing := newIngress(ns, "app", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(hostname).WithArguments(ing).ShouldNot(BeEmpty())
		before := provider.LoadBalancer(stack("app"))
		ensures := provider.CallCount(fake.MethodEnsure, stack("app"))

		Expect(update(ing, func(i *networkingv1.Ingress) {
			i.Annotations = map[string]string{"alb.ingress.kubernetes.io/scheme": "public"}
			i.Spec.Rules[0].HTTP.Paths[0].Path = "/changed"
		})).To(Succeed())

		Eventually(warningNotes).WithArguments(ing, "InvalidAnnotation").
			Should(ContainElement(ContainSubstring("alb.ingress.kubernetes.io/scheme")))
		Expect(provider.LoadBalancer(stack("app"))).To(Equal(before))
		Expect(provider.CallCount(fake.MethodEnsure, stack("app"))).To(Equal(ensures))
		Expect(hostname(ing)).NotTo(BeEmpty())
	})

	It("retries a failing provider until the Ingress converges", func() {
		boom := cloud.Errorf(cloud.KindThrottled, "injected throttling")
		provider.FailNext(fake.MethodEnsure, boom, boom, boom)
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		ing := newIngress(ns, "flaky", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())

		expectAddress(ing, stack("flaky"))
		Expect(provider.CallCount(fake.MethodEnsure, stack("flaky"))).To(BeNumerically(">=", 4))
		Expect(warningReasons(ing)).To(ContainElement("EnsureFailed"))
	})

	It("makes no provider call when nothing changed", func() {
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		ing := newIngress(ns, "steady", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(hostname).WithArguments(ing).ShouldNot(BeEmpty())
		// Wait for the record, which holds the applied hash.
		Eventually(func() string {
			var record v1alpha1.LoadBalancer
			_ = mgr.GetClient().Get(ctx, client.ObjectKey{Name: ns + ".steady"}, &record)
			return record.Status.AppliedHash
		}).ShouldNot(BeEmpty())
		calls := len(provider.Calls())

		r := &ingress.Reconciler{Client: mgr.GetClient(), Provider: provider, Recorder: mgr.GetEventRecorder("test"),
			ClusterName: clusterName, LegacyClass: "cloudlb"}
		for range 3 {
			_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ing)})
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(provider.Calls()[calls:]).To(BeEmpty())
	})
})

func ingressClass(name, controller string, isDefault bool) *networkingv1.IngressClass {
	c := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.IngressClassSpec{Controller: controller}}
	if isDefault {
		c.Annotations = map[string]string{"ingressclass.kubernetes.io/is-default-class": "true"}
	}
	return c
}

func service(ns, name string, port int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: port, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

func path(p string, t networkingv1.PathType, svc string, port int32) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: p, PathType: ptr.To(t), Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: port}},
	}}
}

func rule(host, p string, t networkingv1.PathType, svc string, port int32) networkingv1.IngressRule {
	return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{
		HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{path(p, t, svc, port)}},
	}}
}

func newIngress(ns, name string, class *string, rules ...networkingv1.IngressRule) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       networkingv1.IngressSpec{IngressClassName: class, Rules: rules},
	}
}

func get(ing *networkingv1.Ingress) *networkingv1.Ingress {
	out := &networkingv1.Ingress{}
	Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(ing), out)).To(Succeed())
	return out
}

func update(ing *networkingv1.Ingress, mutate func(*networkingv1.Ingress)) error {
	cur := get(ing)
	mutate(cur)
	return k8s.Update(context.Background(), cur)
}

func hostname(ing *networkingv1.Ingress) string {
	lbs := get(ing).Status.LoadBalancer.Ingress
	if len(lbs) == 0 {
		return ""
	}
	return lbs[0].Hostname
}

// expectAddress waits for the Ingress's address and checks it is the DNS name of its stack's load balancer.
func expectAddress(ing *networkingv1.Ingress, stack string) {
	GinkgoHelper()
	Eventually(hostname).WithArguments(ing).ShouldNot(BeEmpty())
	Expect(hostname(ing)).To(Equal(dnsNameOf(stack)))
}

func dnsNameOf(stack string) string {
	lb := provider.LoadBalancer(stack)
	if lb == nil {
		return "no load balancer for " + stack
	}
	return fake.DNSName(lb)
}

func rulePaths(stack string) []string {
	lb := provider.LoadBalancer(stack)
	if lb == nil || len(lb.Listeners) == 0 {
		return nil
	}
	var out []string
	for _, r := range lb.Listeners[0].Rules {
		for _, c := range r.Conditions {
			if c.Type == cloud.ConditionPath {
				out = append(out, c.Values...)
			}
		}
	}
	return out
}

func events(ing *networkingv1.Ingress) []eventsv1.Event {
	var list eventsv1.EventList
	Expect(k8s.List(context.Background(), &list, client.InNamespace(ing.Namespace))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == "Ingress" && e.Regarding.Name == ing.Name {
			out = append(out, e)
		}
	}
	return out
}

func warningReasons(ing *networkingv1.Ingress) []string {
	var out []string
	for _, e := range events(ing) {
		if e.Type == corev1.EventTypeWarning {
			out = append(out, e.Reason)
		}
	}
	return out
}

func warningNotes(ing *networkingv1.Ingress, reason string) []string {
	var out []string
	for _, e := range events(ing) {
		if e.Type == corev1.EventTypeWarning && e.Reason == reason {
			out = append(out, e.Note)
		}
	}
	return out
}
