package aws

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/cloudlb/cloudlb/cloud"
)

// The shared backend security group: one per cluster, on every managed load balancer, and the only source that
// cloudlb opens the targets' own groups to. Like the AWS Load Balancer Controller's, it keeps the rules on a node
// or pod group at one per port however many load balancers there are.

// backendRuleMarker starts the description of every rule cloudlb adds to a target's group; a rule is revoked
// only when it carries the marker with this cluster's identity and has the backend group as its source.
const backendRuleMarker = "cloudlb.io/backend cluster-id="

// clusterTagPrefix is the tag EKS and kOps put on the security groups of a cluster's nodes.
const clusterTagPrefix = "kubernetes.io/cluster/"

// describeBatch bounds the filter values of one DescribeNetworkInterfaces or DescribeInstances call.
const describeBatch = 200

type backendState struct {
	// life is held for reading while an Ensure may attach the shared group, and for writing while Delete
	// decides whether to delete it, so that no load balancer is given a group being deleted.
	life sync.RWMutex

	// find serialises looking up and creating the shared group.
	find sync.Mutex
	// rules serialises adding rules with pruning them, so that a prune never revokes a rule a sync just added.
	rules sync.Mutex

	mu sync.Mutex
	// recent is what the targets each target group ("stack\x00id") was last given need, as one entry per
	// distinct group set and port; while a sync runs, what the targets it replaces needed too.
	recent map[string]map[targetNeed]bool
	// dirty are the sources some rule from which may no longer be needed: pruned at the next Ensure or sync.
	dirty map[string]bool
	// id is the shared group's ID once found or created.
	id string
	// access is what target syncs need to know of a target group ("stack\x00id"), learned by Ensure or read
	// from the cloud once per process.
	access map[string]tgAccess
	// groupsOf are the security groups of a target (an IP address or an instance ID).
	groupsOf map[string][]string
	// sgTags are the tags of the targets' security groups.
	sgTags map[string]tagSet
	// applied holds "source\x00group\x00port" rules known to exist.
	applied map[string]bool
}

type tgAccess struct {
	// source is the backend group the target group's load balancer carries; "" means no rules are managed.
	source string
	// healthPort is the health check port, or 0 for the traffic port.
	healthPort int32
}

// backendEnabled reports whether the load balancer gets the backend group and rules to its targets: always with a
// managed frontend group, and with the user's own groups only when asked, as in the AWS Load Balancer Controller.
func (p *Provider) backendEnabled(lb *cloud.LoadBalancer) bool {
	return p.opts.ManageBackendSecurityGroup && (len(lb.SecurityGroups) == 0 || lb.BackendRules)
}

// backendGroup returns the backend group's ID: the one the flag names, or the cluster's shared group, created
// when create is set and none exists; "" when none exists and create is not set.
func (p *Provider) backendGroup(ctx context.Context, create bool) (string, error) {
	if p.opts.BackendSecurityGroup != "" {
		return p.opts.BackendSecurityGroup, nil
	}
	b := &p.backend
	// Concurrent Ensures of a new cluster would otherwise each create a group of the same name.
	b.find.Lock()
	defer b.find.Unlock()
	b.mu.Lock()
	id := b.id
	b.mu.Unlock()
	if id != "" {
		return id, nil
	}
	out, err := p.c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: p.backendFilter()})
	if err != nil {
		return "", classify(err)
	}
	for _, sg := range out.SecurityGroups {
		if p.ownsBackend(fromEC2(sg.Tags)) {
			id = deref(sg.GroupId)
			break
		}
	}
	if id == "" && create && p.adoptingLBC(ctx) {
		if id, err = p.adoptLBCBackend(ctx); err != nil {
			return "", err
		}
	}
	if rec := planning(ctx); id == "" && create && rec != nil {
		rec.add(cloud.Change{Action: cloud.ActionCreate, Kind: kindSG, Resource: backendGroupName(p.opts), New: "shared backend of cluster " + p.opts.ClusterName})
		return newBackendGroupID, nil
	}
	if id == "" && create {
		tags := p.tags.merge(nil, nil)
		tags[cloud.TagCluster] = p.opts.ClusterName
		tags[cloud.TagClusterID] = p.opts.ClusterID
		tags[cloud.TagResource] = cloud.ResourceBackendSecurityGroup
		created, err := p.c.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName:         ptr(backendGroupName(p.opts)),
			Description:       ptr("[cloudlb] shared backend of the load balancers of cluster " + p.opts.ClusterName),
			VpcId:             ptr(p.opts.VPCID),
			TagSpecifications: tags.ec2(ec2types.ResourceTypeSecurityGroup),
		})
		if err != nil {
			return "", fmt.Errorf("creating the backend security group: %w", classify(err))
		}
		id = deref(created.GroupId)
	}
	// A plan only pretends to adopt or create: what it found is not the cluster's group until Ensure makes it so.
	if id != "" && planning(ctx) == nil {
		b.mu.Lock()
		b.id = id
		b.mu.Unlock()
	}
	return id, nil
}

