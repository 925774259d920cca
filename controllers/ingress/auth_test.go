package ingress

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cloudlb/cloudlb/cloud"
)

const (
	oidcJSON = `{"issuer":"https://idp.example.com","authorizationEndpoint":"https://idp.example.com/auth",` +
		`"tokenEndpoint":"https://idp.example.com/token","userInfoEndpoint":"https://idp.example.com/userinfo","secretName":"oidc"}`
	cognitoJSON = `{"userPoolARN":"arn:aws:cognito-idp:us-east-1:1:userpool/p","userPoolClientID":"cid","userPoolDomain":"dom",` +
		`"authenticationRequestExtraParams":{"display":"page"}}`
	testClientSecret = "s3cr3t-value-never-shown"
	jwtJSON          = `{"jwksEndpoint":"https://idp.example.com/jwks","issuer":"https://idp.example.com",` +
		`"additionalClaims":[{"name":"admin","format":"single-string","values":["true"]},{"name":"scope","format":"space-separated-values","values":["read","write"]}]}`
)

func oidcSecret(id, secret string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "oidc"},
		Data: map[string][]byte{"clientID": []byte(id), "clientSecret": []byte(secret)}}
}

// authInput is a member with HTTPS and HTTP listeners whose backend web carries ann on the Ingress.
func authInput(ann map[string]string, secrets ...*corev1.Secret) Input {
	all := map[string]string{annListenPorts: `[{"HTTP": 80}, {"HTTPS": 443}]`, annCertificateARN: "arn:aws:acm:us-east-1:1:certificate/x"}
	for k, v := range ann {
		all[k] = v
	}
	in := input(webIngress("app", all))
	in.Secrets = map[types.NamespacedName]*corev1.Secret{}
	for _, s := range secrets {
		in.Secrets[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = s
	}
	return in
}

func authListener(lb *cloud.LoadBalancer, port int32) cloud.Listener {
	for _, l := range lb.Listeners {
		if l.Port == port {
			return l
		}
	}
	return cloud.Listener{}
}

func TestAuthOIDC(t *testing.T) {
	g := NewWithT(t)
	out := Translate(authInput(map[string]string{annAuthType: "oidc", annAuthIDPOIDC: oidcJSON}, oidcSecret("my-client\n", testClientSecret+"\n")))
	g.Expect(out.Errors).To(BeEmpty())
	https := authListener(out.LoadBalancer, 443)
	g.Expect(https.Rules).To(HaveLen(1))
	g.Expect(https.Rules[0].Action.Type).To(Equal(cloud.ActionForward))
	g.Expect(https.Rules[0].Action.Authenticate).To(Equal(&cloud.Authenticate{Type: cloud.AuthOIDC, Issuer: "https://idp.example.com",
		AuthorizationEndpoint: "https://idp.example.com/auth", TokenEndpoint: "https://idp.example.com/token",
		UserInfoEndpoint: "https://idp.example.com/userinfo", ClientID: "my-client", ClientSecretHash: cloud.ClientSecretHash(testClientSecret),
		OnUnauthenticatedRequest: "authenticate", Scope: "openid", SessionCookie: "AWSELBAuthSessionCookie", SessionTimeout: 604800}))
	// The value travels beside the model, never in it.
	g.Expect(out.LoadBalancer.ClientSecrets).To(Equal(cloud.ClientSecrets{cloud.ClientSecretHash(testClientSecret): testClientSecret}))
	g.Expect(out.LoadBalancer.Hash()).NotTo(BeEmpty())
	for _, encoded := range out.Models {
		raw := decodeRaw(t, encoded)
		g.Expect(raw).To(ContainSubstring(cloud.ClientSecretHash(testClientSecret)))
		g.Expect(raw).NotTo(ContainSubstring(testClientSecret))
	}

	// Fail closed on HTTP: the rule is not there, and the member is told why.
	g.Expect(authListener(out.LoadBalancer, 80).Rules).To(BeEmpty())
	g.Expect(strings.Join(out.Warnings[key("app")], ";")).To(ContainSubstring("HTTPS listeners only: the backends with " + annAuthType +
		" or " + annJWTValidation + " get no rules on port 80"))
}

func TestAuthSSLRedirectNeedsNoWarning(t *testing.T) {
	g := NewWithT(t)
	out := Translate(authInput(map[string]string{annAuthType: "cognito", annAuthIDPCognito: cognitoJSON, annSSLRedirect: "443"}))
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.Warnings[key("app")]).To(BeEmpty())
	g.Expect(authListener(out.LoadBalancer, 80).DefaultAction.Type).To(Equal(cloud.ActionRedirect))
	au := authListener(out.LoadBalancer, 443).Rules[0].Action.Authenticate
	g.Expect(au).To(Equal(&cloud.Authenticate{Type: cloud.AuthCognito, UserPoolARN: "arn:aws:cognito-idp:us-east-1:1:userpool/p",
		UserPoolClientID: "cid", UserPoolDomain: "dom", ExtraParams: map[string]string{"display": "page"},
		OnUnauthenticatedRequest: "authenticate", Scope: "openid", SessionCookie: "AWSELBAuthSessionCookie", SessionTimeout: 604800}))
}

