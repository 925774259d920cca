package ingress

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
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

func TestManageBackendRulesFromClassParams(t *testing.T) {
	overridden := func(asked, field string) string {
		return `annotation ` + annManageBackendRules + `="` + asked + `" is overridden by IngressClass alb: IngressClassParams p sets spec.` + field
	}
	for _, tc := range []struct {
		name  string
		ann   map[string]string
		class *bool
		want  bool
		warn  []string
	}{
		{"the class turns it on", map[string]string{annSecurityGroups: "sg-1"}, ptr.To(true), true, nil},
		{"the class wins over the annotation's false", map[string]string{annSecurityGroups: "sg-1", annManageBackendRules: "false"},
			ptr.To(true), true, []string{overridden("false", "manageBackendSecurityGroupRules")}},
		{"the class wins over the annotation's true", map[string]string{annSecurityGroups: "sg-1", annManageBackendRules: "true"},
			ptr.To(false), false, []string{overridden("true", "manageBackendSecurityGroupRules")}},
		{"the same value is not warned about", map[string]string{annSecurityGroups: "sg-1", annManageBackendRules: " true "}, ptr.To(true), true, nil},
		{"unset in the class leaves the annotation", map[string]string{annSecurityGroups: "sg-1", annManageBackendRules: "true"}, nil, true, nil},
		{"the class's true is ignored without the user's groups, as the annotation's", nil, ptr.To(true), false,
			[]string{"annotation " + annManageBackendRules + " applies only to a load balancer with " + annSecurityGroups +
				" (on this Ingress or another member of its group); one with the managed security group gets the backend security group anyway, " +
				"unless --enable-backend-security-group=false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(paramsInput(tc.ann, elbv2.IngressClassParamsSpec{ManageBackendSecurityGroupRules: tc.class}))
			g.Expect(out.Errors).To(BeEmpty())
			g.Expect(out.LoadBalancer.BackendRules).To(Equal(tc.want))
			if tc.warn == nil {
				g.Expect(out.Warnings[key("app")]).To(BeEmpty())
			} else {
				g.Expect(out.Warnings[key("app")]).To(ConsistOf(tc.warn))
			}
		})
	}
}

// --enable-manage-backend-security-group-rules is the annotation's default: an Ingress (or class) that sets it
// decides, and only a load balancer with the user's groups carries the rules.
func TestManageBackendRulesDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		ann  map[string]string
		def  bool
		want bool
	}{
		{"off by default", map[string]string{annSecurityGroups: "sg-1"}, false, false},
		{"the flag turns it on", map[string]string{annSecurityGroups: "sg-1"}, true, true},
		{"the annotation's false wins over the flag", map[string]string{annSecurityGroups: "sg-1", annManageBackendRules: "false"}, true, false},
		{"not without the user's groups", nil, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			in := input(webIngress("app", tc.ann))
			in.DefaultBackendRules = tc.def
			out := Translate(in)
			g.Expect(out.Errors).To(BeEmpty())
			g.Expect(out.LoadBalancer.BackendRules).To(Equal(tc.want))
			g.Expect(out.Warnings[key("app")]).To(BeEmpty())
		})
	}
	t.Run("the class's false wins over the flag", func(t *testing.T) {
		g := NewWithT(t)
		in := paramsInput(map[string]string{annSecurityGroups: "sg-1"}, elbv2.IngressClassParamsSpec{ManageBackendSecurityGroupRules: ptr.To(false)})
		in.DefaultBackendRules = true
		out := Translate(in)
		g.Expect(out.Errors).To(BeEmpty())
		g.Expect(out.LoadBalancer.BackendRules).To(BeFalse())
	})
	t.Run("group-wide: a member that sets it decides for the group", func(t *testing.T) {
		g := NewWithT(t)
		out := Translate(Input{ClusterName: "c1", Stack: "shared", Services: testServices(), DefaultBackendRules: true,
			Ingresses: []*networkingv1.Ingress{
				webIngress("a", withGroup(map[string]string{annSecurityGroups: "sg-1"})),
				webIngress("b", withGroup(map[string]string{annManageBackendRules: "false"})),
			}})
		g.Expect(out.Errors).To(BeEmpty())
		g.Expect(out.LoadBalancer.BackendRules).To(BeFalse())
	})
}
