package tgb_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/test"
)

// Pods created while the AWS Load Balancer Controller ran carry its readiness gate for an IP-mode binding,
// target-health.elbv2.k8s.aws/<binding>; the binding's controller registers them once their containers are ready
// and turns the gate true once their target is healthy.
var _ = Describe("TargetGroupBinding readiness gates", func() {
	var (
		ctx context.Context
		ns  string
	)

	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tgbgate-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
	})

	arnOf := func(name string) string {
		return "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/" + name + "/0123456789abcdef"
	}
	// setup makes an IP group, the Service web, and its slice with one not-ready endpoint per pod (pod-<addr>).
	setup := func(addrs ...string) string {
		GinkgoHelper()
		arn := arnOf(ns + "-gated")
		provider.AddBoundTargetGroup(ns+"-gated", cloud.BoundTargetGroup{ARN: arn, TargetType: cloud.TargetTypeIP, VPCID: "vpc-1"})
		Expect(k8s.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("web")}},
				Selector: map[string]string{"app": "web"}}})).To(Succeed())
		es := test.EndpointSlice(ns, "web-1", "web", "http", 8080, addrs...)
		for i := range es.Endpoints {
			es.Endpoints[i].Conditions.Ready, es.Endpoints[i].Conditions.Serving = ptr.To(false), ptr.To(false)
		}
		Expect(k8s.Create(ctx, es)).To(Succeed())
		return arn
	}
	// pod makes pod-<addr> of the Service with gate, its containers ready or not.
	pod := func(addr string, gate string, containersReady bool) *corev1.Pod {
		GinkgoHelper()
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pod-" + addr, Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web"}},
				ReadinessGates: []corev1.PodReadinessGate{{ConditionType: corev1.PodConditionType(gate)}}}}
		Expect(k8s.Create(ctx, p)).To(Succeed())
		status := corev1.ConditionFalse
		if containersReady {
			status = corev1.ConditionTrue
		}
		p.Status.PodIP, p.Status.PodIPs = addr, []corev1.PodIP{{IP: addr}}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.ContainersReady, Status: status, LastTransitionTime: metav1.Now()},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.Now()}}
		Expect(k8s.Status().Update(ctx, p)).To(Succeed())
		return p
	}
	gate := func(p *corev1.Pod, gate string) func(Gomega) string {
		return func(g Gomega) string {
			cur := &corev1.Pod{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), cur)).To(Succeed())
			for _, c := range cur.Status.Conditions {
				if string(c.Type) == gate {
					return string(c.Status) + " " + c.Reason
				}
			}
			return ""
		}
	}
	bind := func(arn string) *elbv2.TargetGroupBinding {
		GinkgoHelper()
		b := &elbv2.TargetGroupBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: elbv2.TargetGroupBindingSpec{TargetGroupARN: arn, ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}}}
		Expect(k8s.Create(ctx, b)).To(Succeed())
		return b
	}
	const own, other = "target-health.elbv2.k8s.aws/web", "target-health.elbv2.k8s.aws/other"

	It("registers a gated pod once its containers are ready, and turns its gate true once its target is healthy", func() {
		mine, theirs := cloud.Target{ID: "10.9.1.1", Port: 8080}, cloud.Target{ID: "10.9.1.2", Port: 8080}
		provider.SetHealth(mine, cloud.TargetInitial)
		DeferCleanup(provider.SetHealth, mine, cloud.TargetHealthy)
		arn := setup(mine.ID, theirs.ID)
		gated := pod(mine.ID, own, true)
		foreign := pod(theirs.ID, other, true)
		bind(arn)

		Eventually(func() []cloud.Target { return provider.BoundTargets(arn) }).Should(Equal([]cloud.Target{mine}))
		Eventually(gate(gated, own)).Should(Equal("False TargetNotHealthy"))
		provider.SetHealth(mine, cloud.TargetUnhealthy)
		Consistently(gate(gated, own), "6s").Should(Equal("False TargetNotHealthy"))

		provider.SetHealth(mine, cloud.TargetHealthy)
		Eventually(gate(gated, own)).Should(Equal("True TargetHealthy"))
		// Another binding's gate is neither served nor a reason to register its pod.
		Expect(gate(foreign, other)(Default)).To(BeEmpty())
		Expect(provider.BoundTargets(arn)).To(Equal([]cloud.Target{mine}))
	})

	It("waits for a gated pod's containers before registering it", func() {
		t := cloud.Target{ID: "10.9.2.1", Port: 8080}
		arn := setup(t.ID)
		p := pod(t.ID, own, false)
		bind(arn)
		Consistently(func() []cloud.Target { return provider.BoundTargets(arn) }, "2s").Should(BeEmpty())
		Expect(gate(p, own)(Default)).To(BeEmpty())

		// No EndpointSlice changes when containers turn ready: the binding is looked at again while a gate waits.
		p.Status.Conditions[0].Status = corev1.ConditionTrue
		Expect(k8s.Status().Update(ctx, p)).To(Succeed())
		Eventually(func() []cloud.Target { return provider.BoundTargets(arn) }).Should(Equal([]cloud.Target{t}))
		Eventually(gate(p, own)).Should(Equal("True TargetHealthy"))
	})

	It("turns the binding's pending gates true when the binding is deleted, and no other binding's", func() {
		mine, theirs := "10.9.3.1", "10.9.3.2"
		arn := setup(mine, theirs)
		gated := pod(mine, own, false)
		foreign := pod(theirs, other, false)
		b := bind(arn)
		Consistently(gate(gated, own), "1s").Should(BeEmpty())

		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Eventually(gate(gated, own)).Should(Equal("True TargetGroupBindingDeleted"))
		Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(b), b) }).ShouldNot(Succeed())
		Expect(gate(foreign, other)(Default)).To(BeEmpty())
	})
})
