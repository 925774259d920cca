// Package aws is the cloud.Provider for AWS Application Load Balancers, on aws-sdk-go-v2. Ensure observes
// what a stack owns (by ownership tags, never by listing the account), plans a pure diff against the model,
// and applies it in dependency order.
package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// DefaultSSLPolicy is used for HTTPS listeners without an ssl-policy annotation unless Options.DefaultSSLPolicy
// names another: TLS 1.2 and 1.3 only. Naming it keeps the diff exact instead of depending on the API's own
// default, which still allows TLS 1.0.
const DefaultSSLPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"

// maxTags is the most tags AWS allows on a load balancer, target group or security group.
const maxTags = 50

// Provider is the AWS implementation of cloud.Provider.
type Provider struct {
	c     Clients
	opts  Options
	certs certificateCache
	// tgARNs caches target group ID ("stack\x00id") to ARN for target syncs, which run far more often than
	// Ensure; an entry is dropped when the group is deleted or not found.
	tgARNs sync.Map
	// created are the load balancers and target groups this process made, by stack, which Delete includes
	// while the tagging API may not list them yet.
	created createdSet
	// tgMirrors maps the same keys to the ARNs of replaced groups still serving, which target syncs keep in step.
	tgMirrors sync.Map
	tags      tagPolicy
	backend   backendState
	madeCerts madeCerts
	// bindings are the TargetGroupBindings' security-group rules (bindingrules.go).
	bindings bindingRules
	// roles are the clients of the roles TargetGroupBindings assume (assumerole.go).
	roles assumedRoles
}

var _ cloud.Provider = (*Provider)(nil)

