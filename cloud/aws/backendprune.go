package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/cloudlb/cloudlb/cloud"
)

// Rules from the backend group go as soon as no target needs them. What the targets of each target group need is
// kept in memory by the syncs that register them; a change that may leave a rule unneeded (a target gone, a
// port changed, a target group removed, a load balancer no longer carrying the group) marks the source dirty, and
// only then is the cloud read: the load balancers and target groups of the cluster, the targets of the groups this
// process has not synced, and the rules from the source. A sync or Ensure that changes no need makes no call.

// anyGroup stands for the groups of a target not found yet: it keeps the rules of its port on every group.
const anyGroup = "*"

// targetNeed is what targets of one target group need: rules from the backend group on port, and on the health
// check port, on picked (the group cloudlb opened for them, "" for none) and, to be safe, on every group in groups.
type targetNeed struct {
	picked string
	groups string
	port   int32
}

// needsChange is what a target group's targets needed before a sync (nil when this process never synced it)
// and what the targets it is given need.
type needsChange struct {
	old, now map[targetNeed]bool
}

// rule is a rule from a known source, by group and port.
type rule struct {
	group string
	port  int32
}

// needOf says what target t, whose group picked is, needs. Called with b.mu held.
func (p *Provider) needOf(t cloud.Target, picked string) targetNeed {
	groups, ok := p.backend.groupsOf[t.ID]
	if !ok {
		return targetNeed{groups: anyGroup, port: t.Port}
	}
	return targetNeed{picked: picked, groups: strings.Join(groups, ","), port: t.Port}
}

// keeps adds to set every rule n may rely on: on every group of its target, whichever cloudlb picked then.
func (n targetNeed) keeps(set map[rule]bool, healthPort int32) {
	for g := range strings.SplitSeq(n.groups, ",") {
		for _, port := range []int32{n.port, healthPort} {
			if port > 0 {
				set[rule{g, port}] = true
			}
		}
	}
}

// needed reports whether set keeps a rule on group g for port.
func needed(set map[rule]bool, g string, port int32) bool {
	return set[rule{g, port}] || set[rule{anyGroup, port}]
}

// settleTargets records, once target group key holds them, what its targets need; when a rule cloudlb added for
// its old targets is needed by no target any target group of the source holds, the source is pruned. had are
// the targets the group held before: on the first sync in this process, their needs are not known, and any of
// them gone is reason enough to prune.
func (p *Provider) settleTargets(ctx context.Context, key string, a tgAccess, needs needsChange,
	had map[cloud.Target]cloud.TargetState, targets []cloud.Target) error {
	b := &p.backend
	b.mu.Lock()
	old, synced := needs.old, needs.old != nil
	if b.recent == nil {
		b.recent = map[string]map[targetNeed]bool{}
	}
	b.recent[key] = needs.now
	if !synced && len(had) > 0 {
		given := make(map[cloud.Target]bool, len(targets))
		for _, t := range targets {
			given[t] = true
		}
		for t := range had {
			if !given[t] {
				b.markDirty(a.source)
				break
			}
		}
	}
	var gone []rule
	for n := range old {
		for _, port := range []int32{n.port, a.healthPort} {
			if n.picked != "" && port > 0 && !slices.Contains(gone, rule{n.picked, port}) {
				gone = append(gone, rule{n.picked, port})
			}
		}
	}
	if len(gone) > 0 {
		kept := p.keptInMemory(a.source)
		for _, r := range gone {
			if !needed(kept, r.group, r.port) {
				b.markDirty(a.source)
				break
			}
		}
	}
	b.mu.Unlock()
	return p.pruneDirty(ctx)
}

// keptInMemory returns the rules from source that the target groups synced by this process need. Called with b.mu
// held.
func (p *Provider) keptInMemory(source string) map[rule]bool {
	b := &p.backend
	kept := map[rule]bool{}
	for key, needs := range b.recent {
		a := b.access[key]
		if a.source != source {
			continue
		}
		for n := range needs {
			n.keeps(kept, a.healthPort)
		}
	}
	return kept
}

// pruneDirty prunes the rules of every source marked dirty.
func (p *Provider) pruneDirty(ctx context.Context) error {
	b := &p.backend
	b.mu.Lock()
	sources := sortedKeys(b.dirty)
	b.mu.Unlock()
	for _, source := range sources {
		using, err := p.loadBalancersUsing(ctx, source)
		if err != nil {
			return err
		}
		if err := p.pruneBackendRules(ctx, source, using); err != nil {
			return err
		}
	}
	return nil
}

