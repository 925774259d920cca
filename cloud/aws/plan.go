package aws

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

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
	// backendManaged says backendSGs holds the one group the targets' groups are opened to.
	backendManaged bool
	sgName         string
	listeners      []desiredListener
	// tgNames maps target group IDs to their cloud names, which hash the settings AWS cannot change in place.
	tgNames map[string]string
	tags    tagSet
	// wafACL is the web ACL ARN to associate, with WAFv2ACLName resolved: nil leaves the association alone.
	wafACL *string
	// sgTags are the managed security group's; policy says which keys are never touched and who wins.
	sgTags tagSet
	policy tagPolicy
	// defaultName says no annotation fixes the load balancer's name: one adopted under another name is kept.
	defaultName bool

	// now is the time the plan is made at: the plan takes the clock as data, so that it stays pure.
	now time.Time
	// replacementGrace is how long a replaced load balancer keeps serving after it was retired, so that DNS
	// can follow its replacement.
	replacementGrace time.Duration
	// healthWait bounds how long rules stay on a replaced target group while its replacement has no healthy
	// target.
	healthWait time.Duration
}

type desiredListener struct {
	cloud.Listener
	certs []string // resolved; the first is the default
	// trustStore is the ARN of the trust store of a verify MutualAuthentication, resolved from its name.
	trustStore string
	// hold keeps an existing listener exactly as it is, and creates none: an HTTPS listener whose certificates
	// cannot be found (expired, re-imported) must keep serving with the ones it has.
	hold bool
	// appliedSecrets are cloud.LoadBalancer.AppliedClientSecrets.
	appliedSecrets map[string]bool
}

// plan is a pure diff of desired and actual. Apply carries it out in dependency order.
type plan struct {
	sg        *sgPlan
	deleteSGs []string

	createTGs []cloud.TargetGroup
	modifyTGs []tgChange
	tgTags    []tagChange
	// childTags retag kept listeners and rules; Ensure reads their tags, and fills this, only when needed.
	childTags []tagChange
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
	// ruleSteps create every new rule of every listener in order, each preceded, only where the rule quota
	// leaves no room, by the delete of one rule going away (the one it supersedes where there is one).
	ruleSteps []ruleStep

	// tgServing maps a target group ID to the group it replaces, which keeps serving (rules and default actions
	// forward to it with weight 1 and to the new group with weight 0, so that AWS health-checks the new group)
	// until the new group reports a healthy target or the wait is over.
	tgServing map[string]string
	// retained are replaced load balancers serving through their grace period; their target groups and
	// security groups are kept with them.
	retained []*lbState
	// retire are load balancers and target groups superseded by this plan, to tag with cloud.TagRetiredAt so
	// that their grace period survives a restart.
	retire []string
	// mirrors maps a target group ID to the replaced groups of that ID that still serve: target syncs keep them
	// in step with the new group.
	mirrors map[string][]string
	// secrets are the model's client secrets, for the authenticate actions written.
	secrets cloud.ClientSecrets
	// pending says a replaced resource is kept for now: Ensure must be called again to finish.
	pending  bool
	warnings []string
}

// ruleStep is one rule call of the sequence that respects the rule quota: a create (on the listener of port)
// or the delete of the rule del.
type ruleStep struct {
	port   int32
	create *ruleCreate
	del    string
}

type sgPlan struct {
	id        string // empty: create
	authorize []ec2types.IpPermission
	revoke    []ec2types.IpPermission
	// setTags and removeTags keep a kept group's tags in step with the model.
	setTags    tagSet
	removeTags []string
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
	// serving is a replaced load balancer that the Ingress keeps pointing at while its replacement is not
	// active yet (provisioning): Ensure reports its DNS name and ID.
	serving    *lbState
	setSubnets bool
	setSGs     bool
	setIPType  bool
	// setIPAM changes the load balancer's IPAM pool to the model's (removes it when the model has none).
	setIPAM bool
	// capacity is the capacity reservation to set, on the kept or the new load balancer; 0 resets it.
	capacity *int32
	tags     *tagChange
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
	// attrs are the listener attributes to set.
	attrs map[string]string
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
	// resetTransforms removes the transforms the rule has and the model no longer wants.
	resetTransforms bool
}

