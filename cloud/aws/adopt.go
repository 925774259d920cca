package aws

import (
	"cmp"
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

// Takeover from the AWS Load Balancer Controller (LBC). With Options.AdoptLBC, the resources LBC made for a stack
// of this cluster name, and that carry no cloudlb tag at all, are claimed: cloudlb's ownership tags are added to
// them (LBC's are kept) before anything else is done to them, and from then on they are the stack's like any
// other. The planner keeps them although their names are LBC's (names never change in place), with or without
// the option: once claimed, they carry both sets of tags.
//
// LBC tags every resource of an Ingress stack with lbcClusterKey (the cluster name) and lbcStackKey (the stack
// ID: "namespace/name" of an implicit group, the group name of an explicit one, as cloudlb's stack keys), and
// with lbcResourceKey: "LoadBalancer", "ManagedLBSecurityGroup", a target group's "namespace/ingress-service:port"
// (the port as the Ingress backend names it), a listener's port and a rule's "port:priority". Its shared backend
// security group carries lbcClusterKey and lbcBackendKey = "backend-sg", and no stack.
//
// Its predecessor, the AWS ALB Ingress Controller (v1.1.3 and later), tagged the load balancer, target groups and
// managed security group of an Ingress with the same stack and resource keys but the cluster under
// lbcLegacyClusterKey only, and tagged no listener or rule. LBC finds those by either cluster key and adopts them
// (its upgrade from v1 keeps the load balancer); so does cloudlb.
const (
	lbcClusterKey       = "elbv2.k8s.aws/cluster"
	lbcLegacyClusterKey = "ingress.k8s.aws/cluster"
	lbcRegionKey        = "elbv2.k8s.aws/cluster-region"
	lbcStackKey         = "ingress.k8s.aws/stack"
	lbcResourceKey      = "ingress.k8s.aws/resource"
	lbcBackendKey       = "elbv2.k8s.aws/resource"

	lbcManagedSG = "ManagedLBSecurityGroup"
	lbcBackendSG = "backend-sg"
)

// lbcLegacyKeys are keys that the AWS ALB Ingress Controller (LBC's predecessor) put on load balancers and that LBC
// keeps so that a downgrade still finds them: cloudlb keeps them too on resources LBC made.
var lbcLegacyKeys = []string{"kubernetes.io/cluster-name", "kubernetes.io/namespace", "kubernetes.io/ingress-name",
	"kubernetes.io/service-name", "kubernetes.io/service-port"}

// lbcKept says whether key, on a resource with tags have, is LBC's to keep: cloudlb never sets nor removes it.
func lbcKept(have tagSet, key string) bool {
	switch key {
	case lbcClusterKey, lbcLegacyClusterKey, lbcRegionKey, lbcStackKey, lbcResourceKey, lbcBackendKey:
		return true
	}
	_, current := have[lbcClusterKey]
	if _, legacy := have[lbcLegacyClusterKey]; !current && !legacy {
		return false
	}
	return slices.Contains(lbcLegacyKeys, key) || strings.HasPrefix(key, "kubernetes.io/cluster/")
}

// fromLBC says whether tags are those LBC (or its v1 predecessor) puts on a resource of stack in cluster: the
// cluster by its current key or, on a resource of v1, by its legacy key, and no other cluster by either.
func fromLBC(tags tagSet, cluster, stack string) bool {
	current, hasCurrent := tags[lbcClusterKey]
	legacy, hasLegacy := tags[lbcLegacyClusterKey]
	return tags[lbcStackKey] == stack && (hasCurrent || hasLegacy) && (!hasCurrent || current == cluster) && (!hasLegacy || legacy == cluster)
}

// anyCloudlbTag says whether a resource carries any of cloudlb's tags: such a resource is some cloudlb's, never
// adopted from LBC.
func anyCloudlbTag(tags tagSet) bool {
	for _, k := range []string{cloud.TagCluster, cloud.TagClusterID, cloud.TagStack, cloud.TagResource, cloud.TagRetiredAt} {
		if _, ok := tags[k]; ok {
			return true
		}
	}
	return false
}

// lbcAdoptable says whether a resource with tags is LBC's for stack of this cluster, and nobody else's.
func (p *Provider) lbcAdoptable(tags tagSet, stack string) bool {
	return p.opts.AdoptLBC && !anyCloudlbTag(tags) && fromLBC(tags, p.opts.ClusterName, stack)
}

// adoptingLBC says whether calls made with ctx claim LBC's resources: the takeover mode is on and the caller
// (never garbage collection, cloud.WithoutAdoption) lets them.
func (p *Provider) adoptingLBC(ctx context.Context) bool {
	return p.opts.AdoptLBC && cloud.AdoptionAllowed(ctx)
}

// claimTags are the ownership tags that make an adopted resource the stack's.
func (p *Provider) claimTags(stack, resource string) tagSet {
	return tagSet{cloud.TagCluster: p.opts.ClusterName, cloud.TagClusterID: p.opts.ClusterID,
		cloud.TagStack: cloud.TagValue(stack), cloud.TagResource: cloud.TagValue(resource)}
}

// tgIDMapper gives the model's ID of an LBC target group, from LBC's resource ID and the group; "" when none fits.
type tgIDMapper func(lbcID string, tg elbv2types.TargetGroup) string

// lbcTargetGroupIDs maps LBC's target group IDs ("ns/ingress-service:port", port as the backend names it) onto the
// model's ("ns/ingress/service:port", the Service port's number). A named port, or names that run together the
// same way ("a-b"+"c", "a"+"b-c"), are told apart by the group's port, which both controllers set the same way
// (the target port of an IP group, the node port of an instance group); what stays ambiguous is not mapped.
func lbcTargetGroupIDs(want []cloud.TargetGroup) tgIDMapper {
	return func(lbcID string, tg elbv2types.TargetGroup) string {
		prefix := lbcID[:max(strings.LastIndex(lbcID, ":"), 0)]
		var exact, sameService []cloud.TargetGroup
		for _, w := range want {
			ns, rest, _ := strings.Cut(w.ID, "/")
			ing, svcPort, _ := strings.Cut(rest, "/")
			i := max(strings.LastIndex(svcPort, ":"), 0)
			svc, port := svcPort[:i], svcPort[i:]
			if ns+"/"+ing+"-"+svc != prefix {
				continue
			}
			sameService = append(sameService, w)
			if lbcID == ns+"/"+ing+"-"+svc+port {
				exact = append(exact, w)
			}
		}
		for _, set := range [][]cloud.TargetGroup{exact, sameService} {
			if len(set) == 1 {
				return set[0].ID
			}
			var byPort []cloud.TargetGroup
			for _, w := range set {
				if w.Port == deref(tg.Port) {
					byPort = append(byPort, w)
				}
			}
			if len(byPort) == 1 {
				return byPort[0].ID
			}
			if len(set) > 0 {
				return ""
			}
		}
		return ""
	}
}

// adoptLBC claims the stack's load balancers, target groups and managed security group that LBC made, adding
// them to owned. mapID names target groups as the model does; without it (Delete) they keep LBC's IDs.
func (p *Provider) adoptLBC(ctx context.Context, stack string, mapID tgIDMapper, owned map[string]tagSet, a *actual) error {
	// By the stack alone, in one call: the cluster is under either key (fromLBC checks it).
	listed, err := p.taggedARNs(ctx, map[string]string{lbcStackKey: stack}, resourceTypeLB, resourceTypeTG)
	if err != nil {
		return err
	}
	var lbs, tgs []string
	for arn, tags := range listed {
		// A resource claimed already may still be listed with LBC's tags only: the tagging API lags behind AddTags.
		if _, ok := owned[arn]; ok || !fromLBC(tags, p.opts.ClusterName, stack) || anyCloudlbTag(tags) && !p.owns(tags, stack) {
			continue
		}
		switch {
		case isLBARN(arn):
			lbs = append(lbs, arn)
		case isTGARN(arn):
			tgs = append(tgs, arn)
		}
	}
	slices.Sort(lbs)
	slices.Sort(tgs)
	// LBC's tags name no VPC: a cluster of the same name elsewhere (a blue/green replacement) tags its stacks alike.
	lbs, err = p.inClusterVPC(ctx, lbs)
	if err != nil {
		return err
	}
	if len(lbs)+len(tgs) == 0 {
		return p.adoptLBCSecurityGroup(ctx, stack, a)
	}
	// The tagging API lags: the tags that decide are read, consistently, right before the claim.
	tags, err := p.describeTags(ctx, append(slices.Clone(lbs), tgs...))
	if err != nil {
		return err
	}
	claim := func(arn, resource, what string) error {
		t, ok := tags[arn]
		switch {
		case !ok:
			return nil
		case p.owns(t, stack):
			owned[arn] = t
			return nil
		case !p.lbcAdoptable(t, stack):
			return nil
		}
		claim := p.claimTags(stack, resource)
		if len(t)+len(claim) > maxTags {
			return cloud.Errorf(cloud.KindBlocked, "%s, made by the AWS Load Balancer Controller, has %d tags: remove %d of them so that "+
				"cloudlb can add its %d ownership tags and adopt it", arn, len(t), len(t)+len(claim)-maxTags, len(claim))
		}
		if err := p.addClaimTags(ctx, []string{arn}, claim); err != nil {
			return err
		}
		for k, v := range claim {
			t[k] = v
		}
		owned[arn] = t
		a.adopted = append(a.adopted, fmt.Sprintf("adopted %s %s from the AWS Load Balancer Controller", what, arn))
		return nil
	}
	for _, arn := range lbs {
		if err := claim(arn, "load-balancer", "load balancer"); err != nil {
			return err
		}
	}
	for _, batch := range chunks(tgs, 20) {
		described, err := p.describeTGs(ctx, batch)
		if err != nil {
			return err
		}
		for _, tg := range described {
			arn := deref(tg.TargetGroupArn)
			if deref(tg.VpcId) != p.opts.VPCID {
				continue
			}
			// A target group serving a load balancer that is not the stack's stays LBC's, with that load balancer.
			if slices.ContainsFunc(tg.LoadBalancerArns, func(lb string) bool { return owned[lb] == nil || !p.owns(owned[lb], stack) }) {
				continue
			}
			lbcID := tags[arn][lbcResourceKey]
			id := lbcID
			if mapID != nil {
				id = cmp.Or(mapID(lbcID, tg), lbcID)
			}
			if err := claim(arn, id, fmt.Sprintf("target group %s as %s", deref(tg.TargetGroupName), id)); err != nil {
				return err
			}
		}
	}
	return p.adoptLBCSecurityGroup(ctx, stack, a)
}

// inClusterVPC keeps, of the load balancers arns, those in the cluster's VPC.
func (p *Provider) inClusterVPC(ctx context.Context, arns []string) ([]string, error) {
	var out []string
	for _, batch := range chunks(arns, 20) {
		described, err := p.describeLBs(ctx, batch)
		if err != nil {
			return nil, err
		}
		for _, lb := range described {
			if deref(lb.VpcId) == p.opts.VPCID {
				out = append(out, deref(lb.LoadBalancerArn))
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// adoptLBCSecurityGroup claims the stack's managed security group that LBC made.
func (p *Provider) adoptLBCSecurityGroup(ctx context.Context, stack string, a *actual) error {
	// The cluster is under either key: lbcAdoptable checks it.
	out, err := p.c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: ptr("tag:" + lbcStackKey), Values: []string{stack}},
		{Name: ptr("tag:" + lbcResourceKey), Values: []string{lbcManagedSG}},
		{Name: ptr("vpc-id"), Values: []string{p.opts.VPCID}},
	}})
	if err != nil {
		return classify(err)
	}
	for _, sg := range out.SecurityGroups {
		t := fromEC2(sg.Tags)
		if !p.lbcAdoptable(t, stack) || t[lbcResourceKey] != lbcManagedSG || deref(sg.VpcId) != p.opts.VPCID {
			continue
		}
		claim := p.claimTags(stack, "security-group")
		if len(t)+len(claim) > maxTags {
			return cloud.Errorf(cloud.KindBlocked, "security group %s, made by the AWS Load Balancer Controller, has %d tags: remove %d of "+
				"them so that cloudlb can add its %d ownership tags and adopt it", deref(sg.GroupId), len(t), len(t)+len(claim)-maxTags, len(claim))
		}
		if err := p.createClaimTags(ctx, sg, claim); err != nil {
			return err
		}
		if planning(ctx) != nil {
			// Not tagged, so observe's owner filter will not find it: the plan goes on as though it were.
			for _, k := range sortedKeys(claim) {
				sg.Tags = append(sg.Tags, ec2types.Tag{Key: ptr(k), Value: ptr(claim[k])})
			}
			a.securityGroups = append(a.securityGroups, sg)
		}
		a.adopted = append(a.adopted, fmt.Sprintf("adopted security group %s (%s) from the AWS Load Balancer Controller",
			deref(sg.GroupName), deref(sg.GroupId)))
	}
	return nil
}

// adoptLBCBackend claims LBC's shared backend security group of this cluster name as this cluster's backend
// group, so that the rules LBC put on the nodes' and pods' groups, which let that group in, keep working.
func (p *Provider) adoptLBCBackend(ctx context.Context) (string, error) {
	out, err := p.c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: ptr("tag:" + lbcClusterKey), Values: []string{p.opts.ClusterName}},
		{Name: ptr("tag:" + lbcBackendKey), Values: []string{lbcBackendSG}},
		{Name: ptr("vpc-id"), Values: []string{p.opts.VPCID}},
	}})
	if err != nil {
		return "", classify(err)
	}
	for _, sg := range out.SecurityGroups {
		t := fromEC2(sg.Tags)
		if anyCloudlbTag(t) || t[lbcClusterKey] != p.opts.ClusterName || t[lbcBackendKey] != lbcBackendSG {
			continue
		}
		if err := p.createClaimTags(ctx, sg, tagSet{
			cloud.TagCluster: p.opts.ClusterName, cloud.TagClusterID: p.opts.ClusterID, cloud.TagResource: cloud.ResourceBackendSecurityGroup,
		}); err != nil {
			return "", err
		}
		return deref(sg.GroupId), nil
	}
	return "", nil
}

