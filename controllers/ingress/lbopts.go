package ingress

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/cloud"
)

// Load-balancer-wide options of the AWS Load Balancer Controller's vocabulary beyond the first set: an Outposts
// address pool, an IPAM pool, a capacity reservation, prefix lists on the managed security group and a web ACL
// by name. Each is group-wide (settings), so members that set one must agree.
const (
	annCOIPPool      = albPrefix + "customer-owned-ipv4-pool"
	annIPAMPool      = albPrefix + "ipam-ipv4-pool-id"
	annMinCapacity   = albPrefix + "minimum-load-balancer-capacity"
	annPrefixLists   = albPrefix + "security-group-prefix-lists"
	annWAFv2ACLName  = albPrefix + "wafv2-acl-name"
	capacityUnitsKey = "CapacityUnits"
)

var (
	coipPoolRE   = regexp.MustCompile(`^ipv4pool-coip-[0-9a-zA-Z]{1,64}$`)
	ipamPoolRE   = regexp.MustCompile(`^ipam-pool-[0-9a-zA-Z]{1,64}$`)
	prefixListRE = regexp.MustCompile(`^pl-[0-9a-fA-F]{1,64}$`)
	// webACLNameRE is AWS's rule for a web ACL name.
	webACLNameRE = regexp.MustCompile(`^[\w-]{1,128}$`)
)

// coipPool reads customer-owned-ipv4-pool; as the AWS Load Balancer Controller does, an empty value is an error,
// not an absent one.
func (a annotations) coipPool() (string, error) {
	v, ok := a[annCOIPPool]
	if !ok {
		return "", nil
	}
	if v = strings.TrimSpace(v); !coipPoolRE.MatchString(v) {
		return "", a.fail(annCOIPPool, "must be a customer-owned IPv4 pool ID such as ipv4pool-coip-0123456789abcdef0")
	}
	return v, nil
}

// ipamPool reads ipam-ipv4-pool-id; an empty value is no pool, as for the AWS Load Balancer Controller.
func (a annotations) ipamPool() (string, error) {
	v := strings.TrimSpace(a[annIPAMPool])
	if v == "" {
		return "", nil
	}
	if !ipamPoolRE.MatchString(v) {
		return "", a.fail(annIPAMPool, "must be an IPAM pool ID such as ipam-pool-0123456789abcdef0")
	}
	return v, nil
}

// minCapacity reads minimum-load-balancer-capacity, "CapacityUnits=N", as the number of units in decimal;
// "" when absent. 0 resets the reservation.
func (a annotations) minCapacity() (string, error) {
	v, ok := a[annMinCapacity]
	if !ok {
		return "", nil
	}
	k, n, found := strings.Cut(v, "=")
	units, err := strconv.ParseInt(strings.TrimSpace(n), 10, 32)
	if !found || strings.TrimSpace(k) != capacityUnitsKey || err != nil || units < 0 {
		return "", a.fail(annMinCapacity, "must be CapacityUnits=N with N a whole number of capacity units, or CapacityUnits=0 to reset the reservation")
	}
	return strconv.FormatInt(units, 10), nil
}

// prefixLists reads security-group-prefix-lists.
func (a annotations) prefixLists() ([]string, error) {
	ids := a.list(annPrefixLists)
	for _, id := range ids {
		if !prefixListRE.MatchString(id) {
			return nil, a.fail(annPrefixLists, "%q is not a managed prefix list ID such as pl-0123456789abcdef0", id)
		}
	}
	return ids, nil
}

// wafv2ACLName reads wafv2-acl-name: a web ACL name, "none" to remove any association, or "" to leave it alone.
func (a annotations) wafv2ACLName() (string, error) {
	v := strings.TrimSpace(a[annWAFv2ACLName])
	if v == "" {
		return "", nil
	}
	if !webACLNameRE.MatchString(v) {
		return "", a.fail(annWAFv2ACLName, "must be a web ACL name (letters, digits, _ and -, at most 128) or none")
	}
	if _, arn := a[annWAFv2ACLARN]; arn {
		return "", a.fail(annWAFv2ACLName, "cannot be set together with %s: name the web ACL once", annWAFv2ACLARN)
	}
	return v, nil
}

// readLBOptions reads this file's annotations into the member's settings, and checks what AWS refuses of the
// IP address type: dualstack-without-public-ipv4 is for internet-facing load balancers only.
func (m *member) readLBOptions(a annotations) error {
	s := &m.settings
	var err error
	if s.COIPPool, err = a.coipPool(); err != nil {
		return err
	}
	if s.IPAMPool, err = a.ipamPool(); err != nil {
		return err
	}
	if s.MinCapacity, err = a.minCapacity(); err != nil {
		return err
	}
	pls, err := a.prefixLists()
	if err != nil {
		return err
	}
	// A set: members that list the same prefix lists in another order agree.
	slices.Sort(pls)
	s.PrefixLists = strings.Join(slices.Compact(pls), ",")
	if s.PrefixLists != "" && s.SecurityGroups != "" {
		m.warnings = append(m.warnings, fmt.Sprintf("annotation %s is ignored: with %s the load balancer has no managed security group "+
			"to allow the prefix lists on", annPrefixLists, annSecurityGroups))
	}
	if s.WAFv2ACLName, err = a.wafv2ACLName(); err != nil {
		return err
	}
	if s.IPAddressType == cloud.IPAddressTypeDualStackWithoutPublicIPv4 && s.Scheme == cloud.SchemeInternal {
		return a.fail(annIPAddressType, "dualstack-without-public-ipv4 needs scheme internet-facing")
	}
	return nil
}