// AWS quotas a load balancer must fit (Application Load Balancer quotas, defaults).
const (
	// ruleQuota counts the rules of all listeners, default rules not included.
	ruleQuota = 100
	// conditionValueQuota counts the values of all conditions of one rule.
	conditionValueQuota = 5
	// wildcardQuota counts the * and ? of all condition values of one rule.
	wildcardQuota = 5
	// certificateQuota counts the certificates of one listener, the default one included.
	certificateQuota = 25
	listenerQuota    = 50
	// inboundRuleQuota counts the inbound rules of one security group, for IPv4 and IPv6 separately.
	inboundRuleQuota = 60
)

// checkQuotas refuses a model that cannot fit AWS's quotas, naming the quota, so that nothing is changed for a
// model that would fail halfway.
func checkQuotas(d *desired) error {
	if n := len(d.listeners); n > listenerQuota {
		return fmt.Errorf("%d listeners exceed the AWS quota of %d listeners per load balancer", n, listenerQuota)
	}
	rules := 0
	for _, l := range d.listeners {
		// The certificates to make count too, each request once (ensureCertificates attaches one certificate per
		// request): checked only once they were requested and issued, they would be made in ACM for a listener
		// that AWS then refuses them (TooManyCertificates), on every Ensure.
		made := map[string]bool{}
		for _, req := range l.CreateCertificates {
			made[certificateKey(req)] = true
		}
		if n := len(l.certs) + len(made); n > certificateQuota {
			return fmt.Errorf("listener %d: %d certificates (%d to make) exceed the AWS quota of %d certificates per listener "+
				"(the default one included)", l.Port, n, len(made), certificateQuota)
		}
		// Counted as merged by host (rulemerge.go), as the plan makes them.
		rules += len(mergeHosts(dedupeRules(l.Rules), nil))
		for _, r := range dedupeRules(l.Rules) {
			values, wildcards, largest := ruleCounts(albConditions(r.Conditions))
			what := conditionsKey(albConditions(r.Conditions))
			if n := len(r.Action.Forward); n > forwardTargetGroupQuota {
				return fmt.Errorf("listener %d, rule %s: %d target groups exceed the AWS quota of %d target groups per forward action",
					l.Port, what, n, forwardTargetGroupQuota)
			}
			if values > conditionValueQuota {
				return fmt.Errorf("listener %d, rule %s: %d condition values exceed the AWS quota of %d condition values per rule "+
					"(a prefix path counts twice: the path and everything under it)", l.Port, what, values, conditionValueQuota)
			}
			// AWS refuses the rule (CreateRule: TooManyConditionValues) only once the Ensure got that far, after
			// target groups and earlier rules were made, and on every Ensure after.
			if largest > conditionMatchQuota {
				return fmt.Errorf("listener %d, rule %s: %d values in one condition exceed the AWS quota of %d match evaluations per condition",
					l.Port, what, largest, conditionMatchQuota)
			}
			if wildcards > wildcardQuota {
				return fmt.Errorf("listener %d, rule %s: %d wildcards exceed the AWS quota of %d wildcards per rule "+
					"(a prefix path counts one)", l.Port, what, wildcards, wildcardQuota)
			}
		}
	}
	if rules > ruleQuota {
		return fmt.Errorf("%d rules exceed the AWS quota of %d rules per load balancer (all listeners together)", rules, ruleQuota)
	}
	if d.userSGs == nil {
		v4, v6 := 0, 0
		for _, p := range ingressPermissions(d) {
			// AWS counts a prefix list as its maximum number of entries, which only a lookup would tell; it is
			// counted as one here, and AWS refuses what does not fit.
			if len(p.Ipv6Ranges) > 0 {
				v6++
			} else {
				v4++
			}
		}
		if n := max(v4, v6); n > inboundRuleQuota {
			return fmt.Errorf("%d inbound rules (listener ports times inbound CIDRs and prefix lists) exceed the AWS quota of %d inbound rules per "+
				"security group", n, inboundRuleQuota)
		}
	}
	return nil
}

// conditionValues are the values of one ALB condition, as AWS counts them.
func conditionValues(c elbv2types.RuleCondition) []string {
	switch {
	case c.HostHeaderConfig != nil:
		return c.HostHeaderConfig.Values
	case c.PathPatternConfig != nil:
		return c.PathPatternConfig.Values
	case c.HttpHeaderConfig != nil:
		return c.HttpHeaderConfig.Values
	case c.HttpRequestMethodConfig != nil:
		return c.HttpRequestMethodConfig.Values
	case c.SourceIpConfig != nil:
		return c.SourceIpConfig.Values
	case c.QueryStringConfig != nil:
		out := make([]string, 0, len(c.QueryStringConfig.Values))
		for _, kv := range c.QueryStringConfig.Values {
			out = append(out, deref(kv.Key)+"="+deref(kv.Value))
		}
		return out
	}
	return c.Values
}

