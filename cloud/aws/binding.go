package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// bindingRuleMarker starts the description of the rules a TargetGroupBinding's networking adds to the targets'
// security groups, so that they can be told from rules anyone else added.
const bindingRuleMarker = "cloudlb.io/targetgroupbinding cluster-id="

// BoundTargetGroup describes a target group named by a TargetGroupBinding. Only reads: the group is not cloudlb's.
func (p *Provider) BoundTargetGroup(ctx context.Context, arn, name string) (cloud.BoundTargetGroup, error) {
	in := &elbv2.DescribeTargetGroupsInput{}
	ref := arn
	if arn != "" {
		in.TargetGroupArns = []string{arn}
	} else {
		in.Names, ref = []string{name}, name
	}
	elb, err := p.boundELB(ctx)
	if err != nil {
		return cloud.BoundTargetGroup{}, err
	}
	out, err := elb.DescribeTargetGroups(ctx, in)
	if hasCode(err, "TargetGroupNotFound") || err == nil && len(out.TargetGroups) == 0 {
		return cloud.BoundTargetGroup{}, cloud.Errorf(cloud.KindNotFound, "target group %s does not exist", ref)
	}
	if hasCode(err, "ValidationError") {
		return cloud.BoundTargetGroup{}, cloud.Errorf(cloud.KindInvalidSpec, "target group %s: %s", ref, err)
	}
	if err != nil {
		return cloud.BoundTargetGroup{}, classify(err)
	}
	tg := out.TargetGroups[0]
	g := cloud.BoundTargetGroup{ARN: deref(tg.TargetGroupArn), TargetType: cloud.TargetType(tg.TargetType), VPCID: deref(tg.VpcId),
		HealthCheckPort: healthPort(deref(tg.HealthCheckPort))}
	if tg.IpAddressType == elbv2types.TargetGroupIpAddressTypeEnumIpv6 {
		g.IPAddressType = cloud.TargetIPv6
	}
	crossAccount := cloud.RoleOf(ctx).ARN != ""
	// Registering the cluster's pods or nodes into another VPC's group would fail at AWS, target by target; only
	// another account's group may be in a VPC peered with the cluster's, for pods registered as outside it.
	if p.opts.VPCID != "" && g.VPCID != p.opts.VPCID && (!crossAccount || g.TargetType != cloud.TargetTypeIP) {
		return g, cloud.Errorf(cloud.KindInvalidSpec, "target group %s is in VPC %s, not in the cluster's VPC %s", g.ARN, g.VPCID, p.opts.VPCID)
	}
	// cloudlb makes target groups in the cluster's account only: another account's group is never one of them.
	if crossAccount {
		return g, nil
	}
	// A group cloudlb manages is fed from its Ingress's Service by the targets reconciler: a binding would fight it.
	if err := p.refuseManagedTargetGroups(ctx, []string{g.ARN}); err != nil {
		return g, cloud.Errorf(cloud.KindInvalidSpec, "target group %s is managed by cloudlb for an Ingress: bind its Service "+
			"through the Ingress, not a TargetGroupBinding", g.ARN)
	}
	return g, nil
}

// SyncBoundTargets opens the targets' security groups as the binding asks, then registers and deregisters, in the
// same batches as the targets of cloudlb's own groups. With s.Shared, only targets of s.Owned are deregistered.
// Without s.ARN only the binding's rules are synced.
func (p *Provider) SyncBoundTargets(ctx context.Context, s cloud.BoundSync) ([]cloud.TargetHealth, error) {
	if s.ARN == "" {
		return nil, p.syncBindingRules(ctx, s)
	}
	elb, zone, err := p.boundRegistration(ctx, s.ARN)
	if err != nil {
		return nil, err
	}
	// Make before break: the peers are let in before the targets receive traffic.
	if len(s.Ingress) > 0 && len(s.Targets) > 0 {
		if err := p.allowBindingPeers(ctx, s.Ingress, s.Targets); err != nil {
			return nil, err
		}
	}
	var mayRemove func(cloud.Target) bool
	if s.Shared {
		mayRemove = func(t cloud.Target) bool { return slices.Contains(s.Owned, t) }
	}
	have, err := p.registerExactly(ctx, elb, s.ARN, s.Targets, mayRemove, zone)
	if err != nil {
		return nil, classify(err)
	}
	// Break after make: the rules no binding needs go once the targets that needed them are out.
	if s.Binding != "" {
		if err := p.syncBindingRules(ctx, s); err != nil {
			return nil, err
		}
	}
	out := make([]cloud.TargetHealth, 0, len(s.Targets))
	for _, t := range s.Targets {
		state, ok := have[t]
		if !ok {
			state = cloud.TargetInitial
		}
		out = append(out, cloud.TargetHealth{Target: t, State: state})
	}
	return out, nil
}

