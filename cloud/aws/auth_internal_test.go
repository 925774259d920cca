package aws

import (
	"testing"

	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// moto refuses jwt-validation actions, so the JWT shapes and their comparison are tested here, on the plan.
func TestJWTValidationActions(t *testing.T) {
	tgRef := func(id string) string { return "arn:tg/" + id }
	jwt := &cloud.Authenticate{Type: cloud.AuthJWT, JWKSEndpoint: "https://idp/jwks", Issuer: "https://idp",
		Claims: []cloud.JWTClaim{{Name: "scope", Format: "space-separated-values", Values: []string{"read", "write"}}}}
	rule := cloud.Rule{Priority: 1, Conditions: []cloud.Condition{{Type: cloud.ConditionPath, PathMatch: cloud.PathExact, Values: []string{"/a"}}},
		Action: cloud.Action{Type: cloud.ActionForward, Forward: []cloud.WeightedTargetGroup{{TargetGroupID: "tg", Weight: 1}}, Authenticate: jwt}}

	acts := albActions(rule.Action, tgRef, nil)
	if len(acts) != 2 || acts[0].Type != elbv2types.ActionTypeEnumJwtValidation || *acts[0].Order != 1 ||
		acts[1].Type != elbv2types.ActionTypeEnumForward || *acts[1].Order != 2 {
		t.Fatalf("actions %+v: want jwt-validation (1) then forward (2)", acts)
	}
	c := acts[0].JwtValidationConfig
	if *c.JwksEndpoint != "https://idp/jwks" || *c.Issuer != "https://idp" || len(c.AdditionalClaims) != 1 ||
		*c.AdditionalClaims[0].Name != "scope" || c.AdditionalClaims[0].Format != elbv2types.JwtValidationActionAdditionalClaimFormatEnumSpaceSeparatedValues {
		t.Fatalf("config %+v", c)
	}

	// As DescribeRules may list them: in another order, each with its Order.
	have := []elbv2types.Rule{{RuleArn: ptr("arn:rule"), Priority: ptr("10"), Conditions: albConditions(rule.Conditions),
		Actions: []elbv2types.Action{acts[1], acts[0]}}}
	rp, err := planRules([]cloud.Rule{rule}, have, tgRef, nil)
	if err != nil || len(rp.modify)+len(rp.creates)+len(rp.deletes) != 0 {
		t.Fatalf("an unchanged JWT rule is planned %+v, %v", rp, err)
	}
	changed := rule
	claims := *jwt
	claims.Claims = []cloud.JWTClaim{{Name: "scope", Format: "space-separated-values", Values: []string{"read"}}}
	changed.Action.Authenticate = &claims
	if rp, _ := planRules([]cloud.Rule{changed}, have, tgRef, nil); len(rp.modify) != 1 {
		t.Fatalf("a changed claim is planned %+v, want one modify", rp)
	}
	plain := rule
	plain.Action.Authenticate = nil
	if rp, _ := planRules([]cloud.Rule{plain}, have, tgRef, nil); len(rp.modify) != 1 {
		t.Fatalf("dropping the validation is planned %+v, want one modify", rp)
	}
}
