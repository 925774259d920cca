package ingress_test

import (
	"context"

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
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

var _ = Describe("create-acm-cert", func() {
	var (
		ctx context.Context
		ns  string
	)

	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "acm-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
	})

	certificates := func(name string) []v1alpha1.CertificateStatus {
		rec := &v1alpha1.LoadBalancer{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: ns + "." + name}, rec); err != nil {
			return nil
		}
		return rec.Status.Certificates
	}
	normalNotes := func(ing *networkingv1.Ingress, reason string) []string {
		var out []string
		for _, e := range events(ing) {
			if e.Type == corev1.EventTypeNormal && e.Reason == reason {
				out = append(out, e.Note)
			}
		}
		return out
	}
	reconcileNow := func(ing *networkingv1.Ingress) {
		GinkgoHelper()
		r := &ingress.Reconciler{Client: mgr.GetClient(), Provider: provider, Recorder: mgr.GetEventRecorder("cloudlb"),
			ClusterName: clusterName, LegacyClass: "cloudlb"}
		_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ing)})
		Expect(err).NotTo(HaveOccurred())
	}

	It("shows the validation records, attaches the certificate once issued, replaces it on a host change and deletes it with the Ingress", func() {
		ing := newIngress(ns, "shop", ptr.To(ourClass), rule("shop.example.com", "/", networkingv1.PathTypePrefix, "web", 80))
		ing.Annotations = map[string]string{"alb.ingress.kubernetes.io/create-acm-cert": "true"}
		Expect(k8s.Create(ctx, ing)).To(Succeed())

		Eventually(certificates).WithArguments("shop").Should(ConsistOf(And(
			HaveField("Hosts", []string{"shop.example.com"}), HaveField("State", "PENDING_VALIDATION"),
			HaveField("ValidationRecords", ConsistOf(v1alpha1.DNSRecord{Name: "_v.shop.example.com.", Type: "CNAME", Value: "_v.acm-validations.aws."})))))
		Eventually(func() string {
			rec := &v1alpha1.LoadBalancer{}
			if err := k8s.Get(ctx, client.ObjectKey{Name: ns + ".shop"}, rec); err != nil {
				return ""
			}
			if c := meta.FindStatusCondition(rec.Status.Conditions, "Ready"); c != nil {
				return c.Reason
			}
			return ""
		}).Should(Equal("CertificatePendingValidation"))
		Eventually(normalNotes).WithArguments(ing, "CertificatePendingValidation").Should(ContainElement(
			And(ContainSubstring("shop.example.com"), ContainSubstring("_v.shop.example.com. CNAME _v.acm-validations.aws."))))
		stack := ns + "/shop"
		lb := provider.LoadBalancer(stack)
		Expect(lb.Listeners).To(HaveLen(1))
		Expect(lb.Listeners[0].Protocol).To(Equal(cloud.ProtocolHTTPS), "create-acm-cert makes HTTPS:443 the default")
		Expect(lb.Listeners[0].CreateCertificates).To(Equal([]cloud.CertificateRequest{{Hosts: []string{"shop.example.com"}}}))
		first := provider.Certificates(stack)
		Expect(first).To(HaveLen(1))

		provider.IssueCertificates()
		reconcileNow(ing)
		Expect(certificates("shop")).To(ConsistOf(And(HaveField("State", "ISSUED"), HaveField("ValidationRecords", BeEmpty()))))

		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ing), ing)).To(Succeed())
		ing.Spec.Rules = append(ing.Spec.Rules, rule("www.example.com", "/", networkingv1.PathTypePrefix, "web", 80))
		Expect(k8s.Update(ctx, ing)).To(Succeed())
		Eventually(certificates).WithArguments("shop").Should(ConsistOf(And(
			HaveField("Hosts", []string{"shop.example.com", "www.example.com"}), HaveField("State", "PENDING_VALIDATION"))))
		Expect(provider.Certificates(stack)).To(HaveLen(2), "the old certificate stays until the new one is issued")
		provider.IssueCertificates()
		reconcileNow(ing)
		Expect(provider.Certificates(stack)).To(HaveLen(1))
		Expect(provider.Certificates(stack)).NotTo(ContainElement(first[0]))

		Expect(k8s.Delete(ctx, ing)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(ing), &networkingv1.Ingress{}))
		}).Should(BeTrue())
		Expect(provider.Certificates(stack)).To(BeEmpty())
	})

	It("refuses an invalid value with a Warning naming the annotation", func() {
		ing := newIngress(ns, "bad", ptr.To(ourClass), rule("shop.example.com", "/", networkingv1.PathTypePrefix, "web", 80))
		ing.Annotations = map[string]string{"alb.ingress.kubernetes.io/create-acm-cert": "true",
			"alb.ingress.kubernetes.io/acm-pca-arn": "arn:aws:acm:us-east-1:123456789012:certificate/x"}
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(func() []string {
			var out []string
			for _, e := range events(ing) {
				if e.Type == corev1.EventTypeWarning {
					out = append(out, e.Note)
				}
			}
			return out
		}).Should(ContainElement(ContainSubstring("alb.ingress.kubernetes.io/acm-pca-arn")))
		Expect(provider.LoadBalancer(ns + "/bad")).To(BeNil())
	})
})
