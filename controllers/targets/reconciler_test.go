package targets_test

import (
	"context"
	"errors"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers/targets"
	"github.com/cloudlb/cloudlb/test"
)

var _ = Describe("Targets reconciler", func() {
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

	Context("in IP mode", func() {
		var stack, tgID string

		BeforeEach(func() {
			Expect(k8s.Create(ctx, service(ns, corev1.ServiceTypeClusterIP))).To(Succeed())
			Expect(k8s.Create(ctx, ingressFor(ns, "ip"))).To(Succeed())
			stack, tgID = ns+"/app", ns+"/app/web:80"
		})

		It("follows the endpoints up and down exactly", func() {
			slice := endpointSlice(ns, "web-1", 8080, ips("10.1.0.", 1, 5)...)
			Expect(k8s.Create(ctx, slice)).To(Succeed())
			Eventually(provider.Targets).WithArguments(stack, tgID).Should(Equal(targetList("10.1.0.", 1, 5, 8080)))

			second := endpointSlice(ns, "web-2", 8080, ips("10.2.0.", 1, 3)...)
			Expect(k8s.Create(ctx, second)).To(Succeed())
			Eventually(provider.Targets).WithArguments(stack, tgID).
				Should(Equal(append(targetList("10.1.0.", 1, 5, 8080), targetList("10.2.0.", 1, 3, 8080)...)))

			Expect(k8s.Delete(ctx, second)).To(Succeed())
			setEndpoints(slice, ips("10.1.0.", 1, 2))
			Expect(k8s.Update(ctx, slice)).To(Succeed())
			Eventually(provider.Targets).WithArguments(stack, tgID).Should(Equal(targetList("10.1.0.", 1, 2, 8080)))
			Eventually(gauge).WithArguments(stack, tgID, "registered").Should(Equal(2.0))
			Expect(gauge(stack, tgID, "healthy")).To(Equal(2.0))

			By("the metric series go when the target group does")
			Expect(k8s.Delete(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}})).To(Succeed())
			Eventually(gauge).WithArguments(stack, tgID, "registered").Should(Equal(-1.0))
		})

		It("coalesces 50 endpoint changes within one batch window into one sync", func() {
			slice := endpointSlice(ns, "web-1", 8080, ips("10.3.0.", 1, 1)...)
			Expect(k8s.Create(ctx, slice)).To(Succeed())
			Eventually(provider.Targets).WithArguments(stack, tgID).Should(HaveLen(1))
			before := syncCalls(stack, tgID)

			for n := 2; n <= 51; n++ {
				setEndpoints(slice, ips("10.3.0.", 1, n))
				Expect(k8s.Update(ctx, slice)).To(Succeed())
			}
			Eventually(provider.Targets).WithArguments(stack, tgID).Should(HaveLen(51))
			Consistently(func() int { return syncCalls(stack, tgID) }).WithTimeout(batchWindow + time.Second).Should(Equal(before + 1))
		})

		It("deregisters a terminating endpoint", func() {
			slice := endpointSlice(ns, "web-1", 8080, ips("10.4.0.", 1, 3)...)
			Expect(k8s.Create(ctx, slice)).To(Succeed())
			Eventually(provider.Targets).WithArguments(stack, tgID).Should(HaveLen(3))

			slice.Endpoints[1].Conditions = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}
			Expect(k8s.Update(ctx, slice)).To(Succeed())
			Eventually(provider.Targets).WithArguments(stack, tgID).
				Should(Equal([]cloud.Target{{ID: "10.4.0.1", Port: 8080}, {ID: "10.4.0.3", Port: 8080}}))
		})

		It("resolves a named target port per endpoint slice", func() {
			Expect(k8s.Create(ctx, endpointSlice(ns, "web-a", 8080, "10.5.0.1"))).To(Succeed())
			Expect(k8s.Create(ctx, endpointSlice(ns, "web-b", 9090, "10.5.0.2"))).To(Succeed())
			Eventually(provider.Targets).WithArguments(stack, tgID).
				Should(Equal([]cloud.Target{{ID: "10.5.0.1", Port: 8080}, {ID: "10.5.0.2", Port: 9090}}))
		})

		It("registers only endpoints of pods, and counts a ready condition that is not set as ready", func() {
			By("a slice written by hand, with addresses and no pods")
			forged := endpointSlice(ns, "forged", 8080, "10.8.0.1", "10.8.0.2")
			delete(forged.Labels, discoveryv1.LabelManagedBy)
			for i := range forged.Endpoints {
				forged.Endpoints[i].TargetRef = nil
			}
			Expect(k8s.Create(ctx, forged)).To(Succeed())
			By("a slice labelled as the EndpointSlice controller's, with an endpoint that names no pod")
			noRef := endpointSlice(ns, "no-ref", 8080, "10.8.0.3")
			noRef.Endpoints[0].TargetRef = nil
			Expect(k8s.Create(ctx, noRef)).To(Succeed())
			By("a slice written by hand that names a pod which does not hold its address")
			stolen := endpointSlice(ns, "stolen", 8080, "10.8.0.4")
			delete(stolen.Labels, discoveryv1.LabelManagedBy)
			stolen.Endpoints[0].TargetRef.Name = "owner"
			Expect(k8s.Create(ctx, stolen)).To(Succeed())
			By("a slice written by hand whose pod holds its address")
			owner := newPod(ns, "owner")
			Expect(k8s.Create(ctx, owner)).To(Succeed())
			owner.Status.PodIP, owner.Status.PodIPs = "10.8.0.5", []corev1.PodIP{{IP: "10.8.0.5"}}
			Expect(k8s.Status().Update(ctx, owner)).To(Succeed())
			mirrored := endpointSlice(ns, "mirrored", 8080, "10.8.0.5")
			delete(mirrored.Labels, discoveryv1.LabelManagedBy)
			mirrored.Endpoints[0].TargetRef.Name = "owner"
			Expect(k8s.Create(ctx, mirrored)).To(Succeed())
			By("the EndpointSlice controller's slice, with one endpoint whose ready condition is not set")
			managed := endpointSlice(ns, "web-1", 8080, "10.8.0.6", "10.8.0.7")
			managed.Endpoints[1].Conditions.Ready = nil
			Expect(k8s.Create(ctx, managed)).To(Succeed())

			// Every reconcile reads all the slices together, so a sync holding the last two slices' targets also
			// read the others.
			Eventually(provider.Targets).WithArguments(stack, tgID).Should(Equal([]cloud.Target{
				{ID: "10.8.0.5", Port: 8080}, {ID: "10.8.0.6", Port: 8080}, {ID: "10.8.0.7", Port: 8080}}))
		})

		It("keeps following the endpoints while the load balancer cannot be ensured", func() {
			slice := endpointSlice(ns, "web-1", 8080, ips("10.7.0.", 1, 2)...)
			Expect(k8s.Create(ctx, slice)).To(Succeed())
			Eventually(provider.Targets).WithArguments(stack, tgID).Should(HaveLen(2))

			provider.Inject(fake.MethodEnsure, func(s string) error {
				if s == stack {
					return errors.New("injected outage")
				}
				return nil
			})
			DeferCleanup(func() { provider.Inject(fake.MethodEnsure, nil) })
			ing := &networkingv1.Ingress{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, ing)).To(Succeed())
			ing.Annotations["alb.ingress.kubernetes.io/healthcheck-path"] = "/changed"
			Expect(k8s.Update(ctx, ing)).To(Succeed())
			Eventually(func() string {
				return meta.FindStatusCondition(record(stack).Status.Conditions, "Ready").Reason
			}).Should(Equal("EnsureFailed"))

			setEndpoints(slice, ips("10.7.0.", 1, 4))
			Expect(k8s.Update(ctx, slice)).To(Succeed())
			Eventually(provider.Targets).WithArguments(stack, tgID).Should(HaveLen(4))
		})

		It("makes no provider call for a pass where nothing changed", func() {
			slice := endpointSlice(ns, "web-1", 8080, ips("10.6.0.", 1, 2)...)
			Expect(k8s.Create(ctx, slice)).To(Succeed())
			Eventually(provider.Targets).WithArguments(stack, tgID).Should(HaveLen(2))
			Eventually(func() string { return record(stack).Status.TargetsSynced[tgID] }).ShouldNot(BeEmpty())
			before := syncCalls(stack, tgID)

			slice.Labels["unrelated"] = "change"
			Expect(k8s.Update(ctx, slice)).To(Succeed())
			// The change is enqueued after the batch window; wait past it.
			Consistently(func() int { return syncCalls(stack, tgID) }).WithTimeout(batchWindow + 2*time.Second).Should(Equal(before))
		})
	})

	Context("in instance mode", func() {
		It("follows nodes joining, leaving, tainted for removal and gaining the exclude label, not their readiness", func() {
			svc := service(ns, corev1.ServiceTypeNodePort)
			Expect(k8s.Create(ctx, svc)).To(Succeed())
			nodePort := svc.Spec.Ports[0].NodePort
			Expect(nodePort).NotTo(BeZero())
			ing := ingressFor(ns, "instance")
			ing.Annotations["alb.ingress.kubernetes.io/target-node-labels"] = "pool=" + ns
			Expect(k8s.Create(ctx, ing)).To(Succeed())
			stack, tgID := ns+"/app", ns+"/app/web:80"
			want := func(ids ...string) []cloud.Target {
				out := []cloud.Target{}
				for _, id := range ids {
					out = append(out, cloud.Target{ID: id, Port: nodePort})
				}
				return out
			}

			a := node(ns, "a", "i-0a")
			b := node(ns, "b", "i-0b")
			other := node(ns, "other", "i-0c")
			other.Labels["pool"] = "elsewhere"
			for _, n := range []*corev1.Node{a, b, other} {
				createReadyNode(n)
			}
			Eventually(provider.Targets).WithArguments(stack, tgID).Should(Equal(want("i-0a", "i-0b")))

			By("a node joins")
			c := node(ns, "c", "i-0d")
			createReadyNode(c)
			Eventually(provider.Targets).WithArguments(stack, tgID).Should(Equal(want("i-0a", "i-0b", "i-0d")))
			Eventually(func() string { return record(stack).Status.TargetsSynced[tgID] }).ShouldNot(BeEmpty())

			By("every node turns NotReady at once, as in a control-plane blip: nothing is deregistered")
			before := syncCalls(stack, tgID)
			for _, n := range []*corev1.Node{a, b, c} {
				setReady(n, corev1.ConditionFalse)
			}
			Consistently(func() int { return syncCalls(stack, tgID) }).WithTimeout(batchWindow + 2*time.Second).Should(Equal(before))
			Expect(provider.Targets(stack, tgID)).To(Equal(want("i-0a", "i-0b", "i-0d")))

			By("the Cluster Autoscaler taints a node for removal")
			b.Spec.Taints = []corev1.Taint{{Key: "ToBeDeletedByClusterAutoscaler", Value: "1700000000", Effect: corev1.TaintEffectNoSchedule}}
			Expect(k8s.Update(ctx, b)).To(Succeed())
			Eventually(provider.Targets).WithArguments(stack, tgID).Should(Equal(want("i-0a", "i-0d")))

			By("Karpenter taints a node for disruption")
			a.Spec.Taints = []corev1.Taint{{Key: "karpenter.sh/disrupted", Effect: corev1.TaintEffectNoSchedule}}
			Expect(k8s.Update(ctx, a)).To(Succeed())
			Eventually(provider.Targets).WithArguments(stack, tgID).Should(Equal(want("i-0d")))

			By("a node gains the exclude label")
			c.Labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
			Expect(k8s.Update(ctx, c)).To(Succeed())
			Eventually(provider.Targets).WithArguments(stack, tgID).Should(BeEmpty())

			By("a node leaves")
			d := node(ns, "d", "i-0e")
			createReadyNode(d)
			Eventually(provider.Targets).WithArguments(stack, tgID).Should(Equal(want("i-0e")))
			Expect(k8s.Delete(ctx, d)).To(Succeed())
			Eventually(provider.Targets).WithArguments(stack, tgID).Should(BeEmpty())
		})

		It("warns on the Service when it has no NodePort", func() {
			Expect(k8s.Create(ctx, service(ns, corev1.ServiceTypeClusterIP))).To(Succeed())
			Expect(k8s.Create(ctx, ingressFor(ns, "instance"))).To(Succeed())
			Eventually(func() []string {
				var list eventsv1.EventList
				Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
				var out []string
				for _, e := range list.Items {
					if e.Regarding.Kind == "Service" && e.Type == corev1.EventTypeWarning {
						out = append(out, e.Note)
					}
				}
				return out
			}).Should(ContainElement(ContainSubstring("NodePort")))
		})
	})
})

