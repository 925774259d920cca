package ingress_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/yaml"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/test"
)

// admissionLabel puts an object under the suite's validating webhooks; the suite's other specs create invalid
// Ingresses on purpose, to see what the reconciler does with them.
const admissionLabel = "cloudlb.io/admission-test"

// validatingWebhooks is the generated configuration, limited to labelled objects, and failing closed so that a
// webhook that does not answer fails the specs that expect an object admitted.
func validatingWebhooks() *admissionv1.ValidatingWebhookConfiguration {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(test.RepoRoot(), "config", "webhook", "manifests.yaml"))
	Expect(err).NotTo(HaveOccurred())
	objs, err := test.DecodeYAML(data)
	Expect(err).NotTo(HaveOccurred())
	for _, o := range objs {
		if o.GetKind() != "ValidatingWebhookConfiguration" {
			continue
		}
		raw, err := yaml.Marshal(o.Object)
		Expect(err).NotTo(HaveOccurred())
		cfg := &admissionv1.ValidatingWebhookConfiguration{}
		Expect(yaml.Unmarshal(raw, cfg)).To(Succeed())
		Expect(cfg.Webhooks).To(HaveLen(2))
		for i := range cfg.Webhooks {
			cfg.Webhooks[i].ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{admissionLabel: "true"}}
			cfg.Webhooks[i].FailurePolicy = ptr.To(admissionv1.Fail)
		}
		return cfg
	}
	Fail("no ValidatingWebhookConfiguration in config/webhook/manifests.yaml")
	return nil
}

// eventSuffix ends the Warning Event of a member left out; the rest of the note is the admission message.
const eventSuffix = "; the load balancer is left as it is"

