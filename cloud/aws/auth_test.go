package aws_test

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go/middleware"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

// sentActions records the actions of every CreateRule and ModifyRule request, as sent: AWS never returns a
// client secret, so only the request shows that it was sent.
type sentActions struct {
	mu      sync.Mutex
	creates [][]elbv2types.Action
	modify  [][]elbv2types.Action
}

func (s *sentActions) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("test/sent-actions",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			s.mu.Lock()
			switch v := in.Parameters.(type) {
			case *elbv2.CreateRuleInput:
				s.creates = append(s.creates, v.Actions)
			case *elbv2.ModifyRuleInput:
				s.modify = append(s.modify, v.Actions)
			}
			s.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}

func (s *sentActions) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creates, s.modify = nil, nil
}

func oidcAuth(clientID, secret string) *cloud.Authenticate {
	return &cloud.Authenticate{Type: cloud.AuthOIDC, Issuer: "https://idp.example.com", AuthorizationEndpoint: "https://idp.example.com/auth",
		TokenEndpoint: "https://idp.example.com/token", UserInfoEndpoint: "https://idp.example.com/userinfo", ClientID: clientID,
		ClientSecretHash: cloud.ClientSecretHash(secret), OnUnauthenticatedRequest: "authenticate", Scope: "openid",
		SessionCookie: "AWSELBAuthSessionCookie", SessionTimeout: 604800}
}

// authModel is model(stack, "/a", "/b") with an HTTPS listener whose rules authenticate with au; its HTTP
// listener keeps plain rules.
func authModel(stack, cert string, au *cloud.Authenticate, secrets cloud.ClientSecrets, applied ...string) *cloud.LoadBalancer {
	lb := withHTTPS(model(stack, "/a", "/b"), cert)
	https := &lb.Listeners[1]
	https.Rules = append([]cloud.Rule(nil), https.Rules...)
	for i := range https.Rules {
		https.Rules[i].Action.Authenticate = au
	}
	lb.ClientSecrets = secrets
	lb.AppliedClientSecrets = map[string]bool{}
	for _, h := range applied {
		lb.AppliedClientSecrets[h] = true
	}
	return lb
}

