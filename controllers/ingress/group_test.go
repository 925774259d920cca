package ingress

import (
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/cloudlb/cloudlb/cloud"
)

func TestStackOfGroup(t *testing.T) {
	g := NewWithT(t)
	implicit := webIngress("web", nil)
	g.Expect(stackKey(stackOf(implicit))).To(Equal("ns/web"), "an Ingress without group.name keeps its stack key")
	g.Expect(stackKey(stackOf(webIngress("web", map[string]string{annGroupName: "shared"})))).To(Equal("shared"))
	for _, bad := range []string{"", "Shared", "-a", "a-", "a_b", strings.Repeat("a", 64)} {
		ing := webIngress("web", map[string]string{annGroupName: bad})
		g.Expect(stackKey(stackOf(ing))).To(Equal("ns/web"), "an invalid group.name %q joins no group", bad)
		out := Translate(input(ing))
		g.Expect(out.Errors[key("web")]).To(MatchError(ContainSubstring(annGroupName)), bad)
	}
	g.Expect(stackKey(stackOf(webIngress("web", map[string]string{annGroupName: strings.Repeat("a", 63)})))).To(HaveLen(63))
	for _, bad := range []string{"x", "1001", "-1001", "1.5"} {
		out := Translate(input(webIngress("web", map[string]string{annGroupOrder: bad})))
		g.Expect(out.Errors[key("web")]).To(MatchError(ContainSubstring(annGroupOrder)), bad)
	}
}

func TestRecordNamesOfGroupsNeverCollide(t *testing.T) {
	g := NewWithT(t)
	g.Expect(recordName("team/web")).To(Equal("team.web"), "implicit groups keep their record")
	g.Expect(recordName("shared")).To(Equal("shared"))
	// Group "team.web" would read like the implicit group of Ingress team/web.
	g.Expect(recordName("team.web")).NotTo(Equal(recordName("team/web")))
	g.Expect(recordName("team.web")).NotTo(ContainSubstring("."))
	g.Expect(recordName("team.web")).NotTo(Equal(recordName("team-web")))
}

func TestTranslateGroupOrder(t *testing.T) {
	g := NewWithT(t)
	prefix := networkingv1.PathTypePrefix
	// "a" sorts first by name but has the higher order; its longer path would sort first if the rules of all
	// members were sorted together.
	a := ingress("a", map[string]string{annGroupOrder: "10"}, rule("", httpPath("/long/path", prefix, backend("web", 80))))
	b := ingress("b", map[string]string{annGroupOrder: "-5"},
		rule("", httpPath("/", prefix, backend("web", 80)), httpPath("/b/longer", prefix, backend("web", 80))))
	c := ingress("c", nil, rule("", httpPath("/c", prefix, backend("web", 80))))
	out := Translate(Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: []*networkingv1.Ingress{a, b, c}})
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.Members).To(Equal([]*networkingv1.Ingress{b, c, a}))
	g.Expect(viewRules(listener(out.LoadBalancer, 80))).To(Equal([]ruleView{
		{1, "", cloud.PathPrefix, "/b/longer", "ns/b/web:80"},
		{2, "", cloud.PathPrefix, "/", "ns/b/web:80"},
		{3, "", cloud.PathPrefix, "/c", "ns/c/web:80"},
		{4, "", cloud.PathPrefix, "/long/path", "ns/a/web:80"},
	}))
}

func TestTranslateAppliedMembersWinConflicts(t *testing.T) {
	g := NewWithT(t)
	// "a" comes first in group order, but "b" is the member the load balancer already serves.
	a := webIngress("a", map[string]string{annScheme: "internet-facing", annGroupOrder: "-1"})
	b := webIngress("b", map[string]string{annScheme: "internal"})
	in := Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: []*networkingv1.Ingress{a, b}}

	out := Translate(in)
	g.Expect(out.Members).To(Equal([]*networkingv1.Ingress{a}), "without a record, group order decides")

	in.Applied = map[types.NamespacedName]bool{key("b"): true}
	out = Translate(in)
	g.Expect(out.Members).To(Equal([]*networkingv1.Ingress{b}))
	g.Expect(out.LoadBalancer.Scheme).To(Equal(cloud.SchemeInternal))
	g.Expect(out.Errors[key("a")]).To(MatchError(
		`annotation alb.ingress.kubernetes.io/scheme is "internet-facing" here but "internal" on member ns/b of the same group; the member already accepted wins`))
}