// pruneBackendRules revokes the rules cloudlb added from source that no target needs any more. Needed are the
// rules of the targets of every target group this process synced and whose load balancer carries source, and of
// the targets the other target groups of the load balancers in using hold, read from the cloud.
func (p *Provider) pruneBackendRules(ctx context.Context, source string, using []string) (err error) {
	b := &p.backend
	b.rules.Lock()
	defer b.rules.Unlock()
	b.mu.Lock()
	delete(b.dirty, source)
	b.mu.Unlock()
	defer func() {
		if err != nil {
			b.mu.Lock()
			b.markDirty(source)
			b.mu.Unlock()
		}
	}()
	owned, err := p.taggedARNs(ctx, map[string]string{cloud.TagCluster: p.opts.ClusterName, cloud.TagClusterID: p.opts.ClusterID}, resourceTypeTG)
	if err != nil {
		return err
	}
	arns := sortedKeys(owned)
	p.created.mu.Lock()
	for arn := range p.created.stacks {
		if isTGARN(arn) && !slices.Contains(arns, arn) {
			arns = append(arns, arn)
		}
	}
	p.created.mu.Unlock()
	// The target groups synced by this process, and the groups they replace that its syncs keep in step.
	known := map[string]bool{}
	b.mu.Lock()
	for key := range b.recent {
		if b.access[key].source != source {
			continue
		}
		if arn, ok := p.tgARNs.Load(key); ok {
			known[arn.(string)] = true
		}
		if mirrors, ok := p.tgMirrors.Load(key); ok {
			for _, arn := range mirrors.([]string) {
				known[arn] = true
			}
		}
	}
	b.mu.Unlock()
	type held struct {
		targets    []cloud.Target
		healthPort int32
	}
	var cold []held
	for _, batch := range chunks(arns, 20) {
		tgs, err := p.describeTGs(ctx, batch)
		if err != nil {
			return err
		}
		for _, tg := range tgs {
			if known[deref(tg.TargetGroupArn)] ||
				!slices.ContainsFunc(tg.LoadBalancerArns, func(lb string) bool { return slices.Contains(using, lb) }) {
				continue
			}
			health, err := p.c.ELBV2.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn})
			if hasCode(err, "TargetGroupNotFound") {
				continue
			}
			if err != nil {
				return classify(err)
			}
			h := held{healthPort: healthPort(deref(tg.HealthCheckPort))}
			for _, d := range health.TargetHealthDescriptions {
				if d.Target != nil {
					h.targets = append(h.targets, cloud.Target{ID: deref(d.Target.Id), Port: deref(d.Target.Port)})
				}
			}
			cold = append(cold, h)
		}
	}
	var all []cloud.Target
	for _, h := range cold {
		all = append(all, h.targets...)
	}
	if err := p.learnGroups(ctx, all); err != nil {
		return err
	}
	b.mu.Lock()
	kept := p.keptInMemory(source)
	for _, h := range cold {
		for _, t := range h.targets {
			// Every group of the target counts, not only the one picked: never a revoke too many.
			p.needOf(t, "").keeps(kept, h.healthPort)
		}
	}
	b.mu.Unlock()
	return p.revokeBackendRules(ctx, source, kept)
}

// revokeBackendRules revokes, from every group that lets source in, the rules that carry this cluster's marker and
// that kept does not keep (all of them when kept is nil); the groups' other rules are left as they are. The rules
// are read right before: only one that names this cluster's identity in its description is revoked.
func (p *Provider) revokeBackendRules(ctx context.Context, source string, kept map[rule]bool) error {
	marker := backendRuleMarker + p.opts.ClusterID
	pages := ec2.NewDescribeSecurityGroupsPaginator(p.c.EC2, &ec2.DescribeSecurityGroupsInput{
		Filters: []ec2types.Filter{{Name: ptr("ip-permission.group-id"), Values: []string{source}}}})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return classify(err)
		}
		for _, sg := range page.SecurityGroups {
			var revoke []ec2types.IpPermission
			for _, perm := range sg.IpPermissions {
				for _, pair := range perm.UserIdGroupPairs {
					port := deref(perm.FromPort)
					if deref(pair.GroupId) == source && deref(pair.Description) == marker && deref(perm.ToPort) == port &&
						!needed(kept, deref(sg.GroupId), port) {
						// The pair as described, description included, names this rule and no other.
						revoke = append(revoke, ec2types.IpPermission{IpProtocol: perm.IpProtocol, FromPort: perm.FromPort, ToPort: perm.ToPort,
							UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: ptr(source), Description: pair.Description}}})
					}
				}
			}
			if len(revoke) == 0 {
				continue
			}
			if _, err := p.c.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: revoke}); err != nil &&
				!hasCode(err, "InvalidPermission.NotFound") {
				return fmt.Errorf("revoking the backend security group's rules on %s: %w", deref(sg.GroupId), classify(err))
			}
			p.backend.mu.Lock()
			for _, perm := range revoke {
				delete(p.backend.applied, ruleKey(source, deref(sg.GroupId), deref(perm.FromPort)))
			}
			p.backend.mu.Unlock()
		}
	}
	return nil
}

// allowHealthPorts runs before an Ensure applies: a target group whose health check moves to a port of its own
// gets the rules on it for the targets it holds first, so that they do not fail their health checks until the next
// target sync. Only target groups this process has synced are known; the others get the rule at their next sync.
func (p *Provider) allowHealthPorts(ctx context.Context, d *desired) error {
	if !d.backendManaged {
		return nil
	}
	source := d.backendSGs[0]
	b := &p.backend
	b.rules.Lock()
	defer b.rules.Unlock()
	want := map[string][]int32{}
	b.mu.Lock()
	for _, tg := range d.lb.TargetGroups {
		key := d.lb.Stack + "\x00" + tg.ID
		port, had := healthPort(tg.HealthCheck.Port), b.access[key]
		if port == 0 || port == had.healthPort || had.source != source {
			continue
		}
		for n := range b.recent[key] {
			if n.picked != "" && n.picked != source && !b.applied[ruleKey(source, n.picked, port)] && !slices.Contains(want[n.picked], port) {
				want[n.picked] = append(want[n.picked], port)
			}
		}
	}
	b.mu.Unlock()
	if len(want) == 0 {
		return nil
	}
	// A group at its quota is reported by the target syncs, which leave its targets out.
	_, err := p.authorizeFrom(ctx, source, want)
	return err
}
