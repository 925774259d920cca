package targets_test

import (
	"context"
	"fmt"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/controllers/targets"
)

var _ = Describe("Readiness gates of the AWS Load Balancer Controller during a takeover", func() {
	const lbcGate = corev1.PodConditionType(targets.LBCGatePrefix + "k8s-web-80-0123456789")
	var (
		ctx    context.Context
		ns     string
		gates  *targets.LBCGates
		record *v1alpha1.LoadBalancer
	)

	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "lbcgate-",
			Labels: map[string]string{targets.LBCGateNamespaceLabel: "enabled"}}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
		Expect(k8s.Create(ctx, service(ns, corev1.ServiceTypeClusterIP))).To(Succeed())
		record = &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: ns + ".app"}, Spec: v1alpha1.LoadBalancerSpec{Stack: ns + "/app"}}
		Expect(k8s.Create(ctx, record)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(context.Background(), record))).To(Succeed()) })
		record.Status.TargetGroups = []v1alpha1.TargetGroupBinding{{ID: ns + "/app/web:80", ServiceNamespace: ns, ServiceName: "web",
			ServicePort: 80, TargetType: "ip"}}
		Expect(k8s.Status().Update(ctx, record)).To(Succeed())
		gates = &targets.LBCGates{Client: k8s, APIReader: selectiveReader{k8s}}
	})

	// lbcPod creates a pod as it was admitted under LBC: with LBC's gate, not yet true.
	lbcPod := func(name, app string, containersReady corev1.ConditionStatus) *corev1.Pod {
		GinkgoHelper()
		pod := newPod(ns, name)
		pod.Labels["app"] = app
		pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: lbcGate}}
		Expect(k8s.Create(ctx, pod)).To(Succeed())
		setContainersReady(pod, containersReady)
		return pod
	}
	run := func() reconcile.Result {
		GinkgoHelper()
		res, err := gates.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: ns}})
		Expect(err).NotTo(HaveOccurred())
		return res
	}
	ready := func() {
		GinkgoHelper()
		meta.SetStatusCondition(&record.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Ensured", Message: "in sync"})
		Expect(k8s.Status().Update(ctx, record)).To(Succeed())
	}

	It("frees LBC's gate of a pod with ready containers once cloudlb serves its Service, and no other", func() {
		served := lbcPod("web-1", "web", corev1.ConditionTrue)
		starting := lbcPod("web-2", "web", corev1.ConditionFalse)
		other := lbcPod("other-1", "other", corev1.ConditionTrue)

		By("nothing while the load balancer is not Ready")
		Expect(run()).To(Equal(reconcile.Result{}))
		Expect(gateStatus(served, lbcGate)).To(BeEmpty())

		ready()
		Expect(run().RequeueAfter).To(BeNumerically(">", 0), "a pod whose containers are starting is looked at again")
		Expect(gateStatus(served, lbcGate)).To(Equal(corev1.ConditionTrue))
		Expect(gateReason(served, lbcGate)).To(Equal("TakenOverByCloudlb"))
		Expect(gateStatus(starting, lbcGate)).To(BeEmpty())
		Expect(gateStatus(other, lbcGate)).To(BeEmpty(), "no cloudlb target group selects it")

		setContainersReady(starting, corev1.ConditionTrue)
		Expect(run()).To(Equal(reconcile.Result{}))
		Expect(gateStatus(starting, lbcGate)).To(Equal(corev1.ConditionTrue))
		Expect(gateStatus(other, lbcGate)).To(BeEmpty())
	})
})

// selectiveReader fails a pod list that the API server would not filter by labels: the gate's retry reads
// pods every lbcGateRetry, and only those its Services select need to be read.
type selectiveReader struct{ client.Reader }

func (r selectiveReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := (&client.ListOptions{}).ApplyOptions(opts)
	if _, ok := list.(*corev1.PodList); ok && (o.LabelSelector == nil || o.LabelSelector.Empty()) {
		return fmt.Errorf("pods listed without a label selector")
	}
	return r.Reader.List(ctx, list, opts...)
}

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
