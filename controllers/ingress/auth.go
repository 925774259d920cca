package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// Authentication, as the AWS Load Balancer Controller reads it: on the Ingress and on the backend Service, the
// Service winning key by key. The authenticate step goes before the forward action of every rule of that
// backend, on HTTPS listeners only.
const (
	annAuthType           = albPrefix + "auth-type"
	annAuthIDPOIDC        = albPrefix + "auth-idp-oidc"
	annAuthIDPCognito     = albPrefix + "auth-idp-cognito"
	annAuthOnUnauth       = albPrefix + "auth-on-unauthenticated-request"
	annAuthScope          = albPrefix + "auth-scope"
	annAuthSessionCookie  = albPrefix + "auth-session-cookie"
	annAuthSessionTimeout = albPrefix + "auth-session-timeout"
	// annJWTValidation is read from the Ingress only, as the AWS Load Balancer Controller reads it.
	annJWTValidation = albPrefix + "jwt-validation"

	// The keys of an OIDC Secret; clientId is the name the AWS ALB Ingress Controller used.
	secretKeyClientID       = "clientID"
	secretKeyClientIDLegacy = "clientId"
	secretKeyClientSecret   = "clientSecret"

	// maxSessionTimeout is the longest authentication session an ALB keeps (7 days), also LBC's default.
	maxSessionTimeout = 604800
)

// authKeys are the annotations a backend Service may carry.
var authKeys = []string{annAuthType, annAuthIDPOIDC, annAuthIDPCognito, annAuthOnUnauth, annAuthScope, annAuthSessionCookie,
	annAuthSessionTimeout}

type oidcIDP struct {
	Issuer                string            `json:"issuer"`
	AuthorizationEndpoint string            `json:"authorizationEndpoint"`
	TokenEndpoint         string            `json:"tokenEndpoint"`
	UserInfoEndpoint      string            `json:"userInfoEndpoint"`
	SecretName            string            `json:"secretName"`
	ExtraParams           map[string]string `json:"authenticationRequestExtraParams,omitempty"`
}

type cognitoIDP struct {
	UserPoolARN      string            `json:"userPoolARN"`
	UserPoolClientID string            `json:"userPoolClientID"`
	UserPoolDomain   string            `json:"userPoolDomain"`
	ExtraParams      map[string]string `json:"authenticationRequestExtraParams,omitempty"`
}

// SecretError says that the Secret an OIDC configuration names, or one of its keys, is missing. It never holds
// a value of the Secret.
type SecretError struct {
	Secret types.NamespacedName
	Key    string // empty: the Secret itself is missing
}

func (e *SecretError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("Secret %s, named by annotation %s, not found; the rules of its backend are not changed", e.Secret, annAuthIDPOIDC)
	}
	return fmt.Sprintf("Secret %s, named by annotation %s, has no non-empty key %s; the rules of its backend are not changed",
		e.Secret, annAuthIDPOIDC, e.Key)
}

// authAnnotations are the Ingress's authentication annotations with the Service's over them, key by key.
func authAnnotations(ing *networkingv1.Ingress, svc *corev1.Service) annotations {
	a := annotations{}
	for _, src := range []map[string]string{ing.Annotations, svcAnnotations(svc)} {
		for _, k := range authKeys {
			if v, ok := src[k]; ok {
				a[k] = v
			}
		}
	}
	return a
}

func svcAnnotations(svc *corev1.Service) map[string]string {
	if svc == nil {
		return nil
	}
	return svc.Annotations
}

// authFor is the authentication step in front of backend svc of ing, nil for none: a sign-in (auth-type) or
// the validation of a token (jwt-validation), never both.
func authFor(in Input, ing *networkingv1.Ingress, svc *corev1.Service) (*cloud.Authenticate, error) {
	signIn, err := signInFor(in, ing, svc)
	if err != nil {
		return nil, err
	}
	jwt, err := annotations(ing.Annotations).jwtValidation()
	if err != nil {
		return nil, err
	}
	if jwt == nil {
		return signIn, nil
	}
	if signIn != nil {
		return nil, annotations(ing.Annotations).fail(annJWTValidation, "cannot be combined with %s %s on the same backend", annAuthType, signIn.Type)
	}
	return jwt, nil
}

type jwtConfig struct {
	JWKSEndpoint string `json:"jwksEndpoint"`
	Issuer       string `json:"issuer"`
	Claims       []struct {
		Name   string   `json:"name"`
		Format string   `json:"format"`
		Values []string `json:"values"`
	} `json:"additionalClaims,omitempty"`
}