var _ = Describe("Pod readiness gate", func() {
	It("is injected into pods behind an IP-mode target group and turns true once the target is healthy", func() {
		ctx := context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "gate-",
			Labels: map[string]string{targets.GateNamespaceLabel: "enabled"}}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns := n.Name
		Expect(k8s.Create(ctx, service(ns, corev1.ServiceTypeClusterIP))).To(Succeed())
		Expect(k8s.Create(ctx, ingressFor(ns, "ip"))).To(Succeed())
		stack, tgID := ns+"/app", ns+"/app/web:80"
		Eventually(func() []v1alpha1.TargetGroupBinding { return record(stack).Status.TargetGroups }).Should(HaveLen(1))

		pod := newPod(ns, "web-1")
		Expect(k8s.Create(ctx, pod)).To(Succeed())
		Expect(pod.Spec.ReadinessGates).To(HaveLen(1))
		gate := pod.Spec.ReadinessGates[0].ConditionType
		Expect(string(gate)).To(HavePrefix("target-health.cloudlb.io/"))

		By("a pod in a namespace that did not opt in gets no gate")
		plain := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "nogate-"}}
		Expect(k8s.Create(ctx, plain)).To(Succeed())
		other := newPod(plain.Name, "web-1")
		Expect(k8s.Create(ctx, other)).To(Succeed())
		Expect(other.Spec.ReadinessGates).To(BeEmpty())

		By("its containers are ready, but the pod is not: its endpoint is registered anyway")
		pod.Status.PodIP = "10.9.0.1"
		pod.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse},
		}
		Expect(k8s.Status().Update(ctx, pod)).To(Succeed())
		target := cloud.Target{ID: "10.9.0.1", Port: 8080}
		provider.SetHealth(target, cloud.TargetInitial)
		slice := endpointSlice(ns, "web-1", 8080, "10.9.0.1")
		slice.Endpoints[0].Conditions.Ready = ptr.To(false)
		slice.Endpoints[0].TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name}
		Expect(k8s.Create(ctx, slice)).To(Succeed())
		Eventually(provider.Targets).WithArguments(stack, tgID).Should(Equal([]cloud.Target{target}))
		Consistently(gateStatus).WithArguments(pod, gate).ShouldNot(Equal(corev1.ConditionTrue))

		By("the load balancer reports the target healthy")
		provider.SetHealth(target, cloud.TargetHealthy)
		Eventually(gateStatus).WithArguments(pod, gate).Should(Equal(corev1.ConditionTrue))
	})
})

