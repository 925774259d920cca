package ingress

import (
	"encoding/json"
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/cloud"
)

// paramsInput is a stack of one Ingress "app" in namespace ns (labelled team=web) whose class "alb" names the
// IngressClassParams "p" with spec.
func paramsInput(ann map[string]string, spec elbv2.IngressClassParamsSpec) Input {
	in := input(webIngress("app", ann))
	in.Classes = map[types.NamespacedName]*networkingv1.IngressClass{
		key("app"): {ObjectMeta: metav1.ObjectMeta{Name: "alb"}, Spec: networkingv1.IngressClassSpec{Controller: ControllerName,
			Parameters: &networkingv1.IngressClassParametersReference{APIGroup: ptr.To("elbv2.k8s.aws"), Kind: "IngressClassParams", Name: "p"}}},
	}
	in.ClassParams = map[string]*elbv2.IngressClassParams{"alb": {ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: spec}}
	in.NamespaceLabels = map[string]map[string]string{"ns": {"team": "web"}}
	return in
}

func TestClassParamsOverrideAnnotations(t *testing.T) {
	spec := elbv2.IngressClassParamsSpec{
		Scheme:                 ptr.To(elbv2.LoadBalancerSchemeInternetFacing),
		IPAddressType:          ptr.To(elbv2.IPAddressTypeDualStack),
		Subnets:                &elbv2.SubnetSelector{IDs: []elbv2.SubnetID{"subnet-0a", "subnet-0b"}},
		InboundCIDRs:           []string{"10.0.0.0/8"},
		CertificateArn:         []string{"arn:aws:acm:eu-west-1:111122223333:certificate/abc"},
		SSLPolicy:              "ELBSecurityPolicy-TLS13-1-2-2021-06",
		Tags:                   []elbv2.Tag{{Key: "team", Value: "platform"}},
		TargetType:             elbv2.TargetTypeIP,
		LoadBalancerName:       "class-lb",
		LoadBalancerAttributes: []elbv2.Attribute{{Key: "idle_timeout.timeout_seconds", Value: "120"}},
		WAFv2ACLArn:            "arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/x/1",
	}
	t.Run("class values win, and each annotation asking otherwise is warned about", func(t *testing.T) {
		g := NewWithT(t)
		out := Translate(paramsInput(map[string]string{
			annScheme:           "internal",
			annLoadBalancerName: "mine",
			annTags:             "team=web,env=prod",
			annLBAttributes:     "idle_timeout.timeout_seconds=60,deletion_protection.enabled=true",
			annTargetType:       "ip", // the same as the class: no warning
		}, spec))
		g.Expect(out.Errors).To(BeEmpty())
		lb := out.LoadBalancer
		g.Expect(lb.Scheme).To(Equal(cloud.SchemeInternetFacing))
		g.Expect(lb.IPAddressType).To(Equal(cloud.IPAddressTypeDualStack))
		g.Expect(lb.Name).To(Equal("class-lb"))
		g.Expect(lb.Subnets).To(Equal([]string{"subnet-0a", "subnet-0b"}))
		g.Expect(lb.InboundCIDRs).To(Equal([]string{"10.0.0.0/8"}))
		g.Expect(lb.Tags).To(Equal(map[string]string{"team": "platform", "env": "prod"}))
		g.Expect(lb.Attributes).To(Equal(map[string]string{"idle_timeout.timeout_seconds": "120", "deletion_protection.enabled": "true"}))
		g.Expect(*lb.WAFv2ACL).To(Equal(spec.WAFv2ACLArn))
		g.Expect(lb.TargetGroups[0].TargetType).To(Equal(cloud.TargetTypeIP))
		l := listener(lb, 443)
		g.Expect(l.Certificates).To(Equal(spec.CertificateArn))
		g.Expect(l.SSLPolicy).To(Equal(spec.SSLPolicy))
		g.Expect(out.Warnings[key("app")]).To(ConsistOf(
			`annotation alb.ingress.kubernetes.io/load-balancer-attributes="idle_timeout.timeout_seconds=60,deletion_protection.enabled=true" is overridden by IngressClass alb: IngressClassParams p sets spec.loadBalancerAttributes`,
			`annotation alb.ingress.kubernetes.io/load-balancer-name="mine" is overridden by IngressClass alb: IngressClassParams p sets spec.loadBalancerName`,
			`annotation alb.ingress.kubernetes.io/scheme="internal" is overridden by IngressClass alb: IngressClassParams p sets spec.scheme`,
			`annotation alb.ingress.kubernetes.io/tags="team=web,env=prod" is overridden by IngressClass alb: IngressClassParams p sets spec.tags`,
		))
	})
	t.Run("without the class's parameters the annotations apply", func(t *testing.T) {
		g := NewWithT(t)
		in := paramsInput(map[string]string{annScheme: "internal"}, spec)
		in.Classes = nil
		out := Translate(in)
		g.Expect(out.Errors).To(BeEmpty())
		g.Expect(out.LoadBalancer.Scheme).To(Equal(cloud.SchemeInternal))
		g.Expect(out.Warnings[key("app")]).To(BeEmpty())
	})
	t.Run("an empty spec changes nothing", func(t *testing.T) {
		g := NewWithT(t)
		ann := map[string]string{annScheme: "internet-facing", annTags: "a=b"}
		plain := input(webIngress("app", ann))
		out := Translate(paramsInput(ann, elbv2.IngressClassParamsSpec{}))
		g.Expect(out.Errors).To(BeEmpty())
		g.Expect(out.LoadBalancer).To(Equal(Translate(plain).LoadBalancer))
	})
}

func TestClassParamsRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spec   elbv2.IngressClassParamsSpec
		want   string
		reason string
	}{
		{"bad group", elbv2.IngressClassParamsSpec{Group: &elbv2.IngressGroup{Name: "Shared"}},
			"IngressClass alb: IngressClassParams p spec.group.name: must be at most 63 lower-case alphanumerics", reasonParamsInvalid},
		{"bad subnet id", elbv2.IngressClassParamsSpec{Subnets: &elbv2.SubnetSelector{IDs: []elbv2.SubnetID{"subnet-0a,subnet-0b"}}},
			`spec.subnets.ids: "subnet-0a,subnet-0b" is not a subnet ID`, reasonParamsInvalid},
		{"bad cidr", elbv2.IngressClassParamsSpec{InboundCIDRs: []string{"10.0.0.0/33"}}, `spec.inboundCIDRs: "10.0.0.0/33" is not a CIDR`, reasonParamsInvalid},
		{"bad certificate", elbv2.IngressClassParamsSpec{CertificateArn: []string{"arn:aws:s3:::bucket"}},
			`spec.certificateArn: "arn:aws:s3:::bucket" is not an ACM or IAM certificate ARN`, reasonParamsInvalid},
		{"bad name", elbv2.IngressClassParamsSpec{LoadBalancerName: "-x"}, "spec.loadBalancerName: must be 1 to 32 alphanumerics", reasonParamsInvalid},
		{"bad scheme", elbv2.IngressClassParamsSpec{Scheme: ptr.To(elbv2.LoadBalancerScheme("public"))}, "spec.scheme: must be one of", reasonParamsInvalid},
		{"reserved tag", elbv2.IngressClassParamsSpec{Tags: []elbv2.Tag{{Key: "cloudlb.io/stack", Value: "x"}}}, "spec.tags: tag key", reasonParamsInvalid},
		{"tag with a comma", elbv2.IngressClassParamsSpec{Tags: []elbv2.Tag{{Key: "a", Value: "b,c=d"}}}, `spec.tags: a="b,c=d"`, reasonParamsInvalid},
		{"bad waf", elbv2.IngressClassParamsSpec{WAFv2ACLArn: "acl"}, "spec.wafv2AclArn: must be a WAFv2 web ACL ARN", reasonParamsInvalid},
		{"bad selector", elbv2.IngressClassParamsSpec{NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "team", Operator: "Near"}}}}, "spec.namespaceSelector:", reasonParamsInvalid},
		{"namespace not selected", elbv2.IngressClassParamsSpec{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "db"}}},
			"spec.namespaceSelector: namespace ns is not selected (team=db), so its Ingresses may not use this class", reasonNamespaceNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			in := paramsInput(nil, tc.spec)
			in.Ingresses = append(in.Ingresses, webIngress("plain", nil))
			out := Translate(in)
			g.Expect(out.Errors[key("app")]).To(MatchError(ContainSubstring(tc.want)))
			g.Expect(reasonFor(out.Errors[key("app")])).To(Equal(tc.reason))
			// The member is left out, not the stack.
			g.Expect(out.Members).To(HaveLen(1))
			g.Expect(out.Members[0].Name).To(Equal("plain"))
		})
	}
}

