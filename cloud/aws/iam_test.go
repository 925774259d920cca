package aws_test

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

// IAM's evaluation, reduced to what config/iam/policy.json uses: Allow statements, wildcard actions and
// resources, and the StringEquals, StringLike and Null condition operators, with the keys of one block ANDed.
// An operator the test does not know fails it, so that the policy cannot outgrow the test.

type iamStrings []string

func (s *iamStrings) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = []string{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

type iamStatement struct {
	Sid       string
	Effect    string
	Action    iamStrings
	Resource  iamStrings
	Condition map[string]map[string]iamStrings
}

type iamPolicy struct {
	Version   string
	Statement []iamStatement
}

// authz is one authorisation AWS makes for a call: an action on a resource, with the request's condition keys.
type iamAuthz struct {
	action, resource string
	ctx              map[string]string
}

func iamGlob(pattern, s string) bool {
	// path.Match treats "/" as a separator; IAM's "*" spans it.
	p := strings.ReplaceAll(pattern, "/", "\x00")
	ok, err := path.Match(p, strings.ReplaceAll(s, "/", "\x00"))
	return err == nil && ok
}

func (s iamStatement) allows(t *testing.T, a iamAuthz) bool {
	t.Helper()
	if s.Effect != "Allow" {
		t.Fatalf("statement %s: only Allow statements are expected", s.Sid)
	}
	if !slices.ContainsFunc(s.Action, func(p string) bool { return iamGlob(strings.ToLower(p), strings.ToLower(a.action)) }) ||
		!slices.ContainsFunc(s.Resource, func(p string) bool { return iamGlob(p, a.resource) }) {
		return false
	}
	for op, keys := range s.Condition {
		for key, values := range keys {
			v, present := a.ctx[key]
			var ok bool
			switch op {
			case "StringEquals":
				ok = present && slices.Contains(values, v)
			case "StringLike":
				ok = present && slices.ContainsFunc(values, func(p string) bool { return iamGlob(p, v) })
			case "Null":
				ok = len(values) == 1 && values[0] == map[bool]string{true: "false", false: "true"}[present]
			default:
				t.Fatalf("statement %s: condition operator %s is not modelled by this test", s.Sid, op)
			}
			if !ok {
				return false
			}
		}
	}
	return true
}

func (p iamPolicy) allows(t *testing.T, a iamAuthz) bool {
	t.Helper()
	return slices.ContainsFunc(p.Statement, func(s iamStatement) bool { return s.allows(t, a) })
}

const (
	iamCluster    = "my-cluster"
	arnLB         = "arn:aws:elasticloadbalancing:us-west-2:111122223333:loadbalancer/app/k8s-app/50dc6c495c0c9188"
	arnListener   = "arn:aws:elasticloadbalancing:us-west-2:111122223333:listener/app/k8s-app/50dc6c495c0c9188/f2f7dc8efc522ab2"
	arnRule       = "arn:aws:elasticloadbalancing:us-west-2:111122223333:listener-rule/app/k8s-app/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
	arnTG         = "arn:aws:elasticloadbalancing:us-west-2:111122223333:targetgroup/k8s-web/73e2d6bc24d8a067"
	arnSG         = "arn:aws:ec2:us-west-2:111122223333:security-group/sg-0123456789abcdef0"
	arnVPC        = "arn:aws:ec2:us-west-2:111122223333:vpc/vpc-0123456789abcdef0"
	arnUserPool   = "arn:aws:cognito-idp:us-west-2:111122223333:userpool/us-west-2_EXAMPLE"
	arnWebACL     = "arn:aws:wafv2:us-west-2:111122223333:regional/webacl/web/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
	arnProtection = "arn:aws:shield::111122223333:protection/a1b2c3d4-5678-90ab-cdef-EXAMPLE22222"
	arnCert       = "arn:aws:acm:us-west-2:111122223333:certificate/a1b2c3d4-5678-90ab-cdef-EXAMPLE33333"

	iamResourceTag = "aws:ResourceTag/cloudlb.io/cluster"
	iamRequestTag  = "aws:RequestTag/cloudlb.io/cluster"
	// iamLBCTag is the cluster tag of the AWS Load Balancer Controller, whose resources a takeover adopts.
	iamLBCTag = "aws:ResourceTag/elbv2.k8s.aws/cluster"
	// iamLBCv1Tag is the cluster tag of the AWS ALB Ingress Controller v1, alone on the resources it made.
	iamLBCv1Tag = "aws:ResourceTag/ingress.k8s.aws/cluster"
)

var (
	iamOwned    = map[string]string{iamResourceTag: iamCluster}
	iamCreating = map[string]string{iamRequestTag: iamCluster}
	// iamAdopting is a takeover claiming a resource of the AWS Load Balancer Controller with cloudlb's tags.
	iamAdopting = map[string]string{iamLBCTag: iamCluster, iamRequestTag: iamCluster}
	// iamAdoptingV1 claims a load balancer, target group or security group that the v1 controller made.
	iamAdoptingV1 = map[string]string{iamLBCv1Tag: iamCluster, iamRequestTag: iamCluster}
)

func iamWith(ctxs ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, c := range ctxs {
		for k, v := range c {
			out[k] = v
		}
	}
	return out
}

func iamOn(action, resource string, ctx map[string]string) iamAuthz {
	return iamAuthz{action, resource, ctx}
}

// each authorises action on every resource with ctx.
func iamEach(action string, ctx map[string]string, resources ...string) []iamAuthz {
	var out []iamAuthz
	for _, r := range resources {
		out = append(out, iamOn(action, r, ctx))
	}
	return out
}

func iamELB(op string) string { return "elasticloadbalancing:" + op }

// authorizations lists, per SDK call in the provider's client interfaces, every authorisation AWS makes for it
// as cloudlb calls it (the Service Authorization Reference's resource types and dependent actions): a create
// with tags is also authorised as elasticloadbalancing:AddTags or ec2:CreateTags with the create action as
// condition key, and a web ACL association also as elasticloadbalancing:SetWebAcl.
func iamAuthorizations() map[string][]iamAuthz {
	tagOnCreate := func(op string) map[string]string {
		return iamWith(iamCreating, map[string]string{"elasticloadbalancing:CreateAction": op})
	}
	out := map[string][]iamAuthz{
		iamELB("CreateLoadBalancer"): {iamOn(iamELB("CreateLoadBalancer"), arnLB, iamCreating), iamOn(iamELB("AddTags"), arnLB, tagOnCreate("CreateLoadBalancer"))},
		iamELB("CreateTargetGroup"):  {iamOn(iamELB("CreateTargetGroup"), arnTG, iamCreating), iamOn(iamELB("AddTags"), arnTG, tagOnCreate("CreateTargetGroup"))},
		// A listener is created on an owned load balancer, a rule on an owned listener, each with its own tags.
		iamELB("CreateListener"): {iamOn(iamELB("CreateListener"), arnLB, iamWith(iamOwned, iamCreating)), iamOn(iamELB("AddTags"), arnListener, tagOnCreate("CreateListener"))},
		iamELB("CreateRule"):     {iamOn(iamELB("CreateRule"), arnListener, iamWith(iamOwned, iamCreating)), iamOn(iamELB("AddTags"), arnRule, tagOnCreate("CreateRule"))},
		// IAM has no condition key for SetRulePriorities: it is scoped to listener rules only.
		iamELB("SetRulePriorities"): {iamOn(iamELB("SetRulePriorities"), arnRule, nil)},
		// Tags change on owned resources, e.g. cloudlb.io/cluster-id when a resource made before it is adopted.
		iamELB("AddTags"): append(iamEach(iamELB("AddTags"), iamWith(iamOwned, map[string]string{"aws:RequestTag/cloudlb.io/cluster-id": "uid"}), arnLB, arnListener, arnRule, arnTG),
			append(iamEach(iamELB("AddTags"), iamAdopting, arnLB, arnListener, arnRule, arnTG),
				iamEach(iamELB("AddTags"), iamAdoptingV1, arnLB, arnTG)...)...),
		iamELB("RemoveTags"): iamEach(iamELB("RemoveTags"), iamOwned, arnLB, arnListener, arnRule, arnTG),

		"ec2:CreateSecurityGroup": {
			iamOn("ec2:CreateSecurityGroup", arnSG, iamCreating),
			iamOn("ec2:CreateSecurityGroup", arnVPC, nil),
			iamOn("ec2:CreateTags", arnSG, iamWith(iamCreating, map[string]string{"ec2:CreateAction": "CreateSecurityGroup"})),
		},
		// Adoption tags a security group made before cloudlb.io/cluster-id with it.
		"ec2:CreateTags": {iamOn("ec2:CreateTags", arnSG, iamWith(iamOwned, map[string]string{"aws:RequestTag/cloudlb.io/cluster-id": "uid"})),
			iamOn("ec2:CreateTags", arnSG, iamAdopting), iamOn("ec2:CreateTags", arnSG, iamAdoptingV1)},
		// The managed group's user tags follow the tags annotation.
		"ec2:DeleteTags":          {iamOn("ec2:DeleteTags", arnSG, iamOwned)},
		"acm:DescribeCertificate": {iamOn("acm:DescribeCertificate", arnCert, nil)},
		// Tags are read before a delete even when they are no longer cloudlb's: that is what the check is for.
		"acm:ListTagsForCertificate": {iamOn("acm:ListTagsForCertificate", arnCert, nil)},
		// RequestCertificate takes no resource; a request with tags is also authorised as acm:AddTagsToCertificate.
		"acm:RequestCertificate": {iamOn("acm:RequestCertificate", "*", iamCreating), iamOn("acm:AddTagsToCertificate", arnCert, iamCreating)},
		"acm:DeleteCertificate":  {iamOn("acm:DeleteCertificate", arnCert, iamOwned)},
		// A requested certificate's tags follow the model, as other resources' do.
		"acm:AddTagsToCertificate":      {iamOn("acm:AddTagsToCertificate", arnCert, iamOwned)},
		"acm:RemoveTagsFromCertificate": {iamOn("acm:RemoveTagsFromCertificate", arnCert, iamOwned)},

		"wafv2:GetWebACLForResource": {iamOn("wafv2:GetWebACLForResource", arnWebACL, nil), iamOn("wafv2:GetWebACLForResource", arnLB, nil), iamOn("wafv2:GetWebACL", arnWebACL, nil)},
		"wafv2:AssociateWebACL":      {iamOn("wafv2:AssociateWebACL", arnWebACL, nil), iamOn("wafv2:AssociateWebACL", arnLB, nil), iamOn(iamELB("SetWebAcl"), "*", nil)},
		"wafv2:DisassociateWebACL":   {iamOn("wafv2:DisassociateWebACL", arnLB, nil), iamOn(iamELB("SetWebAcl"), "*", nil)},
		// IAM authorises CreateProtection on "*" only; the protection it makes is what Describe and Delete name.
		"shield:CreateProtection":   {iamOn("shield:CreateProtection", "*", nil)},
		"shield:DescribeProtection": {iamOn("shield:DescribeProtection", arnProtection, nil)},
		"shield:DeleteProtection":   {iamOn("shield:DeleteProtection", arnProtection, nil)},
		// A TargetGroupBinding's iamRoleArnToAssume, a role of another account whose trust policy names cloudlb's.
		"sts:AssumeRole": {iamOn("sts:AssumeRole", "arn:aws:iam::444455556666:role/tg-owner", nil)},
	}
	for _, op := range []string{"DeleteLoadBalancer", "SetSecurityGroups", "SetSubnets", "SetIpAddressType", "ModifyLoadBalancerAttributes",
		"ModifyIpPools", "ModifyCapacityReservation"} {
		out[iamELB(op)] = []iamAuthz{iamOn(iamELB(op), arnLB, iamOwned)}
	}
	for _, op := range []string{"ModifyListener", "DeleteListener", "AddListenerCertificates", "RemoveListenerCertificates", "ModifyListenerAttributes"} {
		out[iamELB(op)] = []iamAuthz{iamOn(iamELB(op), arnListener, iamOwned)}
	}
	for _, op := range []string{"ModifyRule", "DeleteRule"} {
		out[iamELB(op)] = []iamAuthz{iamOn(iamELB(op), arnRule, iamOwned)}
	}
	// An authenticate-cognito action is also authorised as reading its user pool client, with the caller's rights.
	cognito := iamOn("cognito-idp:DescribeUserPoolClient", arnUserPool, nil)
	for _, op := range []string{"CreateListener", "ModifyListener", "CreateRule", "ModifyRule"} {
		out[iamELB(op)] = append(out[iamELB(op)], cognito)
	}
	for _, op := range []string{"ModifyTargetGroup", "DeleteTargetGroup", "ModifyTargetGroupAttributes", "RegisterTargets", "DeregisterTargets"} {
		out[iamELB(op)] = []iamAuthz{iamOn(iamELB(op), arnTG, iamOwned)}
	}
	out["ec2:DeleteSecurityGroup"] = []iamAuthz{iamOn("ec2:DeleteSecurityGroup", arnSG, iamOwned)}
	// Rules go on the security groups of nodes and pods too, which carry no cloudlb tag (as in the AWS Load
	// Balancer Controller's policy); cloudlb revokes only the rules whose description carries its marker.
	for _, op := range []string{"AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"} {
		out["ec2:"+op] = []iamAuthz{iamOn("ec2:"+op, arnSG, nil)}
	}
	// Reads on "*": these actions take no resource, or cloudlb must read before it knows what is its own.
	for _, a := range []string{iamELB("DescribeLoadBalancers"), iamELB("DescribeLoadBalancerAttributes"), iamELB("DescribeListeners"),
		iamELB("DescribeListenerCertificates"), iamELB("DescribeListenerAttributes"), iamELB("DescribeRules"), iamELB("DescribeTargetGroups"), iamELB("DescribeTargetGroupAttributes"),
		iamELB("DescribeTargetHealth"), iamELB("DescribeTags"), iamELB("DescribeTrustStores"), "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
		"ec2:DescribeNetworkInterfaces", "ec2:DescribeInstances",
		"acm:ListCertificates", "tag:GetResources", iamELB("DescribeCapacityReservation"), "wafv2:ListWebACLs"} {
		out[a] = []iamAuthz{iamOn(a, "*", nil)}
	}
	return out
}

func readIAMPolicy(t *testing.T) iamPolicy {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(test.RepoRoot(), "config", "iam", "policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "CLUSTER_NAME") {
		t.Fatal("policy.json has no CLUSTER_NAME placeholder for the README to tell users to replace")
	}
	var p iamPolicy
	dec := json.NewDecoder(strings.NewReader(strings.ReplaceAll(string(data), "CLUSTER_NAME", iamCluster)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("policy.json: %v", err)
	}
	if p.Version != "2012-10-17" {
		t.Fatalf("policy.json: Version %q, want 2012-10-17 (older versions do not expand policy variables)", p.Version)
	}
	return p
}

// calledOperations are the provider's SDK calls as IAM actions, read off the client interfaces.
func calledIAMOperations(t *testing.T) []string {
	prefixes := map[reflect.Type]string{
		reflect.TypeFor[cloudaws.ELBV2]():   "elasticloadbalancing",
		reflect.TypeFor[cloudaws.EC2]():     "ec2",
		reflect.TypeFor[cloudaws.ACM]():     "acm",
		reflect.TypeFor[cloudaws.Tagging](): "tag",
		reflect.TypeFor[cloudaws.WAFv2]():   "wafv2",
		reflect.TypeFor[cloudaws.Shield]():  "shield",
		reflect.TypeFor[cloudaws.STS]():     "sts",
	}
	clients := reflect.TypeFor[cloudaws.Clients]()
	if clients.NumField() != len(prefixes) {
		t.Fatalf("Clients has %d fields but %d are mapped to IAM prefixes", clients.NumField(), len(prefixes))
	}
	var out []string
	for typ, prefix := range prefixes {
		for i := range typ.NumMethod() {
			out = append(out, prefix+":"+typ.Method(i).Name)
		}
	}
	slices.Sort(out)
	return out
}

// TestPolicyAllowsEveryCall keeps config/iam/policy.json in step with the SDK calls the provider makes: every
// authorisation of every call, dependent actions included, is allowed by some statement, and the policy grants
// no action that no call needs.
func TestPolicyAllowsEveryCall(t *testing.T) {
	p := readIAMPolicy(t)
	auths := iamAuthorizations()
	needed := map[string]bool{}
	for _, op := range calledIAMOperations(t) {
		list, ok := auths[op]
		if !ok {
			t.Errorf("%s: the provider calls it, but this test lists no authorisation for it: add it, then allow it in config/iam/policy.json", op)
			continue
		}
		for _, a := range list {
			needed[strings.ToLower(a.action)] = true
			if !p.allows(t, a) {
				t.Errorf("%s: no statement allows %s on %s with %v", op, a.action, a.resource, a.ctx)
			}
		}
	}
	for _, s := range p.Statement {
		for _, a := range s.Action {
			if strings.Contains(a, "*") || !needed[strings.ToLower(a)] {
				t.Errorf("statement %s grants %s, which no call needs", s.Sid, a)
			}
		}
	}
}

// TestPolicyRefusesWhatIsNotOurs: every authorisation that carries the cluster tag is refused with another
// cluster's value or without the tag, and the tag-on-create grants cannot tag an existing resource.
func TestPolicyRefusesWhatIsNotOurs(t *testing.T) {
	p := readIAMPolicy(t)
	checked := 0
	for op, list := range iamAuthorizations() {
		for _, a := range list {
			for _, key := range []string{iamResourceTag, iamRequestTag, iamLBCTag, iamLBCv1Tag} {
				if _, ok := a.ctx[key]; !ok {
					continue
				}
				for _, v := range []string{"other-cluster", ""} {
					b := iamAuthz{a.action, a.resource, iamWith(a.ctx)}
					if v == "" {
						delete(b.ctx, key)
					} else {
						b.ctx[key] = v
					}
					checked++
					if p.allows(t, b) {
						t.Errorf("%s: %s on %s is allowed with %s=%q", op, a.action, a.resource, key, v)
					}
				}
			}
		}
	}
	if checked < 40 {
		t.Fatalf("only %d refusals checked", checked)
	}
	// Claiming a resource by tagging it needs the resource to carry the cluster tag already.
	for _, a := range []iamAuthz{
		iamOn(iamELB("AddTags"), arnLB, iamCreating),
		iamOn(iamELB("AddTags"), arnTG, iamWith(iamCreating, map[string]string{"elasticloadbalancing:CreateAction": "AddTags"})),
		iamOn("ec2:CreateTags", arnSG, iamCreating),
		// v1 tagged no listener or rule: nothing of that kind carrying only its tag is claimed.
		iamOn(iamELB("AddTags"), arnListener, iamAdoptingV1),
		iamOn(iamELB("AddTags"), arnRule, iamAdoptingV1),
		// WAF is associated with load balancers only.
		iamOn("wafv2:AssociateWebACL", "arn:aws:apigateway:us-west-2::/restapis/a1b2c3/stages/prod", nil),
		iamOn("wafv2:AssociateWebACL", "arn:aws:cognito-idp:us-west-2:111122223333:userpool/us-west-2_EXAMPLE", nil),
	} {
		if p.allows(t, a) {
			t.Errorf("%s on %s is allowed with %v", a.action, a.resource, a.ctx)
		}
	}
}

// TestREADMEShowsThePolicyFile keeps the README's policy the shipped file.
func TestREADMEShowsThePolicyFile(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(test.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- iam-policy -->")
	block, _, ok2 := strings.Cut(rest, "<!-- /iam-policy -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no <!-- iam-policy --> block")
	}
	block = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(block), "```json")), "```"))
	file, err := os.ReadFile(filepath.Join(test.RepoRoot(), "config", "iam", "policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	if block != strings.TrimSpace(string(file)) {
		t.Error("the README's IAM policy differs from config/iam/policy.json: copy the file into the README")
	}
}
