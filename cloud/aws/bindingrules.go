package aws

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/cloudlb/cloudlb/cloud"
)

// The rules a TargetGroupBinding's networking asks for are shared: two bindings whose targets sit behind one
// security group need one rule. As the AWS Load Balancer Controller does, cloudlb keeps, per process, what each
// binding needs, and revokes its own rules (bindingRuleMarker with this cluster's identity, read right before the
// call) that no binding needs, only once every binding with networking has said what it needs: after a restart,
// a binding not synced yet may need any of them. A rule anyone else added is never revoked.

// bindingRules is held under p.backend.rules, with the backend group's rules, on the same security groups.
type bindingRules struct {
	// needs are the rules each binding ("namespace/name") needs, by bindingRuleKey.
	needs map[string]map[string]neededRule
	// unknown names the bindings with a target whose security groups are not known yet: nothing is revoked
	// while one might need a rule.
	unknown map[string]bool
	// groups may hold rules cloudlb added for bindings: each group a binding needed, and those found once per
	// process (discovered) by their rules' marker.
	groups     map[string]bool
	discovered bool
	// enforced is the union of the needs last enforced; nil before the first time.
	enforced map[string]neededRule
}

type neededRule struct {
	group string
	perm  cloud.IngressPermission
}

// syncBindingRules records what s.Binding needs now and, once every binding in s.Networked has said so, revokes
// the rules cloudlb added that none needs, adding first any needed rule that only a revoked one covered.
func (p *Provider) syncBindingRules(ctx context.Context, s cloud.BoundSync) error {
	if s.Binding == "" {
		return nil
	}
	b, r := &p.backend, &p.bindings
	b.rules.Lock()
	defer b.rules.Unlock()
	if r.needs == nil {
		r.needs, r.unknown, r.groups = map[string]map[string]neededRule{}, map[string]bool{}, map[string]bool{}
	}
	var targets []cloud.Target
	if len(s.Ingress) > 0 {
		targets = s.Targets
	}
	if err := p.learnGroups(ctx, targets); err != nil {
		return err
	}
	need, unknown := map[string]neededRule{}, false
	b.mu.Lock()
	for _, t := range targets {
		groups, ok := b.groupsOf[t.ID]
		unknown = unknown || !ok
		// Every group of the target counts, not only the one opened: never a revoke too many.
		for _, g := range groups {
			for _, perm := range s.Ingress {
				need[bindingRuleKey(g, perm)] = neededRule{group: g, perm: perm}
			}
		}
	}
	b.mu.Unlock()
	r.needs[s.Binding], r.unknown[s.Binding] = need, unknown
	for name := range r.needs {
		if !slices.Contains(s.Networked, name) {
			delete(r.needs, name)
			delete(r.unknown, name)
		}
	}
	for _, name := range s.Networked {
		if _, ok := r.needs[name]; !ok {
			return nil
		}
	}
	needed := map[string]neededRule{}
	for name, rules := range r.needs {
		if r.unknown[name] {
			log.FromContext(ctx).Info("not revoking TargetGroupBinding rules: a target's security groups are unknown", "binding", name)
			return nil
		}
		for k, rule := range rules {
			needed[k] = rule
			r.groups[rule.group] = true
		}
	}
	// Nothing can have become unneeded since the last round: the rules were added before the targets registered.
	if r.enforced != nil && r.discovered && !slices.ContainsFunc(sortedKeys(r.enforced), func(k string) bool { _, ok := needed[k]; return !ok }) {
		r.enforced = needed
		return nil
	}
	if err := p.discoverBindingGroups(ctx); err != nil {
		return err
	}
	if err := p.enforceBindingRules(ctx, needed); err != nil {
		return err
	}
	r.enforced = needed
	return nil
}

