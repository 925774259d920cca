package ingress_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

var _ = Describe("Cloud call priorities", func() {
	It("applies a new Ingress as work a user waits for, and its drift check as background work", func(ctx context.Context) {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "prio-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		Expect(k8s.Create(ctx, service(n.Name, "web", 80))).To(Succeed())
		ing := newIngress(n.Name, "shop", ptr.To(ourClass), rule("shop.example.com", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		stack := n.Name + "/shop"
		Eventually(func() bool {
			rec := &v1alpha1.LoadBalancer{}
			return k8s.Get(ctx, client.ObjectKey{Name: n.Name + ".shop"}, rec) == nil && rec.Status.AppliedHash != "" &&
				meta.IsStatusConditionTrue(rec.Status.Conditions, "Ready")
		}).Should(BeTrue())
		ensures := func() []fake.Call {
			var out []fake.Call
			for _, c := range provider.Calls() {
				if c.Method == fake.MethodEnsure && c.Stack == stack {
					out = append(out, c)
				}
			}
			return out
		}
		created := ensures()
		Expect(created).NotTo(BeEmpty())
		Expect(created).To(HaveEach(HaveField("Background", false)))

		// A drift check is due at once: the model is unchanged, so the Ensure it makes is background work.
		r := &ingress.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Provider: provider,
			Recorder: mgr.GetEventRecorder("cloudlb"), ClusterName: clusterName, LegacyClass: "cloudlb", DriftCheckInterval: time.Nanosecond}
		_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ing)})
		Expect(err).NotTo(HaveOccurred())
		after := ensures()
		Expect(after).To(HaveLen(len(created) + 1))
		Expect(after[len(after)-1].Background).To(BeTrue())
	})
})

var _ = Describe("Garbage collection priority", func() {
	It("makes its cloud calls as background work", func(ctx context.Context) {
		cloudp := fake.New()
		gc := &ingress.Collector{Client: mgr.GetClient(), APIReader: k8s, Provider: cloudp, LegacyClass: "cloudlb",
			Interval: time.Hour, Locks: &ingress.StackLocks{}}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- gc.Start(runCtx) }()
		Eventually(func() []fake.Call { return cloudp.Calls() }).ShouldNot(BeEmpty())
		stop()
		Eventually(done).Should(Receive())
		Expect(cloudp.Calls()).To(HaveEach(And(HaveField("Method", fake.MethodStacks), HaveField("Background", true))))
	})
})