func TestAuthDefaultBackend(t *testing.T) {
	g := NewWithT(t)
	in := authInput(map[string]string{annAuthType: "cognito", annAuthIDPCognito: cognitoJSON})
	in.Ingresses[0].Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web",
		Port: networkingv1.ServiceBackendPort{Number: 80}}}
	out := Translate(in)
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(authListener(out.LoadBalancer, 443).DefaultAction.Authenticate).NotTo(BeNil())
	http := authListener(out.LoadBalancer, 80).DefaultAction
	g.Expect(http.Type).To(Equal(cloud.ActionFixedResponse))
	g.Expect(http.Authenticate).To(BeNil())
}

func TestAuthServiceWinsKeyByKey(t *testing.T) {
	g := NewWithT(t)
	in := authInput(map[string]string{annAuthType: "cognito", annAuthIDPCognito: cognitoJSON, annAuthScope: "email", annAuthSessionTimeout: "60"})
	in.Services[key("web")].Annotations = map[string]string{annAuthScope: "profile openid", annAuthOnUnauth: "allow"}
	out := Translate(in)
	g.Expect(out.Errors).To(BeEmpty())
	au := authListener(out.LoadBalancer, 443).Rules[0].Action.Authenticate
	g.Expect(au.Scope).To(Equal("profile openid"))
	g.Expect(au.OnUnauthenticatedRequest).To(Equal("allow"))
	g.Expect(au.SessionTimeout).To(Equal(int64(60)))

	// A Service's auth-type none turns the Ingress's authentication off for that backend only.
	in.Services[key("web")].Annotations = map[string]string{annAuthType: "none"}
	out = Translate(in)
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(authListener(out.LoadBalancer, 443).Rules[0].Action.Authenticate).To(BeNil())
	g.Expect(authListener(out.LoadBalancer, 80).Rules).To(HaveLen(1))
}

func TestAuthInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		ann  map[string]string
		key  string
	}{
		{"unknown type", map[string]string{annAuthType: "saml"}, annAuthType},
		{"oidc without idp", map[string]string{annAuthType: "oidc"}, annAuthType},
		{"cognito without idp", map[string]string{annAuthType: "cognito"}, annAuthType},
		{"oidc not json", map[string]string{annAuthType: "oidc", annAuthIDPOIDC: "{"}, annAuthIDPOIDC},
		{"oidc unknown field", map[string]string{annAuthType: "oidc", annAuthIDPOIDC: `{"issuer":"x","clientSecret":"y"}`}, annAuthIDPOIDC},
		{"oidc missing endpoint", map[string]string{annAuthType: "oidc", annAuthIDPOIDC: `{"issuer":"x","secretName":"oidc"}`}, annAuthIDPOIDC},
		{"cognito missing domain", map[string]string{annAuthType: "cognito", annAuthIDPCognito: `{"userPoolARN":"a","userPoolClientID":"b"}`}, annAuthIDPCognito},
		{"bad on-unauthenticated", map[string]string{annAuthType: "cognito", annAuthIDPCognito: cognitoJSON, annAuthOnUnauth: "maybe"}, annAuthOnUnauth},
		{"empty scope", map[string]string{annAuthType: "cognito", annAuthIDPCognito: cognitoJSON, annAuthScope: " "}, annAuthScope},
		{"empty cookie", map[string]string{annAuthType: "cognito", annAuthIDPCognito: cognitoJSON, annAuthSessionCookie: ""}, annAuthSessionCookie},
		{"timeout not a number", map[string]string{annAuthType: "cognito", annAuthIDPCognito: cognitoJSON, annAuthSessionTimeout: "1d"}, annAuthSessionTimeout},
		{"timeout too long", map[string]string{annAuthType: "cognito", annAuthIDPCognito: cognitoJSON, annAuthSessionTimeout: "604801"}, annAuthSessionTimeout},
		{"timeout zero", map[string]string{annAuthType: "cognito", annAuthIDPCognito: cognitoJSON, annAuthSessionTimeout: "0"}, annAuthSessionTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(authInput(tc.ann, oidcSecret("id", testClientSecret)))
			var ae *AnnotationError
			g.Expect(errors.As(out.Errors[key("app")], &ae)).To(BeTrue(), "%v", out.Errors)
			g.Expect(ae.Key).To(Equal(tc.key))
			g.Expect(out.LoadBalancer).To(BeNil())
		})
	}
}

func TestJWTValidation(t *testing.T) {
	g := NewWithT(t)
	out := Translate(authInput(map[string]string{annJWTValidation: jwtJSON}))
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(authListener(out.LoadBalancer, 443).Rules[0].Action.Authenticate).To(Equal(&cloud.Authenticate{Type: cloud.AuthJWT,
		JWKSEndpoint: "https://idp.example.com/jwks", Issuer: "https://idp.example.com", Claims: []cloud.JWTClaim{
			{Name: "admin", Format: "single-string", Values: []string{"true"}},
			{Name: "scope", Format: "space-separated-values", Values: []string{"read", "write"}}}}))
	g.Expect(authListener(out.LoadBalancer, 80).Rules).To(BeEmpty())
	g.Expect(strings.Join(out.Warnings[key("app")], ";")).To(ContainSubstring(annJWTValidation))

	for name, ann := range map[string]map[string]string{
		"not json":       {annJWTValidation: "{"},
		"no issuer":      {annJWTValidation: `{"jwksEndpoint":"https://j"}`},
		"unknown field":  {annJWTValidation: `{"jwksEndpoint":"https://j","issuer":"i","audience":"x"}`},
		"bad format":     {annJWTValidation: `{"jwksEndpoint":"https://j","issuer":"i","additionalClaims":[{"name":"a","format":"int","values":["1"]}]}`},
		"no values":      {annJWTValidation: `{"jwksEndpoint":"https://j","issuer":"i","additionalClaims":[{"name":"a","format":"string-array"}]}`},
		"two single":     {annJWTValidation: `{"jwksEndpoint":"https://j","issuer":"i","additionalClaims":[{"name":"a","format":"single-string","values":["1","2"]}]}`},
		"with a sign-in": {annJWTValidation: jwtJSON, annAuthType: "cognito", annAuthIDPCognito: cognitoJSON},
		"no claim name":  {annJWTValidation: `{"jwksEndpoint":"https://j","issuer":"i","additionalClaims":[{"format":"string-array","values":["1"]}]}`},
	} {
		out := Translate(authInput(ann))
		var ae *AnnotationError
		g.Expect(errors.As(out.Errors[key("app")], &ae)).To(BeTrue(), name)
		g.Expect(ae.Key).To(Equal(annJWTValidation), name)
	}
}

