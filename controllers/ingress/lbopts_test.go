package ingress

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/cloud"
)

// lboptsValid are valid values of lbopts.go's annotations that go together on one Ingress.
var lboptsValid = map[string]string{
	annCOIPPool: "ipv4pool-coip-0123abcd", annIPAMPool: "ipam-pool-0f995c17c00375b48", annMinCapacity: "CapacityUnits=1000",
	annPrefixLists: "pl-00000000",
}

// lboptsExclusive are implemented keys that cannot go with the other valid values (wafv2-acl-name excludes
// wafv2-acl-arn); TestLBOptionsTranslate covers them.
var lboptsExclusive = []string{annWAFv2ACLName}

func TestLBOptionsTranslate(t *testing.T) {
	base := Translate(input(webIngress("app", nil))).LoadBalancer
	for _, tc := range []struct {
		name  string
		ann   map[string]string
		check func(g Gomega, lb *cloud.LoadBalancer)
	}{
		{"customer-owned pool, replacing the load balancer under a new name", map[string]string{annCOIPPool: " ipv4pool-coip-0123abcd "},
			func(g Gomega, lb *cloud.LoadBalancer) {
				g.Expect(lb.CustomerOwnedIPv4Pool).To(Equal("ipv4pool-coip-0123abcd"))
				g.Expect(lb.Name).NotTo(Equal(base.Name))
			}},
		{"IPAM pool", map[string]string{annIPAMPool: "ipam-pool-0f995c17c00375b48"},
			func(g Gomega, lb *cloud.LoadBalancer) {
				g.Expect(lb.IPAMIPv4Pool).To(Equal("ipam-pool-0f995c17c00375b48"))
			}},
		{"an empty IPAM pool is none", map[string]string{annIPAMPool: ""},
			func(g Gomega, lb *cloud.LoadBalancer) { g.Expect(lb).To(Equal(base)) }},
		{"capacity", map[string]string{annMinCapacity: "CapacityUnits=1000"},
			func(g Gomega, lb *cloud.LoadBalancer) {
				g.Expect(lb.MinimumCapacityUnits).To(Equal(ptr.To[int32](1000)))
			}},
		{"capacity reset", map[string]string{annMinCapacity: "CapacityUnits = 0"},
			func(g Gomega, lb *cloud.LoadBalancer) { g.Expect(lb.MinimumCapacityUnits).To(Equal(ptr.To[int32](0))) }},
		{"dualstack without public IPv4", map[string]string{annIPAddressType: "dualstack-without-public-ipv4", annScheme: "internet-facing"},
			func(g Gomega, lb *cloud.LoadBalancer) {
				g.Expect(lb.IPAddressType).To(Equal(cloud.IPAddressTypeDualStackWithoutPublicIPv4))
			}},
		{"prefix lists", map[string]string{annPrefixLists: "pl-00000000, pl-1111111"},
			func(g Gomega, lb *cloud.LoadBalancer) {
				g.Expect(lb.PrefixLists).To(Equal([]string{"pl-00000000", "pl-1111111"}))
				g.Expect(lb.InboundCIDRs).To(BeEmpty())
			}},
		{"web ACL by name", map[string]string{annWAFv2ACLName: "web-acl-name-1"},
			func(g Gomega, lb *cloud.LoadBalancer) {
				g.Expect(lb.WAFv2ACLName).To(Equal("web-acl-name-1"))
				g.Expect(lb.WAFv2ACL).To(BeNil())
			}},
		{"web ACL name none removes the association", map[string]string{annWAFv2ACLName: "none"},
			func(g Gomega, lb *cloud.LoadBalancer) {
				g.Expect(lb.WAFv2ACL).To(Equal(ptr.To("")))
				g.Expect(lb.WAFv2ACLName).To(BeEmpty())
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(input(webIngress("app", tc.ann)))
			g.Expect(out.Errors).To(BeEmpty())
			g.Expect(out.Warnings[key("app")]).To(BeEmpty())
			tc.check(g, out.LoadBalancer)
		})
	}
	t.Run("none of them set leaves the model and its hash as they were", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(base.Name).To(Equal(cloud.Name("c1\x00ns/app\x00internal", "k8s", "ns", "app")))
		g.Expect(base.Hash()).To(Equal((&cloud.LoadBalancer{Stack: base.Stack, Name: base.Name, Scheme: base.Scheme,
			IPAddressType: base.IPAddressType, Tags: base.Tags, Listeners: base.Listeners, TargetGroups: base.TargetGroups}).Hash()))
	})
}

