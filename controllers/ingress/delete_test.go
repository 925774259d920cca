package ingress_test

import (
	"context"
	"errors"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

var _ = Describe("Deletion, waits and deadlines", func() {
	var (
		ctx context.Context
		ns  string
	)

	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "del-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
	})

	stack := func(name string) string { return ns + "/" + name }
	record := func(name string) *v1alpha1.LoadBalancer {
		GinkgoHelper()
		rec := &v1alpha1.LoadBalancer{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: ns + "." + name}, rec)).To(Succeed())
		return rec
	}
	requeues := func(r *ingress.Reconciler, ing *networkingv1.Ingress, n int) []time.Duration {
		GinkgoHelper()
		var out []time.Duration
		for range n {
			res, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ing)})
			Expect(err).NotTo(HaveOccurred())
			out = append(out, res.RequeueAfter)
		}
		return out
	}
	// direct returns a reconciler that serves only Ingresses annotated with the legacy class "direct", which the
	// manager leaves alone while they carry no finalizer, and an Ingress of that class.
	direct := func(p cloud.Provider, name string) (*ingress.Reconciler, *networkingv1.Ingress) {
		GinkgoHelper()
		ing := newIngress(ns, name, nil, rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		ing.Annotations = map[string]string{"kubernetes.io/ingress.class": "direct"}
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(func() error {
			return mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(ing), &networkingv1.Ingress{})
		}).Should(Succeed())
		return &ingress.Reconciler{Client: mgr.GetClient(), Provider: p, Recorder: mgr.GetEventRecorder("cloudlb"),
			ClusterName: clusterName, LegacyClass: "direct"}, ing
	}

	It("says what blocks a deletion, on the Ingress and the record, and looks again ever less often", func() {
		ing := newIngress(ns, "blocked", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(hostname).WithArguments(ing).ShouldNot(BeEmpty())
		provider.Inject(fake.MethodDelete, func(s string) error {
			if s == stack("blocked") {
				return cloud.Errorf(cloud.KindBlocked, "security group sg-1 is referenced by sg-2, which cloudlb does not own")
			}
			return nil
		})
		DeferCleanup(func() { provider.Inject(fake.MethodDelete, nil) })
		Expect(k8s.Delete(ctx, ing)).To(Succeed())

		Eventually(warningNotes).WithArguments(ing, "DeleteBlocked").Should(ContainElement(ContainSubstring("sg-2")))
		Eventually(func() *metav1.Condition {
			return meta.FindStatusCondition(record("blocked").Status.Conditions, "DeletionBlocked")
		}).Should(And(Not(BeNil()), HaveField("Status", metav1.ConditionTrue), HaveField("Message", ContainSubstring("sg-2"))))
		Expect(get(ing).Finalizers).To(ContainElement(cloud.Finalizer))

		r := &ingress.Reconciler{Client: mgr.GetClient(), Provider: provider, Recorder: mgr.GetEventRecorder("cloudlb"),
			ClusterName: clusterName, LegacyClass: "cloudlb"}
		Expect(requeues(r, ing, 7)).To(Equal([]time.Duration{20 * time.Second, 40 * time.Second, 80 * time.Second,
			160 * time.Second, 320 * time.Second, 10 * time.Minute, 10 * time.Minute}))

		provider.Inject(fake.MethodDelete, nil)
		Expect(requeues(r, ing, 1)).To(Equal([]time.Duration{0}))
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(ing), ing)) }).Should(BeTrue())
	})

	It("waits ever longer, without a warning, for a deletion the cloud is still finishing", func() {
		ing := newIngress(ns, "pending", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(hostname).WithArguments(ing).ShouldNot(BeEmpty())
		provider.Inject(fake.MethodDelete, func(s string) error {
			if s == stack("pending") {
				return cloud.Errorf(cloud.KindPending, "target group still in use by a load balancer being deleted")
			}
			return nil
		})
		DeferCleanup(func() { provider.Inject(fake.MethodDelete, nil) })
		Expect(k8s.Delete(ctx, ing)).To(Succeed())
		Eventually(func() error {
			var cached networkingv1.Ingress
			if err := mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(ing), &cached); err != nil {
				return err
			}
			if cached.DeletionTimestamp.IsZero() {
				return errNotYet
			}
			return nil
		}).Should(Succeed())
		r := &ingress.Reconciler{Client: mgr.GetClient(), Provider: provider, Recorder: mgr.GetEventRecorder("cloudlb"),
			ClusterName: clusterName, LegacyClass: "cloudlb"}
		Expect(requeues(r, ing, 3)).To(Equal([]time.Duration{20 * time.Second, 40 * time.Second, 80 * time.Second}))
		Expect(warningReasons(ing)).To(BeEmpty())
	})

	It("waits ever longer, without a warning, for the cloud to list what it created, and starts over once it does", func() {
		p := fake.New()
		r, ing := direct(p, "listing")
		p.Inject(fake.MethodEnsure, func(string) error {
			return cloud.Errorf(cloud.KindNotFound, "target group tg-1 not found")
		})
		Expect(requeues(r, ing, 3)).To(Equal([]time.Duration{20 * time.Second, 40 * time.Second, 80 * time.Second}))
		Expect(warningReasons(ing)).NotTo(ContainElement("EnsureFailed"))
		Expect(meta.FindStatusCondition(record("listing").Status.Conditions, "Ready")).To(HaveField("Reason", "NotFoundYet"))

		p.Inject(fake.MethodEnsure, nil)
		Expect(requeues(r, ing, 1)).To(Equal([]time.Duration{0}))
		p.Inject(fake.MethodEnsure, func(string) error {
			return cloud.Errorf(cloud.KindNotFound, "target group tg-2 not found")
		})
		Expect(update(ing, func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Path = "/changed" })).To(Succeed())
		Eventually(func() string {
			var cached networkingv1.Ingress
			_ = mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(ing), &cached)
			return cached.Spec.Rules[0].HTTP.Paths[0].Path
		}).Should(Equal("/changed"))
		Expect(requeues(r, ing, 1)).To(Equal([]time.Duration{20 * time.Second}))
	})

	It("records the load balancer's name before the first call that can create it", func() {
		p := fake.New()
		r, ing := direct(p, "crashy")
		p.Inject(fake.MethodEnsure, func(string) error { return cloud.Errorf(cloud.KindThrottled, "injected") })
		_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ing)})
		Expect(err).To(HaveOccurred())
		Expect(p.CallCount(fake.MethodEnsure, stack("crashy"))).To(Equal(1))
		rec := record("crashy")
		Expect(rec.Status.ID).To(BeEmpty())
		Expect(rec.Status.Name).To(HavePrefix("k8s-"))

		p.Inject(fake.MethodEnsure, nil)
		_, err = r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ing)})
		Expect(err).NotTo(HaveOccurred())
		Expect(p.LoadBalancer(stack("crashy")).Name).To(Equal(rec.Status.Name))
	})

	It("keeps the record's DNS name, name and scheme in step with a replaced load balancer", func() {
		ing := newIngress(ns, "moved", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(hostname).WithArguments(ing).ShouldNot(BeEmpty())
		before := hostname(ing)
		Eventually(func() string { return record("moved").Status.DNSName }).Should(Equal(before))

		Expect(update(ing, func(i *networkingv1.Ingress) {
			i.Annotations = map[string]string{"alb.ingress.kubernetes.io/scheme": "internet-facing"}
		})).To(Succeed())
		Eventually(hostname).WithArguments(ing).ShouldNot(Equal(before))
		Eventually(func() v1alpha1.LoadBalancerStatus { return record("moved").Status }).Should(And(
			HaveField("DNSName", hostname(ing)), HaveField("Scheme", "internet-facing"),
			HaveField("Name", provider.LoadBalancer(stack("moved")).Name)))
	})

	It("gives up a reconcile whose cloud call hangs at the deadline", func() {
		p := fake.New()
		p.SetLatency(fake.MethodEnsure, time.Hour)
		r, ing := direct(p, "hung")
		r.Timeout = time.Second
		done := make(chan error)
		go func() {
			_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ing)})
			done <- err
		}()
		Eventually(done, 10*time.Second).Should(Receive(MatchError(ContainSubstring("deadline exceeded"))))
		Expect(p.CallCount(fake.MethodEnsure, stack("hung"))).To(Equal(1))
	})
})

var errNotYet = errors.New("not yet")
