package fake

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cloudlb/cloudlb/cloud"
)

// MethodPlan is Plan's name in Calls and for fault injection.
const MethodPlan = "Plan"

// Plan returns what Ensure of lb would change in the fake: the load balancer, target groups by ID, listeners by
// port and rules by conditions, created, modified or deleted. It changes nothing.
func (p *Provider) Plan(ctx context.Context, lb *cloud.LoadBalancer, _ cloud.Known) (cloud.Plan, error) {
	if err := p.enter(ctx, MethodPlan, lb.Stack); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return diff(p.lbs[lb.Stack], lb), nil
}

// Applied returns the changes the last Ensure of stack made, as Plan would have listed them.
func (p *Provider) Applied(stack string) cloud.Plan {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.applied[stack]
}

func diff(have, want *cloud.LoadBalancer) cloud.Plan {
	var out []cloud.Change
	add := func(a cloud.ChangeAction, kind, res, field, old, new string) {
		out = append(out, cloud.Change{Action: a, Kind: kind, Resource: res, Field: field, Old: old, New: new})
	}
	if have == nil {
		have = &cloud.LoadBalancer{}
		add(cloud.ActionCreate, "load-balancer", want.Name, "", "", string(want.Scheme))
	} else {
		h, w := *have, *want
		h.Listeners, h.TargetGroups, w.Listeners, w.TargetGroups = nil, nil, nil, nil
		if o, n := jsonOf(h), jsonOf(w); o != n {
			add(cloud.ActionModify, "load-balancer", want.Name, "settings", o, n)
		}
	}
	tgs := map[string]string{}
	for _, tg := range have.TargetGroups {
		tgs[tg.ID] = jsonOf(tg)
	}
	for _, tg := range want.TargetGroups {
		o, ok := tgs[tg.ID]
		switch n := jsonOf(tg); {
		case !ok:
			add(cloud.ActionCreate, "target-group", tg.ID, "", "", fmt.Sprintf("%s:%d %s", tg.Protocol, tg.Port, tg.TargetType))
		case o != n:
			add(cloud.ActionModify, "target-group", tg.ID, "settings", o, n)
		}
		delete(tgs, tg.ID)
	}
	for id := range tgs {
		add(cloud.ActionDelete, "target-group", id, "", "", "")
	}
	listeners := map[int32]cloud.Listener{}
	for _, l := range have.Listeners {
		listeners[l.Port] = l
	}
	for _, l := range want.Listeners {
		res := fmt.Sprintf("%s:%d", want.Name, l.Port)
		o, ok := listeners[l.Port]
		delete(listeners, l.Port)
		rules := map[string]cloud.Rule{}
		if ok {
			for _, r := range o.Rules {
				rules[jsonOf(r.Conditions)] = r
			}
			ol, nl := o, l
			ol.Rules, nl.Rules = nil, nil
			if a, b := jsonOf(ol), jsonOf(nl); a != b {
				add(cloud.ActionModify, "listener", res, "settings", a, b)
			}
		} else {
			add(cloud.ActionCreate, "listener", res, "", "", string(l.Protocol))
		}
		for _, r := range l.Rules {
			k := jsonOf(r.Conditions)
			or, ok := rules[k]
			delete(rules, k)
			switch {
			case !ok:
				add(cloud.ActionCreate, "rule", res+" "+k, "", "", jsonOf(r.Action))
			case jsonOf(or) != jsonOf(r):
				add(cloud.ActionModify, "rule", res+" "+k, "settings", jsonOf(or), jsonOf(r))
			}
		}
		for k := range rules {
			add(cloud.ActionDelete, "rule", res+" "+k, "", "", "")
		}
	}
	for port := range listeners {
		add(cloud.ActionDelete, "listener", fmt.Sprintf("%s:%d", have.Name, port), "", "", "")
	}
	return cloud.SortChanges(out)
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
