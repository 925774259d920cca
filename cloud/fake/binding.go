package fake

import (
	"context"
	"slices"

	"github.com/cloudlb/cloudlb/cloud"
)

// Method names of the TargetGroupBinding calls.
const (
	MethodBoundTargetGroup = "BoundTargetGroup"
	MethodSyncBoundTargets = "SyncBoundTargets"
)

type boundGroup struct {
	// managed is a group cloudlb came to manage for an Ingress (a takeover): bindings are refused.
	managed bool
	name    string
	group   cloud.BoundTargetGroup
	targets []cloud.Target
	ingress []cloud.IngressPermission
	// role is the identity the last sync reached the group as (cloud.WithRole).
	role cloud.Role
}

// AddBoundTargetGroup makes a target group that cloudlb does not own, as Terraform would, holding targets.
func (p *Provider) AddBoundTargetGroup(name string, g cloud.BoundTargetGroup, targets ...cloud.Target) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bound == nil {
		p.bound = map[string]*boundGroup{}
	}
	p.bound[g.ARN] = &boundGroup{name: name, group: g, targets: sortedUnique(targets)}
}

// ManageBoundTargetGroup makes a bound group one that cloudlb manages for an Ingress, as a takeover claims it.
func (p *Provider) ManageBoundTargetGroup(arn string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if g := p.bound[arn]; g != nil {
		g.managed = true
	}
}

// BoundTargets returns the targets a bound target group holds, sorted.
func (p *Provider) BoundTargets(arn string) []cloud.Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	if g := p.bound[arn]; g != nil {
		return slices.Clone(g.targets)
	}
	return nil
}

// BoundIngress returns the peers last let in for a bound target group's targets.
func (p *Provider) BoundIngress(arn string) []cloud.IngressPermission {
	p.mu.Lock()
	defer p.mu.Unlock()
	if g := p.bound[arn]; g != nil {
		return slices.Clone(g.ingress)
	}
	return nil
}

// BoundRole returns the identity the last sync of a bound target group reached it as.
func (p *Provider) BoundRole(arn string) cloud.Role {
	p.mu.Lock()
	defer p.mu.Unlock()
	if g := p.bound[arn]; g != nil {
		return g.role
	}
	return cloud.Role{}
}

// BoundTargetGroup finds a group added with AddBoundTargetGroup by ARN, or else by name.
func (p *Provider) BoundTargetGroup(ctx context.Context, arn, name string) (cloud.BoundTargetGroup, error) {
	if err := p.enter(ctx, MethodBoundTargetGroup, arn+name); err != nil {
		return cloud.BoundTargetGroup{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, g := range p.bound {
		if arn != "" && g.group.ARN == arn || arn == "" && g.name == name {
			if g.managed {
				return g.group, cloud.Errorf(cloud.KindInvalidSpec, "target group %s is managed by cloudlb for an Ingress", g.group.ARN)
			}
			return g.group, nil
		}
	}
	return cloud.BoundTargetGroup{}, cloud.Errorf(cloud.KindNotFound, "target group %s%s does not exist", arn, name)
}

// SyncBoundTargets applies the binding to a group added with AddBoundTargetGroup.
func (p *Provider) SyncBoundTargets(ctx context.Context, s cloud.BoundSync) ([]cloud.TargetHealth, error) {
	if err := p.enter(ctx, MethodSyncBoundTargets, s.ARN); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls[len(p.calls)-1].TargetGroup, p.calls[len(p.calls)-1].Targets = s.ARN, len(s.Targets)
	if s.ARN == "" {
		if s.Binding != "" {
			p.syncBindingRules(s)
		}
		return nil, nil
	}
	g := p.bound[s.ARN]
	if g == nil {
		return nil, cloud.Errorf(cloud.KindNotFound, "target group %s does not exist", s.ARN)
	}
	if g.managed {
		return nil, cloud.Errorf(cloud.KindInvalidSpec, "target group %s is managed by cloudlb for an Ingress", s.ARN)
	}
	g.role = cloud.RoleOf(ctx)
	if len(s.Targets) > 0 {
		g.ingress = slices.Clone(s.Ingress)
	}
	if s.Binding != "" {
		p.syncBindingRules(s)
	}
	kept := slices.Clone(s.Targets)
	for _, t := range g.targets {
		if s.Shared && !slices.Contains(s.Owned, t) {
			kept = append(kept, t)
		}
	}
	g.targets = sortedUnique(kept)
	out := make([]cloud.TargetHealth, len(s.Targets))
	for i, t := range s.Targets {
		state, ok := p.health[t]
		if !ok {
			state = cloud.TargetHealthy
		}
		out[i] = cloud.TargetHealth{Target: t, State: state}
	}
	return out, nil
}

func sortedUnique(ts []cloud.Target) []cloud.Target {
	out := slices.Clone(ts)
	slices.SortFunc(out, func(a, b cloud.Target) int {
		if a.ID != b.ID {
			if a.ID < b.ID {
				return -1
			}
			return 1
		}
		return int(a.Port - b.Port)
	})
	return slices.Compact(out)
}

// syncBindingRules keeps the rules each binding in s.Networked needs, as the AWS provider's do.
func (p *Provider) syncBindingRules(s cloud.BoundSync) {
	if p.bindingRules == nil {
		p.bindingRules = map[string][]cloud.IngressPermission{}
	}
	p.bindingRules[s.Binding] = nil
	if len(s.Targets) > 0 {
		p.bindingRules[s.Binding] = slices.Clone(s.Ingress)
	}
	for name := range p.bindingRules {
		if !slices.Contains(s.Networked, name) {
			delete(p.bindingRules, name)
		}
	}
}

// BindingRules returns the rules each binding ("namespace/name") asks for, as the last sync of any binding left them:
// a binding that goes, or asks for none, is not listed.
func (p *Provider) BindingRules() map[string][]cloud.IngressPermission {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string][]cloud.IngressPermission{}
	for name, rules := range p.bindingRules {
		if len(rules) > 0 {
			out[name] = slices.Clone(rules)
		}
	}
	return out
}
