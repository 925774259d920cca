package ingress_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
)

var _ = Describe("Authentication", func() {
	var (
		ctx context.Context
		ns  string
	)
	const (
		firstSecret  = "first-Cl1ent-S3cret-value"
		secondSecret = "second-Cl1ent-S3cret-value"
	)

	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
	})

	// httpsAuth is the authentication of the HTTPS listener's one rule, nil when there is none.
	httpsAuth := func(stack string) *cloud.Authenticate {
		lb := provider.LoadBalancer(stack)
		if lb == nil {
			return nil
		}
		for _, l := range lb.Listeners {
			if l.Protocol == cloud.ProtocolHTTPS && len(l.Rules) == 1 {
				return l.Rules[0].Action.Authenticate
			}
		}
		return nil
	}

	It("reads the OIDC Secret by name, follows its changes, refuses without it, and never shows the secret", func() {
		stack := ns + "/app"
		Expect(k8s.Create(ctx, service(ns, "web", 80))).To(Succeed())
		ing := newIngress(ns, "app", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		ing.Annotations = map[string]string{
			"alb.ingress.kubernetes.io/listen-ports":    `[{"HTTPS": 443}]`,
			"alb.ingress.kubernetes.io/certificate-arn": "arn:aws:acm:us-east-1:1:certificate/x",
			"alb.ingress.kubernetes.io/auth-type":       "oidc",
			"alb.ingress.kubernetes.io/auth-idp-oidc": `{"issuer":"https://idp.example.com","authorizationEndpoint":"https://idp.example.com/a",` +
				`"tokenEndpoint":"https://idp.example.com/t","userInfoEndpoint":"https://idp.example.com/u","secretName":"oidc"}`,
		}
		Expect(k8s.Create(ctx, ing)).To(Succeed())

		By("without its Secret, the Ingress gets a Warning and no load balancer")
		Eventually(warningNotes).WithArguments(ing, "SecretNotFound").Should(ContainElement(ContainSubstring("Secret " + ns + "/oidc")))
		Expect(provider.CallCount(fake.MethodEnsure, stack)).To(BeZero())

		By("the Secret's creation reconciles the Ingress")
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "oidc"},
			Data: map[string][]byte{"clientID": []byte("client-1"), "clientSecret": []byte(firstSecret)}}
		Expect(k8s.Create(ctx, secret)).To(Succeed())
		Eventually(httpsAuth).WithArguments(stack).ShouldNot(BeNil())
		Expect(httpsAuth(stack).ClientID).To(Equal("client-1"))
		Expect(httpsAuth(stack).ClientSecretHash).To(Equal(cloud.ClientSecretHash(firstSecret)))
		Expect(provider.LoadBalancer(stack).ClientSecrets).To(HaveKeyWithValue(cloud.ClientSecretHash(firstSecret), firstSecret))

		By("a change to the Secret reaches the rules")
		secret.Data["clientSecret"] = []byte(secondSecret)
		Expect(k8s.Update(ctx, secret)).To(Succeed())
		Eventually(func() string { return ptr.Deref(httpsAuth(stack), cloud.Authenticate{}).ClientSecretHash }).
			Should(Equal(cloud.ClientSecretHash(secondSecret)))
		Eventually(func() map[string]bool { return provider.LoadBalancer(stack).AppliedClientSecrets }).
			Should(HaveKey(cloud.ClientSecretHash(firstSecret)), "the secret applied before is known to the provider")

		By("a deleted Secret keeps the authenticated rules as they were applied")
		ensures := provider.CallCount(fake.MethodEnsure, stack)
		Expect(k8s.Delete(ctx, secret)).To(Succeed())
		Eventually(func() int { return len(warningNotes(ing, "SecretNotFound")) }).Should(BeNumerically(">=", 2))
		Expect(provider.CallCount(fake.MethodEnsure, stack)).To(Equal(ensures))
		Expect(httpsAuth(stack).ClientSecretHash).To(Equal(cloud.ClientSecretHash(secondSecret)))

		By("neither logs, Events nor the record hold the secret")
		var record v1alpha1.LoadBalancer
		Expect(k8s.Get(ctx, client.ObjectKey{Name: ns + ".app"}, &record)).To(Succeed())
		Expect(record.Status.Members).NotTo(BeEmpty())
		recordJSON, err := json.Marshal(record)
		Expect(err).NotTo(HaveOccurred())
		eventsJSON, err := json.Marshal(events(ing))
		Expect(err).NotTo(HaveOccurred())
		logs := controllerLogs.String()
		Expect(logs).To(ContainSubstring(ns), "the logs cover this reconcile")
		for _, s := range []string{firstSecret, secondSecret} {
			for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s))} {
				Expect(strings.Contains(string(recordJSON), form)).To(BeFalse(), "record")
				Expect(strings.Contains(string(eventsJSON), form)).To(BeFalse(), "events")
				Expect(strings.Contains(logs, form)).To(BeFalse(), "logs")
			}
		}
	})

	It("authenticates the rules of a backend whose Service asks for it", func() {
		stack := ns + "/app"
		svc := service(ns, "web", 80)
		svc.Annotations = map[string]string{
			"alb.ingress.kubernetes.io/auth-type": "cognito",
			"alb.ingress.kubernetes.io/auth-idp-cognito": `{"userPoolARN":"arn:aws:cognito-idp:us-east-1:1:userpool/p",` +
				`"userPoolClientID":"cid","userPoolDomain":"dom"}`,
		}
		Expect(k8s.Create(ctx, svc)).To(Succeed())
		ing := newIngress(ns, "app", ptr.To(ourClass), rule("", "/", networkingv1.PathTypePrefix, "web", 80))
		ing.Annotations = map[string]string{
			"alb.ingress.kubernetes.io/listen-ports":    `[{"HTTPS": 443}]`,
			"alb.ingress.kubernetes.io/certificate-arn": "arn:aws:acm:us-east-1:1:certificate/x",
		}
		Expect(k8s.Create(ctx, ing)).To(Succeed())
		Eventually(httpsAuth).WithArguments(stack).ShouldNot(BeNil())
		Expect(httpsAuth(stack).UserPoolClientID).To(Equal("cid"))
	})
})