// defaultLoadBalancerName is the name the Ingress translation gives a load balancer whose name no annotation
// fixes (controllers/ingress settings.model): a load balancer adopted from LBC keeps its own name only then.
func defaultLoadBalancerName(cluster string, lb *cloud.LoadBalancer) string {
	key := cluster + "\x00" + lb.Stack + "\x00" + string(lb.Scheme)
	if lb.CustomerOwnedIPv4Pool != "" {
		key += "\x00" + lb.CustomerOwnedIPv4Pool
	}
	ns, n, _ := strings.Cut(lb.Stack, "/")
	return cloud.Name(key, "k8s", ns, n)
}

// adoptedLB says whether lb, owned, was made by LBC for the stack and can serve d as it is.
func (d *desired) adoptedLB(lb *lbState) bool {
	return d.defaultName && fromLBC(lb.tags, d.tags[cloud.TagCluster], d.lb.Stack) && string(lb.lb.Scheme) == string(d.lb.Scheme) &&
		deref(lb.lb.CustomerOwnedIpv4Pool) == d.lb.CustomerOwnedIPv4Pool
}

// adoptedTG says whether tg, owned, was made by LBC for the stack and can serve as want on the load balancer
// lbARN ("": any) as it is: what AWS cannot change in place matches, and it serves no other load balancer.
func (d *desired) adoptedTG(tg *tgState, want cloud.TargetGroup, lbARN string) bool {
	return fromLBC(tg.tags, d.tags[cloud.TagCluster], d.lb.Stack) && tg.tags[cloud.TagResource] == cloud.TagValue(want.ID) &&
		string(tg.tg.Protocol) == string(want.Protocol) && sameTargets(tg.tg, want) &&
		cmp.Or(deref(tg.tg.ProtocolVersion), "HTTP1") == cmp.Or(want.ProtocolVersion, "HTTP1") &&
		(len(tg.tg.LoadBalancerArns) == 0 || lbARN == "" || slices.Contains(tg.tg.LoadBalancerArns, lbARN))
}