var _ = Describe("Pod readiness gate, in the corner cases", func() {
	var (
		ctx       context.Context
		ns        string
		stack, tg string
	)

	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "gate-",
			Labels: map[string]string{targets.GateNamespaceLabel: "enabled"}}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
		Expect(k8s.Create(ctx, service(ns, corev1.ServiceTypeClusterIP))).To(Succeed())
		Expect(k8s.Create(ctx, ingressFor(ns, "ip"))).To(Succeed())
		stack, tg = ns+"/app", ns+"/app/web:80"
		Eventually(func() bool {
			rec := record(stack)
			return len(rec.Status.TargetGroups) == 1 && meta.IsStatusConditionTrue(rec.Status.Conditions, "Ready")
		}).Should(BeTrue())
	})

	// gatedPod creates a pod, which the webhook gates, with ready containers at ip and its endpoint.
	gatedPod := func(name, ip string, health cloud.TargetState) (*corev1.Pod, corev1.PodConditionType) {
		GinkgoHelper()
		pod := newPod(ns, name)
		Expect(k8s.Create(ctx, pod)).To(Succeed())
		Expect(pod.Spec.ReadinessGates).To(HaveLen(1))
		pod.Status.PodIP = ip
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}}
		Expect(k8s.Status().Update(ctx, pod)).To(Succeed())
		provider.SetHealth(cloud.Target{ID: ip, Port: 8080}, health)
		slice := endpointSlice(ns, name, 8080, ip)
		slice.Endpoints[0].Conditions.Ready = ptr.To(false)
		slice.Endpoints[0].TargetRef.Name = name
		Expect(k8s.Create(ctx, slice)).To(Succeed())
		return pod, pod.Spec.ReadinessGates[0].ConditionType
	}

	It("does not wait for a target the load balancer does not use, and lets go when the target group goes", func() {
		zoneless, zGate := gatedPod("zoneless", "10.10.0.1", cloud.TargetUnused)
		waiting, wGate := gatedPod("waiting", "10.10.0.2", cloud.TargetInitial)
		Eventually(provider.Targets).WithArguments(stack, tg).Should(HaveLen(2))
		Eventually(gateReason).WithArguments(zoneless, zGate).Should(Equal("TargetUnused"))
		Expect(gateStatus(zoneless, zGate)).To(Equal(corev1.ConditionTrue))
		Expect(gateStatus(waiting, wGate)).NotTo(Equal(corev1.ConditionTrue))

		By("the Ingress is deleted while a pod still waits for its target's first health check")
		Expect(k8s.Delete(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}})).To(Succeed())
		Eventually(gateReason).WithArguments(waiting, wGate).Should(Equal("TargetGroupUnbound"))
		Expect(gateStatus(waiting, wGate)).To(Equal(corev1.ConditionTrue))
	})

	It("lets go when the Ingress moves to another backend", func() {
		waiting, gate := gatedPod("waiting", "10.11.0.1", cloud.TargetInitial)
		Eventually(provider.Targets).WithArguments(stack, tg).Should(HaveLen(1))
		Consistently(gateStatus).WithArguments(waiting, gate).WithTimeout(time.Second).ShouldNot(Equal(corev1.ConditionTrue))

		other := service(ns, corev1.ServiceTypeClusterIP)
		other.Name = "other"
		Expect(k8s.Create(ctx, other)).To(Succeed())
		ing := &networkingv1.Ingress{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, ing)).To(Succeed())
		ing.Spec.DefaultBackend.Service.Name = "other"
		Expect(k8s.Update(ctx, ing)).To(Succeed())
		Eventually(gateReason).WithArguments(waiting, gate).Should(Equal("TargetGroupUnbound"))
		Expect(gateStatus(waiting, gate)).To(Equal(corev1.ConditionTrue))
	})

	It("is injected only for a load balancer that is Ready", func() {
		provider.Inject(fake.MethodEnsure, func(s string) error {
			if s == stack {
				return errors.New("injected outage")
			}
			return nil
		})
		DeferCleanup(func() { provider.Inject(fake.MethodEnsure, nil) })
		ing := &networkingv1.Ingress{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, ing)).To(Succeed())
		ing.Annotations["alb.ingress.kubernetes.io/healthcheck-path"] = "/changed"
		Expect(k8s.Update(ctx, ing)).To(Succeed())
		Eventually(func() string {
			return meta.FindStatusCondition(record(stack).Status.Conditions, "Ready").Reason
		}).Should(Equal("EnsureFailed"))
		Expect(record(stack).Status.TargetGroups).To(HaveLen(1))

		pod := newPod(ns, "web-1")
		Expect(k8s.Create(ctx, pod)).To(Succeed())
		Expect(pod.Spec.ReadinessGates).To(BeEmpty())
	})
})