// boundRegistration returns the client that registers into a bound group and the zone targets are registered with,
// after checking that the group is not cloudlb's.
func (p *Provider) boundRegistration(ctx context.Context, arn string) (ELBV2, string, error) {
	elb, err := p.boundELB(ctx)
	if err != nil {
		return nil, "", err
	}
	if cloud.RoleOf(ctx).ARN != "" {
		// Another account's group, read as that account right before registering: pods outside its VPC (a peered
		// VPC) are registered in every zone, as AWS requires of addresses outside the group's VPC.
		out, err := elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{arn}})
		if hasCode(err, "TargetGroupNotFound") || err == nil && len(out.TargetGroups) == 0 {
			return nil, "", cloud.Errorf(cloud.KindNotFound, "target group %s does not exist", arn)
		}
		if err != nil {
			return nil, "", classify(err)
		}
		if deref(out.TargetGroups[0].VpcId) != p.opts.VPCID {
			return elb, "all", nil
		}
		return elb, "", nil
	}
	// Read again right before writing: a group claimed since the binding resolved it (a takeover from LBC) is the
	// targets reconciler's, and a binding that owns a whole target list would empty it on its way out.
	tags, err := p.describeTags(ctx, []string{arn})
	if err != nil {
		return nil, "", classify(err)
	}
	if tags[arn][cloud.TagCluster] != "" {
		return nil, "", cloud.Errorf(cloud.KindInvalidSpec, "target group %s is managed by cloudlb for an Ingress: a TargetGroupBinding "+
			"neither registers into it nor deregisters from it", arn)
	}
	return p.c.ELBV2, "", nil
}

// allowBindingPeers adds each permission to the one security group of each target that cloudlb may open (the
// rule of targetGroupOf), unless a rule already lets the peer in. Rules are revoked by syncBindingRules, which
// knows what every binding needs.
func (p *Provider) allowBindingPeers(ctx context.Context, perms []cloud.IngressPermission, targets []cloud.Target) error {
	b := &p.backend
	b.rules.Lock()
	defer b.rules.Unlock()
	if err := p.learnGroups(ctx, targets); err != nil {
		return err
	}
	want := map[string][]cloud.IngressPermission{}
	b.mu.Lock()
	for _, t := range targets {
		g := p.targetGroupOf(ctx, t.ID)
		if g == "" {
			continue
		}
		for _, perm := range perms {
			if !b.applied[bindingRuleKey(g, perm)] && !slices.Contains(want[g], perm) {
				want[g] = append(want[g], perm)
			}
		}
	}
	b.mu.Unlock()
	if len(want) == 0 {
		return nil
	}
	groups := sortedKeys(want)
	have, err := p.groupPermissions(ctx, groups)
	if err != nil {
		return err
	}
	for _, g := range groups {
		var add []ec2types.IpPermission
		for _, perm := range want[g] {
			if !hasPeerRule(have[g], perm) {
				add = append(add, p.bindingPermission(perm))
			}
		}
		if len(add) > 0 {
			_, err := p.c.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: ptr(g), IpPermissions: add})
			if err != nil && !hasCode(err, "InvalidPermission.Duplicate") {
				return fmt.Errorf("allowing the binding's peers on %s: %w", g, classify(err))
			}
		}
		b.mu.Lock()
		if b.applied == nil {
			b.applied = map[string]bool{}
		}
		for _, perm := range want[g] {
			b.applied[bindingRuleKey(g, perm)] = true
		}
		b.mu.Unlock()
	}
	return nil
}

func bindingRuleKey(group string, perm cloud.IngressPermission) string {
	return fmt.Sprintf("binding\x00%s\x00%s\x00%s\x00%s\x00%d", group, perm.CIDR, perm.SecurityGroup, perm.Protocol, perm.Port)
}

// portRange is the range of a permission: one port, or every port.
func portRange(perm cloud.IngressPermission) (int32, int32) {
	if perm.Port == 0 {
		return 0, 65535
	}
	return perm.Port, perm.Port
}

func (p *Provider) bindingPermission(perm cloud.IngressPermission) ec2types.IpPermission {
	from, to := portRange(perm)
	out := ec2types.IpPermission{IpProtocol: ptr(perm.Protocol), FromPort: ptr(from), ToPort: ptr(to)}
	desc := ptr(bindingRuleMarker + p.opts.ClusterID)
	switch {
	case perm.SecurityGroup != "":
		out.UserIdGroupPairs = []ec2types.UserIdGroupPair{{GroupId: ptr(perm.SecurityGroup), Description: desc}}
	case strings.Contains(perm.CIDR, ":"):
		out.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: ptr(perm.CIDR), Description: desc}}
	default:
		out.IpRanges = []ec2types.IpRange{{CidrIp: ptr(perm.CIDR), Description: desc}}
	}
	return out
}

// hasPeerRule reports whether perms already let perm's peer in on all of its ports, whoever added the rule.
func hasPeerRule(perms []ec2types.IpPermission, perm cloud.IngressPermission) bool {
	from, to := portRange(perm)
	for _, have := range perms {
		proto := deref(have.IpProtocol)
		if proto != "-1" && (proto != perm.Protocol || deref(have.FromPort) > from || deref(have.ToPort) < to) {
			continue
		}
		for _, pair := range have.UserIdGroupPairs {
			if perm.SecurityGroup != "" && deref(pair.GroupId) == perm.SecurityGroup {
				return true
			}
		}
		for _, r := range have.IpRanges {
			if perm.CIDR != "" && deref(r.CidrIp) == perm.CIDR {
				return true
			}
		}
		for _, r := range have.Ipv6Ranges {
			if perm.CIDR != "" && deref(r.CidrIpv6) == perm.CIDR {
				return true
			}
		}
	}
	return false
}