// currentTG says whether tg is the group the model names want: by cloudlb's name, or adopted from LBC.
func (d *desired) currentTG(tg *tgState, want cloud.TargetGroup, lbARN string) bool {
	return (deref(tg.tg.TargetGroupName) == d.tgNames[want.ID] && tg.tags[cloud.TagResource] == cloud.TagValue(want.ID)) ||
		d.adoptedTG(tg, want, lbARN)
}

// adoptedSG says whether sg, owned, is the managed security group LBC made for the stack.
func (d *desired) adoptedSG(sg ec2types.SecurityGroup) bool {
	t := fromEC2(sg.Tags)
	return fromLBC(t, d.tags[cloud.TagCluster], d.lb.Stack) && t[lbcResourceKey] == lbcManagedSG
}

// inPlaceChanges lists, for an Event, what a plan changes on a stack it adopted.
func inPlaceChanges(pl *plan) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if pl.lb.existing == nil {
		add("the adopted load balancer cannot serve the model as it is (scheme or name): a new one is made and the adopted one is retired")
	} else {
		for what, ok := range map[string]bool{"subnets": pl.lb.setSubnets, "security groups": pl.lb.setSGs,
			"IP address type": pl.lb.setIPType, "attributes": len(pl.lb.attrs) > 0} {
			if ok {
				add("load balancer: %s changed in place", what)
			}
		}
	}
	if pl.sg != nil && len(pl.sg.authorize)+len(pl.sg.revoke) > 0 {
		add("security group: %d inbound rule(s) added and %d revoked in place", len(pl.sg.authorize), len(pl.sg.revoke))
	}
	for _, tg := range pl.modifyTGs {
		add("target group %s: health check changed in place", tg.want.ID)
	}
	for _, id := range sortedKeys(pl.tgAttrs) {
		if _, kept := pl.keepTGs[id]; kept {
			add("target group %s: attributes changed in place", id)
		}
	}
	for _, tg := range pl.createTGs {
		add("target group %s: made anew (no adopted group matches it)", tg.ID)
	}
	for _, lp := range pl.listeners {
		if lp.existing == nil {
			add("listener %d: made anew", lp.want.Port)
			continue
		}
		if lp.modify {
			add("listener %d: default action, protocol or certificate changed in place", lp.want.Port)
		}
		if n := len(lp.rules.modify); n > 0 {
			add("listener %d: %d rule(s) changed in place", lp.want.Port, n)
		}
		if n := len(lp.rules.moves); n > 0 {
			add("listener %d: %d rule(s) re-prioritised", lp.want.Port, n)
		}
		if n := len(lp.rules.creates); n > 0 {
			add("listener %d: %d rule(s) added", lp.want.Port, n)
		}
		if n := len(lp.rules.deletes); n > 0 {
			add("listener %d: %d rule(s) removed", lp.want.Port, n)
		}
	}
	if n := len(pl.deleteListeners); n > 0 {
		add("%d listener(s) removed", n)
	}
	if n := len(pl.deleteTGs); n > 0 {
		add("%d target group(s) no Ingress uses removed", n)
	}
	slices.Sort(out)
	return out
}

