package aws

import (
	"fmt"
	"slices"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// desired is the model with every cloud lookup done: what plan needs besides what exists.
type desired struct {
	lb      *cloud.LoadBalancer
	subnets []string
	userSGs []string // nil: the provider manages a frontend group
	// backendSGs go on every load balancer with a managed frontend group, so that nodes and pods can allow
	// traffic from the load balancers with one rule made once.
	backendSGs []string
	sgName     string
	listeners  []desiredListener
	// tgNames maps target group IDs to their cloud names, which hash the settings AWS cannot change in place.
	tgNames map[string]string
	tags    tagSet
}

type desiredListener struct {
	cloud.Listener
	certs []string // resolved; the first is the default
	// hold keeps an existing listener exactly as it is, and creates none: an HTTPS listener whose certificates
	// cannot be found (expired, re-imported) must keep serving with the ones it has.
	hold bool
}

// plan is a pure diff of desired and actual. Apply carries it out in dependency order.
type plan struct {
	sg        *sgPlan
	deleteSGs []string

	createTGs []cloud.TargetGroup
	modifyTGs []tgChange
	tgTags    []tagChange
	// copyTargets maps a new target group's ID to the ARN of the group it replaces, whose targets it takes.
	copyTargets map[string]string
	// tgAttrs are attribute changes by target group ID, for kept and new groups alike.
	tgAttrs   map[string]map[string]string
	keepTGs   map[string]string // target group ID -> ARN of the existing group kept
	deleteTGs []string

	lb lbPlan
	// deleteLBs are owned load balancers that are not the one kept: duplicates and replaced ones.
	deleteLBs []string

	listeners       []listenerPlan
	deleteListeners []string
}

type sgPlan struct {
	id        string // empty: create
	authorize []ec2types.IpPermission
	revoke    []ec2types.IpPermission
}

type tgChange struct {
	arn  string
	want cloud.TargetGroup
}

type tagChange struct {
	arn    string
	set    tagSet
	remove []string
}

type lbPlan struct {
	existing *lbState // nil: create
	// deleteFirst is an owned load balancer holding the name the new one needs (a scheme change under a
	// user-chosen name): it must go before the create.
	deleteFirst string
	setSubnets  bool
	setSGs      bool
	setIPType   bool
	tags        *tagChange
	// attrs are the attributes to set, on the kept or the new load balancer.
	attrs map[string]string
}

type listenerPlan struct {
	want     desiredListener
	existing *listenerState // nil: create
	modify   bool
	addCerts []string
	delCerts []string
	rules    rulePlan
}

type rulePlan struct {
	moves   []ruleMove
	creates []ruleCreate
	modify  []ruleModify
	deletes []string
}

type ruleMove struct {
	arn      string
	priority int32
}

type ruleCreate struct {
	rule     cloud.Rule
	priority int32
}

type ruleModify struct {
	arn  string
	rule cloud.Rule
}

// makePlan diffs desired against actual. It is pure: no calls, no clock.
func makePlan(d *desired, a *actual) (*plan, error) {
	pl := &plan{keepTGs: map[string]string{}, tgAttrs: map[string]map[string]string{}, copyTargets: map[string]string{}}
	planSecurityGroup(d, a, pl)
	planTargetGroups(d, a, pl)
	planLoadBalancer(d, a, pl)

	tgRef := func(id string) string {
		if arn, ok := pl.keepTGs[id]; ok {
			return arn
		}
		return "new:" + id
	}
	var existing []*listenerState
	if pl.lb.existing != nil {
		existing = pl.lb.existing.listeners
	}
	wanted := map[int32]bool{}
	for _, want := range d.listeners {
		wanted[want.Port] = true
		var have *listenerState
		for _, l := range existing {
			if deref(l.l.Port) == want.Port {
				have = l
			}
		}
		if want.hold {
			continue
		}
		lp, err := planListener(want, have, tgRef)
		if err != nil {
			return nil, fmt.Errorf("listener %d: %w", want.Port, err)
		}
		pl.listeners = append(pl.listeners, lp)
	}
	for _, l := range existing {
		if !wanted[deref(l.l.Port)] {
			pl.deleteListeners = append(pl.deleteListeners, deref(l.l.ListenerArn))
		}
	}
	return pl, nil
}

func planSecurityGroup(d *desired, a *actual, pl *plan) {
	var keep *ec2types.SecurityGroup
	if d.userSGs == nil {
		for i := range a.securityGroups {
			if deref(a.securityGroups[i].GroupName) == d.sgName {
				keep = &a.securityGroups[i]
				break
			}
		}
		pl.sg = &sgPlan{}
		want := ingressPermissions(d)
		var have []ec2types.IpPermission
		if keep != nil {
			pl.sg.id = deref(keep.GroupId)
			have = flattenPermissions(keep.IpPermissions)
		}
		pl.sg.authorize = subtractPermissions(want, have)
		pl.sg.revoke = subtractPermissions(have, want)
	}
	for _, sg := range a.securityGroups {
		if keep == nil || deref(sg.GroupId) != deref(keep.GroupId) {
			pl.deleteSGs = append(pl.deleteSGs, deref(sg.GroupId))
		}
	}
}

// ingressPermissions are the managed group's rules: every listener port from every inbound CIDR, one
// permission per port and CIDR so that they diff one by one.
func ingressPermissions(d *desired) []ec2types.IpPermission {
	cidrs := d.lb.InboundCIDRs
	if len(cidrs) == 0 {
		cidrs = []string{"0.0.0.0/0"}
		if d.lb.IPAddressType == cloud.IPAddressTypeDualStack {
			cidrs = append(cidrs, "::/0")
		}
	}
	var out []ec2types.IpPermission
	for _, l := range d.listeners {
		for _, c := range cidrs {
			out = append(out, permission(l.Port, c))
		}
	}
	return out
}

func permission(port int32, cidr string) ec2types.IpPermission {
	p := ec2types.IpPermission{IpProtocol: ptr("tcp"), FromPort: ptr(port), ToPort: ptr(port)}
	if isIPv6(cidr) {
		p.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: ptr(cidr)}}
	} else {
		p.IpRanges = []ec2types.IpRange{{CidrIp: ptr(cidr)}}
	}
	return p
}