// discoverBindingGroups finds, once per process, the security groups of the VPC that hold a rule cloudlb added
// for a binding: a binding deleted while no controller ran left its rules there.
func (p *Provider) discoverBindingGroups(ctx context.Context) error {
	r := &p.bindings
	if r.discovered {
		return nil
	}
	pages := ec2.NewDescribeSecurityGroupsPaginator(p.c.EC2, &ec2.DescribeSecurityGroupsInput{
		Filters: []ec2types.Filter{{Name: ptr("vpc-id"), Values: []string{p.opts.VPCID}}}})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("finding the rules added for TargetGroupBindings: %w", classify(err))
		}
		for _, sg := range page.SecurityGroups {
			if len(p.markedBindingRules(deref(sg.GroupId), sg.IpPermissions)) > 0 {
				r.groups[deref(sg.GroupId)] = true
			}
		}
	}
	r.discovered = true
	return nil
}

// markedRule is one rule cloudlb added for a binding, as read from the cloud: exactly the peer entry to revoke.
type markedRule struct {
	key  string
	perm ec2types.IpPermission
}

// markedBindingRules are the rules of a group that carry cloudlb's marker with this cluster's identity.
func (p *Provider) markedBindingRules(group string, perms []ec2types.IpPermission) []markedRule {
	marker := bindingRuleMarker + p.opts.ClusterID
	var out []markedRule
	for _, perm := range perms {
		base := cloud.IngressPermission{Protocol: deref(perm.IpProtocol), Port: -1}
		switch from, to := deref(perm.FromPort), deref(perm.ToPort); {
		case from == 0 && to == 65535:
			base.Port = 0
		case from == to:
			base.Port = from
		}
		// A marked rule of another shape is ours as well (only cloudlb writes the marker) and needed by no binding.
		entry := func(peer cloud.IngressPermission, p ec2types.IpPermission) {
			p.IpProtocol, p.FromPort, p.ToPort = perm.IpProtocol, perm.FromPort, perm.ToPort
			out = append(out, markedRule{key: bindingRuleKey(group, peer), perm: p})
		}
		for _, pair := range perm.UserIdGroupPairs {
			if deref(pair.Description) == marker {
				peer := base
				peer.SecurityGroup = deref(pair.GroupId)
				entry(peer, ec2types.IpPermission{UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: pair.GroupId, Description: pair.Description}}})
			}
		}
		for _, rng := range perm.IpRanges {
			if deref(rng.Description) == marker {
				peer := base
				peer.CIDR = deref(rng.CidrIp)
				entry(peer, ec2types.IpPermission{IpRanges: []ec2types.IpRange{rng}})
			}
		}
		for _, rng := range perm.Ipv6Ranges {
			if deref(rng.Description) == marker {
				peer := base
				peer.CIDR = deref(rng.CidrIpv6)
				entry(peer, ec2types.IpPermission{Ipv6Ranges: []ec2types.Ipv6Range{rng}})
			}
		}
	}
	return out
}

// enforceBindingRules reads the groups that may hold rules added for bindings, and revokes those not needed;
// a needed rule that only a revoked one let in (a wider range) is added first.
func (p *Provider) enforceBindingRules(ctx context.Context, needed map[string]neededRule) error {
	r := &p.bindings
	for _, batch := range chunks(sortedKeys(r.groups), describeBatch) {
		// By filter, not by ID: a group deleted since is not an error, only absent.
		out, err := p.c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
			Filters: []ec2types.Filter{{Name: ptr("group-id"), Values: batch}}})
		if err != nil {
			return fmt.Errorf("reading the targets' security groups: %w", classify(err))
		}
		found := map[string]bool{}
		for _, sg := range out.SecurityGroups {
			g := deref(sg.GroupId)
			found[g] = true
			if err := p.enforceGroup(ctx, g, sg.IpPermissions, needed); err != nil {
				return err
			}
		}
		for _, g := range batch {
			if !found[g] {
				delete(r.groups, g)
			}
		}
	}
	return nil
}