var _ = Describe("Admission webhook", func() {
	var (
		ctx context.Context
		ns  string
	)

	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "adm-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
	})

	// ingressWith is an Ingress of our class with one path to web:80; checked puts it under the webhook.
	ingressWith := func(name string, checked bool, ann map[string]string) *networkingv1.Ingress {
		ing := newIngress(ns, name, ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		ing.Annotations = ann
		if checked {
			ing.Labels = map[string]string{admissionLabel: "true"}
		}
		return ing
	}
	// refused expects err to be the webhook's denial carrying msg.
	refused := func(err error, msg string) {
		GinkgoHelper()
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a denial expected, got %v", err)
		Expect(err.Error()).To(ContainSubstring(`admission webhook "ingress.validate.cloudlb.io" denied the request: ` + msg))
	}
	// eventMessage waits for the reconciler's Warning Event of reason on ing and returns it without its suffix.
	eventMessage := func(ing *networkingv1.Ingress, reason string) string {
		GinkgoHelper()
		Eventually(warningNotes).WithArguments(ing, reason).ShouldNot(BeEmpty())
		return strings.TrimSuffix(warningNotes(ing, reason)[0], eventSuffix)
	}

	It("refuses an invalid annotation at create and at update, with the Warning Event's message", func() {
		bad := map[string]string{annScheme: "sideways"}
		// The same Ingress outside the webhook: what the reconciler says of it.
		msg := eventMessage(createIngress(ingressWith("seen", false, bad)), "InvalidAnnotation")
		Expect(msg).To(ContainSubstring(annScheme))

		refused(k8s.Create(ctx, ingressWith("app", true, bad)), msg)
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, &networkingv1.Ingress{}))).To(BeTrue())

		app := createIngress(ingressWith("app", true, nil))
		expectAddress(app, ns+"/app")
		refused(update(app, func(i *networkingv1.Ingress) { i.Annotations = bad }), msg)
		Expect(get(app).Annotations).NotTo(HaveKey(annScheme))
	})

	It("refuses an unknown annotation under the served prefixes with the UnknownAnnotation event's message", func() {
		typo := map[string]string{"alb.ingress.kubernetes.io/shceme": "internal"}
		msg := eventMessage(createIngress(ingressWith("seen", false, typo)), "UnknownAnnotation")
		refused(k8s.Create(ctx, ingressWith("app", true, typo)), msg)
	})

	It("refuses a member whose group-wide settings conflict with the members already applied", func() {
		group := ns + "-g"
		first := createIngress(ingressWith("first", false, map[string]string{annGroupName: group, annScheme: "internet-facing"}))
		Eventually(func() bool {
			var r v1alpha1.LoadBalancer
			return k8s.Get(ctx, client.ObjectKey{Name: group}, &r) == nil && len(r.Status.Members) == 1 && r.Status.Members[0].Applied
		}).Should(BeTrue())

		err := k8s.Create(ctx, ingressWith("second", true, map[string]string{annGroupName: group, annScheme: "internal"}))
		refused(err, `annotation `+annScheme+` is "internal" here but "internet-facing" on member `+ns+`/first of the same group`)
		// Agreeing, or taking the group's value, is admitted.
		createIngress(ingressWith("second", true, map[string]string{annGroupName: group}))
		Expect(first).NotTo(BeNil())
	})

	It("refuses a load-balancer-name that another stack's record holds, as the reconciler does", func() {
		name := strings.ReplaceAll(ns, "adm-", "lb-")
		ask := map[string]string{"alb.ingress.kubernetes.io/load-balancer-name": name}
		createIngress(ingressWith("holder", false, ask))
		Eventually(func() string {
			var r v1alpha1.LoadBalancer
			_ = k8s.Get(ctx, client.ObjectKey{Name: ns + ".holder"}, &r)
			return r.Status.Name
		}).Should(Equal(name))

		// The reconciler refuses a second stack the name, without a cloud call for it.
		other := createIngress(ingressWith("other", false, ask))
		msg := eventMessage(other, "LoadBalancerNameTaken")
		Expect(msg).To(ContainSubstring("stack " + ns + "/holder"))
		Expect(provider.CallCount("Ensure", ns+"/other")).To(BeZero())

		refused(k8s.Create(ctx, ingressWith("app", true, ask)), msg)
	})

	It("refuses quota violations known without the cloud: rules past 100, tags past 50", func() {
		many := ingressWith("many", true, nil)
		for i := range 100 {
			many.Spec.Rules = append(many.Spec.Rules, rule(fmt.Sprintf("h%d.example.com", i), "/", networkingv1.PathTypePrefix, "web", 80))
		}
		refused(k8s.Create(ctx, many), "its 101 rules would take the group's load balancer to 101 rules, past the ALB quota of 100")
		many.Spec.Rules = many.Spec.Rules[:100]
		Expect(k8s.Create(ctx, many)).To(Succeed())

		var tags []string
		for i := range 48 {
			tags = append(tags, fmt.Sprintf("k%d=v", i))
		}
		err := k8s.Create(ctx, ingressWith("tagged", true, map[string]string{"alb.ingress.kubernetes.io/tags": strings.Join(tags, ",")}))
		refused(err, `annotation alb.ingress.kubernetes.io/tags="k0=v,`)
		Expect(err.Error()).To(HaveSuffix(`": has 48 tags, more than the 47 allowed`))
	})

	It("admits an Ingress whose backend Service is not there yet, which the reconciler reports", func() {
		early := ingressWith("early", true, nil)
		early.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = "later"
		Expect(k8s.Create(ctx, early)).To(Succeed())
		Eventually(warningReasons).WithArguments(early).Should(ContainElement("ServiceNotFound"))
	})

	It("admits an Ingress of another controller's class whatever its annotations", func() {
		ing := ingressWith("theirs", true, map[string]string{annScheme: "sideways", "alb.ingress.kubernetes.io/shceme": "x"})
		ing.Spec.IngressClassName = ptr.To("other")
		Expect(k8s.Create(ctx, ing)).To(Succeed())
	})

	It("never refuses a finalizer removal, a deletion, or an Ingress being deleted, while the cloud fails", func() {
		const hold = "example.com/hold"
		app := ingressWith("app", false, map[string]string{annScheme: "sideways"})
		app.Finalizers = []string{hold}
		createIngress(app)
		Eventually(func() []string { return get(app).Finalizers }).Should(ContainElement(cloud.Finalizer))
		// Put the invalid Ingress under the webhook: a label is not checked.
		Eventually(func() error {
			return update(app, func(i *networkingv1.Ingress) { i.Labels = map[string]string{admissionLabel: "true"} })
		}).Should(Succeed())
		// The webhook sees it: a spec change is refused.
		addPath := func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths = append(i.Spec.Rules[0].HTTP.Paths, path("/more", networkingv1.PathTypePrefix, "web", 80))
		}
		Eventually(func() error { return update(app, addPath) }).Should(Satisfy(apierrors.IsForbidden))

		failing := errors.New("injected: AWS is down")
		provider.Inject("Ensure", func(string) error { return failing })
		provider.Inject("Delete", func(string) error { return failing })
		DeferCleanup(func() { provider.Inject("Ensure", nil); provider.Inject("Delete", nil) })

		Eventually(func() error {
			return update(app, func(i *networkingv1.Ingress) { controllerutil.RemoveFinalizer(i, cloud.Finalizer) })
		}).Should(Succeed())
		Expect(k8s.Delete(ctx, app)).To(Succeed())
		Expect(get(app).DeletionTimestamp).NotTo(BeNil())
		// Being deleted: even a spec change passes.
		Eventually(func() error { return update(app, addPath) }).Should(Succeed())
		Eventually(func() error { return update(app, func(i *networkingv1.Ingress) { i.Finalizers = nil }) }).Should(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(app), &networkingv1.Ingress{}))
		}).Should(BeTrue())
	})

	It("refuses an IngressClassParams with an invalid value, naming the class that uses it", func() {
		params := func(name string, cidrs ...string) *elbv2.IngressClassParams {
			return &elbv2.IngressClassParams{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{admissionLabel: "true"}},
				Spec: elbv2.IngressClassParamsSpec{InboundCIDRs: cidrs}}
		}
		class := ingressClass(ns, "cloudlb.io/alb", false)
		class.Spec.Parameters = &networkingv1.IngressClassParametersReference{APIGroup: ptr.To("elbv2.k8s.aws"), Kind: "IngressClassParams", Name: ns}
		Expect(k8s.Create(ctx, class)).To(Succeed())
		DeferCleanup(func() { Expect(k8s.Delete(context.Background(), class)).To(Succeed()) })

		err := k8s.Create(ctx, params(ns, "10.0.0.0/8", "not-a-cidr"))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a denial expected, got %v", err)
		Expect(err.Error()).To(ContainSubstring(`admission webhook "ingressclassparams.validate.cloudlb.io" denied the request: ` +
			`IngressClass ` + ns + `: IngressClassParams ` + ns + ` spec.inboundCIDRs: "not-a-cidr" is not a CIDR`))

		valid := params(ns, "10.0.0.0/8")
		Expect(k8s.Create(ctx, valid)).To(Succeed())
		DeferCleanup(func() { Expect(k8s.Delete(context.Background(), valid)).To(Succeed()) })
	})
})

func createIngress(ing *networkingv1.Ingress) *networkingv1.Ingress {
	GinkgoHelper()
	Expect(k8s.Create(context.Background(), ing)).To(Succeed())
	return ing
}