// conditionRegexValues are the regular expressions of one ALB condition.
func conditionRegexValues(c elbv2types.RuleCondition) []string {
	switch {
	case c.HostHeaderConfig != nil:
		return c.HostHeaderConfig.RegexValues
	case c.PathPatternConfig != nil:
		return c.PathPatternConfig.RegexValues
	case c.HttpHeaderConfig != nil:
		return c.HttpHeaderConfig.RegexValues
	}
	return nil
}

// makePlan diffs desired against actual. It is pure: no calls, no clock.
func makePlan(d *desired, a *actual) (*plan, error) {
	pl := &plan{keepTGs: map[string]string{}, tgAttrs: map[string]map[string]string{}, copyTargets: map[string]string{},
		tgServing: map[string]string{}, mirrors: map[string][]string{}, secrets: d.lb.ClientSecrets}
	planSecurityGroup(d, a, pl)
	if err := planLoadBalancer(d, a, pl); err != nil {
		return nil, err
	}
	planTargetGroups(d, a, pl)
	if err := checkTagLimits(d, a, pl); err != nil {
		return nil, err
	}
	if pl.lb.existing != nil {
		// A held listener keeps its rules, and AWS deletes no target group they forward to.
		for _, want := range d.listeners {
			for _, l := range pl.lb.existing.listeners {
				if want.hold && deref(l.l.Port) == want.Port {
					used := listenerTargetGroups(l)
					pl.deleteTGs = slices.DeleteFunc(pl.deleteTGs, func(arn string) bool { return used[arn] })
				}
			}
		}
	}
	for _, lb := range pl.retained {
		// A retained load balancer keeps its security groups until it is deleted.
		pl.deleteSGs = slices.DeleteFunc(pl.deleteSGs, func(id string) bool { return slices.Contains(lb.lb.SecurityGroups, id) })
	}

	tgRef := pl.tgRef
	var existing []*listenerState
	if pl.lb.existing != nil {
		existing = pl.lb.existing.listeners
	}
	wanted := map[int32]bool{}
	// Rules that serve as they are stay apart rather than be merged by host (rulemerge.go), unless that leaves
	// the load balancer over the rule quota.
	for _, keepServing := range []bool{true, false} {
		pl.listeners = nil
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
			lp, err := planListenerRules(want, have, tgRef, keepServing)
			if err != nil {
				return nil, fmt.Errorf("listener %d: %w", want.Port, err)
			}
			pl.listeners = append(pl.listeners, lp)
		}
		if rulesAfter(pl, d, existing) <= ruleQuota {
			break
		}
	}
	have := 0
	var spare []string
	for _, l := range existing {
		have += len(l.rules)
		if !wanted[deref(l.l.Port)] {
			pl.deleteListeners = append(pl.deleteListeners, deref(l.l.ListenerArn))
			for _, r := range l.rules {
				spare = append(spare, deref(r.RuleArn))
			}
		}
	}
	pl.ruleSteps = orderRuleSteps(pl.listeners, have, spare)
	return pl, nil
}