func TestTranslateGroupUnsetSettingsTakeTheGroups(t *testing.T) {
	g := NewWithT(t)
	a := webIngress("a", nil)
	b := webIngress("b", map[string]string{annScheme: "internet-facing", annSubnets: "subnet-1,subnet-2"})
	out := Translate(Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: []*networkingv1.Ingress{a, b}})
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.LoadBalancer.Scheme).To(Equal(cloud.SchemeInternetFacing))
	g.Expect(out.LoadBalancer.Subnets).To(Equal([]string{"subnet-1", "subnet-2"}))
	// An explicit group's load balancer is named after the group, as the AWS Load Balancer Controller names it.
	g.Expect(out.LoadBalancer.Name).To(MatchRegexp(`^k8s-group-[0-9a-f]{10}$`))
}

func TestTranslateGroupRuleQuotaLeavesOutTheMember(t *testing.T) {
	g := NewWithT(t)
	prefix := networkingv1.PathTypePrefix
	many := func(name string, n int, ann map[string]string) *networkingv1.Ingress {
		var paths []networkingv1.HTTPIngressPath
		for i := range n {
			paths = append(paths, httpPath(fmt.Sprintf("/%s/%d", name, i), prefix, backend("web", 80)))
		}
		return ingress(name, ann, rule("", paths...))
	}
	// 60 rules on two listeners are 120 listener rules: "a" alone is past the quota.
	twoPorts := map[string]string{annListenPorts: `[{"HTTP": 80}, {"HTTP": 8080}]`}
	out := Translate(Input{ClusterName: "c1", Stack: "group", Services: testServices(),
		Ingresses: []*networkingv1.Ingress{many("a", 60, twoPorts), many("b", 10, nil)}})
	g.Expect(out.Errors[key("a")]).To(MatchError(ContainSubstring("past the ALB quota of 100")))
	g.Expect(out.Members).To(HaveLen(1))

	// "b" is applied: the member that would pass the quota is the newcomer "a", whatever the group order.
	a, b := many("a", 50, nil), many("b", 60, nil)
	in := Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: []*networkingv1.Ingress{a, b},
		Applied: map[types.NamespacedName]bool{key("b"): true}}
	out = Translate(in)
	g.Expect(out.Members).To(Equal([]*networkingv1.Ingress{b}))
	g.Expect(out.Errors[key("a")]).To(MatchError("its 50 rules would take the group's load balancer to 110 rules, past the ALB quota of 100"))
	g.Expect(listener(out.LoadBalancer, 80).Rules).To(HaveLen(60))

	// Exactly 100 fits.
	out = Translate(Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: []*networkingv1.Ingress{many("a", 40, nil), b}})
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(listener(out.LoadBalancer, 80).Rules).To(HaveLen(100))
}

