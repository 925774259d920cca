package ingress_test

import (
	"context"
	"errors"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

// indexedOnly refuses to list Ingresses but through an index: an event must not read every Ingress of the cluster.
type indexedOnly struct{ client.Client }

func (c indexedOnly) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*networkingv1.IngressList); ok {
		lo := (&client.ListOptions{}).ApplyOptions(opts)
		if lo.FieldSelector == nil || lo.FieldSelector.Empty() {
			return errors.New("listed Ingresses without an index")
		}
	}
	return c.Client.List(ctx, list, opts...)
}

// secretGets counts the Secrets read from the API server.
type secretGets struct {
	client.Reader
	n atomic.Int32
}

func (r *secretGets) Get(ctx context.Context, key client.ObjectKey, o client.Object, opts ...client.GetOption) error {
	if _, ok := o.(*corev1.Secret); ok {
		r.n.Add(1)
	}
	return r.Reader.Get(ctx, key, o, opts...)
}

const oidcAnnotation = `{"issuer":"https://idp.example.com","authorizationEndpoint":"https://idp.example.com/a",` +
	`"tokenEndpoint":"https://idp.example.com/t","userInfoEndpoint":"https://idp.example.com/u","secretName":"oidc"}`

var _ = Describe("Event maps and Secret reads", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ev-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
	})
	stack := func(name string) reconcile.Request {
		return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}
	}
	create := func(objs ...client.Object) {
		GinkgoHelper()
		for _, o := range objs {
			Expect(k8s.Create(ctx, o)).To(Succeed())
		}
	}

	It("reads an OIDC Secret from the API server once per version, not on every reconcile", func() {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "oidc"},
			Data: map[string][]byte{"clientID": []byte("id"), "clientSecret": []byte("s1"), "unrelated": []byte("x")}}
		create(secret)
		ing := newIngress(ns, "app", ptr.To("other"))
		ing.Annotations = map[string]string{"alb.ingress.kubernetes.io/auth-idp-oidc": oidcAnnotation}
		reader := &secretGets{Reader: k8s}
		r := &ingress.Reconciler{Client: mgr.GetClient(), APIReader: reader}
		key := client.ObjectKeyFromObject(secret)
		cachedVersion := func() string {
			m := &metav1.PartialObjectMetadata{}
			m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
			if err := mgr.GetClient().Get(ctx, key, m); err != nil {
				return ""
			}
			return m.ResourceVersion
		}
		Eventually(cachedVersion).Should(Equal(secret.ResourceVersion))

		for range 5 {
			got, err := r.ReadSecrets(ctx, ing)
			Expect(err).NotTo(HaveOccurred())
			Expect(got[key].Data).To(Equal(map[string][]byte{"clientID": []byte("id"), "clientSecret": []byte("s1")}))
		}
		Expect(reader.n.Load()).To(BeEquivalentTo(1))

		secret.Data["clientSecret"] = []byte("s2")
		Expect(k8s.Update(ctx, secret)).To(Succeed())
		Eventually(cachedVersion).Should(Equal(secret.ResourceVersion))
		for range 3 {
			got, err := r.ReadSecrets(ctx, ing)
			Expect(err).NotTo(HaveOccurred())
			Expect(got[key].Data["clientSecret"]).To(Equal([]byte("s2")))
		}
		Expect(reader.n.Load()).To(BeEquivalentTo(2))

		Expect(k8s.Delete(ctx, secret)).To(Succeed())
		Eventually(cachedVersion).Should(BeEmpty())
		got, err := r.ReadSecrets(ctx, ing)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(BeEmpty())
	})

	It("maps a Secret, an IngressClass or an IngressClassParams to the stacks naming it, through indexes", func() {
		r := &ingress.Reconciler{Client: indexedOnly{mgr.GetClient()}, LegacyClass: "cloudlb"}
		classA := ingressClass(ns+"-a", "example.com/ev", false)
		classP := ingressClass(ns+"-p", "example.com/ev", false)
		classP.Spec.Parameters = &networkingv1.IngressClassParametersReference{APIGroup: ptr.To(elbv2.GroupVersion.Group),
			Kind: "IngressClassParams", Name: ns}
		authed := service(ns, "authed", 80)
		authed.Annotations = map[string]string{"alb.ingress.kubernetes.io/auth-idp-oidc": oidcAnnotation}
		create(classA, classP, service(ns, "web", 80), authed)

		web := rule("", "/", networkingv1.PathTypePrefix, "web", 80)
		legacy := newIngress(ns, "legacy", ptr.To(classA.Name), web)
		legacy.Annotations = map[string]string{"kubernetes.io/ingress.class": classA.Name}
		ownSecret := newIngress(ns, "own-secret", ptr.To("other"), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		ownSecret.Annotations = map[string]string{"alb.ingress.kubernetes.io/auth-idp-oidc": oidcAnnotation}
		create(newIngress(ns, "a", ptr.To(classA.Name), web), legacy, newIngress(ns, "p", ptr.To(classP.Name), web), newIngress(ns, "none", nil, web),
			ownSecret, newIngress(ns, "svc-secret", ptr.To("other"), rule("", "/", networkingv1.PathTypePrefix, "authed", 80)),
			newIngress(ns, "plain", ptr.To("other"), web))

		Eventually(func() []reconcile.Request { return r.StacksOfClass(ctx, classA) }).Should(ConsistOf(stack("a"), stack("legacy")))
		// A default class may serve every Ingress that names none.
		Eventually(func() []reconcile.Request { return r.StacksOfClass(ctx, ingressClass(ns+"-d", "example.com/ev", true)) }).
			Should(ContainElement(stack("none")))
		Expect(r.StacksOfClass(ctx, ingressClass(ns+"-d", "example.com/ev", true))).NotTo(ContainElements(stack("a"), stack("plain")))

		params := &elbv2.IngressClassParams{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		Eventually(func() []reconcile.Request { return r.StacksOfParams(ctx, params) }).Should(ConsistOf(stack("p")))

		secret := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "oidc"}}
		Eventually(func() []reconcile.Request { return r.StacksOfSecret(ctx, secret) }).Should(ConsistOf(stack("own-secret"), stack("svc-secret")))
	})
})