// orderRuleSteps sequences the rule creates of every listener so that the load balancer never holds more than
// ruleQuota rules, counting have rules at the start. While there is room, every create comes before any delete,
// so that no path is ever without a rule. Where there is none, one rule going away is deleted just before the
// create that needs the room: first the rule that create supersedes (same conditions but the host, or same
// host), so that its path is without a rule for one call only, else a rule of a listener going away (spare) or
// one whose path goes away. Creates that supersede nothing go first, while there is room. A rule whose requests
// a rule already created also matches (rules merged by host) is deleted first of all: that costs no path its rule.
func orderRuleSteps(lps []listenerPlan, have int, spare []string) []ruleStep {
	type del struct {
		port          int32
		arn           string
		host, rest    string
		conds         []elbv2types.RuleCondition
		matched, done bool
	}
	type create struct {
		port  int32
		c     ruleCreate
		match *del
	}
	var dels, spares []*del
	for _, arn := range spare {
		spares = append(spares, &del{arn: arn})
	}
	var creates []*create
	for _, lp := range lps {
		if lp.existing != nil {
			conds := map[string][]elbv2types.RuleCondition{}
			for _, r := range lp.existing.rules {
				conds[deref(r.RuleArn)] = r.Conditions
			}
			for _, arn := range lp.rules.deletes {
				host, rest := splitConditions(conds[arn])
				dels = append(dels, &del{port: lp.want.Port, arn: arn, host: host, rest: rest, conds: conds[arn]})
			}
		}
		for _, c := range lp.rules.creates {
			creates = append(creates, &create{port: lp.want.Port, c: c})
		}
	}
	if have+len(creates) <= ruleQuota {
		steps := make([]ruleStep, 0, len(creates))
		for _, c := range creates {
			steps = append(steps, ruleStep{port: c.port, create: &c.c})
		}
		return steps
	}
	for _, sameRest := range []bool{true, false} {
		for _, c := range creates {
			if c.match != nil {
				continue
			}
			host, rest := splitConditions(albConditions(c.c.rule.Conditions))
			for _, d := range dels {
				if !d.matched && d.port == c.port && ((sameRest && d.rest == rest) || (!sameRest && d.host == host)) {
					d.matched, c.match = true, d
					break
				}
			}
		}
	}
	slices.SortStableFunc(creates, func(x, y *create) int { return boolInt(x.match != nil) - boolInt(y.match != nil) })
	// Past the room, creates that supersede a rule go before those that do not: each one then covers rules
	// that the others can delete.
	room := max(0, ruleQuota-have)
	if i := slices.IndexFunc(creates, func(c *create) bool { return c.match != nil }); i > room {
		creates = slices.Concat(creates[:room], creates[i:], creates[room:i])
	}
	var covered []*del
	pick := func(c *create) *del {
		for _, d := range covered {
			if !d.done {
				return d
			}
		}
		if c.match != nil && !c.match.done {
			return c.match
		}
		for _, group := range [][]*del{spares, dels} {
			for _, d := range group {
				if !d.done && !d.matched {
					return d
				}
			}
		}
		for _, d := range dels {
			if !d.done {
				return d
			}
		}
		return nil
	}
	count := have
	steps := make([]ruleStep, 0, 2*len(creates))
	for _, c := range creates {
		if count >= ruleQuota {
			if d := pick(c); d != nil {
				d.done = true
				steps = append(steps, ruleStep{port: d.port, del: d.arn})
				count--
			}
		}
		steps = append(steps, ruleStep{port: c.port, create: &c.c})
		conds := albConditions(c.c.rule.Conditions)
		for _, d := range dels {
			if !d.done && d.port == c.port && coveredBy(d.conds, conds) {
				covered = append(covered, d)
			}
		}
		count++
	}
	return steps
}

// splitConditions returns the canonical forms of a rule's host conditions and of the others.
func splitConditions(conds []elbv2types.RuleCondition) (host, rest string) {
	var h, r []elbv2types.RuleCondition
	for _, c := range conds {
		if c.HostHeaderConfig != nil || deref(c.Field) == "host-header" {
			h = append(h, c)
		} else {
			r = append(r, c)
		}
	}
	return conditionsKey(h), conditionsKey(r)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
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
		for i := range a.securityGroups {
			if keep == nil && d.adoptedSG(a.securityGroups[i]) {
				keep = &a.securityGroups[i]
			}
		}
		pl.sg = &sgPlan{}
		want := ingressPermissions(d)
		var have []ec2types.IpPermission
		if keep != nil {
			pl.sg.id = deref(keep.GroupId)
			have = flattenPermissions(keep.IpPermissions)
			pl.sg.setTags, pl.sg.removeTags = d.policy.diff(fromEC2(keep.Tags), d.sgTags)
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
	// As the AWS Load Balancer Controller does, prefix lists alone allow no CIDR.
	if len(cidrs) == 0 && len(d.lb.PrefixLists) == 0 {
		cidrs = []string{"0.0.0.0/0"}
		if d.lb.IPAddressType == cloud.IPAddressTypeDualStack || d.lb.IPAddressType == cloud.IPAddressTypeDualStackWithoutPublicIPv4 {
			cidrs = append(cidrs, "::/0")
		}
	}
	var out []ec2types.IpPermission
	for _, l := range d.listeners {
		for _, c := range cidrs {
			out = append(out, permission(l.Port, c))
		}
		for _, pl := range d.lb.PrefixLists {
			out = append(out, prefixListPermission(l.Port, pl))
		}
	}
	return out
}

func prefixListPermission(port int32, id string) ec2types.IpPermission {
	return ec2types.IpPermission{IpProtocol: ptr("tcp"), FromPort: ptr(port), ToPort: ptr(port),
		PrefixListIds: []ec2types.PrefixListId{{PrefixListId: ptr(id)}}}
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

// flattenPermissions splits AWS's grouped permissions into one per port range and CIDR or prefix list, dropping
// rules that reference other groups (never ours).
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
		for _, r := range p.PrefixListIds {
			out = append(out, prefixListPermission(deref(p.FromPort), deref(r.PrefixListId)))
		}
	}
	return out
}

