package ingress_test

import (
	"context"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

// onlyRecord is a cache that lists only the LoadBalancer record named keep, so that a class group is found
// live by its class alone, not by the record the manager writes for it.
type onlyRecord struct {
	client.Client
	keep string
}

func (o onlyRecord) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := o.Client.List(ctx, list, opts...); err != nil {
		return err
	}
	if records, ok := list.(*v1alpha1.LoadBalancerList); ok {
		records.Items = slices.DeleteFunc(records.Items, func(r v1alpha1.LoadBalancer) bool { return r.Name != o.keep })
	}
	return nil
}

var _ = Describe("Garbage collection of class groups and moves", func() {
	It("keeps a class's group and a stack whose record lists a live Ingress, and collects the orphan", func() {
		ctx := context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "gcg-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns := n.Name
		classGroup, movedFrom, orphan := ns+"-class", ns+"-old", ns+"-orphan"

		params := &elbv2.IngressClassParams{ObjectMeta: metav1.ObjectMeta{Name: ns},
			Spec: elbv2.IngressClassParamsSpec{Group: &elbv2.IngressGroup{Name: classGroup}}}
		Expect(k8s.Create(ctx, params)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, params))).To(Succeed()) })
		class := ingressClass(ns, ingress.ControllerName, false)
		class.Spec.Parameters = &networkingv1.IngressClassParametersReference{APIGroup: ptr.To("elbv2.k8s.aws"),
			Kind: "IngressClassParams", Name: params.Name}
		Expect(k8s.Create(ctx, class)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, class))).To(Succeed()) })

		// A cloud of its own, so that the manager's reconciler neither sees nor changes these stacks. The
		// Ingresses route to a Service that does not exist, so that the manager applies nothing of theirs either.
		cloudp := fake.New()
		for _, s := range []string{classGroup, movedFrom, orphan} {
			_, err := cloudp.Ensure(ctx, &cloud.LoadBalancer{Stack: s, Name: s}, cloud.Known{})
			Expect(err).NotTo(HaveOccurred())
		}
		member := newIngress(ns, "member", ptr.To(class.Name), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, member)).To(Succeed())
		// An Ingress the record of the stack it moved from still lists as applied (cloudlb holds it: the
		// manager's reconciler leaves it alone).
		moved := newIngress(ns, "moved", nil, rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		moved.Annotations = map[string]string{"kubernetes.io/ingress.class": "renamed"}
		Expect(k8s.Create(ctx, moved)).To(Succeed())
		record := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: movedFrom}, Spec: v1alpha1.LoadBalancerSpec{Stack: movedFrom}}
		Expect(k8s.Create(ctx, record)).To(Succeed())
		record.Status.Members = []v1alpha1.MemberStatus{{Name: ns + "/moved", Applied: true}}
		Expect(k8s.Status().Update(ctx, record)).To(Succeed())
		Eventually(func() []v1alpha1.MemberStatus {
			var r v1alpha1.LoadBalancer
			_ = mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(record), &r)
			return r.Status.Members
		}).ShouldNot(BeEmpty())
		Eventually(func() error {
			return mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(moved), &networkingv1.Ingress{})
		}).Should(Succeed())
		Eventually(func() error {
			return mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(params), &elbv2.IngressClassParams{})
		}).Should(Succeed())

		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		gc := &ingress.Collector{Client: onlyRecord{Client: mgr.GetClient(), keep: movedFrom}, APIReader: k8s, Provider: cloudp, LegacyClass: "cloudlb",
			Interval: time.Hour, ConfirmAfter: time.Minute, Locks: &ingress.StackLocks{}}
		gc.SetClock(func() time.Time { return now })
		var deleted []string
		for range 3 {
			report, err := gc.Collect(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(report.Orphans).NotTo(ContainElement(classGroup))
			Expect(report.Orphans).NotTo(ContainElement(movedFrom))
			deleted = append(deleted, report.Deleted...)
			now = now.Add(time.Hour)
		}
		Expect(deleted).To(ConsistOf(orphan))
		Expect(cloudp.LoadBalancer(classGroup)).NotTo(BeNil())
		Expect(cloudp.LoadBalancer(movedFrom)).NotTo(BeNil())
	})
})