func TestAuthSecretMissing(t *testing.T) {
	ann := map[string]string{annAuthType: "oidc", annAuthIDPOIDC: oidcJSON}
	for _, tc := range []struct {
		name   string
		secret *corev1.Secret
		want   string
	}{
		{"no Secret", nil, "Secret ns/oidc, named by annotation " + annAuthIDPOIDC + ", not found"},
		{"no clientID", oidcSecret("", testClientSecret), "has no non-empty key clientID"},
		{"no clientSecret", oidcSecret("id", ""), "has no non-empty key clientSecret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			in := authInput(ann)
			if tc.secret != nil {
				in.Secrets[key("oidc")] = tc.secret
			}
			out := Translate(in)
			var se *SecretError
			g.Expect(errors.As(out.Errors[key("app")], &se)).To(BeTrue(), "%v", out.Errors)
			g.Expect(se.Error()).To(ContainSubstring(tc.want))
			g.Expect(se.Error()).NotTo(ContainSubstring(testClientSecret))
			g.Expect(reasonFor(se)).To(Equal("SecretNotFound"))
			g.Expect(out.LoadBalancer).To(BeNil())
		})
	}
	t.Run("legacy clientId key", func(t *testing.T) {
		g := NewWithT(t)
		s := oidcSecret("", testClientSecret)
		delete(s.Data, "clientID")
		s.Data["clientId"] = []byte("legacy")
		out := Translate(authInput(ann, s))
		g.Expect(out.Errors).To(BeEmpty())
		g.Expect(authListener(out.LoadBalancer, 443).Rules[0].Action.Authenticate.ClientID).To(Equal("legacy"))
	})
}

// A member kept as last applied after its Secret went away keeps its authenticated rules; the secrets the cloud
// has are those of the kept models.
func TestAuthKeptMemberKeepsItsAuthentication(t *testing.T) {
	g := NewWithT(t)
	ann := map[string]string{annAuthType: "oidc", annAuthIDPOIDC: oidcJSON}
	first := Translate(authInput(ann, oidcSecret("id", testClientSecret)))
	g.Expect(first.Errors).To(BeEmpty())
	in := authInput(ann)
	in.Applied = map[types.NamespacedName]bool{key("app"): true}
	in.Kept = first.Models
	out := Translate(in)
	g.Expect(out.Errors[key("app")]).To(BeAssignableToTypeOf(&SecretError{}))
	g.Expect(out.LoadBalancer).NotTo(BeNil())
	g.Expect(authListener(out.LoadBalancer, 443).Rules[0].Action.Authenticate.ClientSecretHash).To(Equal(cloud.ClientSecretHash(testClientSecret)))
	g.Expect(out.LoadBalancer.AppliedClientSecrets).To(Equal(map[string]bool{cloud.ClientSecretHash(testClientSecret): true}))
	g.Expect(out.LoadBalancer.ClientSecrets).To(BeEmpty())
	g.Expect(authListener(out.LoadBalancer, 80).Rules).To(BeEmpty())
}

