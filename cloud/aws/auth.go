package aws

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// albActions turns a model action into its ALB actions: the authentication step first, when there is one, then
// the action itself. The client secret comes from secrets by its hash; when the model's hash has no value (a
// member kept as last applied after its Secret went away), AWS is told to keep the secret it has.
func albActions(a cloud.Action, tgARN func(id string) string, secrets cloud.ClientSecrets) []elbv2types.Action {
	main := albAction(a, tgARN)
	if a.Authenticate == nil {
		return []elbv2types.Action{main}
	}
	auth := albAuthAction(*a.Authenticate, secrets)
	auth.Order, main.Order = ptr(int32(1)), ptr(int32(2))
	return []elbv2types.Action{auth, main}
}

func albAuthAction(au cloud.Authenticate, secrets cloud.ClientSecrets) elbv2types.Action {
	if au.Type == cloud.AuthJWT {
		cfg := &elbv2types.JwtValidationActionConfig{JwksEndpoint: ptr(au.JWKSEndpoint), Issuer: ptr(au.Issuer)}
		for _, c := range au.Claims {
			cfg.AdditionalClaims = append(cfg.AdditionalClaims, elbv2types.JwtValidationActionAdditionalClaim{Name: ptr(c.Name),
				Format: elbv2types.JwtValidationActionAdditionalClaimFormatEnum(c.Format), Values: slices.Clone(c.Values)})
		}
		return elbv2types.Action{Type: elbv2types.ActionTypeEnumJwtValidation, JwtValidationConfig: cfg}
	}
	if au.Type == cloud.AuthCognito {
		return elbv2types.Action{Type: elbv2types.ActionTypeEnumAuthenticateCognito, AuthenticateCognitoConfig: &elbv2types.AuthenticateCognitoActionConfig{
			UserPoolArn:                      ptr(au.UserPoolARN),
			UserPoolClientId:                 ptr(au.UserPoolClientID),
			UserPoolDomain:                   ptr(au.UserPoolDomain),
			AuthenticationRequestExtraParams: maps.Clone(au.ExtraParams),
			OnUnauthenticatedRequest:         elbv2types.AuthenticateCognitoActionConditionalBehaviorEnum(au.OnUnauthenticatedRequest),
			Scope:                            ptr(au.Scope),
			SessionCookieName:                ptr(au.SessionCookie),
			SessionTimeout:                   ptr(au.SessionTimeout),
		}}
	}
	cfg := &elbv2types.AuthenticateOidcActionConfig{
		Issuer:                           ptr(au.Issuer),
		AuthorizationEndpoint:            ptr(au.AuthorizationEndpoint),
		TokenEndpoint:                    ptr(au.TokenEndpoint),
		UserInfoEndpoint:                 ptr(au.UserInfoEndpoint),
		ClientId:                         ptr(au.ClientID),
		AuthenticationRequestExtraParams: maps.Clone(au.ExtraParams),
		OnUnauthenticatedRequest:         elbv2types.AuthenticateOidcActionConditionalBehaviorEnum(au.OnUnauthenticatedRequest),
		Scope:                            ptr(au.Scope),
		SessionCookieName:                ptr(au.SessionCookie),
		SessionTimeout:                   ptr(au.SessionTimeout),
	}
	if v, ok := secrets[au.ClientSecretHash]; ok {
		cfg.ClientSecret = ptr(v)
	} else {
		cfg.UseExistingClientSecret = ptr(true)
	}
	return elbv2types.Action{Type: elbv2types.ActionTypeEnumAuthenticateOidc, AuthenticateOidcConfig: cfg}
}

// authKey is the canonical form of an authenticate action. It cannot hold the client secret, which AWS never
// returns: staleSecret tells a changed secret.
func authKey(a elbv2types.Action) string {
	params := func(m map[string]string) string {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			kv = append(kv, k+"="+m[k])
		}
		return strings.Join(kv, "&")
	}
	timeout := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	if c := a.AuthenticateOidcConfig; c != nil {
		return fmt.Sprintf("oidc:%s|%s|%s|%s|%s|%s|%s|%s|%s|%d", deref(c.Issuer), deref(c.AuthorizationEndpoint), deref(c.TokenEndpoint),
			deref(c.UserInfoEndpoint), deref(c.ClientId), params(c.AuthenticationRequestExtraParams), c.OnUnauthenticatedRequest,
			deref(c.Scope), deref(c.SessionCookieName), timeout(c.SessionTimeout))
	}
	if j := a.JwtValidationConfig; j != nil {
		var claims []string
		for _, c := range j.AdditionalClaims {
			claims = append(claims, fmt.Sprintf("%s/%s=%q", deref(c.Name), c.Format, c.Values))
		}
		return fmt.Sprintf("jwt:%s|%s|%s", deref(j.JwksEndpoint), deref(j.Issuer), strings.Join(claims, ","))
	}
	c := a.AuthenticateCognitoConfig
	return fmt.Sprintf("cognito:%s|%s|%s|%s|%s|%s|%s|%d", deref(c.UserPoolArn), deref(c.UserPoolClientId), deref(c.UserPoolDomain),
		params(c.AuthenticationRequestExtraParams), c.OnUnauthenticatedRequest, deref(c.Scope), deref(c.SessionCookieName), timeout(c.SessionTimeout))
}

// byOrder sorts actions as the ALB runs them; actions without an order keep their place.
func byOrder(actions []elbv2types.Action) []elbv2types.Action {
	out := slices.Clone(actions)
	slices.SortStableFunc(out, func(x, y elbv2types.Action) int {
		if x.Order == nil || y.Order == nil {
			return 0
		}
		return cmp.Compare(*x.Order, *y.Order)
	})
	return out
}

// staleSecret says that an action's client secret is not one the cloud already has (see
// cloud.LoadBalancer.AppliedClientSecrets), so the rule or listener holding it must be written again.
func staleSecret(a cloud.Action, applied map[string]bool) bool {
	return a.Authenticate != nil && a.Authenticate.ClientSecretHash != "" && !applied[a.Authenticate.ClientSecretHash]
}