// adoptLBCChildren claims the listeners and rules that LBC made on the stack's load balancers that it made: IAM
// lets cloudlb change a listener or rule only when it carries cloudlb's cluster tag.
func (p *Provider) adoptLBCChildren(ctx context.Context, stack string, lbs []*lbState, a *actual) error {
	type child struct {
		arn, resource string
	}
	var children []child
	for _, lb := range lbs {
		if !fromLBC(lb.tags, p.opts.ClusterName, stack) {
			continue
		}
		for _, l := range lb.listeners {
			port := deref(l.l.Port)
			children = append(children, child{deref(l.l.ListenerArn), fmt.Sprintf("listener/%d", port)})
			for _, r := range l.rules {
				children = append(children, child{deref(r.RuleArn), fmt.Sprintf("rule/%d", port)})
			}
		}
	}
	if len(children) == 0 {
		return nil
	}
	arns := make([]string, 0, len(children))
	for _, c := range children {
		arns = append(arns, c.arn)
	}
	tags, err := p.describeTags(ctx, arns)
	if err != nil {
		return err
	}
	byResource := map[string][]string{}
	for _, c := range children {
		if t, ok := tags[c.arn]; ok && p.lbcAdoptable(t, stack) && len(t)+ownershipTags <= maxTags {
			byResource[c.resource] = append(byResource[c.resource], c.arn)
		}
	}
	for _, resource := range sortedKeys(byResource) {
		for _, batch := range chunks(byResource[resource], 20) {
			if err := p.addClaimTags(ctx, batch, p.claimTags(stack, resource)); err != nil {
				return err
			}
		}
		kind, port, _ := strings.Cut(resource, "/")
		a.adopted = append(a.adopted, fmt.Sprintf("adopted %d %s(s) on port %s from the AWS Load Balancer Controller",
			len(byResource[resource]), kind, port))
	}
	return nil
}