// New returns a provider over the given clients.
func New(c Clients, o Options) *Provider {
	if o.CertificateCacheTTL == 0 {
		o.CertificateCacheTTL = 5 * time.Minute
	}
	if o.DefaultSSLPolicy == "" {
		o.DefaultSSLPolicy = DefaultSSLPolicy
	}
	if o.ReplacementGrace == 0 {
		o.ReplacementGrace = 5 * time.Minute
	}
	if o.TargetGroupHealthWait == 0 {
		o.TargetGroupHealthWait = 2 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Provider{c: c, opts: o, certs: certificateCache{ttl: o.CertificateCacheTTL, names: map[string][]string{}},
		tags: newTagPolicy(o.DefaultTags, o.ExternalManagedTags)}
}

// Ensure converges the stack's resources to lb.
func (p *Provider) Ensure(ctx context.Context, lb *cloud.LoadBalancer, known cloud.Known) (cloud.Status, error) {
	p.backend.life.RLock()
	defer p.backend.life.RUnlock()
	pr, err := p.prepare(ctx, lb, known)
	if err != nil {
		return cloud.Status{}, err
	}
	d, a, pl, warnings, certs, certsInUse, certsPending := pr.d, pr.a, pr.pl, pr.warnings, pr.certs, pr.certsInUse, pr.certsPending
	if err := p.allowHealthPorts(ctx, d); err != nil {
		return cloud.Status{}, err
	}
	st, tgARNs, err := p.apply(ctx, d, pl)
	if err != nil {
		return cloud.Status{}, err
	}
	// Target syncs find each group by this, not by the eventually consistent tagging API, which may still list
	// a group just replaced.
	for id, arn := range tgARNs {
		p.tgARNs.Store(lb.Stack+"\x00"+id, arn)
		if mirrors := pl.mirrors[id]; len(mirrors) > 0 {
			p.tgMirrors.Store(lb.Stack+"\x00"+id, mirrors)
		} else {
			p.tgMirrors.Delete(lb.Stack + "\x00" + id)
		}
	}
	p.rememberAccess(d)
	if err := p.pruneDirty(ctx); err != nil {
		return cloud.Status{}, err
	}
	st.TargetGroups = tgARNs
	if len(a.adopted) > 0 {
		st.Adopted = append(a.adopted, inPlaceChanges(pl)...)
	}
	st.Warnings = append(warnings, st.Warnings...)
	st.Certificates = certs
	if certsPending {
		st.Pending = true
	} else {
		// Only once every certificate asked for is attached: until then a held listener still uses the one it replaces.
		blocked, err := p.deleteCertificates(ctx, lb.Stack, a, certsInUse)
		if err != nil {
			return cloud.Status{}, err
		}
		st.Pending = st.Pending || len(blocked) > 0
	}
	return st, nil
}

// prepared is everything Ensure knows before its first change: the model resolved, the stack observed, the plan.
type prepared struct {
	d            *desired
	a            *actual
	pl           *plan
	warnings     []string
	certs        []cloud.CertificateStatus
	certsInUse   map[string]bool
	certsPending bool
}

// prepare resolves, observes and plans; Ensure applies what it returns, Plan describes it.
func (p *Provider) prepare(ctx context.Context, lb *cloud.LoadBalancer, known cloud.Known) (*prepared, error) {
	d, warnings, err := p.resolve(ctx, lb)
	if err != nil {
		return nil, err
	}
	a, err := p.observe(ctx, lb.Stack, scope{known: known, names: []string{lb.Name, known.Name}, excludeSGs: append(slices.Clone(d.userSGs), d.backendSGs...),
		lbcTGs: lbcTargetGroupIDs(lb.TargetGroups)})
	if err != nil {
		return nil, err
	}
	// AWS would hand back the load balancer holding the name, or refuse: either way it is not this stack's to use.
	if h, ok := a.held[lb.Name]; ok {
		return nil, cloud.Errorf(cloud.KindConflict, "load balancer name %s is taken by %s, which belongs to %s",
			lb.Name, h.arn, ownerOf(h.tags))
	}
	if err := p.observeAttributes(ctx, lb, a); err != nil {
		return nil, err
	}
	pr := &prepared{d: d, a: a}
	var certWarnings []string
	if pr.certs, pr.certsInUse, pr.certsPending, certWarnings, err = p.ensureCertificates(ctx, d, a); err != nil {
		return nil, err
	}
	pr.warnings = append(warnings, certWarnings...)
	if a.health, err = p.observeHealth(ctx, healthChecks(d, a)); err != nil {
		return nil, err
	}
	if pr.pl, err = makePlan(d, a); err != nil {
		return nil, cloud.Errorf(cloud.KindInvalidSpec, "%s", err)
	}
	if pr.pl.childTags, err = p.childTagChanges(ctx, d, pr.pl); err != nil {
		return nil, err
	}
	return pr, nil
}

// resolve does the lookups the plan needs: subnets, security groups, certificates and names.
func (p *Provider) resolve(ctx context.Context, lb *cloud.LoadBalancer) (*desired, []string, error) {
	d := &desired{
		now:              p.opts.Now(),
		replacementGrace: p.opts.ReplacementGrace,
		healthWait:       p.opts.TargetGroupHealthWait,
		lb:               lb,
		tags:             p.tagsFor(lb.Tags, lb.Stack, "load-balancer"),
		sgTags:           p.tagsFor(lb.Tags, lb.Stack, "security-group"),
		policy:           p.tags,
		sgName:           cloud.Name(p.opts.ClusterName+"\x00"+lb.Stack+"\x00sg", "k8s", "sg", lb.Name),
		tgNames:          map[string]string{},
		defaultName:      lb.Name == defaultLoadBalancerName(p.opts.ClusterName, lb),
	}
	// AWS refuses a 51st tag on any of these resources, so say which tags add up rather than fail mid-apply. One
	// is kept free for cloud.TagRetiredAt, which a replacement adds.
	if len(d.tags)+1 > maxTags {
		return nil, nil, cloud.Errorf(cloud.KindInvalidSpec, "%d tags (default tags, the tags annotation and cloudlb's %d ownership tags) "+
			"exceed the AWS limit of %d per resource less the one %s needs when the load balancer is replaced",
			len(d.tags), ownershipTags, maxTags, cloud.TagRetiredAt)
	}
	var err error
	if d.wafACL, err = p.resolveWAF(ctx, lb); err != nil {
		return nil, nil, err
	}
	if d.subnets, err = p.subnets(ctx, lb); err != nil {
		return nil, nil, err
	}
	if len(lb.SecurityGroups) > 0 {
		if d.userSGs, err = p.resolveSecurityGroups(ctx, lb.Stack, lb.SecurityGroups); err != nil {
			return nil, nil, err
		}
	} else if p.opts.BackendSecurityGroup != "" {
		d.backendSGs = []string{p.opts.BackendSecurityGroup}
	}
	if lb.BackendRules && !p.opts.ManageBackendSecurityGroup {
		return nil, nil, cloud.Errorf(cloud.KindInvalidSpec, "rules from the backend security group to the targets were asked for, "+
			"but the controller runs with --enable-backend-security-group=false")
	}
	if p.backendEnabled(lb) {
		id, err := p.backendGroup(ctx, true)
		if err != nil {
			return nil, nil, err
		}
		d.backendSGs, d.backendManaged = []string{id}, true
	}
	for _, tg := range lb.TargetGroups {
		// The name hashes what AWS cannot change in place and that matters, so that a change makes a new group
		// alongside the old: protocol, target type, protocol version, address family. Not the port: targets are registered with their own
		// ports, so the group's port is only a default and a stale one is harmless. And the load balancer's
		// name: an ALB target group serves one load balancer only, so a replacement needs its own groups.
		key := fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s\x00%s", p.opts.ClusterName, lb.Stack, lb.Name, tg.ID, tg.Protocol, tg.TargetType)
		// Protocol version and address family are immutable too; added only when set, so that the names of
		// groups made before they existed do not change.
		for _, v := range []string{tg.ProtocolVersion, tg.IPAddressType} {
			if v != "" {
				key += "\x00" + v
			}
		}
		_, rest, _ := strings.Cut(tg.ID, "/")
		d.tgNames[tg.ID] = cloud.Name(key, "k8s", rest)
	}
	var warnings []string
	for _, l := range lb.Listeners {
		dl := desiredListener{Listener: l, certs: l.Certificates, appliedSecrets: lb.AppliedClientSecrets}
		if l.Protocol == cloud.ProtocolHTTPS {
			if dl.SSLPolicy == "" {
				dl.SSLPolicy = p.opts.DefaultSSLPolicy
			}
			if len(dl.certs) == 0 && (len(l.CertificateHosts) > 0 || len(l.CreateCertificates) == 0) {
				arns, missing, err := p.certificatesFor(ctx, l.CertificateHosts)
				if err != nil {
					return nil, nil, err
				}
				for _, h := range missing {
					warnings = append(warnings, fmt.Sprintf("no issued ACM certificate matches host %s on port %d", h, l.Port))
				}
				dl.certs = arns
			}
			// A listener with certificates to make is held, if need be, once their state is known (acmcert.go).
			if len(dl.certs) == 0 && len(l.CreateCertificates) == 0 {
				warnings = append(warnings, fmt.Sprintf("HTTPS listener on port %d has no certificate, so it is left as it is "+
					"(or not created): set the certificate-arn annotation or issue a certificate for its hosts in ACM", l.Port))
				dl.hold = true
			}
			if w, err := p.resolveTrustStore(ctx, &dl); err != nil {
				return nil, nil, err
			} else if w != "" {
				warnings = append(warnings, w)
			}
		}
		d.listeners = append(d.listeners, dl)
	}
	if err := p.resolveExternalTargetGroups(ctx, d); err != nil {
		return nil, nil, err
	}
	if err := checkQuotas(d); err != nil {
		return nil, nil, cloud.Errorf(cloud.KindInvalidSpec, "%s", err)
	}
	return d, warnings, nil
}

// observeHealth counts the targets of the target groups arns, and the healthy ones.
func (p *Provider) observeHealth(ctx context.Context, arns []string) (map[string]groupHealth, error) {
	out := map[string]groupHealth{}
	for _, arn := range arns {
		health, err := p.c.ELBV2.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: ptr(arn)})
		if err != nil {
			if hasCode(err, "TargetGroupNotFound") {
				continue
			}
			return nil, classify(err)
		}
		var g groupHealth
		for _, h := range health.TargetHealthDescriptions {
			if h.TargetHealth != nil && h.TargetHealth.State == elbv2types.TargetHealthStateEnumDraining {
				continue
			}
			g.targets++
			if h.TargetHealth != nil && h.TargetHealth.State == elbv2types.TargetHealthStateEnumHealthy {
				g.healthy++
			}
		}
		out[arn] = g
	}
	return out, nil
}