func TestTranslateKeepsAnAppliedMemberThatFails(t *testing.T) {
	g := NewWithT(t)
	prefix := networkingv1.PathTypePrefix
	a := webIngress("a", map[string]string{annScheme: "internal"})
	a.Spec.DefaultBackend = ptr.To(backend("web", 80))
	// b comes first in group order: precedence, not order, decides conflicts.
	b := ingress("b", map[string]string{annGroupOrder: "-1"}, rule("b.example.com",
		httpPath("/b", prefix, backend("web", 80)), httpPath("/b/longer", prefix, backend("api", 9000))))
	in := Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: []*networkingv1.Ingress{a, b}}
	before := Translate(in)
	g.Expect(before.Errors).To(BeEmpty())
	g.Expect(before.Models).To(HaveLen(2))
	in.Applied = map[types.NamespacedName]bool{key("a"): true, key("b"): true}
	in.Kept = before.Models

	for name, broken := range map[string]func(*networkingv1.Ingress){
		"invalid annotation":         func(i *networkingv1.Ingress) { i.Annotations[annHCPath] = "no-slash" },
		"missing backend":            func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = "gone" },
		"conflicting setting":        func(i *networkingv1.Ingress) { i.Annotations[annScheme] = "internet-facing" },
		"second default backend":     func(i *networkingv1.Ingress) { i.Spec.DefaultBackend = ptr.To(backend("web", 80)) },
		"past the rule quota":        func(i *networkingv1.Ingress) { i.Annotations[annListenPorts] = manyPorts(50) },
		"conflicting listen-port":    func(i *networkingv1.Ingress) { i.Annotations[annListenPorts] = `[{"HTTPS": 80}]` },
		"invalid group.order itself": func(i *networkingv1.Ingress) { i.Annotations[annGroupOrder] = "first" },
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			bb := b.DeepCopy()
			broken(bb)
			in := in
			in.Ingresses = []*networkingv1.Ingress{a, bb}
			out := Translate(in)
			g.Expect(out.Errors).To(HaveKey(key("b")))
			g.Expect(out.Errors).NotTo(HaveKey(key("a")))
			g.Expect(out.Members).To(ConsistOf(bb, a), "b is served as it was")
			g.Expect(out.Models[key("b")]).To(Equal(in.Kept[key("b")]))
			g.Expect(out.LoadBalancer.Hash()).To(Equal(before.LoadBalancer.Hash()))
		})
	}

	// Unchanged members give the same model from what was kept: no cloud call after a restart.
	broken := b.DeepCopy()
	broken.Annotations[annHCPath] = "no-slash"
	in.Ingresses = []*networkingv1.Ingress{a, broken}
	g.Expect(Translate(in).LoadBalancer.Hash()).To(Equal(before.LoadBalancer.Hash()))

	// Without a kept model (never applied, or a record of another version), the member is simply left out.
	in.Kept = map[types.NamespacedName]string{key("b"): "not base64!"}
	out := Translate(in)
	g.Expect(out.Members).To(Equal([]*networkingv1.Ingress{a}))
}

// manyPorts is a listen-ports value of n HTTP listeners.
func manyPorts(n int) string {
	var ps []string
	for i := range n {
		ps = append(ps, fmt.Sprintf(`{"HTTP": %d}`, 8000+i))
	}
	return "[" + strings.Join(ps, ",") + "]"
}

func TestTranslateHeldMemberIsLeftAsApplied(t *testing.T) {
	g := NewWithT(t)
	a, b := webIngress("a", nil), ingress("b", nil, rule("b.example.com", httpPath("/b", networkingv1.PathTypePrefix, backend("web", 80))))
	in := Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: []*networkingv1.Ingress{a, b}}
	before := Translate(in)
	in.Applied = map[types.NamespacedName]bool{key("a"): true, key("b"): true}
	in.Kept = before.Models
	in.Held = map[types.NamespacedName]bool{key("b"): true}
	changed := b.DeepCopy()
	changed.Spec.Rules[0].Host = "changed.example.com"
	in.Ingresses = []*networkingv1.Ingress{a, changed}
	out := Translate(in)
	g.Expect(out.Errors).To(HaveKeyWithValue(key("b"), errHeld))
	g.Expect(out.LoadBalancer.Hash()).To(Equal(before.LoadBalancer.Hash()), "the held member is not translated anew")

	in.Kept = nil
	g.Expect(Translate(in).Members).To(Equal([]*networkingv1.Ingress{a}), "a held member never applied has nothing to keep")
}