func (p *Provider) backendFilter() []ec2types.Filter {
	return []ec2types.Filter{
		{Name: ptr("tag:" + cloud.TagCluster), Values: []string{p.opts.ClusterName}},
		{Name: ptr("tag:" + cloud.TagClusterID), Values: []string{p.opts.ClusterID}},
		{Name: ptr("tag:" + cloud.TagResource), Values: []string{cloud.ResourceBackendSecurityGroup}},
		{Name: ptr("vpc-id"), Values: []string{p.opts.VPCID}},
	}
}

// ownsBackend applies the ownership rule to the shared group, a cluster-level resource: it has no stack tag, so
// that garbage collection never sees it as the resource of a stack.
func (p *Provider) ownsBackend(tags tagSet) bool {
	_, stack := tags[cloud.TagStack]
	return !stack && tags[cloud.TagCluster] == p.opts.ClusterName && tags[cloud.TagClusterID] == p.opts.ClusterID &&
		tags[cloud.TagResource] == cloud.ResourceBackendSecurityGroup
}

// rememberAccess records, after an Ensure, what target syncs of the load balancer's target groups need. A target
// group gone from the model, or whose load balancer no longer carries the backend group, or whose health check
// moved off a port of its own, may leave rules no target needs: their source is marked for pruning.
func (p *Provider) rememberAccess(d *desired) {
	b := &p.backend
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.access == nil {
		b.access = map[string]tgAccess{}
	}
	want := map[string]tgAccess{}
	for _, tg := range d.lb.TargetGroups {
		a := tgAccess{healthPort: healthPort(tg.HealthCheck.Port)}
		if d.backendManaged {
			a.source = d.backendSGs[0]
		}
		want[d.lb.Stack+"\x00"+tg.ID] = a
	}
	for key, had := range b.access {
		if !strings.HasPrefix(key, d.lb.Stack+"\x00") {
			continue
		}
		now, ok := want[key]
		if had.source != "" && (!ok || now.source != had.source || had.healthPort != 0 && now.healthPort != had.healthPort) {
			b.markDirty(had.source)
		}
		if !ok || now.source != had.source {
			delete(b.access, key)
			delete(b.recent, key)
		}
	}
	maps.Copy(b.access, want)
}

// markDirty notes that a rule from source may no longer be needed. Called with b.mu held.
func (b *backendState) markDirty(source string) {
	if b.dirty == nil {
		b.dirty = map[string]bool{}
	}
	b.dirty[source] = true
}