// Delete removes everything the stack owns, from whatever partial state it is in, and returns nil only once a
// consistent Describe shows its load balancers gone.
func (p *Provider) Delete(ctx context.Context, stack string, known cloud.Known) error {
	a, err := p.observe(ctx, stack, scope{known: known, names: []string{known.Name}, thorough: true})
	if err != nil {
		return err
	}
	var lbs, tgs, sgs []string
	for _, lb := range a.lbs {
		lbs = append(lbs, deref(lb.lb.LoadBalancerArn))
	}
	for _, tg := range a.targetGroups {
		tgs = append(tgs, deref(tg.tg.TargetGroupArn))
	}
	for _, sg := range a.securityGroups {
		sgs = append(sgs, deref(sg.GroupId))
	}
	if err := p.deleteAll(ctx, lbs, tgs, sgs); err != nil {
		return err
	}
	var left []elbv2types.LoadBalancer
	for _, batch := range chunks(lbs, 20) {
		described, err := p.describeLBs(ctx, batch)
		if err != nil {
			return err
		}
		left = append(left, described...)
	}
	for _, lb := range left {
		if lb.State == nil || lb.State.Code != elbv2types.LoadBalancerStateEnumFailed {
			return cloud.Errorf(cloud.KindPending, "load balancer %s is still being deleted", deref(lb.LoadBalancerArn))
		}
	}
	p.forgetStack(stack)
	if err := p.releaseBackend(ctx, len(lbs) > 0); err != nil {
		return err
	}
	blocked, err := p.deleteCertificates(ctx, stack, a, nil)
	if err != nil {
		return err
	}
	if len(blocked) > 0 {
		return cloud.Errorf(cloud.KindPending, "certificate %s is still attached to a listener; it is deleted once detached",
			strings.Join(blocked, ", "))
	}
	return nil
}