func TestLBOptionsInvalid(t *testing.T) {
	for _, tc := range []struct {
		ann    map[string]string
		key    string
		reason string
	}{
		{map[string]string{annCOIPPool: ""}, annCOIPPool, "must be a customer-owned IPv4 pool ID"},
		{map[string]string{annCOIPPool: "pool-1"}, annCOIPPool, "must be a customer-owned IPv4 pool ID"},
		{map[string]string{annIPAMPool: "ipv4pool-coip-1"}, annIPAMPool, "must be an IPAM pool ID"},
		{map[string]string{annMinCapacity: "1000"}, annMinCapacity, "must be CapacityUnits=N"},
		{map[string]string{annMinCapacity: "Units=1000"}, annMinCapacity, "must be CapacityUnits=N"},
		{map[string]string{annMinCapacity: "CapacityUnits=-1"}, annMinCapacity, "must be CapacityUnits=N"},
		{map[string]string{annMinCapacity: "CapacityUnits=99999999999"}, annMinCapacity, "must be CapacityUnits=N"},
		{map[string]string{annPrefixLists: "pl-00000000,sg-1"}, annPrefixLists, `"sg-1" is not a managed prefix list ID`},
		{map[string]string{annWAFv2ACLName: "my acl"}, annWAFv2ACLName, "must be a web ACL name"},
		{map[string]string{annWAFv2ACLName: "acl", annWAFv2ACLARN: "arn:aws:wafv2:us-east-1:1:regional/webacl/x/y"}, annWAFv2ACLName,
			"cannot be set together with " + annWAFv2ACLARN},
		{map[string]string{annIPAddressType: "dualstack-without-public-ipv4", annScheme: "internal"}, annIPAddressType,
			"dualstack-without-public-ipv4 needs scheme internet-facing"},
		// Without a scheme the load balancer is internal.
		{map[string]string{annIPAddressType: "dualstack-without-public-ipv4"}, annIPAddressType,
			"needs scheme internet-facing, and the load balancer's scheme is internal"},
	} {
		t.Run(tc.key+"="+tc.ann[tc.key], func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(input(webIngress("app", tc.ann), webIngress("good", nil)))
			var ae *AnnotationError
			g.Expect(errors.As(out.Errors[key("app")], &ae)).To(BeTrue(), "%v", out.Errors[key("app")])
			g.Expect(ae.Key).To(Equal(tc.key))
			g.Expect(ae.Reason).To(ContainSubstring(tc.reason))
			g.Expect(reasonFor(out.Errors[key("app")])).To(Equal("InvalidAnnotation"))
			g.Expect(out.Members).To(HaveLen(1), "only the invalid member is left out")
		})
	}
}