// decodeRaw is a kept model's JSON, as the record holds it under its gzip and base64.
func decodeRaw(t *testing.T, encoded string) string {
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzAuth holds the authentication parsers to their contract: an AnnotationError naming one of the keys set
// (or a SecretError), or an action with every field AWS requires.
func FuzzAuth(f *testing.F) {
	f.Add("oidc", oidcJSON, "", "", "", "")
	f.Add("cognito", "", cognitoJSON, "", "600", "deny")
	f.Add("none", "", "", jwtJSON, "", "")
	f.Add("oidc", `{"secretName":"x"}`, "null", "{}", "-1", "allow")
	f.Fuzz(func(t *testing.T, typ, oidc, cognito, jwt, timeout, onUnauth string) {
		ann := map[string]string{annAuthType: typ}
		for k, v := range map[string]string{annAuthIDPOIDC: oidc, annAuthIDPCognito: cognito, annJWTValidation: jwt,
			annAuthSessionTimeout: timeout, annAuthOnUnauth: onUnauth} {
			if v != "" {
				ann[k] = v
			}
		}
		ing := webIngress("app", ann)
		in := authInput(nil, oidcSecret("id", testClientSecret))
		au, err := authFor(in, ing, in.Services[key("web")])
		if err != nil {
			var se *SecretError
			if errors.As(err, &se) {
				return
			}
			var keys []string
			for k := range ann {
				keys = append(keys, k)
			}
			requireAnnotationError(t, err, keys...)
			if strings.Contains(err.Error(), testClientSecret) {
				t.Fatal("the error shows the client secret")
			}
			return
		}
		if au == nil {
			return
		}
		switch au.Type {
		case cloud.AuthOIDC:
			if au.Issuer == "" || au.TokenEndpoint == "" || au.ClientID != "id" || au.ClientSecretHash != cloud.ClientSecretHash(testClientSecret) {
				t.Fatalf("incomplete OIDC action %+v", au)
			}
		case cloud.AuthCognito:
			if au.UserPoolARN == "" || au.UserPoolClientID == "" || au.UserPoolDomain == "" {
				t.Fatalf("incomplete Cognito action %+v", au)
			}
		case cloud.AuthJWT:
			if au.Issuer == "" || au.JWKSEndpoint == "" {
				t.Fatalf("incomplete JWT validation %+v", au)
			}
			return
		default:
			t.Fatalf("type %q", au.Type)
		}
		if au.SessionTimeout < 1 || au.SessionTimeout > maxSessionTimeout || au.Scope == "" || au.SessionCookie == "" ||
			!slices.Contains([]string{"authenticate", "allow", "deny"}, au.OnUnauthenticatedRequest) {
			t.Fatalf("invalid sign-in options %+v", au)
		}
	})
}

// The Ingress's authentication goes before the forwards of its actions too, and a Service of a weighted forward
// that asks for other authentication is refused; on HTTP listeners a redirect action stays (without the
// sign-in, which an ALB does only on HTTPS) while an authenticated forward gets no rule.
func TestAuthOnActions(t *testing.T) {
	g := NewWithT(t)
	ann := map[string]string{
		annListenPorts:                    `[{"HTTP": 80}, {"HTTPS": 443}]`,
		annCertificateARN:                 "arn:aws:acm:us-east-1:1:certificate/x",
		annAuthType:                       "cognito",
		annAuthIDPCognito:                 cognitoJSON,
		annActionsPrefix + "weighted":     `{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"web","servicePort":80,"weight":90},{"serviceName":"api","servicePort":9000,"weight":10}]}}`,
		annActionsPrefix + "ssl-redirect": `{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}`,
	}
	prefix := networkingv1.PathTypePrefix
	impl := networkingv1.PathTypeImplementationSpecific
	ing := ingress("app", ann, rule("", httpPath("/*", impl, backend("ssl-redirect", 0)), httpPath("/", prefix, backend("weighted", 0))))
	for i := range ing.Spec.Rules[0].HTTP.Paths {
		p := &ing.Spec.Rules[0].HTTP.Paths[i]
		p.Backend.Service.Port = networkingv1.ServiceBackendPort{Name: useAnnotation}
	}
	out := Translate(input(ing))
	g.Expect(out.Errors).To(BeEmpty())
	for _, l := range out.LoadBalancer.Listeners {
		switch l.Port {
		case 80:
			g.Expect(l.Rules).To(HaveLen(1), "the redirect stays on HTTP; the authenticated forward gets no rule")
			g.Expect(l.Rules[0].Action.Type).To(Equal(cloud.ActionRedirect))
			g.Expect(l.Rules[0].Action.Authenticate).To(BeNil())
		case 443:
			g.Expect(l.Rules).To(HaveLen(1), "the redirect to this same listener is left out")
			g.Expect(l.Rules[0].Action.Type).To(Equal(cloud.ActionForward))
			g.Expect(l.Rules[0].Action.Authenticate).NotTo(BeNil())
			g.Expect(l.Rules[0].Action.Authenticate.Type).To(Equal(cloud.AuthCognito))
		}
	}

	in := input(ing)
	in.Services[types.NamespacedName{Namespace: "ns", Name: "api"}].Annotations = map[string]string{annAuthType: "none"}
	out = Translate(in)
	g.Expect(out.Errors[key("app")]).To(MatchError(ContainSubstring("Service api asks for another authentication")))
}