// Stacks lists every stack that owns a load balancer, target group or security group carrying this cluster's
// name and identity; never a legacy resource, which garbage collection must not adopt. Stack values are as
// tagged: a stack key longer than a tag value allows is listed as cloud.TagValue(stack).
func (p *Provider) Stacks(ctx context.Context) ([]string, error) {
	inv, err := p.Inventory(ctx)
	if err != nil {
		return nil, err
	}
	return sortedKeys(inv), nil
}

// SyncTargets makes the target group tgID of stack hold exactly targets, registering and deregistering in
// batches against what DescribeTargetHealth reports. Groups it replaces that still serve (a load balancer in its
// grace period, rules waiting for the new group to be healthy) get the same targets, so that they do not serve
// pods that are gone.
func (p *Provider) SyncTargets(ctx context.Context, stack, tgID string, targets []cloud.Target) ([]cloud.TargetHealth, error) {
	arn, err := p.targetGroupARN(ctx, stack, tgID)
	if err != nil {
		return nil, err
	}
	// Make before break: the targets' groups let the load balancer in before the targets are registered.
	access, err := p.accessOf(ctx, stack, tgID, arn)
	if err != nil {
		return nil, err
	}
	var full *fullGroupsError
	var needs needsChange
	if access.source != "" {
		if needs, err = p.allowTargets(ctx, stack+"\x00"+tgID, access, targets); err != nil {
			if !errors.As(err, &full) {
				return nil, err
			}
			// Fail closed for the targets the load balancer cannot reach; the rest are synced, and the error
			// is returned after, for a retry.
			targets = p.reachable(ctx, targets, full.groups)
		}
	}
	have, err := p.syncTargetGroup(ctx, arn, targets)
	if err != nil {
		if hasCode(err, "TargetGroupNotFound") {
			p.tgARNs.Delete(stack + "\x00" + tgID)
		}
		return nil, classify(err)
	}
	if access.source != "" {
		p.forgetTargets(have, targets)
	}
	if v, ok := p.tgMirrors.Load(stack + "\x00" + tgID); ok {
		for _, mirror := range v.([]string) {
			if _, err := p.syncTargetGroup(ctx, mirror, targets); err != nil && !hasCode(err, "TargetGroupNotFound") {
				return nil, classify(err)
			}
		}
	}
	// Break after make: only now that no target group holds the old targets may their rules go.
	if access.source != "" {
		if err := p.settleTargets(ctx, stack+"\x00"+tgID, access, needs, have, targets); err != nil {
			return nil, err
		}
	}
	out := make([]cloud.TargetHealth, 0, len(targets))
	for _, t := range targets {
		state, ok := have[t]
		if !ok {
			state = cloud.TargetInitial
		}
		out = append(out, cloud.TargetHealth{Target: t, State: state})
	}
	if full != nil {
		return nil, full
	}
	return out, nil
}

// syncTargetGroup makes one target group hold exactly targets, and returns the states of the targets it held.
func (p *Provider) syncTargetGroup(ctx context.Context, arn string, targets []cloud.Target) (map[cloud.Target]cloud.TargetState, error) {
	return p.registerExactly(ctx, p.c.ELBV2, arn, targets, nil, "")
}