var _ = Describe("Authentication", func() {
	var (
		ctx     context.Context
		counter *test.CallCounter
		sent    *sentActions
		p       *cloudaws.Provider
		cert    string
	)
	const stack = "default/web"

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		sent = &sentActions{}
		p = newProvider(cluster, counter, func(o *cloudaws.Options) { o.APIOptions = append(o.APIOptions, sent.middleware) })
		cert = issueCertificate("www.example.com")
	})

	ensure := func(lb *cloud.LoadBalancer) {
		GinkgoHelper()
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
	}

	It("authenticates with OIDC before forwarding, sends the client secret, and rewrites the rules only when it changes", func() {
		h1 := cloud.ClientSecretHash("first-secret")
		ensure(authModel(stack, cert, oidcAuth("client-1", "first-secret"), cloud.ClientSecrets{h1: "first-secret"}))

		rules := sortedRules(*listenerOn(stack, 443).ListenerArn)
		Expect(rules).To(HaveLen(2))
		for _, r := range rules {
			Expect(r.Actions).To(HaveLen(2))
			Expect(r.Actions[0].Type).To(Equal(elbv2types.ActionTypeEnumAuthenticateOidc))
			Expect(aws.ToInt32(r.Actions[0].Order)).To(Equal(int32(1)))
			Expect(aws.ToString(r.Actions[0].AuthenticateOidcConfig.ClientId)).To(Equal("client-1"))
			Expect(aws.ToString(r.Actions[0].AuthenticateOidcConfig.Issuer)).To(Equal("https://idp.example.com"))
			Expect(r.Actions[1].Type).To(Equal(elbv2types.ActionTypeEnumForward))
			Expect(aws.ToInt32(r.Actions[1].Order)).To(Equal(int32(2)))
		}
		for _, r := range sortedRules(*listenerOn(stack, 80).ListenerArn) {
			Expect(r.Actions).To(HaveLen(1), "the HTTP listener's rules of the model have no authentication")
		}
		var withSecret int
		for _, acts := range sent.creates {
			if acts[0].AuthenticateOidcConfig != nil {
				Expect(aws.ToString(acts[0].AuthenticateOidcConfig.ClientSecret)).To(Equal("first-secret"))
				withSecret++
			}
		}
		Expect(withSecret).To(Equal(2))

		By("an unchanged secret, applied, makes no call")
		counter.Reset()
		ensure(authModel(stack, cert, oidcAuth("client-1", "first-secret"), cloud.ClientSecrets{h1: "first-secret"}, h1))
		Expect(counter.Mutating()).To(BeEmpty())

		By("a changed secret modifies each rule that holds it, once")
		h2 := cloud.ClientSecretHash("second-secret")
		counter.Reset()
		sent.reset()
		ensure(authModel(stack, cert, oidcAuth("client-1", "second-secret"), cloud.ClientSecrets{h2: "second-secret"}, h1))
		Expect(counter.Mutating()).To(ConsistOf("ModifyRule", "ModifyRule"))
		Expect(sent.modify).To(HaveLen(2))
		for _, acts := range sent.modify {
			Expect(aws.ToString(acts[0].AuthenticateOidcConfig.ClientSecret)).To(Equal("second-secret"))
		}

		By("once applied, it makes no call again")
		counter.Reset()
		ensure(authModel(stack, cert, oidcAuth("client-1", "second-secret"), cloud.ClientSecrets{h2: "second-secret"}, h2))
		Expect(counter.Mutating()).To(BeEmpty())

		By("a changed client ID is seen in the rules themselves")
		counter.Reset()
		ensure(authModel(stack, cert, oidcAuth("client-2", "second-secret"), cloud.ClientSecrets{h2: "second-secret"}, h2))
		Expect(counter.Mutating()).To(ConsistOf("ModifyRule", "ModifyRule"))
		Expect(aws.ToString(sortedRules(*listenerOn(stack, 443).ListenerArn)[0].Actions[0].AuthenticateOidcConfig.ClientId)).To(Equal("client-2"))
	})

	It("keeps the secret AWS has when the model's secret is not at hand", func() {
		h1 := cloud.ClientSecretHash("first-secret")
		ensure(authModel(stack, cert, oidcAuth("client-1", "first-secret"), cloud.ClientSecrets{h1: "first-secret"}))
		sent.reset()
		// A kept member whose Secret is gone, on a rule that must be rewritten for another reason (its scope).
		au := oidcAuth("client-1", "first-secret")
		au.Scope = "openid email"
		ensure(authModel(stack, cert, au, nil, h1))
		Expect(sent.modify).To(HaveLen(2))
		for _, acts := range sent.modify {
			Expect(acts[0].AuthenticateOidcConfig.ClientSecret).To(BeNil())
			Expect(aws.ToBool(acts[0].AuthenticateOidcConfig.UseExistingClientSecret)).To(BeTrue())
		}
	})

	It("authenticates with Cognito before forwarding, on rules and on the default action", func() {
		au := &cloud.Authenticate{Type: cloud.AuthCognito, UserPoolARN: "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc",
			UserPoolClientID: "pool-client", UserPoolDomain: "my-domain", ExtraParams: map[string]string{"display": "page"},
			OnUnauthenticatedRequest: "deny", Scope: "email openid", SessionCookie: "c", SessionTimeout: 60}
		lb := authModel(stack, cert, au, nil)
		lb.Listeners[1].DefaultAction = lb.Listeners[1].Rules[0].Action
		ensure(lb)
		l := listenerOn(stack, 443)
		Expect(l.DefaultActions).To(HaveLen(2))
		Expect(l.DefaultActions[0].Type).To(Equal(elbv2types.ActionTypeEnumAuthenticateCognito))
		for _, r := range sortedRules(*l.ListenerArn) {
			Expect(r.Actions).To(HaveLen(2))
			c := r.Actions[0].AuthenticateCognitoConfig
			Expect(c).NotTo(BeNil())
			Expect(aws.ToString(c.UserPoolClientId)).To(Equal("pool-client"))
			Expect(aws.ToString(c.UserPoolDomain)).To(Equal("my-domain"))
			Expect(c.OnUnauthenticatedRequest).To(Equal(elbv2types.AuthenticateCognitoActionConditionalBehaviorEnumDeny))
			Expect(r.Actions[1].Type).To(Equal(elbv2types.ActionTypeEnumForward))
		}

		counter.Reset()
		ensure(lb)
		Expect(counter.Mutating()).To(BeEmpty())

		By("a changed setting modifies the rules and the listener")
		changed := *au
		changed.SessionTimeout = 120
		lb2 := authModel(stack, cert, &changed, nil)
		lb2.Listeners[1].DefaultAction = lb2.Listeners[1].Rules[0].Action
		counter.Reset()
		ensure(lb2)
		Expect(counter.Mutating()).To(ConsistOf("ModifyRule", "ModifyRule", "ModifyListener"))
	})
})
