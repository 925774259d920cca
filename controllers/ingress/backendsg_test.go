package ingress

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
)

func TestManageBackendRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		ann  map[string]string
		want bool
		warn bool
	}{
		{"asked for with the user's groups", map[string]string{annSecurityGroups: "sg-1", annManageBackendRules: "true"}, true, false},
		{"the user's groups alone", map[string]string{annSecurityGroups: "sg-1"}, false, false},
		{"turned off with the user's groups", map[string]string{annSecurityGroups: "sg-1", annManageBackendRules: " false "}, false, false},
		// As in the AWS Load Balancer Controller: a managed frontend group always comes with the backend group.
		// "false" asks for nothing there, so nothing is ignored.
		{"false without the user's groups", map[string]string{annManageBackendRules: "false"}, false, false},
		{"ignored without the user's groups, true", map[string]string{annManageBackendRules: "true"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(input(webIngress("app", tc.ann)))
			g.Expect(out.Errors).To(BeEmpty())
			g.Expect(out.LoadBalancer.BackendRules).To(Equal(tc.want))
			if tc.warn {
				g.Expect(out.Warnings[key("app")]).To(ConsistOf(ContainSubstring("annotation " + annManageBackendRules + " applies only to a load balancer with")))
			} else {
				g.Expect(out.Warnings[key("app")]).To(BeEmpty())
			}
		})
	}
}

func TestManageBackendRulesInvalid(t *testing.T) {
	g := NewWithT(t)
	out := Translate(input(webIngress("app", map[string]string{annSecurityGroups: "sg-1", annManageBackendRules: "yes"}), webIngress("good", nil)))
	var ae *AnnotationError
	g.Expect(errors.As(out.Errors[key("app")], &ae)).To(BeTrue(), "%v", out.Errors)
	g.Expect(ae.Key).To(Equal(annManageBackendRules))
	g.Expect(out.Members).To(ConsistOf(HaveField("Name", "good")))
}

func TestManageBackendRulesIsGroupWide(t *testing.T) {
	g := NewWithT(t)
	group := func(a, b map[string]string) Output {
		a, b = withGroup(a), withGroup(b)
		return Translate(Input{ClusterName: "c1", Stack: "shared", Services: testServices(),
			Ingresses: []*networkingv1.Ingress{webIngress("a", a), webIngress("b", b)}})
	}
	out := group(map[string]string{annSecurityGroups: "sg-1", annManageBackendRules: "true"}, map[string]string{annManageBackendRules: "false"})
	g.Expect(out.Errors[key("b")]).To(MatchError(ContainSubstring("annotation " + annManageBackendRules + " is")))
	out = group(map[string]string{annSecurityGroups: "sg-1", annManageBackendRules: "true"}, nil)
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.LoadBalancer.BackendRules).To(BeTrue())
}