func TestLBOptionsAreGroupWide(t *testing.T) {
	group := func(a, b map[string]string) Output {
		a, b = withGroup(a), withGroup(b)
		return Translate(Input{ClusterName: "c1", Stack: "shared", Services: testServices(),
			Ingresses: []*networkingv1.Ingress{webIngress("a", a), webIngress("b", b)}})
	}
	for _, tc := range []struct {
		key, a, b string
	}{
		{annCOIPPool, "ipv4pool-coip-1", "ipv4pool-coip-2"},
		{annIPAMPool, "ipam-pool-1", "ipam-pool-2"},
		{annMinCapacity, "CapacityUnits=100", "CapacityUnits=200"},
		{annPrefixLists, "pl-1", "pl-1,pl-2"},
		{annWAFv2ACLName, "acl-1", "none"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			g := NewWithT(t)
			out := group(map[string]string{tc.key: tc.a}, map[string]string{tc.key: tc.b})
			g.Expect(out.Errors).To(HaveKey(key("b")))
			g.Expect(out.Errors[key("b")]).To(MatchError(ContainSubstring("annotation " + tc.key + " is")))
			g.Expect(out.Errors[key("b")]).To(MatchError(ContainSubstring("on member ns/a of the same group")))
			g.Expect(out.Members).To(HaveLen(1))

			// A member that does not set it takes the group's.
			out = group(map[string]string{tc.key: tc.a}, nil)
			g.Expect(out.Errors).To(BeEmpty())
			g.Expect(out.Members).To(HaveLen(2))
		})
	}
	t.Run("a web ACL by name and one by ARN conflict", func(t *testing.T) {
		g := NewWithT(t)
		out := group(map[string]string{annWAFv2ACLARN: "arn:aws:wafv2:us-east-1:1:regional/webacl/x/y"}, map[string]string{annWAFv2ACLName: "acl"})
		g.Expect(out.Errors[key("b")]).To(MatchError(ContainSubstring(
			"annotation " + annWAFv2ACLName + " is set but the group's web ACL is named by " + annWAFv2ACLARN + " (set by member ns/a of the same group)")))
		out = group(map[string]string{annWAFv2ACLName: "acl"}, map[string]string{annWAFv2ACLARN: "none"})
		g.Expect(out.Errors[key("b")]).To(MatchError(ContainSubstring("(set by member ns/a of the same group)")))
	})
	t.Run("dualstack-without-public-ipv4 takes the scheme of the group", func(t *testing.T) {
		g := NewWithT(t)
		out := group(map[string]string{annScheme: "internet-facing"}, map[string]string{annIPAddressType: "dualstack-without-public-ipv4"})
		g.Expect(out.Errors).To(BeEmpty())
		g.Expect(out.LoadBalancer.IPAddressType).To(Equal(cloud.IPAddressTypeDualStackWithoutPublicIPv4))
		out = group(map[string]string{annScheme: "internal"}, map[string]string{annIPAddressType: "dualstack-without-public-ipv4"})
		g.Expect(out.Errors[key("b")]).To(MatchError(ContainSubstring("the load balancer's scheme is internal (set by member ns/a of the same group)")))
	})
	t.Run("the members' prefix lists, in any order", func(t *testing.T) {
		g := NewWithT(t)
		out := group(map[string]string{annPrefixLists: "pl-2,pl-1"}, map[string]string{annPrefixLists: "pl-1, pl-2"})
		g.Expect(out.Errors).To(BeEmpty())
		g.Expect(out.LoadBalancer.PrefixLists).To(Equal([]string{"pl-1", "pl-2"}))
	})
}

func withGroup(ann map[string]string) map[string]string {
	out := map[string]string{annGroupName: "shared"}
	for k, v := range ann {
		out[k] = v
	}
	return out
}

func TestLBOptionsPrefixListsWithSecurityGroupsWarn(t *testing.T) {
	g := NewWithT(t)
	out := Translate(input(webIngress("app", map[string]string{annPrefixLists: "pl-1", annSecurityGroups: "sg-1"})))
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.Warnings[key("app")]).To(ConsistOf(ContainSubstring("annotation " + annPrefixLists + " is ignored")))
	g.Expect(warningReason(out.Warnings[key("app")][0])).To(Equal("Degraded"))
}