// lbOptionsConflict is the group-wide check that the members' settings cannot make one by one: the web ACL is
// named by ARN or by name, not both, and dualstack-without-public-ipv4 has the internet-facing scheme AWS needs.
// from names the member that set a group-wide annotation.
func lbOptionsConflict(have, want settings, from map[string]types.NamespacedName) error {
	by := func(ann string) string {
		if k, ok := from[ann]; ok {
			return fmt.Sprintf(" (set by member %s of the same group)", k)
		}
		return ""
	}
	switch {
	case want.WAFv2ACLName != "" && have.WAFv2ACL != "":
		return fmt.Errorf("annotation %s is set but the group's web ACL is named by %s%s; the member already accepted wins",
			annWAFv2ACLName, annWAFv2ACLARN, by(annWAFv2ACLARN))
	case want.WAFv2ACL != "" && have.WAFv2ACLName != "":
		return fmt.Errorf("annotation %s is set but the group's web ACL is named by %s%s; the member already accepted wins",
			annWAFv2ACLARN, annWAFv2ACLName, by(annWAFv2ACLName))
	}
	ip := cmp.Or(want.IPAddressType, have.IPAddressType)
	scheme := cmp.Or(want.Scheme, have.Scheme, cloud.SchemeInternal)
	if ip == cloud.IPAddressTypeDualStackWithoutPublicIPv4 && scheme != cloud.SchemeInternetFacing {
		return &AnnotationError{Key: annIPAddressType, Value: string(ip),
			Reason: fmt.Sprintf("needs scheme internet-facing, and the load balancer's scheme is %s%s", scheme, by(annScheme))}
	}
	return nil
}

// lbOptionsModel puts the group's options into the model.
func (s settings) lbOptionsModel(lb *cloud.LoadBalancer) {
	lb.CustomerOwnedIPv4Pool = s.COIPPool
	lb.IPAMIPv4Pool = s.IPAMPool
	if s.MinCapacity != "" {
		n, _ := strconv.ParseInt(s.MinCapacity, 10, 32) // checked by minCapacity
		units := int32(n)
		lb.MinimumCapacityUnits = &units
	}
	if s.PrefixLists != "" {
		lb.PrefixLists = strings.Split(s.PrefixLists, ",")
	}
	switch s.WAFv2ACLName {
	case "":
	case "none":
		lb.WAFv2ACL = new(string)
	default:
		lb.WAFv2ACLName = s.WAFv2ACLName
	}
}

// classLBOptions turns the IngressClassParams fields of this file's options into the annotation values they
// override.
func classLBOptions(s *elbv2.IngressClassParamsSpec, set func(key, field, value string),
	list func(key, field string, items []string, valid func(string) bool, what string) error,
	fail func(field, reason, event string, args ...any) error) error {
	if c := s.MinimumLoadBalancerCapacity; c != nil {
		set(annMinCapacity, "minimumLoadBalancerCapacity.capacityUnits", capacityUnitsKey+"="+strconv.Itoa(int(c.CapacityUnits)))
	}
	if c := s.IPAMConfiguration; c != nil && c.IPv4IPAMPoolId != nil && *c.IPv4IPAMPoolId != "" {
		set(annIPAMPool, "ipamConfiguration.ipv4IPAMPoolId", *c.IPv4IPAMPoolId)
	}
	// The CRD refuses both spellings at once; the legacy one is read only without the other.
	field, ids := "prefixListsIDs", s.PrefixListsIDs
	if len(ids) == 0 {
		field, ids = "PrefixListsIDs", s.PrefixListsIDsLegacy
	}
	if err := list(annPrefixLists, field, ids, prefixListRE.MatchString, "a managed prefix list ID"); err != nil {
		return err
	}
	if s.WAFv2ACLName != "" {
		if s.WAFv2ACLArn != "" {
			return fail("wafv2AclName", "cannot be set together with wafv2AclArn: name the web ACL once", reasonParamsInvalid)
		}
		set(annWAFv2ACLName, "wafv2AclName", s.WAFv2ACLName)
	}
	return nil
}

// dropOverriddenWAF removes from out the Ingress's web ACL annotation of the other kind than the class sets (an
// ARN against the class's name, or a name against its ARN): the class's web ACL wins, as any class value does.
func dropOverriddenWAF(over map[string]classValue, own, out annotations, class, params string) []string {
	var warnings []string
	for _, pair := range [][2]string{{annWAFv2ACLARN, annWAFv2ACLName}, {annWAFv2ACLName, annWAFv2ACLARN}} {
		v, classSets := over[pair[0]]
		asked, ingressSets := own[pair[1]]
		if !classSets || !ingressSets {
			continue
		}
		delete(out, pair[1])
		warnings = append(warnings, fmt.Sprintf("annotation %s=%q "+overriddenBy+" %s: IngressClassParams %s sets spec.%s",
			pair[1], asked, class, params, v.field))
	}
	return warnings
}
