package ingress_test

import (
	"context"
	"errors"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

var _ = Describe("IngressClassParams group.name", func() {
	var (
		ctx      context.Context
		ns1, ns2 string
		class    *networkingv1.IngressClass
		params   *elbv2.IngressClassParams
		a, b     *networkingv1.Ingress
	)
	readyReason := func(stack string) string {
		var r v1alpha1.LoadBalancer
		if err := k8s.Get(ctx, client.ObjectKey{Name: stack}, &r); err != nil {
			return err.Error()
		}
		if c := meta.FindStatusCondition(r.Status.Conditions, "Ready"); c != nil {
			return c.Reason
		}
		return ""
	}

	BeforeEach(func() {
		ctx = context.Background()
		for _, p := range []*string{&ns1, &ns2} {
			n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "cgrp-"}}
			Expect(k8s.Create(ctx, n)).To(Succeed())
			*p = n.Name
			Expect(k8s.Create(ctx, service(n.Name, "web", 80))).To(Succeed())
		}
		if ns2 < ns1 {
			ns1, ns2 = ns2, ns1
		}
		params = &elbv2.IngressClassParams{ObjectMeta: metav1.ObjectMeta{Name: "grp-" + ns1},
			Spec: elbv2.IngressClassParamsSpec{Group: &elbv2.IngressGroup{Name: ns1 + "-one"}}}
		Expect(k8s.Create(ctx, params)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, params))).To(Succeed()) })
		class = ingressClass("grp-"+ns1, ingress.ControllerName, false)
		class.Spec.Parameters = &networkingv1.IngressClassParametersReference{APIGroup: ptr.To("elbv2.k8s.aws"),
			Kind: "IngressClassParams", Name: params.Name}
		Expect(k8s.Create(ctx, class)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, class))).To(Succeed()) })

		a = newIngress(ns1, "a", ptr.To(class.Name), rule("", "/a", networkingv1.PathTypePrefix, "web", 80))
		// The class's group wins over the Ingress's own, with a Warning.
		a.Annotations = map[string]string{annGroupName: ns1 + "-mine"}
		b = newIngress(ns2, "b", ptr.To(class.Name), rule("", "/b", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Create(ctx, a)).To(Succeed())
		Expect(k8s.Create(ctx, b)).To(Succeed())
	})

	It("serves every Ingress of the class from one load balancer, and moves them when the group changes", func() {
		one, two := ns1+"-one", ns1+"-two"
		Eventually(rulePaths).WithArguments(one).Should(Equal([]string{"/a", "/b"}))
		expectAddress(a, one)
		expectAddress(b, one)
		for _, stack := range []string{ns1 + "-mine", ns1 + "/a", ns2 + "/b"} {
			Expect(provider.LoadBalancer(stack)).To(BeNil(), stack)
		}
		Eventually(warningNotes).WithArguments(a, "OverriddenByIngressClass").Should(ContainElement(
			`annotation alb.ingress.kubernetes.io/group.name="` + ns1 + `-mine" is overridden by IngressClass ` + class.Name +
				`: IngressClassParams ` + params.Name + ` sets spec.group.name`))

		By("changing the class's group: both members move, and the old group, left empty, is deleted")
		Eventually(func() error {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(params), params); err != nil {
				return err
			}
			params.Spec.Group.Name = two
			return k8s.Update(ctx, params)
		}).Should(Succeed())
		Eventually(rulePaths).WithArguments(two).Should(Equal([]string{"/a", "/b"}))
		Eventually(func() *cloud.LoadBalancer { return provider.LoadBalancer(one) }).Should(BeNil())
		Eventually(hostname).WithArguments(a).Should(Equal(dnsNameOf(two)))
		Eventually(hostname).WithArguments(b).Should(Equal(dnsNameOf(two)))
		Expect(get(a).Finalizers).To(ContainElement(cloud.Finalizer))

		By("removing the group: each Ingress goes by its own annotation again")
		Eventually(func() error {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(params), params); err != nil {
				return err
			}
			params.Spec.Group = nil
			return k8s.Update(ctx, params)
		}).Should(Succeed())
		Eventually(rulePaths).WithArguments(ns1 + "-mine").Should(Equal([]string{"/a"}))
		Eventually(rulePaths).WithArguments(ns2 + "/b").Should(Equal([]string{"/b"}))
		Eventually(func() *cloud.LoadBalancer { return provider.LoadBalancer(two) }).Should(BeNil())
	})

	It("keeps a moving member's rules where they were until its new group serves it", func() {
		one, two := ns1+"-one", ns1+"-two"
		Eventually(rulePaths).WithArguments(one).Should(Equal([]string{"/a", "/b"}))
		provider.Inject(fake.MethodEnsure, func(stack string) error {
			if stack == two {
				return errors.New("injected: the new group cannot be applied yet")
			}
			return nil
		})
		DeferCleanup(func() { provider.Inject(fake.MethodEnsure, nil) })

		Eventually(func() error {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(params), params); err != nil {
				return err
			}
			params.Spec.Group.Name = two
			return k8s.Update(ctx, params)
		}).Should(Succeed())
		Eventually(provider.CallCount).WithArguments(fake.MethodEnsure, two).ShouldNot(BeZero())
		Consistently(rulePaths).WithArguments(one).Should(Equal([]string{"/a", "/b"}))
		Expect(provider.CallCount(fake.MethodDelete, one)).To(BeZero())
		Expect(hostname(b)).To(Equal(dnsNameOf(one)))

		provider.Inject(fake.MethodEnsure, nil)
		Eventually(rulePaths).WithArguments(two).Should(Equal([]string{"/a", "/b"}))
		Eventually(func() *cloud.LoadBalancer { return provider.LoadBalancer(one) }).Should(BeNil())
		Eventually(hostname).WithArguments(b).Should(Equal(dnsNameOf(two)))
	})

	It("holds the group's load balancer when the params or the class are deleted", func() {
		one := ns1 + "-one"
		Eventually(rulePaths).WithArguments(one).Should(Equal([]string{"/a", "/b"}))
		expectAddress(b, one)
		before := provider.LoadBalancer(one)

		Expect(k8s.Delete(ctx, params)).To(Succeed())
		Expect(update(b, func(i *networkingv1.Ingress) { i.Labels = map[string]string{"poke": "1"} })).To(Succeed())
		// Both members are left out as last applied, in the group's stack: no member leaves it empty.
		Eventually(readyReason).WithArguments(one).Should(Equal("MembersLeftOut"))
		Expect(provider.LoadBalancer(one)).To(Equal(before))

		Expect(k8s.Delete(ctx, class)).To(Succeed())
		Eventually(warningNotes).WithArguments(b, "LoadBalancerHeld").ShouldNot(BeEmpty())
		Consistently(provider.CallCount).WithArguments(fake.MethodDelete, one).Should(BeZero())
		Expect(provider.LoadBalancer(one)).To(Equal(before))
		for _, stack := range []string{ns1 + "-mine", ns1 + "/a", ns2 + "/b"} {
			Expect(provider.CallCount(fake.MethodEnsure, stack)).To(BeZero(), stack)
		}
		Expect(hostname(a)).To(Equal(dnsNameOf(one)))
	})
})
