package ingress_test

import (
	"context"
	"errors"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

// The suite's manager runs without --adopt-lbc-resources: it stands for "nothing LBC-owned is touched", while a
// reconciler with AdoptLBC, called directly, does the takeover.
var _ = Describe("Takeover from the AWS Load Balancer Controller", func() {
	const (
		lbcImplicit = "ingress.k8s.aws/resources"
		lbcGroup    = "group.ingress.k8s.aws/"
	)
	var (
		ctx      context.Context
		ns       string
		lbcClass string
		adopt    *ingress.Reconciler
	)

	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "takeover-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		lbcClass = "alb-" + ns
		class := ingressClass(lbcClass, ingress.LBCControllerName, false)
		Expect(k8s.Create(ctx, class)).To(Succeed())
		DeferCleanup(func() { Expect(k8s.Delete(context.Background(), class)).To(Succeed()) })
		Eventually(func() error {
			return mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(class), &networkingv1.IngressClass{})
		}).Should(Succeed())
		// A sentinel the manager serves: its controllers run, so that "untouched" means something.
		sentinel := newIngress(ns, "sentinel", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, sentinel)).To(Succeed())
		Eventually(hostname).WithArguments(sentinel).ShouldNot(BeEmpty())
		adopt = &ingress.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Provider: provider,
			Recorder: mgr.GetEventRecorder("cloudlb"), ClusterName: clusterName, LegacyClass: "cloudlb", AdoptLBC: true}
	})

	// lbcIngress creates an Ingress as LBC left it, with LBC's finalizer, and waits for the cache to see it.
	lbcIngress := func(name string, class *string, annotations map[string]string, finalizer string) *networkingv1.Ingress {
		GinkgoHelper()
		ing := newIngress(ns, name, class, rule("", "/"+name, networkingv1.PathTypePrefix, "web", 80))
		ing.Annotations = annotations
		ing.Finalizers = []string{finalizer}
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(func() error {
			return mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(ing), &networkingv1.Ingress{})
		}).Should(Succeed())
		return ing
	}
	reconcileStack := func(stack reconcile.Request) error {
		_, err := adopt.Reconcile(ctx, stack)
		return err
	}
	implicit := func(name string) reconcile.Request {
		return reconcile.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}}
	}
	finalizers := func(ing *networkingv1.Ingress) []string { return get(ing).Finalizers }
	// untouched checks that the manager, without the takeover mode, leaves the Ingress and its stack alone.
	untouched := func(ing *networkingv1.Ingress, stack string, want []string) {
		GinkgoHelper()
		if want == nil {
			Consistently(finalizers).WithArguments(ing).Should(BeEmpty())
		} else {
			Consistently(finalizers).WithArguments(ing).Should(Equal(want))
		}
		Expect(provider.CallCount(fake.MethodEnsure, stack)).To(BeZero())
		Expect(provider.CallCount(fake.MethodDelete, stack)).To(BeZero())
		Expect(hostname(ing)).To(BeEmpty())
	}
	// expectHeldByManager touches the Ingress so that the manager reconciles it, and checks that it holds the load
	// balancer taken over rather than releasing it: a restart without the mode must not delete it.
	expectHeldByManager := func(ing *networkingv1.Ingress, stack, why string) {
		GinkgoHelper()
		Expect(update(ing, func(i *networkingv1.Ingress) {
			if i.Annotations == nil {
				i.Annotations = map[string]string{}
			}
			i.Annotations["touched"] = "yes"
		})).To(Succeed())
		Eventually(warningNotes).WithArguments(ing, "LoadBalancerHeld").Should(ContainElement(ContainSubstring(why)))
		Expect(provider.CallCount(fake.MethodDelete, stack)).To(BeZero())
		Expect(provider.LoadBalancer(stack)).NotTo(BeNil())
	}
	// deleteWithManager deletes Ingresses together: a group whose other members are held keeps a deleted one.
	deleteWithManager := func(ings ...*networkingv1.Ingress) {
		GinkgoHelper()
		for _, ing := range ings {
			Expect(k8s.Delete(ctx, get(ing))).To(Succeed())
		}
		for _, ing := range ings {
			Eventually(func() bool {
				return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(ing), &networkingv1.Ingress{}))
			}).Should(BeTrue())
		}
	}

	It("replaces LBC's finalizer of an implicit group with cloudlb's, only once the stack reconciled", func() {
		ing := lbcIngress("app", ptr.To(lbcClass), nil, lbcImplicit)
		stack := ns + "/app"
		untouched(ing, stack, []string{lbcImplicit})

		By("a failed reconcile keeps LBC's finalizer alone")
		provider.Inject(fake.MethodEnsure, func(s string) error {
			if s == stack {
				return errors.New("injected")
			}
			return nil
		})
		Expect(reconcileStack(implicit("app"))).To(MatchError(ContainSubstring("injected")))
		provider.Inject(fake.MethodEnsure, nil)
		Expect(finalizers(ing)).To(Equal([]string{lbcImplicit}))

		By("a successful one swaps it for cloudlb's in one update, and says what it adopted")
		provider.AdoptOnNextEnsure(stack, "adopted load balancer arn:lb from the AWS Load Balancer Controller")
		Expect(reconcileStack(implicit("app"))).To(Succeed())
		Eventually(events).WithArguments(ing).Should(ContainElement(And(
			HaveField("Type", corev1.EventTypeNormal), HaveField("Reason", "Adopted"),
			HaveField("Note", ContainSubstring("adopted load balancer arn:lb")))))
		Expect(finalizers(ing)).To(Equal([]string{cloud.Finalizer}))
		Expect(provider.LoadBalancer(stack)).NotTo(BeNil())
		Expect(hostname(ing)).To(Equal(dnsNameOf(stack)))

		By("the controller restarted without the mode holds the load balancer")
		expectHeldByManager(ing, stack, "--adopt-lbc-resources")
		deleteWithManager(ing)
		Expect(provider.LoadBalancer(stack)).To(BeNil())
	})

	// lbcMadeLB stands for the load balancer LBC made for stack.
	lbcMadeLB := func(stack string) {
		GinkgoHelper()
		_, err := provider.Ensure(ctx, &cloud.LoadBalancer{Stack: stack, Name: "k8s-lbc-" + strings.ReplaceAll(stack, "/", "-")}, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
	}
	explicitGroup := func(name string) reconcile.Request {
		return reconcile.Request{NamespacedName: client.ObjectKey{Name: name}}
	}
	// reconcileUntil reconciles stack until ok holds: the reconciler reads the manager's cache, which sees the
	// finalizers it just patched a moment later (a reconcile on a stale cache conflicts, and would be retried).
	reconcileUntil := func(stack reconcile.Request, ok func() bool) {
		GinkgoHelper()
		Eventually(func() bool {
			_ = reconcileStack(stack)
			return ok()
		}).Should(BeTrue())
	}

	It("deletes the load balancer LBC made for a group a member left with no member left, only then removing its stale finalizer", func() {
		group, old := "tk-"+ns, "tko-"+ns
		ann := map[string]string{"alb.ingress.kubernetes.io/group.name": group}
		a := lbcIngress("a", ptr.To(lbcClass), ann, lbcGroup+group)
		b := lbcIngress("b", ptr.To(lbcClass), ann, lbcGroup+group)
		// b left the group old while LBC was down: it still carries old's finalizer, and old still has its stack.
		Expect(update(b, func(i *networkingv1.Ingress) { i.Finalizers = append(i.Finalizers, lbcGroup+old) })).To(Succeed())
		Eventually(func() []string {
			cur := &networkingv1.Ingress{}
			Expect(mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(b), cur)).To(Succeed())
			return cur.Finalizers
		}).Should(HaveLen(2))
		lbcMadeLB(old)
		untouched(a, group, []string{lbcGroup + group})
		Expect(adopt.StacksOfIngress(ctx, get(b))).To(ContainElement(explicitGroup(old)), "an event on b reconciles old too")

		By("old waits for b to be served where it went: make before break")
		Expect(reconcileStack(explicitGroup(old))).To(Succeed())
		Expect(provider.CallCount(fake.MethodDelete, old)).To(BeZero())
		Expect(provider.LoadBalancer(old)).NotTo(BeNil())
		Expect(finalizers(b)).To(Equal([]string{lbcGroup + group, lbcGroup + old}))

		By("the group b is in takes it over, leaving old's finalizer and stack alone")
		Expect(reconcileStack(explicitGroup(group))).To(Succeed())
		Expect(finalizers(a)).To(Equal([]string{cloud.Finalizer}))
		Expect(finalizers(b)).To(Equal([]string{lbcGroup + old, cloud.Finalizer}))
		Expect(rulePaths(group)).To(ConsistOf("/a", "/b"))
		Expect(provider.LoadBalancer(old)).NotTo(BeNil())

		By("old's stack cannot be deleted: its finalizer stays, with a Warning")
		provider.Inject(fake.MethodDelete, func(s string) error {
			if s == old {
				return errors.New("injected")
			}
			return nil
		})
		Expect(reconcileStack(explicitGroup(old))).To(MatchError(ContainSubstring("injected")))
		provider.Inject(fake.MethodDelete, nil)
		Expect(finalizers(b)).To(Equal([]string{lbcGroup + old, cloud.Finalizer}))
		Expect(provider.LoadBalancer(old)).NotTo(BeNil())
		Eventually(warningNotes).WithArguments(b, "DeleteFailed").Should(ContainElement(And(
			ContainSubstring("stack "+old+", which this Ingress left"), ContainSubstring("injected"))))

		By("deleted, and only then its finalizer goes")
		Expect(reconcileStack(explicitGroup(old))).To(Succeed())
		Expect(provider.LoadBalancer(old)).To(BeNil())
		Expect(finalizers(b)).To(Equal([]string{cloud.Finalizer}))
		Eventually(events).WithArguments(b).Should(ContainElement(And(HaveField("Reason", "LBCFinalizerRemoved"),
			HaveField("Note", ContainSubstring("no member is left")))))
		Expect(provider.LoadBalancer(group)).NotTo(BeNil())
		deleteWithManager(a, b)
		Expect(provider.LoadBalancer(group)).To(BeNil())
	})

	It("removes a stale group finalizer but keeps the group's load balancer while the group has members", func() {
		group, old := "tks-"+ns, "tkso-"+ns
		c := lbcIngress("c", ptr.To(lbcClass), map[string]string{"alb.ingress.kubernetes.io/group.name": old}, lbcGroup+old)
		// b joined group while LBC was down: LBC never gave it group's finalizer.
		b := lbcIngress("b", ptr.To(lbcClass), map[string]string{"alb.ingress.kubernetes.io/group.name": group}, lbcGroup+old)
		lbcMadeLB(old)

		By("old's takeover waits for b to be served where it went: applying old would take b's rules off it")
		ensured := provider.CallCount(fake.MethodEnsure, old)
		Expect(reconcileStack(explicitGroup(old))).To(Succeed())
		Expect(provider.CallCount(fake.MethodEnsure, old)).To(Equal(ensured))
		Expect(finalizers(c)).To(Equal([]string{lbcGroup + old}))
		Expect(finalizers(b)).To(Equal([]string{lbcGroup + old}))
		rec := &v1alpha1.LoadBalancer{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: old}, rec)).To(Succeed())
		Expect(meta.FindStatusCondition(rec.Status.Conditions, "Ready")).To(And(HaveField("Reason", "TakeoverHeld"),
			HaveField("Message", ContainSubstring(ns+"/b"))))

		Expect(reconcileStack(explicitGroup(group))).To(Succeed())
		Expect(finalizers(b)).To(Equal([]string{lbcGroup + old, cloud.Finalizer}), "cloudlb's own finalizer guards b in group")
		Expect(rulePaths(group)).To(ConsistOf("/b"))

		reconcileUntil(explicitGroup(old), func() bool { return len(finalizers(b)) == 1 })
		Expect(finalizers(b)).To(Equal([]string{cloud.Finalizer}))
		Expect(finalizers(c)).To(Equal([]string{cloud.Finalizer}))
		Expect(provider.CallCount(fake.MethodDelete, old)).To(BeZero())
		Expect(rulePaths(old)).To(ConsistOf("/c"), "old converged without b")
		Eventually(events).WithArguments(b).Should(ContainElement(And(HaveField("Reason", "LBCFinalizerRemoved"),
			HaveField("Note", ContainSubstring("other members keep its load balancer")))))
		deleteWithManager(b, c)
	})

	It("never deletes a group's stack while an Ingress with its finalizer is in it but cannot be served", func() {
		group, old := "tkk-"+ns, "tkko-"+ns
		// c is in old, with LBC's finalizer, but its IngressClass is gone: LBC refuses to reconcile such a group.
		c := lbcIngress("c", ptr.To("missing-"+ns), map[string]string{"alb.ingress.kubernetes.io/group.name": old}, lbcGroup+old)
		b := lbcIngress("b", ptr.To(lbcClass), map[string]string{"alb.ingress.kubernetes.io/group.name": group}, lbcGroup+old)
		lbcMadeLB(old)
		Expect(reconcileStack(explicitGroup(group))).To(Succeed())

		reconcileUntil(explicitGroup(old), func() bool { return len(finalizers(b)) == 1 })
		Expect(finalizers(b)).To(Equal([]string{cloud.Finalizer}))
		Expect(provider.CallCount(fake.MethodDelete, old)).To(BeZero())
		Expect(provider.LoadBalancer(old)).NotTo(BeNil())
		Expect(finalizers(c)).To(Equal([]string{lbcGroup + old}))
		Expect(update(c, func(i *networkingv1.Ingress) { i.Finalizers = nil })).To(Succeed())
		Expect(provider.Delete(ctx, old, cloud.Known{})).To(Succeed())
		deleteWithManager(b, c)
	})

	It("never deletes, with --watch-namespace, the stack of an explicit group that members out of sight may be in", func() {
		group, old := "tkw-"+ns, "tkwo-"+ns
		// b left old; members of old in other namespaces, which LBC served, are not in the cache.
		b := lbcIngress("b", ptr.To(lbcClass), map[string]string{"alb.ingress.kubernetes.io/group.name": group}, lbcGroup+old)
		lbcMadeLB(old)
		adopt = &ingress.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Provider: provider,
			Recorder: mgr.GetEventRecorder("cloudlb"), ClusterName: clusterName, LegacyClass: "cloudlb", AdoptLBC: true, WatchNamespace: ns}
		Expect(reconcileStack(explicitGroup(group))).To(Succeed())
		Expect(rulePaths(group)).To(ConsistOf("/b"))

		reconcileUntil(explicitGroup(old), func() bool { return len(finalizers(b)) == 1 })
		Expect(finalizers(b)).To(Equal([]string{cloud.Finalizer}))
		Expect(provider.CallCount(fake.MethodDelete, old)).To(BeZero())
		Expect(provider.LoadBalancer(old)).NotTo(BeNil())
		Expect(provider.Delete(ctx, old, cloud.Known{})).To(Succeed())
		deleteWithManager(b)
	})

	It("holds, with --watch-namespace, an explicit group LBC served until taken over without it", func() {
		group := "tku-" + ns
		// LBC's load balancer may serve members of the group in other namespaces, which are out of sight.
		a := lbcIngress("a", ptr.To(lbcClass), map[string]string{"alb.ingress.kubernetes.io/group.name": group}, lbcGroup+group)
		lbcMadeLB(group)
		ensured := provider.CallCount(fake.MethodEnsure, group)
		watching := &ingress.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Provider: provider,
			Recorder: mgr.GetEventRecorder("cloudlb"), ClusterName: clusterName, LegacyClass: "cloudlb", AdoptLBC: true, WatchNamespace: ns}
		_, err := watching.Reconcile(ctx, explicitGroup(group))
		Expect(err).NotTo(HaveOccurred())
		Expect(provider.CallCount(fake.MethodEnsure, group)).To(Equal(ensured), "applying would take the unseen members' rules off")
		Expect(finalizers(a)).To(Equal([]string{lbcGroup + group}))
		Eventually(warningNotes).WithArguments(a, "TakeoverHeld").Should(ContainElement(ContainSubstring("without --watch-namespace")))

		By("without --watch-namespace the group is taken over")
		reconcileUntil(explicitGroup(group), func() bool { return len(finalizers(a)) == 1 && finalizers(a)[0] == cloud.Finalizer })
		Expect(rulePaths(group)).To(ConsistOf("/a"))
		deleteWithManager(a)
		Expect(provider.LoadBalancer(group)).To(BeNil())
	})

	It("holds the takeover while LBC's Lease is renewed, and takes over once it lapsed", func() {
		group := "tkl-" + ns
		a := lbcIngress("a", ptr.To(lbcClass), map[string]string{"alb.ingress.kubernetes.io/group.name": group}, lbcGroup+group)
		lbcMadeLB(group)
		ensured := provider.CallCount(fake.MethodEnsure, group)
		// LBC's Lease, in a namespace of its own so that no other spec sees it.
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "aws-load-balancer-controller-leader"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("lbc-0"), LeaseDurationSeconds: ptr.To(int32(3600)),
				RenewTime: &metav1.MicroTime{Time: time.Now()}}}
		Expect(k8s.Create(ctx, lease)).To(Succeed())
		withLease := func() *ingress.Reconciler {
			return &ingress.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Provider: provider,
				Recorder: mgr.GetEventRecorder("cloudlb"), ClusterName: clusterName, LegacyClass: "cloudlb", AdoptLBC: true,
				LBCLease: client.ObjectKeyFromObject(lease)}
		}
		_, err := withLease().Reconcile(ctx, explicitGroup(group))
		Expect(err).NotTo(HaveOccurred())
		Expect(provider.CallCount(fake.MethodEnsure, group)).To(Equal(ensured), "LBC may be running: nothing is claimed")
		Expect(finalizers(a)).To(Equal([]string{lbcGroup + group}))
		Eventually(warningNotes).WithArguments(a, "TakeoverHeld").Should(ContainElement(ContainSubstring(ns + "/aws-load-balancer-controller-leader")))

		By("the Lease lapsed: LBC is stopped")
		lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now().Add(-2 * time.Hour)}
		Expect(k8s.Update(ctx, lease)).To(Succeed())
		adopt = withLease()
		reconcileUntil(explicitGroup(group), func() bool { return len(finalizers(a)) == 1 && finalizers(a)[0] == cloud.Finalizer })
		Expect(provider.CallCount(fake.MethodEnsure, group)).To(BeNumerically(">", ensured))
		Expect(rulePaths(group)).To(ConsistOf("/a"))
		deleteWithManager(a)
		Expect(provider.LoadBalancer(group)).To(BeNil())
	})

	It("deletes the stack of the group a deleted Ingress had left before letting the Ingress go", func() {
		group, old := "tkx-"+ns, "tkxo-"+ns
		x := lbcIngress("x", ptr.To(lbcClass), map[string]string{"alb.ingress.kubernetes.io/group.name": group}, lbcGroup+old)
		lbcMadeLB(old)
		Expect(reconcileStack(explicitGroup(group))).To(Succeed())
		Expect(finalizers(x)).To(Equal([]string{lbcGroup + old, cloud.Finalizer}))

		Expect(k8s.Delete(ctx, x)).To(Succeed())
		reconcileUntil(explicitGroup(group), func() bool { return len(finalizers(x)) == 1 })
		Expect(finalizers(x)).To(Equal([]string{lbcGroup + old}), "group lets x go; old's finalizer is old's to remove")
		Expect(provider.LoadBalancer(group)).To(BeNil())
		Expect(provider.LoadBalancer(old)).NotTo(BeNil())

		reconcileUntil(explicitGroup(old), func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(x), &networkingv1.Ingress{}))
		})
		Expect(provider.LoadBalancer(old)).To(BeNil())
	})

	It("deletes the implicit group LBC made for an Ingress that then joined an explicit group", func() {
		group := "tki-" + ns
		x := lbcIngress("x", ptr.To(lbcClass), map[string]string{"alb.ingress.kubernetes.io/group.name": group}, lbcImplicit)
		lbcMadeLB(ns + "/x")
		Expect(adopt.StacksOfIngress(ctx, get(x))).To(ContainElements(explicitGroup(group), implicit("x")))

		Expect(reconcileStack(explicitGroup(group))).To(Succeed())
		Expect(finalizers(x)).To(Equal([]string{lbcImplicit, cloud.Finalizer}))
		Expect(provider.LoadBalancer(ns + "/x")).NotTo(BeNil())

		reconcileUntil(implicit("x"), func() bool { return len(finalizers(x)) == 1 })
		Expect(finalizers(x)).To(Equal([]string{cloud.Finalizer}))
		Expect(provider.LoadBalancer(ns + "/x")).To(BeNil())
		Expect(rulePaths(group)).To(ConsistOf("/x"))
		deleteWithManager(x)
		Expect(provider.LoadBalancer(group)).To(BeNil())
	})

	It("holds the takeover of a group while a member LBC still serves cannot be translated", func() {
		group := "tkh-" + ns
		ann := map[string]string{"alb.ingress.kubernetes.io/group.name": group}
		a := lbcIngress("a", ptr.To(lbcClass), ann, lbcGroup+group)
		bad := map[string]string{"alb.ingress.kubernetes.io/group.name": group, "alb.ingress.kubernetes.io/scheme": "sideways"}
		b := lbcIngress("b", ptr.To(lbcClass), bad, lbcGroup+group)
		untouched(a, group, []string{lbcGroup + group})

		Expect(reconcileStack(reconcile.Request{NamespacedName: client.ObjectKey{Name: group}})).To(Succeed())
		Expect(provider.LoadBalancer(group)).To(BeNil(), "applying a alone would take b's live rules off LBC's load balancer")
		Expect(finalizers(a)).To(Equal([]string{lbcGroup + group}))
		Expect(finalizers(b)).To(Equal([]string{lbcGroup + group}))
		Eventually(warningNotes).WithArguments(a, "TakeoverHeld").Should(ContainElement(ContainSubstring(ns + "/b")))

		By("b fixed, the group is taken over whole")
		Expect(update(b, func(i *networkingv1.Ingress) { delete(i.Annotations, "alb.ingress.kubernetes.io/scheme") })).To(Succeed())
		// The reconciler reads the manager's cache, which sees the fix (and the record it wrote) a moment later: a
		// reconcile on a stale cache fails or holds, and the controller would retry it.
		Eventually(func(g Gomega) []string {
			g.Expect(reconcileStack(reconcile.Request{NamespacedName: client.ObjectKey{Name: group}})).To(Succeed())
			return rulePaths(group)
		}).Should(ConsistOf("/a", "/b"))
		Expect(finalizers(a)).To(Equal([]string{cloud.Finalizer}))
		Eventually(finalizers).WithArguments(b).Should(Equal([]string{cloud.Finalizer}))
		deleteWithManager(a, b)
		Expect(provider.LoadBalancer(group)).To(BeNil())
	})

	It("puts Ingresses of an LBC class in the group its IngressClassParams name", func() {
		group := "tkp-" + ns
		params := &elbv2.IngressClassParams{ObjectMeta: metav1.ObjectMeta{Name: group},
			Spec: elbv2.IngressClassParamsSpec{Group: &elbv2.IngressGroup{Name: group}}}
		Expect(k8s.Create(ctx, params)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(context.Background(), params))).To(Succeed()) })
		class := ingressClass(group, ingress.LBCControllerName, false)
		class.Spec.Parameters = &networkingv1.IngressClassParametersReference{APIGroup: ptr.To("elbv2.k8s.aws"),
			Kind: "IngressClassParams", Name: params.Name}
		Expect(k8s.Create(ctx, class)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(context.Background(), class))).To(Succeed()) })
		Eventually(func() error {
			return mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(class), &networkingv1.IngressClass{})
		}).Should(Succeed())
		Eventually(func() error {
			return mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(params), &elbv2.IngressClassParams{})
		}).Should(Succeed())
		a := lbcIngress("pa", ptr.To(class.Name), nil, lbcGroup+group)
		b := lbcIngress("pb", ptr.To(class.Name), nil, lbcGroup+group)
		untouched(a, group, []string{lbcGroup + group})

		Expect(reconcileStack(reconcile.Request{NamespacedName: client.ObjectKey{Name: group}})).To(Succeed())
		Expect(rulePaths(group)).To(ConsistOf("/pa", "/pb"))
		Expect(finalizers(a)).To(Equal([]string{cloud.Finalizer}))
		Expect(finalizers(b)).To(Equal([]string{cloud.Finalizer}))
		Expect(provider.LoadBalancer(ns + "/pa")).To(BeNil())
		deleteWithManager(a, b)
		Expect(provider.LoadBalancer(group)).To(BeNil())
	})

	It("cleans up an Ingress deleted during the takeover, before its finalizer was replaced", func() {
		ing := lbcIngress("gone", ptr.To(lbcClass), nil, lbcImplicit)
		stack := ns + "/gone"
		// The load balancer LBC made for it.
		_, err := provider.Ensure(ctx, &cloud.LoadBalancer{Stack: stack, Name: "k8s-lbc-made"}, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(k8s.Delete(ctx, ing)).To(Succeed())
		Eventually(func() bool {
			cur := &networkingv1.Ingress{}
			return mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(ing), cur) == nil && !cur.DeletionTimestamp.IsZero()
		}).Should(BeTrue())
		Consistently(func() *cloud.LoadBalancer { return provider.LoadBalancer(stack) }).ShouldNot(BeNil())
		Expect(provider.CallCount(fake.MethodDelete, stack)).To(BeZero())
		Expect(finalizers(ing)).To(Equal([]string{lbcImplicit}))

		Expect(reconcileStack(implicit("gone"))).To(Succeed())
		Expect(provider.CallCount(fake.MethodDelete, stack)).To(Equal(1))
		Expect(provider.LoadBalancer(stack)).To(BeNil())
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(ing), &networkingv1.Ingress{}))).To(BeTrue())
	})

	It("cleans up a member of an explicit group deleted during the takeover, keeping the group", func() {
		group := "tkd-" + ns
		ann := map[string]string{"alb.ingress.kubernetes.io/group.name": group}
		stay := lbcIngress("stay", ptr.To(lbcClass), ann, lbcGroup+group)
		leave := lbcIngress("leave", ptr.To(lbcClass), ann, lbcGroup+group)
		Expect(k8s.Delete(ctx, leave)).To(Succeed())
		Eventually(func() bool {
			cur := &networkingv1.Ingress{}
			return mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(leave), cur) == nil && !cur.DeletionTimestamp.IsZero()
		}).Should(BeTrue())

		Expect(reconcileStack(reconcile.Request{NamespacedName: client.ObjectKey{Name: group}})).To(Succeed())
		Expect(rulePaths(group)).To(Equal([]string{"/stay"}))
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(leave), &networkingv1.Ingress{}))).To(BeTrue())
		Expect(finalizers(stay)).To(Equal([]string{cloud.Finalizer}))
		deleteWithManager(stay)
		Expect(provider.LoadBalancer(group)).To(BeNil())
	})

	It("serves the legacy class alb only in the takeover mode", func() {
		ing := lbcIngress("legacy", nil, map[string]string{"kubernetes.io/ingress.class": "alb"}, lbcImplicit)
		stack := ns + "/legacy"
		untouched(ing, stack, []string{lbcImplicit})

		Expect(reconcileStack(implicit("legacy"))).To(Succeed())
		Expect(finalizers(ing)).To(Equal([]string{cloud.Finalizer}))
		Expect(hostname(ing)).To(Equal(dnsNameOf(stack)))
		expectHeldByManager(ing, stack, `annotation "alb" is not the class this controller serves`)
		deleteWithManager(ing)
		Expect(provider.LoadBalancer(stack)).To(BeNil())
	})

	It("leaves an Ingress of LBC's class without LBC's finalizer to the usual rules", func() {
		// Made after LBC was stopped: cloudlb adds its own finalizer before the first apply, as for any Ingress.
		ing := newIngress(ns, "new", ptr.To(lbcClass), rule("", "/new", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(func() error {
			return mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(ing), &networkingv1.Ingress{})
		}).Should(Succeed())
		untouched(ing, ns+"/new", nil)
		Expect(reconcileStack(implicit("new"))).To(Succeed())
		Expect(finalizers(ing)).To(Equal([]string{cloud.Finalizer}))
		deleteWithManager(ing)
	})
})