func gateReason(pod *corev1.Pod, gate corev1.PodConditionType) string {
	cur := &corev1.Pod{}
	Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(pod), cur)).To(Succeed())
	for _, c := range cur.Status.Conditions {
		if c.Type == gate {
			return c.Reason
		}
	}
	return ""
}

// gauge reads cloudlb_target_group_targets for one target group and state; -1 when the series does not exist.
func gauge(stack, tgID, state string) float64 {
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != "cloudlb_target_group_targets" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["stack"] == stack && labels["target_group"] == tgID && labels["state"] == state {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func newPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}}},
	}
}

func gateStatus(pod *corev1.Pod, gate corev1.PodConditionType) corev1.ConditionStatus {
	cur := &corev1.Pod{}
	Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(pod), cur)).To(Succeed())
	for _, c := range cur.Status.Conditions {
		if c.Type == gate {
			return c.Status
		}
	}
	return ""
}

func service(ns string, t corev1.ServiceType) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: corev1.ServiceSpec{Type: t, Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
}

func ingressFor(ns, targetType string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app",
			Annotations: map[string]string{"alb.ingress.kubernetes.io/target-type": targetType}},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("cloudlb"), DefaultBackend: &networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
	}
}

func endpointSlice(ns, name string, port int32, addrs ...string) *discoveryv1.EndpointSlice {
	return test.EndpointSlice(ns, name, "web", "http", port, addrs...)
}