func permissionKey(p ec2types.IpPermission) string {
	cidr := ""
	switch {
	case len(p.IpRanges) > 0:
		cidr = deref(p.IpRanges[0].CidrIp)
	case len(p.Ipv6Ranges) > 0:
		cidr = deref(p.Ipv6Ranges[0].CidrIpv6)
	case len(p.PrefixListIds) > 0:
		cidr = deref(p.PrefixListIds[0].PrefixListId)
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
	serving := servedTargetGroups(pl.lb.existing)
	lbARN := "\x00none"
	if pl.lb.existing != nil {
		lbARN = deref(pl.lb.existing.lb.LoadBalancerArn)
	}
	kept := map[string]bool{}
	for _, want := range d.lb.TargetGroups {
		name := d.tgNames[want.ID]
		var have, old *tgState
		for _, tg := range a.targetGroups {
			if deref(tg.tg.TargetGroupName) == name && tg.tags[cloud.TagResource] == cloud.TagValue(want.ID) {
				have = tg
				break
			}
		}
		for _, tg := range a.targetGroups {
			if have == nil && d.adoptedTG(tg, want, lbARN) {
				have = tg
			}
		}
		for _, tg := range a.targetGroups {
			if tg != have && tg.tags[cloud.TagResource] == cloud.TagValue(want.ID) && serving[deref(tg.tg.TargetGroupArn)] {
				old = tg
				break
			}
		}
		sameID := old != nil
		if sib := portSibling(d, a, want.ID); old == nil && sib != nil && serving[deref(sib.tg.TargetGroupArn)] {
			// A Service port change: the group of the old port serves until the new one, which target syncs fill
			// (targets carry their own ports, so nothing is copied), reports a healthy target.
			old = sib
		}
		if old != nil {
			planSwitch(d, a, pl, want.ID, have, old, sameID)
			if _, waiting := pl.tgServing[want.ID]; waiting {
				kept[deref(old.tg.TargetGroupArn)] = true
			}
		}
		if have == nil {
			for _, old := range a.targetGroups {
				if old.tags[cloud.TagResource] == cloud.TagValue(want.ID) && sameTargets(old.tg, want) {
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
		if set, remove := d.policy.diff(have.tags, tgTags(d, want)); len(set)+len(remove) > 0 {
			pl.tgTags = append(pl.tgTags, tagChange{arn: arn, set: set, remove: remove})
		}
	}
	retained := map[string]bool{}
	for _, lb := range pl.retained {
		retained[deref(lb.lb.LoadBalancerArn)] = true
	}
	servingFor := map[string]string{}
	for id, arn := range pl.tgServing {
		servingFor[arn] = id
	}
	wantTG := map[string]cloud.TargetGroup{}
	// Tags hold cloud.TagValue(id); the plan's maps are keyed by the model's IDs.
	modelID := map[string]string{}
	for _, want := range d.lb.TargetGroups {
		wantTG[want.ID] = want
		modelID[cloud.TagValue(want.ID)] = want.ID
	}
	for _, tg := range a.targetGroups {
		arn := deref(tg.tg.TargetGroupArn)
		// A retained load balancer keeps serving with its own groups until its grace period is over.
		serves := slices.ContainsFunc(tg.tg.LoadBalancerArns, func(lb string) bool { return retained[lb] })
		id := tg.tags[cloud.TagResource]
		if m, ok := modelID[id]; ok {
			id = m
		}
		switch {
		case servingFor[arn] != "" || serves && pl.keepTGs[id] != arn:
			if servingFor[arn] != "" {
				id = servingFor[arn]
			}
			// Target syncs keep it in step only with targets it can take.
			if want, ok := wantTG[id]; ok && sameTargets(tg.tg, want) {
				pl.mirrors[id] = append(pl.mirrors[id], arn)
			}
		case !kept[arn]:
			pl.deleteTGs = append(pl.deleteTGs, arn)
		}
	}
}

// planSwitch decides whether the kept load balancer's actions move from old, a replaced group of target group
// id that they use, to its replacement have (nil: created by this plan). They move once the replacement reports
// a healthy target, or once healthWait has passed since old was retired (when its replacement was created),
// with a warning. Until then old keeps serving, beside the replacement at weight 0: a target group no listener
// uses is not health-checked, its targets stay "unused" and would never report healthy. The decision is made again from the cloud on each plan, so a
// restart in between changes nothing.
func planSwitch(d *desired, a *actual, pl *plan, id string, have, old *tgState, sameID bool) {
	oldARN := deref(old.tg.TargetGroupArn)
	retired, ok := retiredAt(old.tags)
	switch {
	case have != nil && a.health[deref(have.tg.TargetGroupArn)].healthy > 0:
	case ok && !d.now.Before(retired.Add(d.healthWait)):
		pl.warnings = append(pl.warnings, fmt.Sprintf("the new target group of %s reported no healthy target within %s; "+
			"rules were switched to it anyway", id, d.healthWait))
	default:
		pl.tgServing[id] = oldARN
		pl.pending = true
		if !ok {
			pl.retire = append(pl.retire, oldARN)
		}
		// A replacement made before a crash could copy the old group's targets has none: target syncs would
		// not fill it either, since to them nothing changed.
		if sameID && have != nil && a.health[deref(have.tg.TargetGroupArn)].targets == 0 && have.tg.TargetType == old.tg.TargetType &&
			family(have.tg) == family(old.tg) {
			pl.copyTargets[id] = oldARN
		}
	}
}

// portSibling is the one owned target group no longer wanted whose resource ID differs from id only in the
// Service port ("ns/ingress/service:port"), where id is the only wanted ID of that Service: the group id
// replaces. Nil when there is none or the match is ambiguous.
func portSibling(d *desired, a *actual, id string) *tgState {
	prefix, ok := beforeLast(cloud.TagValue(id), ":")
	if !ok {
		return nil
	}
	wanted := map[string]bool{}
	for _, tg := range d.lb.TargetGroups {
		v := cloud.TagValue(tg.ID)
		wanted[v] = true
		if p, _ := beforeLast(v, ":"); p == prefix && tg.ID != id {
			return nil
		}
	}
	var out *tgState
	for _, tg := range a.targetGroups {
		v := tg.tags[cloud.TagResource]
		if p, _ := beforeLast(v, ":"); p == prefix && !wanted[v] {
			if out != nil {
				return nil
			}
			out = tg
		}
	}
	return out
}

// beforeLast is s up to the last sep, and whether sep occurs.
func beforeLast(s, sep string) (string, bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], true
	}
	return s, false
}

// groupHealth counts a target group's targets, draining ones excepted.
type groupHealth struct{ targets, healthy int }

// servedTargetGroups are the ARNs of the target groups the load balancer's rules and default actions forward to.
func servedTargetGroups(lb *lbState) map[string]bool {
	out := map[string]bool{}
	if lb == nil {
		return out
	}
	for _, l := range lb.listeners {
		maps.Copy(out, listenerTargetGroups(l))
	}
	return out
}

// listenerTargetGroups are the ARNs of the target groups a listener's rules and default action forward to.
func listenerTargetGroups(l *listenerState) map[string]bool {
	out := map[string]bool{}
	add := func(actions []elbv2types.Action) {
		for _, a := range actions {
			if a.TargetGroupArn != nil {
				out[*a.TargetGroupArn] = true
			}
			if a.ForwardConfig != nil {
				for _, t := range a.ForwardConfig.TargetGroups {
					out[deref(t.TargetGroupArn)] = true
				}
			}
		}
	}
	add(l.l.DefaultActions)
	for _, r := range l.rules {
		add(r.Actions)
	}
	return out
}

// retiredAt reads cloud.TagRetiredAt; a value that does not parse counts as absent, so it is written again.
func retiredAt(tags tagSet) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, tags[cloud.TagRetiredAt])
	return t, err == nil
}