func healthPort(s string) int32 {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

// accessOf returns what a target sync needs of target group arn; learned from the cloud when this process has not
// ensured its load balancer: the group's rules are managed when its load balancer carries the backend group.
func (p *Provider) accessOf(ctx context.Context, stack, tgID, arn string) (tgAccess, error) {
	b := &p.backend
	key := stack + "\x00" + tgID
	b.mu.Lock()
	a, ok := b.access[key]
	b.mu.Unlock()
	if ok || !p.opts.ManageBackendSecurityGroup {
		return a, nil
	}
	tgs, err := p.describeTGs(ctx, []string{arn})
	if err != nil || len(tgs) == 0 {
		return a, err
	}
	a.healthPort = healthPort(deref(tgs[0].HealthCheckPort))
	if len(tgs[0].LoadBalancerArns) > 0 {
		source, err := p.backendGroup(ctx, false)
		if err != nil {
			return a, err
		}
		lbs, err := p.describeLBs(ctx, tgs[0].LoadBalancerArns)
		if err != nil {
			return a, err
		}
		for _, lb := range lbs {
			if source != "" && slices.Contains(lb.SecurityGroups, source) {
				a.source = source
			}
		}
	}
	b.mu.Lock()
	if b.access == nil {
		b.access = map[string]tgAccess{}
	}
	b.access[key] = a
	b.mu.Unlock()
	return a, nil
}

// allowTargets adds, to the security group of each target, a rule from the backend group on the target's port and
// on the health check port, unless it is known to exist. It makes AWS calls only for targets it has not seen and
// for rules it has not applied. It returns what the targets need, which settleTargets records once the target
// group holds them; until then the target group counts as needing what its old targets and the new ones need.
func (p *Provider) allowTargets(ctx context.Context, key string, a tgAccess, targets []cloud.Target) (needsChange, error) {
	b := &p.backend
	b.rules.Lock()
	defer b.rules.Unlock()
	if err := p.learnGroups(ctx, targets); err != nil {
		return needsChange{}, err
	}
	want := map[string][]int32{}
	needs := map[targetNeed]bool{}
	b.mu.Lock()
	for _, t := range targets {
		g := p.targetGroupOf(ctx, t.ID)
		needs[p.needOf(t, g)] = true
		if g == "" || g == a.source {
			continue
		}
		for _, port := range []int32{t.Port, a.healthPort} {
			if port > 0 && !b.applied[ruleKey(a.source, g, port)] && !slices.Contains(want[g], port) {
				want[g] = append(want[g], port)
			}
		}
	}
	if b.recent == nil {
		b.recent = map[string]map[targetNeed]bool{}
	}
	change := needsChange{old: b.recent[key], now: needs}
	during := maps.Clone(change.old)
	if during == nil {
		during = map[targetNeed]bool{}
	}
	maps.Copy(during, needs)
	b.recent[key] = during
	b.mu.Unlock()
	if len(want) == 0 {
		return change, nil
	}
	full, err := p.authorizeFrom(ctx, a.source, want)
	if err != nil {
		return needsChange{}, err
	}
	if len(full) > 0 {
		return change, &fullGroupsError{groups: full}
	}
	return change, nil
}

// authorizeFrom adds to each group the rules from source on the ports want names that no rule covers yet, and
// returns the groups that are at AWS's quota of inbound rules.
func (p *Provider) authorizeFrom(ctx context.Context, source string, want map[string][]int32) ([]string, error) {
	b := &p.backend
	// Read the groups' rules now, not from memory: another process or a restart may have added them.
	groups := sortedKeys(want)
	have, err := p.groupPermissions(ctx, groups)
	if err != nil {
		return nil, err
	}
	var full []string
	for _, g := range groups {
		var add []ec2types.IpPermission
		for _, port := range want[g] {
			if !hasSourceRule(have[g], source, port) {
				add = append(add, p.backendPermission(source, port))
			}
		}
		if len(add) > 0 {
			_, err := p.c.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: ptr(g), IpPermissions: add})
			switch {
			case hasCode(err, "RulesPerSecurityGroupLimitExceeded"):
				// The group is at its quota of inbound rules (60 by default) and stays so until its owner acts:
				// returning at once would hold every registration and deregistration of the target group,
				// on every retry. The other groups are opened, and SyncTargets leaves out this group's targets.
				full = append(full, g)
				continue
			case err != nil && !hasCode(err, "InvalidPermission.Duplicate"):
				return nil, fmt.Errorf("allowing the backend security group on %s: %w", g, classify(err))
			}
		}
		b.mu.Lock()
		if b.applied == nil {
			b.applied = map[string]bool{}
		}
		for _, port := range want[g] {
			b.applied[ruleKey(source, g, port)] = true
		}
		b.mu.Unlock()
	}
	return full, nil
}