func TestClassParamsNamespaceSelector(t *testing.T) {
	g := NewWithT(t)
	sel := elbv2.IngressClassParamsSpec{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "web"}}}
	g.Expect(Translate(paramsInput(nil, sel)).Errors).To(BeEmpty())
	// An empty selector selects every namespace.
	in := paramsInput(nil, elbv2.IngressClassParamsSpec{NamespaceSelector: &metav1.LabelSelector{}})
	in.NamespaceLabels = nil
	g.Expect(Translate(in).Errors).To(BeEmpty())
	// Labels that could not be read are not a match: fail closed.
	in = paramsInput(nil, sel)
	in.NamespaceLabels = nil
	g.Expect(reasonFor(Translate(in).Errors[key("app")])).To(Equal(reasonNamespaceNotAllowed))
}

func TestClassParamsMissing(t *testing.T) {
	g := NewWithT(t)
	in := paramsInput(nil, elbv2.IngressClassParamsSpec{})
	in.ClassParams = nil
	out := Translate(in)
	g.Expect(out.Errors[key("app")]).To(MatchError(
		"IngressClass alb: IngressClassParams p: not found; the Ingresses of the class are left out until it exists"))
	g.Expect(reasonFor(out.Errors[key("app")])).To(Equal(reasonParamsNotFound))
	g.Expect(out.LoadBalancer).To(BeNil())

	// A namespaced reference is not LBC's cluster-scoped object.
	in = paramsInput(nil, elbv2.IngressClassParamsSpec{})
	in.Classes[key("app")].Spec.Parameters.Scope = ptr.To("Namespace")
	g.Expect(reasonFor(Translate(in).Errors[key("app")])).To(Equal("UnsupportedIngressClassParameters"))
}

// FuzzClassParams feeds any JSON as an IngressClassParams spec: translation may refuse it, never panic, and a
// member it accepts has a model.
func FuzzClassParams(f *testing.F) {
	f.Add([]byte(`{"scheme":"internal","tags":[{"key":"a","value":"b"}],"subnets":{"ids":["subnet-1"]}}`), "team=web")
	f.Add([]byte(`{"namespaceSelector":{"matchExpressions":[{"key":"a","operator":"In"}]},"loadBalancerAttributes":[{"key":"","value":""}]}`), "")
	f.Add([]byte(`{"inboundCIDRs":["::/0"],"certificateArn":["arn:aws:acm:x"],"wafv2AclArn":"none","targetType":"ip"}`), "x=y,z")
	f.Add([]byte(`{"group":{"name":"g"},"subnets":{"tags":{"tier":["a","a"],"":[]}}}`), "")
	f.Fuzz(func(t *testing.T, data []byte, annTagsValue string) {
		var spec elbv2.IngressClassParamsSpec
		if json.Unmarshal(data, &spec) != nil {
			return
		}
		out := Translate(paramsInput(map[string]string{annTags: annTagsValue, annLBAttributes: annTagsValue}, spec))
		if out.Errors[key("app")] == nil && out.LoadBalancer == nil {
			t.Fatalf("accepted member without a model")
		}
	})
}

func TestWarningReason(t *testing.T) {
	g := NewWithT(t)
	out := Translate(paramsInput(map[string]string{annScheme: "internal"},
		elbv2.IngressClassParamsSpec{Scheme: ptr.To(elbv2.LoadBalancerSchemeInternetFacing)}))
	g.Expect(out.Warnings[key("app")]).To(HaveLen(1))
	g.Expect(warningReason(out.Warnings[key("app")][0])).To(Equal("OverriddenByIngressClass"))
	g.Expect(warningReason("service ns/web port 80 has no NodePort")).To(Equal("Degraded"))
}

// A fault in the Ingress's own tags is the annotation's, not the class's.
func TestClassParamsBlameTheAnnotationForItsOwnTags(t *testing.T) {
	g := NewWithT(t)
	out := Translate(paramsInput(map[string]string{annTags: "cloudlb.io/stack=x"},
		elbv2.IngressClassParamsSpec{Tags: []elbv2.Tag{{Key: "team", Value: "platform"}}}))
	var ae *AnnotationError
	g.Expect(errors.As(out.Errors[key("app")], &ae)).To(BeTrue(), "%v", out.Errors[key("app")])
	g.Expect(ae.Key).To(Equal(annTags))
}