func TestLBOptionsClassParams(t *testing.T) {
	t.Run("class values win over the annotations", func(t *testing.T) {
		g := NewWithT(t)
		out := Translate(paramsInput(map[string]string{
			annMinCapacity: "CapacityUnits=5", annIPAMPool: "ipam-pool-ann", annPrefixLists: "pl-a", annWAFv2ACLARN: "none",
			annIPAddressType: "ipv4", annScheme: "internet-facing",
		}, elbv2.IngressClassParamsSpec{
			MinimumLoadBalancerCapacity: &elbv2.MinimumLoadBalancerCapacity{CapacityUnits: 100},
			IPAMConfiguration:           &elbv2.IPAMConfiguration{IPv4IPAMPoolId: ptr.To("ipam-pool-class")},
			PrefixListsIDs:              []string{"pl-b", "pl-c"},
			WAFv2ACLName:                "class-acl",
			IPAddressType:               ptr.To(elbv2.IPAddressTypeDualStackWithoutPublicIPv4),
		}))
		g.Expect(out.Errors).To(BeEmpty())
		lb := out.LoadBalancer
		g.Expect(lb.MinimumCapacityUnits).To(Equal(ptr.To[int32](100)))
		g.Expect(lb.IPAMIPv4Pool).To(Equal("ipam-pool-class"))
		g.Expect(lb.PrefixLists).To(Equal([]string{"pl-b", "pl-c"}))
		g.Expect(lb.WAFv2ACLName).To(Equal("class-acl"))
		g.Expect(lb.WAFv2ACL).To(BeNil(), "the class's web ACL name wins over the Ingress's ARN")
		g.Expect(lb.IPAddressType).To(Equal(cloud.IPAddressTypeDualStackWithoutPublicIPv4))
		g.Expect(out.Warnings[key("app")]).To(ConsistOf(
			`annotation alb.ingress.kubernetes.io/ip-address-type="ipv4" is overridden by IngressClass alb: IngressClassParams p sets spec.ipAddressType`,
			`annotation alb.ingress.kubernetes.io/ipam-ipv4-pool-id="ipam-pool-ann" is overridden by IngressClass alb: IngressClassParams p sets spec.ipamConfiguration.ipv4IPAMPoolId`,
			`annotation alb.ingress.kubernetes.io/minimum-load-balancer-capacity="CapacityUnits=5" is overridden by IngressClass alb: IngressClassParams p sets spec.minimumLoadBalancerCapacity.capacityUnits`,
			`annotation alb.ingress.kubernetes.io/security-group-prefix-lists="pl-a" is overridden by IngressClass alb: IngressClassParams p sets spec.prefixListsIDs`,
			`annotation alb.ingress.kubernetes.io/wafv2-acl-arn="none" is overridden by IngressClass alb: IngressClassParams p sets spec.wafv2AclName`,
		))
	})
	t.Run("the class's web ACL ARN wins over the Ingress's name", func(t *testing.T) {
		g := NewWithT(t)
		arn := "arn:aws:wafv2:us-east-1:1:regional/webacl/x/y"
		out := Translate(paramsInput(map[string]string{annWAFv2ACLName: "mine"}, elbv2.IngressClassParamsSpec{WAFv2ACLArn: arn}))
		g.Expect(out.Errors).To(BeEmpty())
		g.Expect(out.LoadBalancer.WAFv2ACL).To(Equal(&arn))
		g.Expect(out.LoadBalancer.WAFv2ACLName).To(BeEmpty())
		g.Expect(out.Warnings[key("app")]).To(ConsistOf(ContainSubstring(`wafv2-acl-name="mine" is overridden`)))
	})
	t.Run("legacy prefix list spelling and a reset capacity", func(t *testing.T) {
		g := NewWithT(t)
		out := Translate(paramsInput(nil, elbv2.IngressClassParamsSpec{PrefixListsIDsLegacy: []string{"pl-d"},
			MinimumLoadBalancerCapacity: &elbv2.MinimumLoadBalancerCapacity{}}))
		g.Expect(out.Errors).To(BeEmpty())
		g.Expect(out.LoadBalancer.PrefixLists).To(Equal([]string{"pl-d"}))
		g.Expect(out.LoadBalancer.MinimumCapacityUnits).To(Equal(ptr.To[int32](0)))
	})
	for _, tc := range []struct {
		name string
		spec elbv2.IngressClassParamsSpec
		want string
	}{
		{"negative capacity", elbv2.IngressClassParamsSpec{MinimumLoadBalancerCapacity: &elbv2.MinimumLoadBalancerCapacity{CapacityUnits: -1}},
			"spec.minimumLoadBalancerCapacity.capacityUnits: must be CapacityUnits=N"},
		{"bad IPAM pool", elbv2.IngressClassParamsSpec{IPAMConfiguration: &elbv2.IPAMConfiguration{IPv4IPAMPoolId: ptr.To("pool")}},
			"spec.ipamConfiguration.ipv4IPAMPoolId: must be an IPAM pool ID"},
		{"bad prefix list", elbv2.IngressClassParamsSpec{PrefixListsIDs: []string{"pl-1,pl-2"}}, `spec.prefixListsIDs: "pl-1,pl-2" is not a managed prefix list ID`},
		{"bad legacy prefix list", elbv2.IngressClassParamsSpec{PrefixListsIDsLegacy: []string{"x"}}, `spec.PrefixListsIDs: "x" is not a managed prefix list ID`},
		{"bad web ACL name", elbv2.IngressClassParamsSpec{WAFv2ACLName: "a b"}, "spec.wafv2AclName: must be a web ACL name"},
		{"web ACL by name and ARN", elbv2.IngressClassParamsSpec{WAFv2ACLName: "a", WAFv2ACLArn: "arn:aws:wafv2:us-east-1:1:regional/webacl/x/y"},
			"spec.wafv2AclName: cannot be set together with wafv2AclArn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(paramsInput(nil, tc.spec))
			g.Expect(out.Errors[key("app")]).To(MatchError(ContainSubstring(tc.want)))
			g.Expect(reasonFor(out.Errors[key("app")])).To(Equal(reasonParamsInvalid))
		})
	}
}