// fullGroupsError names the targets' security groups that AWS refused a rule from the backend group
// (RulesPerSecurityGroupLimitExceeded).
type fullGroupsError struct{ groups []string }

func (e *fullGroupsError) Error() string {
	return fmt.Sprintf("the targets' security groups %s are at AWS's quota of inbound rules per security group: the load balancer "+
		"cannot reach their targets, which are not registered until a rule is freed or the quota raised", strings.Join(e.groups, ", "))
}

// reachable leaves out of targets those whose security group is one of full.
func (p *Provider) reachable(ctx context.Context, targets []cloud.Target, full []string) []cloud.Target {
	b := &p.backend
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []cloud.Target
	for _, t := range targets {
		if !slices.Contains(full, p.targetGroupOf(ctx, t.ID)) {
			out = append(out, t)
		}
	}
	return out
}

func ruleKey(source, group string, port int32) string {
	return source + "\x00" + group + "\x00" + strconv.Itoa(int(port))
}

func (p *Provider) backendPermission(source string, port int32) ec2types.IpPermission {
	return ec2types.IpPermission{IpProtocol: ptr("tcp"), FromPort: ptr(port), ToPort: ptr(port),
		UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: ptr(source), Description: ptr(backendRuleMarker + p.opts.ClusterID)}}}
}

// hasSourceRule reports whether perms let source in on port over TCP, whoever added the rule.
func hasSourceRule(perms []ec2types.IpPermission, source string, port int32) bool {
	for _, perm := range perms {
		proto := deref(perm.IpProtocol)
		if proto != "-1" && (proto != "tcp" && proto != "6" || deref(perm.FromPort) > port || deref(perm.ToPort) < port) {
			continue
		}
		for _, pair := range perm.UserIdGroupPairs {
			if deref(pair.GroupId) == source {
				return true
			}
		}
	}
	return false
}

// learnGroups reads the security groups of the targets not seen before, in batches: network interfaces by private
// address for IP targets, instances by ID for instance targets; then the tags of groups not seen before.
func (p *Provider) learnGroups(ctx context.Context, targets []cloud.Target) error {
	b := &p.backend
	var ips, instances []string
	seen := map[string]bool{}
	b.mu.Lock()
	for _, t := range targets {
		if _, ok := b.groupsOf[t.ID]; ok || seen[t.ID] {
			continue
		}
		seen[t.ID] = true
		if strings.HasPrefix(t.ID, "i-") {
			instances = append(instances, t.ID)
		} else {
			ips = append(ips, t.ID)
		}
	}
	b.mu.Unlock()
	found := map[string][]string{}
	for _, batch := range chunks(ips, describeBatch) {
		pages := ec2.NewDescribeNetworkInterfacesPaginator(p.c.EC2, &ec2.DescribeNetworkInterfacesInput{Filters: []ec2types.Filter{
			{Name: ptr("vpc-id"), Values: []string{p.opts.VPCID}}, {Name: ptr("addresses.private-ip-address"), Values: batch}}})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("reading the targets' network interfaces: %w", classify(err))
			}
			for _, ni := range page.NetworkInterfaces {
				var groups []string
				for _, g := range ni.Groups {
					groups = append(groups, deref(g.GroupId))
				}
				for _, addr := range ni.PrivateIpAddresses {
					if ip := deref(addr.PrivateIpAddress); seen[ip] {
						found[ip] = groups
					}
				}
			}
		}
	}
	for _, batch := range chunks(instances, describeBatch) {
		pages := ec2.NewDescribeInstancesPaginator(p.c.EC2, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
			{Name: ptr("instance-id"), Values: batch}}})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("reading the targets' instances: %w", classify(err))
			}
			for _, r := range page.Reservations {
				for _, in := range r.Instances {
					var groups []string
					for _, g := range in.SecurityGroups {
						groups = append(groups, deref(g.GroupId))
					}
					found[deref(in.InstanceId)] = groups
				}
			}
		}
	}
	var unknown []string
	b.mu.Lock()
	if b.groupsOf == nil {
		b.groupsOf, b.sgTags = map[string][]string{}, map[string]tagSet{}
	}
	// A target not found (a pod's address not yet on an interface) is looked up again on the next sync.
	for id, groups := range found {
		b.groupsOf[id] = groups
		for _, g := range groups {
			if _, ok := b.sgTags[g]; !ok && !slices.Contains(unknown, g) {
				unknown = append(unknown, g)
			}
		}
	}
	b.mu.Unlock()
	for _, batch := range chunks(unknown, describeBatch) {
		out, err := p.c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: batch})
		if err != nil {
			return fmt.Errorf("reading the targets' security groups: %w", classify(err))
		}
		b.mu.Lock()
		for _, sg := range out.SecurityGroups {
			b.sgTags[deref(sg.GroupId)] = fromEC2(sg.Tags)
		}
		b.mu.Unlock()
	}
	return nil
}

