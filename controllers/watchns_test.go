package controllers

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

// One manager per test process (controller names are unique per process): both flags are tried on it.
var _ = Describe("--watch-namespace and --disable-ingress-group-name-annotation", func() {
	It("serve only the watched namespace, collect none of another's stacks, and refuse new group.name without deleting", func() {
		ctx, cancel := context.WithCancel(context.Background())
		DeferCleanup(cancel)
		c, err := client.New(cfg, client.Options{Scheme: Scheme()})
		Expect(err).NotTo(HaveOccurred())
		namespace := func(prefix string) string {
			GinkgoHelper()
			n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
			Expect(c.Create(ctx, n)).To(Succeed())
			return n.Name
		}
		watched, other := namespace("watched-"), namespace("other-")
		Expect(c.Create(ctx, &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "cloudlb-watchns"},
			Spec: networkingv1.IngressClassSpec{Controller: ingress.ControllerName}})).To(Succeed())
		web := func(ns, name string, ann ...string) *networkingv1.Ingress {
			GinkgoHelper()
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{
				Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
			Expect(c.Create(ctx, svc)).To(Succeed())
			ing := &networkingv1.Ingress{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
					Annotations: map[string]string{"alb.ingress.kubernetes.io/target-type": "ip"}},
				Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("cloudlb-watchns"), DefaultBackend: &networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Number: 80}}}},
			}
			for i := 0; i+1 < len(ann); i += 2 {
				ing.Annotations[ann[i]] = ann[i+1]
			}
			Expect(c.Create(ctx, ing)).To(Succeed())
			return ing
		}
		// The other namespace's Ingress exists, served by another controller (or another cloudlb), and its stack
		// is in the cloud under this cluster's tags.
		foreign := web(other, "app")
		p := fake.New()
		_, err = p.Ensure(ctx, &cloud.LoadBalancer{Stack: other + "/app", Name: "foreign"}, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		_, err = p.Ensure(ctx, &cloud.LoadBalancer{Stack: watched + "/orphan", Name: "orphan"}, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		_, err = p.Ensure(ctx, &cloud.LoadBalancer{Stack: "some-group", Name: "group"}, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())

		mgr, err := NewManager(ctx, cfg, p, Options{ClusterName: "watchns", LegacyIngressClass: "cloudlb", MaxConcurrentReconciles: 1,
			MetricsBindAddress: "0", HealthProbeBindAddress: "0", WatchNamespace: watched,
			DisableIngressGroupNameAnnotation: true})
		Expect(err).NotTo(HaveOccurred())
		go func() {
			defer GinkgoRecover()
			Expect(mgr.Start(ctx)).To(Succeed())
		}()
		mine := web(watched, "app")
		Eventually(func() *cloud.LoadBalancer { return p.LoadBalancer(watched + "/app") }).ShouldNot(BeNil())
		Eventually(func(g Gomega) {
			g.Expect(c.Get(ctx, client.ObjectKeyFromObject(mine), mine)).To(Succeed())
			g.Expect(mine.Finalizers).To(ContainElement(cloud.Finalizer))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(c.Get(ctx, client.ObjectKeyFromObject(foreign), foreign)).To(Succeed())
			g.Expect(foreign.Finalizers).To(BeEmpty())
			g.Expect(p.CallCount(fake.MethodEnsure, other+"/app")).To(Equal(1), "only the setup's own Ensure")
		}, time.Second).Should(Succeed())

		// The API server check before a delete is made through the same namespaced view, as with a Role in the
		// watched namespace only: without the scope, the other namespace's stack would be an orphan to confirm.
		gc := &ingress.Collector{Client: mgr.GetClient(), APIReader: mgr.GetClient(), Provider: p, LegacyClass: "cloudlb",
			Interval: time.Hour, ConfirmAfter: time.Nanosecond, WatchNamespace: watched}
		first, err := gc.Collect(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(first.Orphans).To(ConsistOf(watched + "/orphan"))
		second, err := gc.Collect(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(second.Deleted).To(ConsistOf(watched + "/orphan"))
		for _, s := range []string{other + "/app", "some-group"} {
			Expect(p.LoadBalancer(s)).NotTo(BeNil(), s)
			Expect(p.CallCount(fake.MethodDelete, s)).To(BeZero(), s)
		}

		By("a new use of group.name is refused with a Warning naming it")
		grouped := web(watched, "grouped", "alb.ingress.kubernetes.io/group.name", "new-group")
		Eventually(func(g Gomega) {
			var evs eventsv1.EventList
			g.Expect(c.List(ctx, &evs, client.InNamespace(watched))).To(Succeed())
			var notes []string
			for _, e := range evs.Items {
				if e.Regarding.Name == grouped.Name && e.Reason == "InvalidAnnotation" {
					notes = append(notes, e.Note)
				}
			}
			g.Expect(notes).To(ContainElement(And(ContainSubstring("group.name"), ContainSubstring("--disable-ingress-group-name-annotation"))))
		}).Should(Succeed())

		By("an Ingress with a load balancer of its own that adds group.name keeps it")
		ensures := p.CallCount(fake.MethodEnsure, watched+"/app")
		Expect(c.Get(ctx, client.ObjectKeyFromObject(mine), mine)).To(Succeed())
		mine.Annotations["alb.ingress.kubernetes.io/group.name"] = "new-group"
		Expect(c.Update(ctx, mine)).To(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(p.LoadBalancer(watched + "/app")).NotTo(BeNil())
			g.Expect(p.CallCount(fake.MethodDelete, watched+"/app")).To(BeZero())
			g.Expect(p.LoadBalancer("new-group")).To(BeNil())
		}, 2*time.Second).Should(Succeed())
		Expect(p.CallCount(fake.MethodEnsure, watched+"/app")).To(Equal(ensures), "held as it was applied: not even re-ensured")
		Expect(c.Get(ctx, client.ObjectKeyFromObject(mine), mine)).To(Succeed())
		Expect(mine.Finalizers).To(ContainElement(cloud.Finalizer))

		By("a group whose record lists a member of another namespace still converges on the watched one")
		rec := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: "spans"}, Spec: v1alpha1.LoadBalancerSpec{Stack: "spans"}}
		Expect(c.Create(ctx, rec)).To(Succeed())
		rec.Status.Members = []v1alpha1.MemberStatus{{Name: other + "/x", Applied: true}, {Name: watched + "/y", Applied: true}}
		Expect(c.Status().Update(ctx, rec)).To(Succeed())
		web(watched, "y", "alb.ingress.kubernetes.io/group.name", "spans")
		Eventually(func() *cloud.LoadBalancer { return p.LoadBalancer("spans") }).ShouldNot(BeNil())
	})
})