func (a annotations) jwtValidation() (*cloud.Authenticate, error) {
	var c jwtConfig
	if ok, err := a.authJSON(annJWTValidation, &c); !ok || err != nil {
		return nil, err
	}
	if strings.TrimSpace(c.JWKSEndpoint) == "" || strings.TrimSpace(c.Issuer) == "" {
		return nil, a.fail(annJWTValidation, "jwksEndpoint and issuer are required")
	}
	au := &cloud.Authenticate{Type: cloud.AuthJWT, JWKSEndpoint: c.JWKSEndpoint, Issuer: c.Issuer}
	for _, cl := range c.Claims {
		if cl.Name == "" || len(cl.Values) == 0 {
			return nil, a.fail(annJWTValidation, "an additional claim needs a name and values")
		}
		if !slices.Contains([]string{"single-string", "string-array", "space-separated-values"}, cl.Format) {
			return nil, a.fail(annJWTValidation, "claim %s: format must be single-string, string-array or space-separated-values", cl.Name)
		}
		if cl.Format == "single-string" && len(cl.Values) != 1 {
			return nil, a.fail(annJWTValidation, "claim %s: a single-string claim has one value", cl.Name)
		}
		au.Claims = append(au.Claims, cloud.JWTClaim{Name: cl.Name, Format: cl.Format, Values: cl.Values})
	}
	return au, nil
}

func signInFor(in Input, ing *networkingv1.Ingress, svc *corev1.Service) (*cloud.Authenticate, error) {
	a := authAnnotations(ing, svc)
	typ, err := a.oneOf(annAuthType, "none", "none", string(cloud.AuthOIDC), string(cloud.AuthCognito))
	if err != nil {
		return nil, err
	}
	var oidc oidcIDP
	hasOIDC, err := a.authJSON(annAuthIDPOIDC, &oidc)
	if err != nil {
		return nil, err
	}
	var cognito cognitoIDP
	hasCognito, err := a.authJSON(annAuthIDPCognito, &cognito)
	if err != nil {
		return nil, err
	}
	au := &cloud.Authenticate{Type: cloud.AuthType(typ)}
	if au.OnUnauthenticatedRequest, err = a.oneOf(annAuthOnUnauth, "authenticate", "authenticate", "allow", "deny"); err != nil {
		return nil, err
	}
	if au.Scope, err = a.nonEmpty(annAuthScope, "openid"); err != nil {
		return nil, err
	}
	if au.SessionCookie, err = a.nonEmpty(annAuthSessionCookie, "AWSELBAuthSessionCookie"); err != nil {
		return nil, err
	}
	au.SessionTimeout = maxSessionTimeout
	if v, ok := a[annAuthSessionTimeout]; ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 1 || n > maxSessionTimeout {
			return nil, a.fail(annAuthSessionTimeout, "must be a number of seconds from 1 to %d", maxSessionTimeout)
		}
		au.SessionTimeout = n
	}
	switch au.Type {
	case cloud.AuthOIDC:
		if !hasOIDC {
			return nil, a.fail(annAuthType, "auth-type oidc needs annotation %s", annAuthIDPOIDC)
		}
		for _, f := range []struct{ name, v string }{{"issuer", oidc.Issuer}, {"authorizationEndpoint", oidc.AuthorizationEndpoint},
			{"tokenEndpoint", oidc.TokenEndpoint}, {"userInfoEndpoint", oidc.UserInfoEndpoint}, {"secretName", oidc.SecretName}} {
			if strings.TrimSpace(f.v) == "" {
				return nil, a.fail(annAuthIDPOIDC, "%s is required", f.name)
			}
		}
		au.Issuer, au.AuthorizationEndpoint, au.TokenEndpoint, au.UserInfoEndpoint = oidc.Issuer, oidc.AuthorizationEndpoint,
			oidc.TokenEndpoint, oidc.UserInfoEndpoint
		au.ExtraParams = oidc.ExtraParams
		key := types.NamespacedName{Namespace: ing.Namespace, Name: oidc.SecretName}
		id, secret, err := oidcClient(in.Secrets[key], key)
		if err != nil {
			return nil, err
		}
		au.ClientID, au.ClientSecretHash = id, cloud.ClientSecretHash(secret)
	case cloud.AuthCognito:
		if !hasCognito {
			return nil, a.fail(annAuthType, "auth-type cognito needs annotation %s", annAuthIDPCognito)
		}
		for _, f := range []struct{ name, v string }{{"userPoolARN", cognito.UserPoolARN}, {"userPoolClientID", cognito.UserPoolClientID},
			{"userPoolDomain", cognito.UserPoolDomain}} {
			if strings.TrimSpace(f.v) == "" {
				return nil, a.fail(annAuthIDPCognito, "%s is required", f.name)
			}
		}
		au.UserPoolARN, au.UserPoolClientID, au.UserPoolDomain = cognito.UserPoolARN, cognito.UserPoolClientID, cognito.UserPoolDomain
		au.ExtraParams = cognito.ExtraParams
	default:
		return nil, nil
	}
	if len(au.ExtraParams) == 0 {
		au.ExtraParams = nil
	}
	return au, nil
}

func (a annotations) nonEmpty(key, def string) (string, error) {
	v, ok := a[key]
	if !ok {
		return def, nil
	}
	if v = strings.TrimSpace(v); v == "" {
		return "", a.fail(key, "must not be empty")
	}
	return v, nil
}