// forgetTargets drops the groups learned for targets that left, so that an address a new pod reuses, maybe on an
// interface with other groups, is looked up again.
func (p *Provider) forgetTargets(had map[cloud.Target]cloud.TargetState, targets []cloud.Target) {
	keep := make(map[string]bool, len(targets))
	for _, t := range targets {
		keep[t.ID] = true
	}
	b := &p.backend
	b.mu.Lock()
	defer b.mu.Unlock()
	for t := range had {
		if !keep[t.ID] {
			delete(b.groupsOf, t.ID)
		}
	}
}

// targetGroupOf picks the one security group of a target that cloudlb may open, as the AWS Load Balancer
// Controller does: the only group, or the only one tagged for this cluster; never one tagged for another
// cluster only. "" when there is none to pick. Called with b.mu held.
func (p *Provider) targetGroupOf(ctx context.Context, id string) string {
	b := &p.backend
	groups, ok := b.groupsOf[id]
	if !ok {
		return ""
	}
	mine := clusterTagPrefix + p.opts.ClusterName
	var tagged []string
	for _, g := range groups {
		if _, ok := b.sgTags[g][mine]; ok {
			tagged = append(tagged, g)
		}
	}
	switch {
	case len(tagged) == 1:
		return tagged[0]
	case len(groups) == 1 && len(tagged) == 0 && !otherCluster(b.sgTags[groups[0]]):
		return groups[0]
	}
	log.FromContext(ctx).Info("no security group of the target to allow the load balancer on: it needs exactly one group, "+
		"or exactly one tagged "+mine, "target", id, "groups", groups)
	return ""
}

// otherCluster reports a group tagged for some cluster (with the tag EKS puts on node groups).
func otherCluster(tags tagSet) bool {
	for k := range tags {
		if strings.HasPrefix(k, clusterTagPrefix) {
			return true
		}
	}
	return false
}

// releaseBackend runs after a stack was deleted: when no load balancer of this cluster carries the backend
// group any more, the rules cloudlb added from it go, and so does the group if it is the cluster's shared one;
// otherwise, with prune, the rules no remaining target needs go.
func (p *Provider) releaseBackend(ctx context.Context, prune bool) error {
	if !p.opts.ManageBackendSecurityGroup {
		return nil
	}
	id, using, err := p.deleteUnusedBackend(ctx)
	// A stack that had no load balancer left no target behind: no need to read every target group again.
	if err != nil || len(using) == 0 || !prune {
		return err
	}
	// Outside the life lock: pruning may read target groups, and Ensure need not wait for it.
	return p.pruneBackendRules(ctx, id, using)
}