// healthChecks lists the target groups whose health the plan needs: those named as the model wants that
// replace another group of the same ID, which may still be serving.
func healthChecks(d *desired, a *actual) []string {
	var out []string
	for _, want := range d.lb.TargetGroups {
		var have string
		siblings := 0
		for _, tg := range a.targetGroups {
			if tg.tags[cloud.TagResource] != cloud.TagValue(want.ID) {
				continue
			}
			siblings++
			if d.currentTG(tg, want, "") {
				have = deref(tg.tg.TargetGroupArn)
			}
		}
		if have != "" && (siblings > 1 || portSibling(d, a, want.ID) != nil) {
			out = append(out, have)
		}
	}
	return out
}

// tgTags are a target group's full tags: the stack's tags with the group's own tags, under the defaults, and the
// group's own resource ID.
func tgTags(d *desired, tg cloud.TargetGroup) tagSet {
	out := d.policy.merge(d.tags, tg.Tags)
	for _, k := range []string{cloud.TagCluster, cloud.TagClusterID, cloud.TagStack} {
		if v, ok := d.tags[k]; ok {
			out[k] = v
		}
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
		matcherMatches(tg.Matcher, hc)
}

func matcherMatches(m *elbv2types.Matcher, hc cloud.HealthCheck) bool {
	switch {
	case m == nil:
		return false
	case hc.GRPCCodes != "":
		return deref(m.GrpcCode) == hc.GRPCCodes
	default:
		return deref(m.HttpCode) == hc.SuccessCodes
	}
}

// sameTargets says whether targets of group have can go into a group as want asks for: the same kind of
// target (IPs do not register in an instance group, nor instance IDs in an IP group) of the same address family.
func sameTargets(have elbv2types.TargetGroup, want cloud.TargetGroup) bool {
	return string(have.TargetType) == string(want.TargetType) && family(have) == cmp.Or(want.IPAddressType, "ipv4")
}

// family is a target group's address family; ipv4 when not reported.
func family(tg elbv2types.TargetGroup) string {
	return cmp.Or(string(tg.IpAddressType), "ipv4")
}

func planLoadBalancer(d *desired, a *actual, pl *plan) error {
	var keep *lbState
	for _, lb := range a.lbs {
		if deref(lb.lb.LoadBalancerName) == d.lb.Name && string(lb.lb.Scheme) == string(d.lb.Scheme) &&
			deref(lb.lb.CustomerOwnedIpv4Pool) == d.lb.CustomerOwnedIPv4Pool && keep == nil {
			keep = lb
		}
	}
	for _, lb := range a.lbs {
		if keep == nil && d.adoptedLB(lb) {
			keep = lb
		}
	}
	// A replacement serves nobody until AWS reports it active: until then the replaced one keeps the Ingress,
	// and is not retired, so that its grace period starts only once clients can move.
	active := keep != nil && keep.lb.State != nil && keep.lb.State.Code == elbv2types.LoadBalancerStateEnumActive
	for _, lb := range a.lbs {
		arn := deref(lb.lb.LoadBalancerArn)
		switch {
		case lb == keep:
		case deref(lb.lb.LoadBalancerName) == d.lb.Name && keep != nil:
			// A duplicate left by a crash between create and record (emulators do not dedupe names).
			pl.deleteLBs = append(pl.deleteLBs, arn)
		case deref(lb.lb.LoadBalancerName) == d.lb.Name:
			// A scheme (or customer-owned pool) change under a name the user fixed: AWS cannot hold two load
			// balancers of one name, and deleting the serving one before its replacement exists is an outage no
			// one asked for.
			if deref(lb.lb.CustomerOwnedIpv4Pool) != d.lb.CustomerOwnedIPv4Pool {
				return fmt.Errorf("customer-owned-ipv4-pool cannot change under a fixed load-balancer-name without deleting the load "+
					"balancer first: change load-balancer-name together with it (load balancer %s has pool %q)", d.lb.Name,
					deref(lb.lb.CustomerOwnedIpv4Pool))
			}
			return fmt.Errorf("scheme cannot change under a fixed load-balancer-name without deleting the load balancer "+
				"first: change load-balancer-name together with scheme (load balancer %s is %s)", d.lb.Name, lb.lb.Scheme)
		default:
			// Replaced under another name: it keeps serving the clients that still resolve its DNS name for the
			// grace period, counted from when it was retired.
			retired, ok := retiredAt(lb.tags)
			if ok && !d.now.Before(retired.Add(d.replacementGrace)) {
				pl.deleteLBs = append(pl.deleteLBs, arn)
				continue
			}
			switch {
			case !ok && active:
				pl.retire = append(pl.retire, arn)
			case !ok && pl.lb.serving == nil:
				pl.lb.serving = lb
			}
			pl.retained = append(pl.retained, lb)
			pl.pending = true
		}
	}
	pl.lb.existing = keep
	planLBOptions(d, keep, pl)
	if keep == nil {
		if len(d.lb.Attributes) > 0 {
			pl.lb.attrs = d.lb.Attributes
		}
		return nil
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
	if wantSGs != nil {
		wantSGs = append(slices.Clone(wantSGs), d.backendSGs...)
	} else {
		// The managed group: any change of its ID shows as a create in the SG plan, which sets groups too.
		wantSGs = append([]string{""}, d.backendSGs...)
		if pl.sg.id != "" {
			wantSGs[0] = pl.sg.id
		}
	}
	pl.lb.setSGs = !sameSet(keep.lb.SecurityGroups, wantSGs)
	pl.lb.setIPType = string(keep.lb.IpAddressType) != string(d.lb.IPAddressType)
	if set, remove := d.policy.diff(keep.tags, d.tags); len(set)+len(remove) > 0 {
		pl.lb.tags = &tagChange{arn: deref(keep.lb.LoadBalancerArn), set: set, remove: remove}
	}
	return nil
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
	return planListenerRules(want, have, tgRef, true)
}

// planListenerRules plans a listener; keepServing keeps rules that serve as they are rather than merge them.
func planListenerRules(want desiredListener, have *listenerState, tgRef func(string) string, keepServing bool) (listenerPlan, error) {
	lp := listenerPlan{want: want, existing: have}
	if have == nil {
		if len(want.Attributes) > 0 {
			lp.attrs = want.Attributes
		}
		lp.addCerts = tail(want.certs)
		for i, r := range listenerRules(want, nil, tgRef, false) {
			lp.rules.creates = append(lp.rules.creates, ruleCreate{rule: r, priority: int32((i + 1) * priorityStep)})
		}
		return lp, nil
	}
	lp.attrs = diffAttributes(have.attrs, want.Attributes)
	defaultCert := ""
	if len(have.l.Certificates) > 0 {
		defaultCert = deref(have.l.Certificates[0].CertificateArn)
	}
	lp.modify = string(have.l.Protocol) != string(want.Protocol) ||
		(want.Protocol == cloud.ProtocolHTTPS && deref(have.l.SslPolicy) != want.SSLPolicy) ||
		defaultCert != first(want.certs) ||
		actionsKey(have.l.DefaultActions) != actionsKey(albActions(want.DefaultAction, tgRef, nil)) ||
		mutualAuthenticationDiffers(have.l.MutualAuthentication, want) ||
		staleSecret(want.DefaultAction, want.appliedSecrets)
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
	rp, err := planRules(listenerRules(want, have, tgRef, keepServing), have.rules, tgRef, want.appliedSecrets)
	lp.rules = rp
	return lp, err
}

// planRules keeps every existing rule whose conditions are still wanted, modifying its actions in place, and
// moves, creates and deletes the rest so that the listener's order matches the model.
func planRules(want []cloud.Rule, have []elbv2types.Rule, tgRef func(string) string, appliedSecrets map[string]bool) (rulePlan, error) {
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
		haveTransforms := transformsKey(matched[i].Transforms)
		if actionsKey(matched[i].Actions) != actionsKey(albActions(r.Action, tgRef, nil)) || staleSecret(r.Action, appliedSecrets) ||
			haveTransforms != transformsKey(albTransforms(r.Transforms)) {
			rp.modify = append(rp.modify, ruleModify{arn: deref(matched[i].RuleArn), rule: r,
				resetTransforms: len(r.Transforms) == 0 && haveTransforms != ""})
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

// tgRef is how the plan's actions name target group id: the ARN it keeps, "new:<id>" for one to create, and the
// group it waits behind while a replacement is not yet healthy.
func (pl *plan) tgRef(id string) string {
	arn, ok := pl.keepTGs[id]
	if !ok {
		arn = "new:" + id
	}
	if old, ok := pl.tgServing[id]; ok {
		return waitingRef(old, arn)
	}
	return arn
}