// registerExactly registers targets in a target group and deregisters the other targets it holds for which
// mayRemove is true (all of them when mayRemove is nil), and returns the states of the targets it held. Calls go
// through elb; zone, when set, is the zone targets are registered with ("all": addresses outside the group's VPC).
func (p *Provider) registerExactly(ctx context.Context, elb ELBV2, arn string, targets []cloud.Target,
	mayRemove func(cloud.Target) bool, zone string) (map[cloud.Target]cloud.TargetState, error) {
	health, err := elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: ptr(arn)})
	if err != nil {
		return nil, err
	}
	have := map[cloud.Target]cloud.TargetState{}
	for _, h := range health.TargetHealthDescriptions {
		if h.Target == nil || (h.TargetHealth != nil && h.TargetHealth.State == elbv2types.TargetHealthStateEnumDraining) {
			continue
		}
		have[cloud.Target{ID: deref(h.Target.Id), Port: deref(h.Target.Port)}] = targetState(h.TargetHealth)
	}
	var add, remove []elbv2types.TargetDescription
	want := map[cloud.Target]bool{}
	for _, t := range targets {
		want[t] = true
		if _, ok := have[t]; !ok {
			add = append(add, elbv2types.TargetDescription{Id: ptr(t.ID), Port: ptr(t.Port), AvailabilityZone: nonEmpty(zone)})
		}
	}
	for t := range have {
		if !want[t] && (mayRemove == nil || mayRemove(t)) {
			remove = append(remove, elbv2types.TargetDescription{Id: ptr(t.ID), Port: ptr(t.Port)})
		}
	}
	for _, batch := range chunks(add, targetBatch) {
		if _, err := elb.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: ptr(arn), Targets: batch}); err != nil {
			return nil, fmt.Errorf("registering targets: %w", err)
		}
	}
	for _, batch := range chunks(remove, targetBatch) {
		if _, err := elb.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: ptr(arn), Targets: batch}); err != nil {
			return nil, fmt.Errorf("deregistering targets: %w", err)
		}
	}
	return have, nil
}

func targetState(h *elbv2types.TargetHealth) cloud.TargetState {
	if h == nil {
		return cloud.TargetUnknown
	}
	switch h.State {
	case elbv2types.TargetHealthStateEnumHealthy:
		return cloud.TargetHealthy
	case elbv2types.TargetHealthStateEnumUnhealthy:
		return cloud.TargetUnhealthy
	case elbv2types.TargetHealthStateEnumInitial:
		return cloud.TargetInitial
	case elbv2types.TargetHealthStateEnumUnused:
		return cloud.TargetUnused
	}
	return cloud.TargetUnknown
}

// targetBatch bounds the targets sent in one RegisterTargets or DeregisterTargets call.
const targetBatch = 200

func (p *Provider) targetGroupARN(ctx context.Context, stack, tgID string) (string, error) {
	key := stack + "\x00" + tgID
	if v, ok := p.tgARNs.Load(key); ok {
		return v.(string), nil
	}
	filter := p.ownerFilter(stack)
	filter[cloud.TagResource] = cloud.TagValue(tgID)
	owned, err := p.taggedARNs(ctx, filter, resourceTypeTG)
	if err != nil {
		return "", err
	}
	// During a replacement two groups carry the ID: the one replaced is tagged retired-at (or, after a crash
	// before that tag, both may be untagged, and only Ensure can tell them apart).
	var current []string
	for arn, tags := range owned {
		if p.owns(tags, stack) && tags[cloud.TagResource] == cloud.TagValue(tgID) {
			if _, retired := tags[cloud.TagRetiredAt]; !retired {
				current = append(current, arn)
			}
		}
	}
	switch len(current) {
	case 0:
		return "", cloud.Errorf(cloud.KindNotFound, "target group %s of stack %s not found", tgID, stack)
	case 1:
		p.tgARNs.Store(key, current[0])
		return current[0], nil
	}
	slices.Sort(current)
	return "", cloud.Errorf(cloud.KindPending, "target group %s of stack %s is being replaced (%s): waiting for the load balancer's "+
		"next update to tell which one is current", tgID, stack, strings.Join(current, ", "))
}

func (p *Provider) forgetTargetGroup(arn string) {
	p.tgARNs.Range(func(k, v any) bool {
		if v == arn {
			p.tgARNs.Delete(k)
		}
		return true
	})
}
