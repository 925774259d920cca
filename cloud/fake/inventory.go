package fake

import (
	"context"
	"slices"
	"strings"

	"github.com/cloudlb/cloudlb/cloud"
)

// MethodInventory is the method name of Inventory, as recorded in Calls.
const MethodInventory = "Inventory"

var _ cloud.Inventory = (*Provider)(nil)

// Inventory returns each stack's load balancer ("fake://" + stack) and target groups with their cloud IDs.
func (p *Provider) Inventory(ctx context.Context) (map[string]cloud.StackResources, error) {
	if err := p.enter(ctx, MethodInventory, ""); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]cloud.StackResources{}
	for stack, lb := range p.lbs {
		res := cloud.StackResources{LoadBalancers: []string{"fake://" + stack}, TargetGroups: map[string][]string{}}
		for _, tg := range lb.TargetGroups {
			res.TargetGroups[cloud.TagValue(tg.ID)] = []string{p.tgCloud[tgKey{stack, tg.ID}]}
		}
		out[cloud.TagValue(stack)] = res
	}
	return out, nil
}

// Seed makes the cloud hold a stack that another process ensured: a load balancer and target groups with the
// given cloud IDs, by target group ID. No call is recorded.
func (p *Provider) Seed(stack, name string, targetGroups map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lb := &cloud.LoadBalancer{Stack: stack, Name: name}
	for id, cloudID := range targetGroups {
		lb.TargetGroups = append(lb.TargetGroups, cloud.TargetGroup{ID: id})
		p.tgCloud[tgKey{stack, id}] = cloudID
	}
	slices.SortFunc(lb.TargetGroups, func(a, b cloud.TargetGroup) int { return strings.Compare(a.ID, b.ID) })
	p.lbs[stack] = lb
}

// RemoveOutOfBand deletes, as someone else would behind the controller's back, a target group of stack, or the
// whole stack when tgID is empty. No call is recorded.
func (p *Provider) RemoveOutOfBand(stack, tgID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lb, ok := p.lbs[stack]
	if !ok {
		return
	}
	if tgID == "" {
		delete(p.lbs, stack)
		return
	}
	lb.TargetGroups = slices.DeleteFunc(lb.TargetGroups, func(tg cloud.TargetGroup) bool { return tg.ID == tgID })
	delete(p.targets, tgKey{stack, tgID})
}