// authJSON reads an IdP annotation; fields it does not know are refused, since a misspelt field would otherwise
// go unnoticed until users cannot sign in.
func (a annotations) authJSON(key string, into any) (bool, error) {
	v, ok := a[key]
	if !ok {
		return false, nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(v)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		// The decoder's message quotes no value of the annotation beyond a field name.
		return false, a.fail(key, "not a valid JSON object: %v", err)
	}
	return true, nil
}

// oidcClient reads the client ID and secret, trimmed as the AWS Load Balancer Controller trims them.
func oidcClient(s *corev1.Secret, key types.NamespacedName) (id, secret string, err error) {
	if s == nil {
		return "", "", &SecretError{Secret: key}
	}
	rawID, ok := s.Data[secretKeyClientID]
	if !ok {
		rawID = s.Data[secretKeyClientIDLegacy]
	}
	id = strings.TrimRightFunc(string(rawID), unicode.IsSpace)
	if id == "" {
		return "", "", &SecretError{Secret: key, Key: secretKeyClientID}
	}
	secret = strings.TrimRightFunc(string(s.Data[secretKeyClientSecret]), unicode.IsControl)
	if secret == "" {
		return "", "", &SecretError{Secret: key, Key: secretKeyClientSecret}
	}
	return id, secret, nil
}

// clientSecrets are the client secrets of every Secret read, by hash: a member kept as last applied finds its
// secret too while it is unchanged.
func clientSecrets(in Input) cloud.ClientSecrets {
	out := cloud.ClientSecrets{}
	for key, s := range in.Secrets {
		if _, secret, err := oidcClient(s, key); err == nil {
			out[cloud.ClientSecretHash(secret)] = secret
		}
	}
	return out
}

// appliedClientSecrets are the client secrets of the last applied model, by hash, from the kept members.
func appliedClientSecrets(in Input) map[string]bool {
	out := map[string]bool{}
	add := func(a *cloud.Action) {
		if a != nil && a.Authenticate != nil && a.Authenticate.ClientSecretHash != "" {
			out[a.Authenticate.ClientSecretHash] = true
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(in.Kept), func(a, b types.NamespacedName) int { return strings.Compare(a.String(), b.String()) }) {
		m := in.keptMember(k)
		if m == nil {
			continue
		}
		add(m.defaultAction)
		for i := range m.rules {
			add(&m.rules[i].rule.Action)
		}
	}
	return out
}

// authOnPlainListener is the warning for a member whose authenticated backends have no rules on its HTTP
// listeners: an ALB authenticates only on HTTPS, and forwarding there without it would bypass the sign-in.
func authOnPlainListener(m *member) string {
	dropped := func(a *cloud.Action) bool { _, ok := onListener(*a, true); return !ok }
	needs := slices.ContainsFunc(m.rules, func(r orderedRule) bool { return dropped(&r.rule.Action) }) ||
		(m.defaultAction != nil && dropped(m.defaultAction))
	if !needs {
		return ""
	}
	var ports []string
	for _, l := range m.listeners {
		if l.Protocol != cloud.ProtocolHTTPS {
			ports = append(ports, strconv.Itoa(int(l.Port)))
		}
	}
	if len(ports) == 0 {
		return ""
	}
	return fmt.Sprintf("authentication works on HTTPS listeners only: the backends with %s or %s get no rules on port %s "+
		"(set annotation %s to redirect HTTP to HTTPS)", annAuthType, annJWTValidation, strings.Join(ports, ", "), annSSLRedirect)
}

// authSecretNames are the Secrets the members and their backend Services name for OIDC, whatever their
// auth-type: all of them are read, so that a change of type needs no other read.
func authSecretNames(ings []*networkingv1.Ingress, services map[types.NamespacedName]*corev1.Service) []types.NamespacedName {
	var out []types.NamespacedName
	add := func(ns string, ann map[string]string) {
		for _, name := range oidcSecretNames(ann) {
			if k := (types.NamespacedName{Namespace: ns, Name: name}); !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	for _, ing := range ings {
		add(ing.Namespace, ing.Annotations)
		for _, s := range backendServices(ing) {
			add(ing.Namespace, svcAnnotations(services[s]))
		}
	}
	return out
}

// secrets reads the Secrets that ings name (secretcache.go).
func (r *Reconciler) secrets(ctx context.Context, ings []*networkingv1.Ingress, services map[types.NamespacedName]*corev1.Service) (
	map[types.NamespacedName]*corev1.Secret, error) {
	out := map[types.NamespacedName]*corev1.Secret{}
	for _, key := range authSecretNames(ings, services) {
		s, err := r.secret(ctx, key)
		if err != nil {
			return nil, err
		}
		if s != nil {
			out[key] = s
		}
	}
	return out, nil
}

// secretMetadata is what the Secret watch holds: names only, never data.
func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}