// FuzzLBOptions holds lbopts.go's parsers to the contract of fuzz_test.go: never panic, fail only with an
// *AnnotationError naming the annotation, and accept only what AWS accepts.
func FuzzLBOptions(f *testing.F) {
	for _, s := range []string{"CapacityUnits=1000", "CapacityUnits=0", "CapacityUnits=-1", "CapacityUnits=", "=5", "pl-0a,pl-1",
		"pl-,sg-1", "ipv4pool-coip-0a", "ipam-pool-0a", "none", "web-acl-1", "a b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		a := annotations{annMinCapacity: v, annPrefixLists: v, annWAFv2ACLName: v, annCOIPPool: v, annIPAMPool: v}
		if units, err := a.minCapacity(); err != nil {
			requireAnnotationError(t, err, annMinCapacity)
		} else if n, perr := strconv.ParseInt(units, 10, 32); perr != nil || n < 0 {
			t.Fatalf("%q accepted as %q capacity units", v, units)
		}
		if ids, err := a.prefixLists(); err != nil {
			requireAnnotationError(t, err, annPrefixLists)
		} else {
			for _, id := range ids {
				if !strings.HasPrefix(id, "pl-") || strings.ContainsAny(id, ", ") {
					t.Fatalf("%q accepted as prefix list %q", v, id)
				}
			}
		}
		if name, err := a.wafv2ACLName(); err != nil {
			requireAnnotationError(t, err, annWAFv2ACLName)
		} else if len(name) > 128 || strings.ContainsAny(name, " ,") {
			t.Fatalf("%q accepted as web ACL name %q", v, name)
		}
		if _, err := a.coipPool(); err != nil {
			requireAnnotationError(t, err, annCOIPPool)
		}
		if _, err := a.ipamPool(); err != nil {
			requireAnnotationError(t, err, annIPAMPool)
		}
	})
}