// addClaimTags adds cloudlb's ownership tags to ELBv2 resources taken over from LBC, or, while planning (the
// adoption preview), records each tag it would add.
func (p *Provider) addClaimTags(ctx context.Context, arns []string, claim tagSet) error {
	if rec := planning(ctx); rec != nil {
		for _, arn := range arns {
			for _, k := range sortedKeys(claim) {
				rec.add(cloud.Change{Action: cloud.ActionTag, Kind: kindOf(arn), Resource: arn, Field: "tag " + k, New: claim[k]})
			}
		}
		return nil
	}
	if _, err := p.c.ELBV2.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: arns, Tags: claim.elbv2()}); err != nil {
		return fmt.Errorf("adopting %s: %w", strings.Join(arns, ", "), classify(err))
	}
	return nil
}

// createClaimTags is addClaimTags for a security group.
func (p *Provider) createClaimTags(ctx context.Context, sg ec2types.SecurityGroup, claim tagSet) error {
	if rec := planning(ctx); rec != nil {
		for _, k := range sortedKeys(claim) {
			rec.add(cloud.Change{Action: cloud.ActionTag, Kind: kindSG, Resource: deref(sg.GroupName), Field: "tag " + k, New: claim[k]})
		}
		return nil
	}
	if _, err := p.c.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{deref(sg.GroupId)}, Tags: claim.ec2Tags()}); err != nil {
		return fmt.Errorf("adopting security group %s: %w", deref(sg.GroupId), classify(err))
	}
	return nil
}
