package targets_test

import (
	"context"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers/targets"
)

// The suite's manager runs with --adopt-lbc-resources.
var _ = Describe("Readiness gates of the AWS Load Balancer Controller during a takeover", func() {
	var (
		ctx             context.Context
		ns, stack, tgID string
		tgName          string
		gate            corev1.PodConditionType
		webTGB, apiTGB  *elbv2.TargetGroupBinding
		apiGate         corev1.PodConditionType
		arn             = func(name string) string {
			return "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/" + name + "/0123456789abcdef"
		}
	)

	// lbcBinding is the TargetGroupBinding LBC made for an Ingress's target group, named as the group, which stays
	// behind after the takeover.
	lbcBinding := func(name, service string) *elbv2.TargetGroupBinding {
		GinkgoHelper()
		b := &elbv2.TargetGroupBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels: map[string]string{"ingress.k8s.aws/stack-namespace": ns, "ingress.k8s.aws/stack-name": "app"}},
			Spec: elbv2.TargetGroupBindingSpec{TargetGroupARN: arn(name), ServiceRef: elbv2.ServiceReference{Name: service, Port: intstr.FromInt32(80)}}}
		Expect(k8s.Create(ctx, b)).To(Succeed())
		return b
	}

	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "lbcgate-", Labels: map[string]string{targets.LBCGateNamespaceLabel: "enabled"}}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
		stack, tgID = ns+"/app", ns+"/app/web:80"
		tgName = "k8s-" + ns[len(ns)-5:] + "-web-0123456789"
		gate = corev1.PodConditionType(targets.LBCGatePrefix + tgName)
		apiGate = corev1.PodConditionType(targets.LBCGatePrefix + "k8s-" + ns[len(ns)-5:] + "-api-0123456789")
		Expect(k8s.Create(ctx, service(ns, corev1.ServiceTypeClusterIP))).To(Succeed())
		webTGB = lbcBinding(tgName, "web")
		apiTGB = lbcBinding(string(apiGate[len(targets.LBCGatePrefix):]), "api")

		By("cloudlb takes over the load balancer LBC made: its target group keeps its ARN, and so its name")
		provider.Seed(stack, "app", map[string]string{tgID: arn(tgName)})
		Expect(k8s.Create(ctx, ingressFor(ns, "ip"))).To(Succeed())
		Eventually(func() bool {
			rec := record(stack)
			return len(rec.Status.TargetGroups) == 1 && rec.Status.TargetGroups[0].CloudID == arn(tgName) &&
				meta.IsStatusConditionTrue(rec.Status.Conditions, "Ready")
		}).Should(BeTrue())
	})

	// lbcPod creates a pod as LBC's webhook admitted it, with an address, containers not ready yet, and its
	// endpoint (not ready) in the Service's slice.
	lbcPod := func(name, app, ip string, gates ...corev1.PodConditionType) *corev1.Pod {
		GinkgoHelper()
		pod := newPod(ns, name)
		pod.Labels["app"] = app
		for _, g := range gates {
			pod.Spec.ReadinessGates = append(pod.Spec.ReadinessGates, corev1.PodReadinessGate{ConditionType: g})
		}
		Expect(k8s.Create(ctx, pod)).To(Succeed())
		Expect(pod.Labels).NotTo(HaveKey(targets.GatedPodLabel), "cloudlb's webhook does not gate this namespace")
		pod.Status.PodIP = ip
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.ContainersReady, Status: corev1.ConditionFalse}}
		Expect(k8s.Status().Update(ctx, pod)).To(Succeed())
		if app == "web" {
			slice := endpointSlice(ns, name, 8080, ip)
			slice.Endpoints[0].Conditions.Ready = ptr.To(false)
			slice.Endpoints[0].TargetRef.Name = name
			Expect(k8s.Create(ctx, slice)).To(Succeed())
		}
		return pod
	}
	// syncsAfter waits for the targets reconciler to read the target group's health again.
	syncsAfter := func() {
		GinkgoHelper()
		n := provider.CallCount(fake.MethodSyncTargets, stack)
		Eventually(provider.CallCount).WithArguments(fake.MethodSyncTargets, stack).Should(BeNumerically(">", n))
	}

	It("turns true only once the pod's target is healthy in the target group, read as the pod's events and the health polls come", func() {
		pod := lbcPod("web-1", "web", "10.20.0.1", gate)
		target := cloud.Target{ID: "10.20.0.1", Port: 8080}
		provider.SetHealth(target, cloud.TargetInitial)

		By("its containers are not ready: not registered, the gate held false as served by cloudlb")
		Eventually(gateReason).WithArguments(pod, gate).Should(Equal("WaitingForTargetHealth"))
		Expect(gateStatus(pod, gate)).To(Equal(corev1.ConditionFalse))
		Expect(provider.Targets(stack, tgID)).To(BeEmpty())

		By("its containers are ready: registered, and the gate waits while the target is initial, then unhealthy")
		setContainersReady(pod, corev1.ConditionTrue)
		Eventually(provider.Targets).WithArguments(stack, tgID).Should(Equal([]cloud.Target{target}))
		syncsAfter()
		Expect(gateStatus(pod, gate)).To(Equal(corev1.ConditionFalse))
		provider.SetHealth(target, cloud.TargetUnhealthy)
		syncsAfter()
		syncsAfter()
		Expect(gateStatus(pod, gate)).To(Equal(corev1.ConditionFalse))

		By("the load balancer reports the target healthy")
		provider.SetHealth(target, cloud.TargetHealthy)
		Eventually(gateStatus).WithArguments(pod, gate).Should(Equal(corev1.ConditionTrue))
		Expect(gateReason(pod, gate)).To(Equal("TargetHealthy"))
	})

	It("lets a gate go once no target group serves it, as LBC does, and holds one cloudlb has not served yet", func() {
		waiting := lbcPod("web-2", "web", "10.21.0.1", gate)
		Eventually(gateReason).WithArguments(waiting, gate).Should(Equal("WaitingForTargetHealth"))
		unserved := lbcPod("api-1", "api", "10.21.0.2", apiGate)

		By("the Ingress is deleted: LBC's binding of its target group stays behind, but no target group serves the gate")
		Expect(k8s.Delete(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}})).To(Succeed())
		Eventually(gateReason).WithArguments(waiting, gate).Should(Equal("TargetGroupUnbound"))
		Expect(gateStatus(waiting, gate)).To(Equal(corev1.ConditionTrue))
		Expect(gateStatus(unserved, apiGate)).To(BeEmpty(), "its load balancer may not have been applied since the takeover")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(webTGB), webTGB)).To(Succeed())

		By("LBC's binding of the other target group is deleted")
		Expect(k8s.Delete(ctx, apiTGB)).To(Succeed())
		Eventually(gateReason).WithArguments(unserved, apiGate).Should(Equal("TargetGroupUnbound"))
		Expect(gateStatus(unserved, apiGate)).To(Equal(corev1.ConditionTrue))
	})
})

func setContainersReady(pod *corev1.Pod, status corev1.ConditionStatus) {
	GinkgoHelper()
	cur := &corev1.Pod{}
	Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(pod), cur)).To(Succeed())
	cond := corev1.PodCondition{Type: corev1.ContainersReady, Status: status}
	if i := slices.IndexFunc(cur.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == cond.Type }); i >= 0 {
		cur.Status.Conditions[i] = cond
	} else {
		cur.Status.Conditions = append(cur.Status.Conditions, cond)
	}
	Expect(k8s.Status().Update(context.Background(), cur)).To(Succeed())
}