var (
	setEndpoints = test.SetEndpoints
	ips          = test.IPs
)

// targets lists prefix+from..to on port, in the provider's (string) order.
func targetList(prefix string, from, to int, port int32) []cloud.Target {
	var out []cloud.Target
	for _, ip := range ips(prefix, from, to) {
		out = append(out, cloud.Target{ID: ip, Port: port})
	}
	sortTargets(out)
	return out
}

func sortTargets(ts []cloud.Target) {
	for i := range ts {
		for j := i + 1; j < len(ts); j++ {
			if ts[j].ID < ts[i].ID {
				ts[i], ts[j] = ts[j], ts[i]
			}
		}
	}
}

func syncCalls(stack, tgID string) int {
	n := 0
	for _, c := range provider.Calls() {
		if c.Method == fake.MethodSyncTargets && c.Stack == stack && c.TargetGroup == tgID {
			n++
		}
	}
	return n
}

func record(stack string) *v1alpha1.LoadBalancer {
	var lbs v1alpha1.LoadBalancerList
	Expect(k8s.List(context.Background(), &lbs)).To(Succeed())
	for i := range lbs.Items {
		if lbs.Items[i].Spec.Stack == stack {
			return &lbs.Items[i]
		}
	}
	return &v1alpha1.LoadBalancer{}
}

func node(ns, name, instance string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name, Labels: map[string]string{"pool": ns}},
		Spec:       corev1.NodeSpec{ProviderID: "aws:///us-east-1a/" + instance},
	}
}

func createReadyNode(n *corev1.Node) {
	GinkgoHelper()
	Expect(k8s.Create(context.Background(), n)).To(Succeed())
	setReady(n, corev1.ConditionTrue)
}

func setReady(n *corev1.Node, status corev1.ConditionStatus) {
	GinkgoHelper()
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, LastHeartbeatTime: metav1.Now()}}
	Expect(k8s.Status().Update(context.Background(), n)).To(Succeed())
}
