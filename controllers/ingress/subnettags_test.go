package ingress

import (
	"testing"

	. "github.com/onsi/gomega"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
)

func TestClassParamsSubnetTags(t *testing.T) {
	tags := func(sel map[string][]string) elbv2.IngressClassParamsSpec {
		return elbv2.IngressClassParamsSpec{Subnets: &elbv2.SubnetSelector{Tags: sel}}
	}
	for _, tc := range []struct {
		name     string
		ann      map[string]string
		spec     elbv2.IngressClassParamsSpec
		want     map[string][]string
		warnings []string
		err      string
	}{
		{name: "the selector reaches the model, values sorted and deduplicated",
			spec: tags(map[string][]string{"kubernetes.io/role/internal-elb": {"1"}, "tier": {"web", "api", "web"}}),
			want: map[string][]string{"kubernetes.io/role/internal-elb": {"1"}, "tier": {"api", "web"}}},
		{name: "it overrides the subnets annotation, warned",
			ann:  map[string]string{annSubnets: "subnet-0a,subnet-0b"},
			spec: tags(map[string][]string{"tier": {"web"}}),
			want: map[string][]string{"tier": {"web"}},
			warnings: []string{`annotation alb.ingress.kubernetes.io/subnets="subnet-0a,subnet-0b" is overridden by IngressClass alb: ` +
				`IngressClassParams p sets spec.subnets.tags`}},
		{name: "ids and tags together are refused",
			spec: elbv2.IngressClassParamsSpec{Subnets: &elbv2.SubnetSelector{IDs: []elbv2.SubnetID{"subnet-0a"}, Tags: map[string][]string{"a": {"b"}}}},
			err:  "IngressClass alb: IngressClassParams p spec.subnets: sets both ids and tags"},
		{name: "a key without values is refused",
			spec: tags(map[string][]string{"tier": {}}),
			err:  `spec.subnets.tags: "tier": a key must be non-empty with at least one value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(paramsInput(tc.ann, tc.spec))
			if tc.err != "" {
				g.Expect(out.Errors[key("app")]).To(MatchError(ContainSubstring(tc.err)))
				g.Expect(reasonFor(out.Errors[key("app")])).To(Equal(reasonParamsInvalid))
				return
			}
			g.Expect(out.Errors).To(BeEmpty())
			g.Expect(out.LoadBalancer.SubnetTags).To(Equal(tc.want))
			g.Expect(out.LoadBalancer.Subnets).To(BeEmpty())
			g.Expect(out.Warnings[key("app")]).To(ConsistOf(tc.warnings))
		})
	}

	t.Run("a member asking for subnets otherwise conflicts with the group's", func(t *testing.T) {
		g := NewWithT(t)
		in := paramsInput(map[string]string{annGroupName: "g"}, tags(map[string][]string{"tier": {"web"}}))
		in.Ingresses = append(in.Ingresses, webIngress("other", map[string]string{annGroupName: "g", annSubnets: "subnet-0a,subnet-0b"}))
		out := Translate(in)
		g.Expect(out.LoadBalancer.SubnetTags).To(Equal(map[string][]string{"tier": {"web"}}))
		g.Expect(out.Errors[key("other")]).To(MatchError(ContainSubstring("annotation alb.ingress.kubernetes.io/subnets")))
	})

	t.Run("an annotation cannot pass for the class's selector", func(t *testing.T) {
		g := NewWithT(t)
		out := Translate(input(webIngress("app", map[string]string{annSubnets: subnetTagsPrefix[1:] + `{"a":["b"]}`})))
		g.Expect(out.LoadBalancer.SubnetTags).To(BeNil())
	})
}
