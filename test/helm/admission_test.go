package helm_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var _ = Describe("The chart's validating webhooks", func() {
	webhooks := func(objs []*unstructured.Unstructured) admissionv1.ValidatingWebhookConfiguration {
		GinkgoHelper()
		var cfg admissionv1.ValidatingWebhookConfiguration
		one(objs, "ValidatingWebhookConfiguration", &cfg)
		Expect(cfg.Webhooks).To(HaveLen(2))
		return cfg
	}

	It("ignore failures by default, and check only creates and updates of Ingresses and IngressClassParams", func() {
		cfg := webhooks(render(install, "--set", "webhook.enabled=true"))
		Expect(cfg.Webhooks[0].Rules).To(ConsistOf(HaveField("Rule", admissionv1.Rule{
			APIGroups: []string{"networking.k8s.io"}, APIVersions: []string{"v1"}, Resources: []string{"ingresses"}})))
		Expect(cfg.Webhooks[1].Rules).To(ConsistOf(HaveField("Rule", admissionv1.Rule{
			APIGroups: []string{"elbv2.k8s.aws"}, APIVersions: []string{"v1beta1"}, Resources: []string{"ingressclassparams"}})))
		for _, w := range cfg.Webhooks {
			Expect(*w.FailurePolicy).To(Equal(admissionv1.Ignore))
			Expect(*w.TimeoutSeconds).To(BeEquivalentTo(5))
			Expect(w.Rules[0].Operations).To(ConsistOf(admissionv1.Create, admissionv1.Update))
		}
		Expect(kinds(render(install, "--set", "webhook.enabled=true", "--set", "webhook.validating.enabled=false"))).
			NotTo(ContainElement("ValidatingWebhookConfiguration"))
		_, err := template(install, "--set", "webhook.enabled=true", "--set", "webhook.validating.failurePolicy=Never")
		Expect(err).To(MatchError(ContainSubstring("at '/webhook/validating/failurePolicy'")))
	})

	It("with failurePolicy Fail and no replica answering, still let finalizers go and Ingresses be deleted", func() {
		ctx := context.Background()
		// Made before the webhook exists: afterwards nothing can be created, since nothing answers.
		ing := createIngress(ctx)
		ing = get(ctx, ing)
		ing.Finalizers = []string{"example.com/hold"}
		Expect(k8s.Update(ctx, ing)).To(Succeed())

		objs := render(install, "--set", "webhook.enabled=true", "--set", "webhook.validating.failurePolicy=Fail",
			"--set", "webhook.validating.timeoutSeconds=2")
		cfg := webhooks(objs)
		for _, w := range cfg.Webhooks {
			Expect(*w.FailurePolicy).To(Equal(admissionv1.Fail))
			Expect(*w.TimeoutSeconds).To(BeEquivalentTo(2))
		}
		apply(objs)

		// The webhook is called, and fails closed, for a change of the spec.
		addPath := func(i *networkingv1.Ingress) {
			p := i.Spec.Rules[0].HTTP.Paths[0]
			p.Path = "/more"
			i.Spec.Rules[0].HTTP.Paths = append(i.Spec.Rules[0].HTTP.Paths, p)
		}
		Eventually(func() error { return change(ctx, ing, addPath) }).Should(MatchError(ContainSubstring("ingress.validate.cloudlb.io")))
		// It is not called for what it never refuses.
		Expect(change(ctx, ing, func(i *networkingv1.Ingress) { i.Labels = map[string]string{"team": "a"} })).To(Succeed())
		Expect(change(ctx, ing, func(i *networkingv1.Ingress) { i.Finalizers = append(i.Finalizers, "example.com/second") })).To(Succeed())
		Expect(change(ctx, ing, func(i *networkingv1.Ingress) { i.Finalizers = i.Finalizers[:1] })).To(Succeed())
		Expect(k8s.Delete(ctx, ing)).To(Succeed())
		Expect(change(ctx, ing, addPath)).To(Succeed(), "an Ingress being deleted is not checked")
		Expect(change(ctx, ing, func(i *networkingv1.Ingress) { i.Finalizers = nil })).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(ing), ing.DeepCopy()))
		}).Should(BeTrue())
	})
})

// change updates the stored Ingress with mutate.
func change(ctx context.Context, ing *networkingv1.Ingress, mutate func(*networkingv1.Ingress)) error {
	cur := &networkingv1.Ingress{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(ing), cur); err != nil {
		return err
	}
	mutate(cur)
	return k8s.Update(ctx, cur)
}
