package ingress_test

import (
	"context"
	"fmt"

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

const (
	annGroupName  = "alb.ingress.kubernetes.io/group.name"
	annGroupOrder = "alb.ingress.kubernetes.io/group.order"
	annScheme     = "alb.ingress.kubernetes.io/scheme"
)

var _ = Describe("Ingress groups", func() {
	var (
		ctx    context.Context
		ns1    string
		ns2    string
		group  string
		record func() *v1alpha1.LoadBalancer
	)

	BeforeEach(func() {
		ctx = context.Background()
		for _, p := range []*string{&ns1, &ns2} {
			n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "grp-"}}
			Expect(k8s.Create(ctx, n)).To(Succeed())
			*p = n.Name
			Expect(k8s.Create(ctx, service(n.Name, "web", 80))).To(Succeed())
		}
		// Members order by namespace after group.order: let ns1 sort first.
		if ns2 < ns1 {
			ns1, ns2 = ns2, ns1
		}
		// Group names are cluster-wide: one per test.
		group = ns1 + "-shared"
		record = func() *v1alpha1.LoadBalancer {
			var r v1alpha1.LoadBalancer
			if err := k8s.Get(ctx, client.ObjectKey{Name: group}, &r); err != nil {
				return nil
			}
			return &r
		}
	})

	// member is an Ingress of the group with one hostless Prefix path to web:80.
	member := func(ns, name, p string, ann map[string]string) *networkingv1.Ingress {
		ing := newIngress(ns, name, ptr.To(ourClass), rule("", p, networkingv1.PathTypePrefix, "web", 80))
		ing.Annotations = map[string]string{annGroupName: group}
		for k, v := range ann {
			ing.Annotations[k] = v
		}
		return ing
	}
	appliedMembers := func() []string {
		var out []string
		if r := record(); r != nil {
			for _, m := range r.Status.Members {
				if m.Applied {
					out = append(out, m.Name)
				}
			}
		}
		return out
	}

	It("serves members across namespaces from one load balancer, in group order", func() {
		a := member(ns1, "a", "/a", nil)
		b := member(ns2, "b", "/b/longer", map[string]string{annGroupOrder: "5"})
		for _, ing := range []*networkingv1.Ingress{a, b} {
			Expect(k8s.Create(ctx, ing)).To(Succeed())
		}
		Eventually(rulePaths).WithArguments(group).Should(Equal([]string{"/a", "/b/longer"}))
		expectAddress(a, group)
		expectAddress(b, group)
		Expect(provider.LoadBalancer(ns1 + "/a")).To(BeNil())
		Expect(provider.LoadBalancer(ns2 + "/b")).To(BeNil())
		Expect(provider.LoadBalancer(group).Name).To(HavePrefix("k8s-" + ns1))
		Eventually(appliedMembers).Should(Equal([]string{ns1 + "/a", ns2 + "/b"}))
		Expect(record().Spec.Stack).To(Equal(group))

		By("re-ordering a member")
		Eventually(update).WithArguments(b, func(i *networkingv1.Ingress) { i.Annotations[annGroupOrder] = "-5" }).Should(Succeed())
		Eventually(rulePaths).WithArguments(group).Should(Equal([]string{"/b/longer", "/a"}))
	})

	It("orders five members of two namespaces by group.order, then namespace and name", func() {
		var ings []*networkingv1.Ingress
		for i, order := range []string{"3", "-2", "0", "0", "-1000"} {
			ns := ns1
			if i%2 == 1 {
				ns = ns2
			}
			ings = append(ings, member(ns, fmt.Sprintf("m%d", i), fmt.Sprintf("/m%d", i), map[string]string{annGroupOrder: order}))
		}
		for _, ing := range ings {
			Expect(k8s.Create(ctx, ing)).To(Succeed())
		}
		// m4 (-1000), m1 (-2), then order 0 by namespace (ns1 < ns2): m2 (ns1), m3 (ns2), then m0 (3).
		Eventually(rulePaths).WithArguments(group).Should(Equal([]string{"/m4", "/m1", "/m2", "/m3", "/m0"}))
		for _, ing := range ings {
			expectAddress(ing, group)
		}
		Eventually(appliedMembers).Should(HaveLen(5))
	})

	It("moves only the member's own rules when it joins, leaves, or changes group", func() {
		a := member(ns1, "a", "/a", nil)
		b := member(ns2, "b", "/b", nil)
		Expect(k8s.Create(ctx, a)).To(Succeed())
		Eventually(rulePaths).WithArguments(group).Should(Equal([]string{"/a"}))

		By("joining")
		Expect(k8s.Create(ctx, b)).To(Succeed())
		Eventually(rulePaths).WithArguments(group).Should(Equal([]string{"/a", "/b"}))
		expectAddress(b, group)

		By("leaving: the Ingress becomes its own group again")
		Eventually(update).WithArguments(b, func(i *networkingv1.Ingress) { delete(i.Annotations, annGroupName) }).Should(Succeed())
		Eventually(rulePaths).WithArguments(group).Should(Equal([]string{"/a"}))
		Eventually(rulePaths).WithArguments(ns2 + "/b").Should(Equal([]string{"/b"}))
		Eventually(hostname).WithArguments(b).Should(Equal(dnsNameOf(ns2 + "/b")))
		Expect(get(b).Finalizers).To(ContainElement(cloud.Finalizer))

		By("changing group: the old group, left without members, is deleted")
		other := group + "-other"
		Eventually(update).WithArguments(a, func(i *networkingv1.Ingress) { i.Annotations[annGroupName] = other }).Should(Succeed())
		Eventually(rulePaths).WithArguments(other).Should(Equal([]string{"/a"}))
		Eventually(func() *cloud.LoadBalancer { return provider.LoadBalancer(group) }).Should(BeNil())
		Eventually(record).Should(BeNil())
		Eventually(hostname).WithArguments(a).Should(Equal(dnsNameOf(other)))
		Expect(get(a).Finalizers).To(ContainElement(cloud.Finalizer))
		Expect(rulePaths(ns2 + "/b")).To(Equal([]string{"/b"}))
	})

	It("keeps the load balancer while members remain, and deletes it with the last", func() {
		a := member(ns1, "a", "/a", nil)
		b := member(ns2, "b", "/b", nil)
		Expect(k8s.Create(ctx, a)).To(Succeed())
		Expect(k8s.Create(ctx, b)).To(Succeed())
		Eventually(rulePaths).WithArguments(group).Should(Equal([]string{"/a", "/b"}))

		Expect(k8s.Delete(ctx, a)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(a), &networkingv1.Ingress{}))
		}).Should(BeTrue())
		Expect(rulePaths(group)).To(Equal([]string{"/b"}), "the member's rules are gone before its finalizer is")
		Expect(provider.CallCount(fake.MethodDelete, group)).To(BeZero())
		Eventually(appliedMembers).Should(Equal([]string{ns2 + "/b"}))

		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(b), &networkingv1.Ingress{}))
		}).Should(BeTrue())
		Expect(provider.LoadBalancer(group)).To(BeNil())
		Expect(provider.CallCount(fake.MethodDelete, group)).To(BeNumerically(">=", 1))
		Eventually(record).Should(BeNil())
	})

	It("leaves out a conflicting and an invalid member while the others converge", func() {
		a := member(ns1, "a", "/a", map[string]string{annScheme: "internal"})
		Expect(k8s.Create(ctx, a)).To(Succeed())
		Eventually(appliedMembers).Should(Equal([]string{ns1 + "/a"}))

		// "b" comes first in group order, but "a" is already served: "b" is left out, whatever its order.
		b := member(ns2, "b", "/b", map[string]string{annScheme: "internet-facing", annGroupOrder: "-10"})
		bad := member(ns2, "bad", "/bad", map[string]string{annGroupOrder: "first"})
		c := member(ns2, "c", "/c", nil)
		for _, ing := range []*networkingv1.Ingress{b, bad, c} {
			Expect(k8s.Create(ctx, ing)).To(Succeed())
		}
		Eventually(rulePaths).WithArguments(group).Should(Equal([]string{"/a", "/c"}))
		Expect(provider.LoadBalancer(group).Scheme).To(Equal(cloud.SchemeInternal))
		Eventually(warningNotes).WithArguments(b, "InvalidSpec").Should(ContainElement(
			ContainSubstring(`annotation alb.ingress.kubernetes.io/scheme is "internet-facing" here but "internal" on member %s/a`, ns1)))
		Eventually(warningNotes).WithArguments(bad, "InvalidAnnotation").Should(ContainElement(ContainSubstring(annGroupOrder)))
		expectAddress(c, group)
		Expect(hostname(b)).To(BeEmpty())
		Eventually(appliedMembers).Should(Equal([]string{ns1 + "/a", ns2 + "/c"}))
		Expect(record().Status.Members).To(ContainElement(And(HaveField("Name", ns2+"/b"), HaveField("Applied", false),
			HaveField("Message", ContainSubstring("scheme")))))

		By("resolving the conflict")
		Eventually(update).WithArguments(b, func(i *networkingv1.Ingress) { delete(i.Annotations, annScheme) }).Should(Succeed())
		Eventually(rulePaths).WithArguments(group).Should(Equal([]string{"/b", "/a", "/c"}))
		expectAddress(b, group)
	})

	It("keeps the rules of an applied member that turns invalid, while the others converge, across a restart", func() {
		a := member(ns1, "a", "/a", nil)
		b := member(ns2, "b", "/b", nil)
		Expect(k8s.Create(ctx, a)).To(Succeed())
		Expect(k8s.Create(ctx, b)).To(Succeed())
		Eventually(rulePaths).WithArguments(group).Should(Equal([]string{"/a", "/b"}))
		Eventually(appliedMembers).Should(HaveLen(2))

		By("breaking b: its rules stay as they were")
		Eventually(update).WithArguments(b, func(i *networkingv1.Ingress) {
			i.Annotations["alb.ingress.kubernetes.io/healthcheck-path"] = "no-slash"
			i.Spec.Rules[0].HTTP.Paths[0].Path = "/b/new"
		}).Should(Succeed())
		Eventually(warningNotes).WithArguments(b, "InvalidAnnotation").ShouldNot(BeEmpty())
		Eventually(func() []v1alpha1.MemberStatus { return record().Status.Members }).Should(ContainElement(And(
			HaveField("Name", ns2+"/b"), HaveField("Applied", true), HaveField("Message", ContainSubstring("healthcheck-path")))))

		By("changing a: the group still converges")
		Eventually(update).WithArguments(a, func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Path = "/a/new" }).Should(Succeed())
		Eventually(rulePaths).WithArguments(group).Should(Equal([]string{"/a/new", "/b"}))
		Eventually(func() string { return record().Status.AppliedHash }).Should(Equal(ingress.AppliedHash(provider.LoadBalancer(group), get(a), get(b))))
		ensures := provider.CallCount(fake.MethodEnsure, group)
		r := &ingress.Reconciler{Client: mgr.GetClient(), Provider: provider, Recorder: mgr.GetEventRecorder("test"),
			ClusterName: clusterName, LegacyClass: "cloudlb"}
		_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKey{Name: group}})
		Expect(err).NotTo(HaveOccurred())
		Expect(provider.CallCount(fake.MethodEnsure, group)).To(Equal(ensures), "the kept member is rebuilt from the record as it was applied")

		By("fixing b: its new rules apply")
		Eventually(update).WithArguments(b, func(i *networkingv1.Ingress) { delete(i.Annotations, "alb.ingress.kubernetes.io/healthcheck-path") }).Should(Succeed())
		Eventually(rulePaths).WithArguments(group).Should(Equal([]string{"/a/new", "/b/new"}))
		Eventually(func() []v1alpha1.MemberStatus { return record().Status.Members }).Should(ContainElement(And(
			HaveField("Name", ns2+"/b"), HaveField("Applied", true), HaveField("Message", BeEmpty()))))
	})

	It("leaves the rules of a held member as they were while the others converge", func() {
		a := member(ns1, "a", "/a", nil)
		b := member(ns2, "b", "/b", nil)
		Expect(k8s.Create(ctx, a)).To(Succeed())
		Expect(k8s.Create(ctx, b)).To(Succeed())
		Eventually(rulePaths).WithArguments(group).Should(Equal([]string{"/a", "/b"}))
		Eventually(appliedMembers).Should(HaveLen(2))

		// A class that does not exist (yet): cloudlb holds b, neither serving nor releasing it.
		Eventually(update).WithArguments(b, func(i *networkingv1.Ingress) {
			i.Spec.IngressClassName = ptr.To("not-yet-" + ns2)
			i.Spec.Rules[0].HTTP.Paths[0].Path = "/b/new"
		}).Should(Succeed())
		Eventually(warningReasons).WithArguments(b).Should(ContainElement("LoadBalancerHeld"))
		Eventually(update).WithArguments(a, func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Path = "/a/new" }).Should(Succeed())
		Eventually(rulePaths).WithArguments(group).Should(Equal([]string{"/a/new", "/b"}))
		Consistently(rulePaths).WithArguments(group).Should(Equal([]string{"/a/new", "/b"}))
		Expect(get(b).Finalizers).To(ContainElement(cloud.Finalizer))
	})

	It("makes no cloud call for a converged group after a restart", func() {
		a := member(ns1, "a", "/a", nil)
		b := member(ns2, "b", "/b", nil)
		Expect(k8s.Create(ctx, a)).To(Succeed())
		Expect(k8s.Create(ctx, b)).To(Succeed())
		Eventually(appliedMembers).Should(HaveLen(2))
		Eventually(func() string {
			var r v1alpha1.LoadBalancer
			_ = mgr.GetClient().Get(ctx, client.ObjectKey{Name: group}, &r)
			return r.Status.AppliedHash
		}).ShouldNot(BeEmpty())
		expectAddress(a, group)
		expectAddress(b, group)
		// The targets reconciler keeps syncing on its own; the stack's reconciler must make no call.
		ensures, deletes := provider.CallCount(fake.MethodEnsure, group), provider.CallCount(fake.MethodDelete, group)

		// A fresh reconciler has no memory: everything it knows comes from the API server.
		r := &ingress.Reconciler{Client: mgr.GetClient(), Provider: provider, Recorder: mgr.GetEventRecorder("test"),
			ClusterName: clusterName, LegacyClass: "cloudlb"}
		for range 3 {
			_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKey{Name: group}})
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(provider.CallCount(fake.MethodEnsure, group)).To(Equal(ensures))
		Expect(provider.CallCount(fake.MethodDelete, group)).To(Equal(deletes))
	})
})
