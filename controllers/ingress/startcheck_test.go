package ingress_test

import (
	"context"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

var _ = Describe("Start-up check", func() {
	It("ensures at start the stacks changed while the controller was down, and no converged one", func() {
		ctx := context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "startcheck-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns := n.Name
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		names := []string{"kept", "lost-tg", "lost-lb"}
		records := map[string]*v1alpha1.LoadBalancer{}
		for _, name := range names {
			Expect(k8s.Create(ctx, newIngress(ns, name, ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80)))).To(Succeed())
		}
		// The first controller (the suite's manager) converges them.
		for _, name := range names {
			Eventually(func(g Gomega) {
				rec := &v1alpha1.LoadBalancer{}
				g.Expect(k8s.Get(ctx, client.ObjectKey{Name: ns + "." + name}, rec)).To(Succeed())
				g.Expect(meta.IsStatusConditionTrue(rec.Status.Conditions, "Ready")).To(BeTrue())
				g.Expect(rec.Status.TargetGroups).To(HaveLen(1))
				g.Expect(rec.Status.TargetGroups[0].CloudID).NotTo(BeEmpty())
				records[name] = rec
			}).Should(Succeed())
		}
		stack := func(name string) string { return ns + "/" + name }

		By("while it is down, a target group of one stack and the whole of another are deleted out of band")
		lostTG := records["lost-tg"].Status.TargetGroups[0].ID
		provider.RemoveOutOfBand(stack("lost-tg"), lostTG)
		provider.RemoveOutOfBand(stack("lost-lb"), "")
		Expect(provider.Inventory(ctx)).NotTo(HaveKey(stack("lost-lb")))

		By("a new controller starts: its collector's first pass finds them, and only them")
		suspects := &ingress.Suspects{}
		r := &ingress.Reconciler{Client: mgr.GetClient(), APIReader: k8s, Provider: provider, Recorder: mgr.GetEventRecorder("startcheck"),
			ClusterName: clusterName, LegacyClass: "cloudlb", DriftCheckInterval: 24 * time.Hour, Suspects: suspects}
		gc := &ingress.Collector{Client: mgr.GetClient(), APIReader: k8s, Provider: provider, LegacyClass: "cloudlb",
			Interval: time.Hour, Locks: &ingress.StackLocks{}, Suspects: suspects}
		q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
		DeferCleanup(q.ShutDown)
		Expect(suspects.Source().Start(ctx, q)).To(Succeed())
		before := len(provider.Calls())
		report, err := gc.Collect(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(report.Deleted).To(BeEmpty())
		var reads []string
		for _, c := range provider.Calls()[before:] {
			if c.Method == fake.MethodInventory || c.Method == fake.MethodStacks {
				reads = append(reads, c.Method)
			}
		}
		Expect(reads).To(Equal([]string{fake.MethodInventory}), "the start-up check is the one read garbage collection makes")
		for _, name := range names {
			Expect(suspects.Has(stack(name))).To(Equal(name != "kept"), name)
		}
		enqueued := map[string]bool{}
		for q.Len() > 0 {
			req, _ := q.Get()
			if strings.HasPrefix(req.String(), ns+"/") {
				enqueued[req.String()] = true
			}
			q.Done(req)
		}
		Expect(enqueued).To(Equal(map[string]bool{stack("lost-tg"): true, stack("lost-lb"): true}))

		By("the start-up reconciles ensure the changed stacks at once, well within the drift interval, and not the converged one")
		for _, name := range names {
			_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}})
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(provider.CallCount(fake.MethodEnsure, stack("kept"))).To(Equal(1), "only the first controller's Ensure")
		inv, err := provider.Inventory(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(inv).To(HaveKey(stack("lost-lb")))
		Expect(inv[stack("lost-tg")].TargetGroups).To(HaveKey(cloud.TagValue(lostTG)))
		for _, name := range names[1:] {
			Expect(suspects.Has(stack(name))).To(BeFalse(), "a repaired stack is suspect no more")
			rec := &v1alpha1.LoadBalancer{}
			Expect(k8s.Get(ctx, client.ObjectKey{Name: ns + "." + name}, rec)).To(Succeed())
			Expect(rec.Status.TargetGroups[0].CloudID).NotTo(Equal(records[name].Status.TargetGroups[0].CloudID),
				"the group made anew is recorded, so that its targets are registered again")
		}

		By("a second start finds nothing to repair")
		Eventually(func(g Gomega) {
			again := &ingress.Suspects{}
			gc2 := &ingress.Collector{Client: mgr.GetClient(), APIReader: k8s, Provider: provider, LegacyClass: "cloudlb",
				Interval: time.Hour, Locks: &ingress.StackLocks{}, Suspects: again}
			_, err := gc2.Collect(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			for _, name := range names {
				g.Expect(again.Has(stack(name))).To(BeFalse(), name)
			}
		}).Should(Succeed())
	})
})
