package ingress_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

// staleCache is a cache that has not seen any Ingress yet.
type staleCache struct{ client.Client }

func (s staleCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*networkingv1.IngressList); ok {
		return nil
	}
	return s.Client.List(ctx, list, opts...)
}

var _ = Describe("Garbage collector", func() {
	var (
		ctx    context.Context
		ns     string
		cloudp *fake.Provider
		gc     *ingress.Collector
		now    time.Time
	)
	const confirm = 10 * time.Minute

	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "gc-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
		// A cloud of its own, so that the manager's reconciler neither sees nor changes these stacks.
		cloudp = fake.New()
		now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		gc = &ingress.Collector{Client: mgr.GetClient(), APIReader: k8s, Provider: cloudp, LegacyClass: "cloudlb",
			Interval: time.Hour, ConfirmAfter: confirm, Locks: &ingress.StackLocks{}}
		gc.SetClock(func() time.Time { return now })
	})

	stack := func(name string) string { return ns + "/" + name }
	ing := func(name string, class *string) *networkingv1.Ingress {
		return newIngress(ns, name, class, rule("", "/", networkingv1.PathTypePrefix, "web", 80))
	}
	inCloud := func(names ...string) {
		GinkgoHelper()
		for _, name := range names {
			_, err := cloudp.Ensure(ctx, &cloud.LoadBalancer{Stack: stack(name), Name: name}, cloud.Known{})
			Expect(err).NotTo(HaveOccurred())
		}
	}
	// inCache creates an Ingress and waits until the collector's cache has it.
	inCache := func(ing *networkingv1.Ingress) {
		GinkgoHelper()
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(func() error {
			return mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(ing), &networkingv1.Ingress{})
		}).Should(Succeed())
	}
	pass := func(after time.Duration) ingress.Report {
		GinkgoHelper()
		now = now.Add(after)
		report, err := gc.Collect(ctx)
		Expect(err).NotTo(HaveOccurred())
		return report
	}

	It("deletes a stack only after two passes at least the confirmation time apart, never in the first pass, and keeps live and held ones", func() {
		inCloud("orphan", "served", "held", "unknown-class", "claimed")
		inCache(ing("served", ptr.To(ourClass)))
		held := ing("held", nil)
		held.Annotations = map[string]string{"kubernetes.io/ingress.class": "renamed"}
		held.Finalizers = []string{cloud.Finalizer}
		inCache(held)
		inCache(ing("unknown-class", ptr.To("no-such-class")))
		inCache(ing("claimed", ptr.To("other")))

		first := pass(0)
		Expect(first.DryRun).To(BeTrue())
		Expect(first.Orphans).To(ConsistOf(stack("orphan"), stack("claimed")))
		Expect(cloudp.CallCount(fake.MethodDelete, "")).To(BeZero())

		Expect(pass(confirm / 2).Deleted).To(BeEmpty())
		Expect(cloudp.CallCount(fake.MethodDelete, "")).To(BeZero())

		By("a stack orphaned since the last pass waits for a pass of its own")
		inCloud("late")
		report := pass(confirm / 2)
		Expect(report.Deleted).To(ConsistOf(stack("orphan"), stack("claimed")))
		for _, c := range cloudp.Calls() {
			if c.Method == fake.MethodDelete {
				// A takeover provider must not adopt what another controller made under the orphan's stack key.
				Expect(c.NoAdoption).To(BeTrue(), c.Stack)
			}
		}
		Expect(cloudp.LoadBalancer(stack("orphan"))).To(BeNil())
		Expect(cloudp.LoadBalancer(stack("late"))).NotTo(BeNil())
		for _, s := range []string{"served", "held", "unknown-class"} {
			Expect(cloudp.LoadBalancer(stack(s))).NotTo(BeNil(), s)
		}

		Expect(pass(confirm).Deleted).To(ConsistOf(stack("late")))
	})

	It("only reports in its first pass after start-up", func() {
		inCloud("orphan")
		gc.SeedOrphan(stack("orphan"), now.Add(-time.Hour))
		report := pass(0)
		Expect(report.DryRun).To(BeTrue())
		Expect(report.WouldDelete).To(ConsistOf(stack("orphan")))
		Expect(cloudp.CallCount(fake.MethodDelete, "")).To(BeZero())
		Expect(pass(confirm).Deleted).To(ConsistOf(stack("orphan")))
	})

	It("asks the API server, not the cache, before it deletes", func() {
		gc.Client = staleCache{mgr.GetClient()}
		inCloud("fresh")
		Expect(k8s.Create(ctx, ing("fresh", ptr.To(ourClass)))).To(Succeed())
		pass(0)
		Expect(pass(confirm).Deleted).To(BeEmpty())
		Expect(cloudp.CallCount(fake.MethodDelete, "")).To(BeZero())
		Expect(cloudp.LoadBalancer(stack("fresh"))).NotTo(BeNil())
	})

	It("deletes under the stack's lock, so that an Ingress re-created meanwhile keeps its load balancer", func() {
		inCloud("recreated")
		pass(0)
		key := cloud.TagValue(stack("recreated"))
		unlock, err := gc.Locks.Lock(ctx, key)
		Expect(err).NotTo(HaveOccurred())
		done := make(chan ingress.Report)
		go func() {
			defer GinkgoRecover()
			now = now.Add(confirm)
			report, err := gc.Collect(ctx)
			Expect(err).NotTo(HaveOccurred())
			done <- report
		}()
		// The collector waits for the lock the reconciler of the re-created Ingress holds.
		Eventually(func() int { return gc.Locks.Holders(key) }).Should(Equal(2))
		Expect(k8s.Create(ctx, ing("recreated", ptr.To(ourClass)))).To(Succeed())
		unlock()
		Eventually(done).Should(Receive(HaveField("Deleted", BeEmpty())))
		Expect(cloudp.CallCount(fake.MethodDelete, "")).To(BeZero())
		Expect(cloudp.LoadBalancer(stack("recreated"))).NotTo(BeNil())
	})

	It("caps deletions per pass, keeps going past a failure, and deletes the records", func() {
		gc.MaxDeletions = 10
		var names []string
		for i := range 12 {
			name := fmt.Sprintf("orphan-%02d", i)
			names = append(names, name)
			inCloud(name)
			Expect(k8s.Create(ctx, &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: ns + "." + name},
				Spec: v1alpha1.LoadBalancerSpec{Stack: stack(name)}})).To(Succeed())
		}
		cloudp.Inject(fake.MethodDelete, func(s string) error {
			if s == stack("orphan-00") {
				return cloud.Errorf(cloud.KindBlocked, "security group sg-1 is referenced by sg-2")
			}
			return nil
		})
		pass(0)
		now = now.Add(confirm)
		report, err := gc.Collect(ctx)
		Expect(err).To(MatchError(ContainSubstring("sg-2")))
		Expect(cloudp.CallCount(fake.MethodDelete, "")).To(Equal(10))
		Expect(report.Deleted).To(HaveLen(9))
		Expect(report.Deferred).To(ConsistOf(stack("orphan-10"), stack("orphan-11")))
		recordGone := func(name string) bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: ns + "." + name}, &v1alpha1.LoadBalancer{}))
		}
		for _, name := range names[1:10] {
			Expect(recordGone(name)).To(BeTrue(), name)
		}
		Expect(recordGone("orphan-00")).To(BeFalse())

		cloudp.Inject(fake.MethodDelete, nil)
		Expect(pass(time.Minute).Deleted).To(ConsistOf(stack("orphan-00"), stack("orphan-10"), stack("orphan-11")))
		for _, name := range names {
			Expect(cloudp.LoadBalancer(stack(name))).To(BeNil())
			Expect(recordGone(name)).To(BeTrue(), name)
		}
	})

	It("is the same lock that the reconciler holds for a whole reconcile", func() {
		locks := &ingress.StackLocks{}
		r := &ingress.Reconciler{Client: mgr.GetClient(), Provider: cloudp, Recorder: mgr.GetEventRecorder("test"),
			ClusterName: clusterName, LegacyClass: "cloudlb", Locks: locks}
		key := cloud.TagValue(stack("app"))
		unlock, err := locks.Lock(ctx, key)
		Expect(err).NotTo(HaveOccurred())
		done := make(chan error)
		go func() {
			_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: "app"}})
			done <- err
		}()
		Eventually(func() int { return locks.Holders(key) }).Should(Equal(2))
		Consistently(done, 200*time.Millisecond).ShouldNot(Receive())
		unlock()
		Eventually(done).Should(Receive(BeNil()))
	})
})