func isIPv6(cidr string) bool { return slices.Contains([]byte(cidr), ':') }

// flattenPermissions splits AWS's grouped permissions into one per port range and CIDR, dropping rules that
// reference other groups or prefix lists (never ours).
func flattenPermissions(perms []ec2types.IpPermission) []ec2types.IpPermission {
	var out []ec2types.IpPermission
	for _, p := range perms {
		if deref(p.IpProtocol) != "tcp" || deref(p.FromPort) != deref(p.ToPort) {
			continue
		}
		for _, r := range p.IpRanges {
			out = append(out, permission(deref(p.FromPort), deref(r.CidrIp)))
		}
		for _, r := range p.Ipv6Ranges {
			out = append(out, permission(deref(p.FromPort), deref(r.CidrIpv6)))
		}
	}
	return out
}

func permissionKey(p ec2types.IpPermission) string {
	cidr := ""
	if len(p.IpRanges) > 0 {
		cidr = deref(p.IpRanges[0].CidrIp)
	} else if len(p.Ipv6Ranges) > 0 {
		cidr = deref(p.Ipv6Ranges[0].CidrIpv6)
	}
	return fmt.Sprintf("%s/%d/%s", deref(p.IpProtocol), deref(p.FromPort), cidr)
}

func subtractPermissions(a, b []ec2types.IpPermission) []ec2types.IpPermission {
	seen := map[string]bool{}
	for _, p := range b {
		seen[permissionKey(p)] = true
	}
	var out []ec2types.IpPermission
	for _, p := range a {
		if k := permissionKey(p); !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out
}

func planTargetGroups(d *desired, a *actual, pl *plan) {
	kept := map[string]bool{}
	for _, want := range d.lb.TargetGroups {
		name := d.tgNames[want.ID]
		var have *tgState
		for _, tg := range a.targetGroups {
			if deref(tg.tg.TargetGroupName) == name && tg.tags[cloud.TagResource] == cloud.TagValue(want.ID) {
				have = tg
				break
			}
		}
		if have == nil {
			for _, old := range a.targetGroups {
				if old.tags[cloud.TagResource] == cloud.TagValue(want.ID) && string(old.tg.TargetType) == string(want.TargetType) {
					pl.copyTargets[want.ID] = deref(old.tg.TargetGroupArn)
				}
			}
			pl.createTGs = append(pl.createTGs, want)
			if len(want.Attributes) > 0 {
				pl.tgAttrs[want.ID] = want.Attributes
			}
			continue
		}
		if set := diffAttributes(have.attrs, want.Attributes); len(set) > 0 {
			pl.tgAttrs[want.ID] = set
		}
		arn := deref(have.tg.TargetGroupArn)
		kept[arn] = true
		pl.keepTGs[want.ID] = arn
		if !healthCheckMatches(have.tg, want.HealthCheck) {
			pl.modifyTGs = append(pl.modifyTGs, tgChange{arn: arn, want: want})
		}
		if set, remove := diffTags(have.tags, tgTags(d, want)); len(set)+len(remove) > 0 {
			pl.tgTags = append(pl.tgTags, tagChange{arn: arn, set: set, remove: remove})
		}
	}
	for _, tg := range a.targetGroups {
		if arn := deref(tg.tg.TargetGroupArn); !kept[arn] {
			pl.deleteTGs = append(pl.deleteTGs, arn)
		}
	}
}

// tgTags are a target group's full tags: the stack's tags with the group's own resource ID.
func tgTags(d *desired, tg cloud.TargetGroup) tagSet {
	out := tagSet{}
	for k, v := range d.tags {
		out[k] = v
	}
	for k, v := range tg.Tags {
		out[k] = v
	}
	out[cloud.TagResource] = cloud.TagValue(tg.ID)
	return out
}

func healthCheckMatches(tg elbv2types.TargetGroup, hc cloud.HealthCheck) bool {
	return string(tg.HealthCheckProtocol) == string(hc.Protocol) &&
		deref(tg.HealthCheckPort) == hc.Port &&
		deref(tg.HealthCheckPath) == hc.Path &&
		deref(tg.HealthCheckIntervalSeconds) == hc.IntervalSeconds &&
		deref(tg.HealthCheckTimeoutSeconds) == hc.TimeoutSeconds &&
		deref(tg.HealthyThresholdCount) == hc.HealthyThresholdCount &&
		deref(tg.UnhealthyThresholdCount) == hc.UnhealthyThresholdCount &&
		tg.Matcher != nil && deref(tg.Matcher.HttpCode) == hc.SuccessCodes
}

func planLoadBalancer(d *desired, a *actual, pl *plan) {
	var keep *lbState
	for _, lb := range a.lbs {
		if deref(lb.lb.LoadBalancerName) == d.lb.Name && string(lb.lb.Scheme) == string(d.lb.Scheme) && keep == nil {
			keep = lb
		}
	}
	for _, lb := range a.lbs {
		switch {
		case lb == keep:
		case keep == nil && deref(lb.lb.LoadBalancerName) == d.lb.Name && pl.lb.deleteFirst == "":
			pl.lb.deleteFirst = deref(lb.lb.LoadBalancerArn)
		default:
			pl.deleteLBs = append(pl.deleteLBs, deref(lb.lb.LoadBalancerArn))
		}
	}
	pl.lb.existing = keep
	if keep == nil {
		if len(d.lb.Attributes) > 0 {
			pl.lb.attrs = d.lb.Attributes
		}
		return
	}
	if set := diffAttributes(keep.attrs, d.lb.Attributes); len(set) > 0 {
		pl.lb.attrs = set
	}
	var subnets []string
	for _, az := range keep.lb.AvailabilityZones {
		subnets = append(subnets, deref(az.SubnetId))
	}
	pl.lb.setSubnets = !sameSet(subnets, d.subnets)
	wantSGs := d.userSGs
	if wantSGs == nil {
		// The managed group: any change of its ID shows as a create in the SG plan, which sets groups too.
		wantSGs = append([]string{""}, d.backendSGs...)
		if pl.sg.id != "" {
			wantSGs[0] = pl.sg.id
		}
	}
	pl.lb.setSGs = !sameSet(keep.lb.SecurityGroups, wantSGs)
	pl.lb.setIPType = string(keep.lb.IpAddressType) != string(d.lb.IPAddressType)
	if set, remove := diffTags(keep.tags, d.tags); len(set)+len(remove) > 0 {
		pl.lb.tags = &tagChange{arn: deref(keep.lb.LoadBalancerArn), set: set, remove: remove}
	}
}

// diffAttributes returns the wanted attributes whose value differs from what the cloud holds.
func diffAttributes(have, want map[string]string) map[string]string {
	var out map[string]string
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

func planListener(want desiredListener, have *listenerState, tgRef func(string) string) (listenerPlan, error) {
	lp := listenerPlan{want: want, existing: have}
	if have == nil {
		lp.addCerts = tail(want.certs)
		for i, r := range dedupeRules(want.Rules) {
			lp.rules.creates = append(lp.rules.creates, ruleCreate{rule: r, priority: int32((i + 1) * priorityStep)})
		}
		return lp, nil
	}
	defaultCert := ""
	if len(have.l.Certificates) > 0 {
		defaultCert = deref(have.l.Certificates[0].CertificateArn)
	}
	lp.modify = string(have.l.Protocol) != string(want.Protocol) ||
		(want.Protocol == cloud.ProtocolHTTPS && deref(have.l.SslPolicy) != want.SSLPolicy) ||
		defaultCert != first(want.certs) ||
		actionsKey(have.l.DefaultActions) != actionsKey([]elbv2types.Action{albAction(want.DefaultAction, tgRef)})
	for _, c := range tail(want.certs) {
		// A default certificate that stops being the default leaves the listener with ModifyListener unless
		// it is also in the certificate list, which have.certs cannot tell: add it (AWS ignores a repeat).
		if !slices.Contains(have.certs, c) || (c == defaultCert && c != first(want.certs)) {
			lp.addCerts = append(lp.addCerts, c)
		}
	}
	for _, c := range have.certs {
		if c != defaultCert && !slices.Contains(want.certs, c) {
			lp.delCerts = append(lp.delCerts, c)
		}
	}
	rp, err := planRules(dedupeRules(want.Rules), have.rules, tgRef)
	lp.rules = rp
	return lp, err
}

// planRules keeps every existing rule whose conditions are still wanted, modifying its actions in place, and
// moves, creates and deletes the rest so that the listener's order matches the model.
func planRules(want []cloud.Rule, have []elbv2types.Rule, tgRef func(string) string) (rulePlan, error) {
	var rp rulePlan
	byKey := map[string]elbv2types.Rule{}
	occupied := map[int32]bool{}
	for _, r := range have {
		occupied[rulePriority(r)] = true
		k := conditionsKey(r.Conditions)
		if _, dup := byKey[k]; dup {
			rp.deletes = append(rp.deletes, deref(r.RuleArn))
			continue
		}
		byKey[k] = r
	}
	existing := make([]int32, len(want))
	matched := make([]*elbv2types.Rule, len(want))
	used := map[string]bool{}
	for i, r := range want {
		k := conditionsKey(albConditions(r.Conditions))
		if h, ok := byKey[k]; ok {
			existing[i] = rulePriority(h)
			matched[i] = &h
			used[k] = true
		}
	}
	prio, err := assignPriorities(existing, occupied)
	if err != nil {
		return rp, err
	}
	for _, i := range prio.move {
		rp.moves = append(rp.moves, ruleMove{arn: deref(matched[i].RuleArn), priority: prio.priority[i]})
	}
	for i, r := range want {
		if matched[i] == nil {
			rp.creates = append(rp.creates, ruleCreate{rule: r, priority: prio.priority[i]})
			continue
		}
		if actionsKey(matched[i].Actions) != actionsKey([]elbv2types.Action{albAction(r.Action, tgRef)}) {
			rp.modify = append(rp.modify, ruleModify{arn: deref(matched[i].RuleArn), rule: r})
		}
	}
	for k, r := range byKey {
		if !used[k] {
			rp.deletes = append(rp.deletes, deref(r.RuleArn))
		}
	}
	slices.Sort(rp.deletes)
	return rp, nil
}

// dedupeRules drops rules whose conditions repeat an earlier rule's: the earlier one wins on the ALB anyway.
func dedupeRules(rules []cloud.Rule) []cloud.Rule {
	seen := map[string]bool{}
	var out []cloud.Rule
	for _, r := range rules {
		k := conditionsKey(albConditions(r.Conditions))
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func tail(s []string) []string {
	if len(s) < 2 {
		return nil
	}
	return s[1:]
}