// deleteUnusedBackend revokes the backend group's rules and deletes it when no load balancer of the cluster carries
// it; otherwise it returns the load balancers that do.
func (p *Provider) deleteUnusedBackend(ctx context.Context) (string, []string, error) {
	p.backend.life.Lock()
	defer p.backend.life.Unlock()
	id, err := p.backendGroup(ctx, false)
	if err != nil || id == "" {
		return "", nil, err
	}
	using, err := p.loadBalancersUsing(ctx, id)
	if err != nil {
		return "", nil, err
	}
	if len(using) > 0 {
		return id, using, nil
	}
	if err := p.revokeBackendRules(ctx, id, nil); err != nil {
		return "", nil, err
	}
	p.forgetBackend()
	if p.opts.BackendSecurityGroup != "" {
		return "", nil, nil
	}
	// Read the tags again right before deleting: only the cluster's own shared group goes.
	out, err := p.c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	if hasCode(err, "InvalidGroup.NotFound") {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, classify(err)
	}
	if len(out.SecurityGroups) != 1 || !p.ownsBackend(fromEC2(out.SecurityGroups[0].Tags)) {
		return "", nil, nil
	}
	if _, err := p.c.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: ptr(id)}); err != nil &&
		!hasCode(err, "InvalidGroup.NotFound") {
		if hasCode(err, "DependencyViolation") {
			return "", nil, p.securityGroupInUse(ctx, id)
		}
		return "", nil, fmt.Errorf("deleting the backend security group %s: %w", id, classify(err))
	}
	return "", nil, nil
}

func (p *Provider) forgetBackend() {
	b := &p.backend
	b.mu.Lock()
	defer b.mu.Unlock()
	// What the targets needed of the group and what was left to prune of it went with it.
	b.id, b.access, b.applied, b.recent, b.dirty = "", nil, nil, nil, nil
}

// loadBalancersUsing returns the load balancers of the cluster that carry the security group id.
func (p *Provider) loadBalancersUsing(ctx context.Context, id string) ([]string, error) {
	owned, err := p.taggedARNs(ctx, map[string]string{cloud.TagCluster: p.opts.ClusterName, cloud.TagClusterID: p.opts.ClusterID}, resourceTypeLB)
	if err != nil {
		return nil, err
	}
	if p.opts.AdoptLBC {
		// A load balancer LBC made and cloudlb has not adopted yet may carry an adopted backend group too.
		lbc, err := p.taggedARNs(ctx, map[string]string{lbcClusterKey: p.opts.ClusterName}, resourceTypeLB)
		if err != nil {
			return nil, err
		}
		maps.Copy(owned, lbc)
	}
	arns := sortedKeys(owned)
	p.created.mu.Lock()
	for arn := range p.created.stacks {
		if isLBARN(arn) && !slices.Contains(arns, arn) {
			arns = append(arns, arn)
		}
	}
	p.created.mu.Unlock()
	var using []string
	for _, batch := range chunks(arns, 20) {
		lbs, err := p.describeLBs(ctx, batch)
		if err != nil {
			return nil, err
		}
		for _, lb := range lbs {
			if slices.Contains(lb.SecurityGroups, id) {
				using = append(using, deref(lb.LoadBalancerArn))
			}
		}
	}
	return using, nil
}

// forgetStack drops what target syncs of a deleted stack's target groups left in memory.
func (p *Provider) forgetStack(stack string) {
	b := &p.backend
	b.mu.Lock()
	defer b.mu.Unlock()
	// Every target group the stack's Ensure learned of, synced since or not.
	for key := range b.access {
		if strings.HasPrefix(key, stack+"\x00") {
			delete(b.access, key)
		}
	}
	for key := range b.recent {
		if strings.HasPrefix(key, stack+"\x00") {
			delete(b.recent, key)
		}
	}
}

// groupPermissions reads the inbound rules of security groups, by ID.
func (p *Provider) groupPermissions(ctx context.Context, groups []string) (map[string][]ec2types.IpPermission, error) {
	have := map[string][]ec2types.IpPermission{}
	for _, batch := range chunks(groups, describeBatch) {
		out, err := p.c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: batch})
		if err != nil {
			return nil, fmt.Errorf("reading the targets' security groups: %w", classify(err))
		}
		for _, sg := range out.SecurityGroups {
			have[deref(sg.GroupId)] = sg.IpPermissions
		}
	}
	return have, nil
}