func (p *Provider) enforceGroup(ctx context.Context, g string, perms []ec2types.IpPermission, needed map[string]neededRule) error {
	var revoke []ec2types.IpPermission
	var revoked []string
	for _, m := range p.markedBindingRules(g, perms) {
		if _, ok := needed[m.key]; !ok {
			revoke = append(revoke, m.perm)
			revoked = append(revoked, m.key)
		}
	}
	if len(revoke) == 0 {
		return nil
	}
	// What the group lets in once the rules are revoked: every other entry, marked or not, stays.
	var remaining []ec2types.IpPermission
	stays := func(entry ec2types.IpPermission) bool {
		m := p.markedBindingRules(g, []ec2types.IpPermission{entry})
		return len(m) == 0 || !slices.Contains(revoked, m[0].key)
	}
	for _, perm := range perms {
		kept := perm
		kept.UserIdGroupPairs, kept.IpRanges, kept.Ipv6Ranges = nil, nil, nil
		for _, pair := range perm.UserIdGroupPairs {
			if stays(withEntries(perm, []ec2types.UserIdGroupPair{pair}, nil, nil)) {
				kept.UserIdGroupPairs = append(kept.UserIdGroupPairs, pair)
			}
		}
		for _, rng := range perm.IpRanges {
			if stays(withEntries(perm, nil, []ec2types.IpRange{rng}, nil)) {
				kept.IpRanges = append(kept.IpRanges, rng)
			}
		}
		for _, rng := range perm.Ipv6Ranges {
			if stays(withEntries(perm, nil, nil, []ec2types.Ipv6Range{rng})) {
				kept.Ipv6Ranges = append(kept.Ipv6Ranges, rng)
			}
		}
		remaining = append(remaining, kept)
	}
	var add []ec2types.IpPermission
	for _, k := range sortedKeys(needed) {
		if rule := needed[k]; rule.group == g && !hasPeerRule(remaining, rule.perm) {
			add = append(add, p.bindingPermission(rule.perm))
		}
	}
	// Make before break: a peer that the rule being revoked let in through a wider range is let in first.
	if len(add) > 0 {
		if _, err := p.c.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: ptr(g), IpPermissions: add}); err != nil &&
			!hasCode(err, "InvalidPermission.Duplicate") {
			return fmt.Errorf("allowing the bindings' peers on %s: %w", g, classify(err))
		}
	}
	// The entries as read, descriptions included, name these rules and no other. One already gone fails the whole
	// call: the others are then revoked one by one.
	_, err := p.c.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: ptr(g), IpPermissions: revoke})
	if hasCode(err, "InvalidPermission.NotFound") && len(revoke) > 1 {
		err = nil
		for _, one := range revoke {
			if _, err = p.c.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: ptr(g),
				IpPermissions: []ec2types.IpPermission{one}}); err != nil && !hasCode(err, "InvalidPermission.NotFound") {
				break
			}
			err = nil
		}
	}
	if err != nil && !hasCode(err, "InvalidPermission.NotFound") {
		return fmt.Errorf("revoking the rules no TargetGroupBinding needs on %s: %w", g, classify(err))
	}
	log.FromContext(ctx).Info("revoked the rules no TargetGroupBinding needs", "securityGroup", g, "rules", len(revoked))
	b := &p.backend
	b.mu.Lock()
	for _, k := range revoked {
		delete(b.applied, k)
	}
	b.mu.Unlock()
	return nil
}

// withEntries is perm's protocol and ports with only the given peers.
func withEntries(perm ec2types.IpPermission, pairs []ec2types.UserIdGroupPair, v4 []ec2types.IpRange, v6 []ec2types.Ipv6Range) ec2types.IpPermission {
	return ec2types.IpPermission{IpProtocol: perm.IpProtocol, FromPort: perm.FromPort, ToPort: perm.ToPort, UserIdGroupPairs: pairs, IpRanges: v4, Ipv6Ranges: v6}
}
