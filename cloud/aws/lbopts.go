package aws

import (
	"context"
	"fmt"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	wafv2types "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// Load balancer options that cost a call only when the model asks for them: a web ACL by name, an IPAM pool
// (read off DescribeLoadBalancers, which every reconcile makes anyway) and a capacity reservation.

// resolveWAF turns the model's web ACL into the ARN to associate: WAFv2ACLName is looked up among the region's
// web ACLs, because the association API takes an ARN only.
func (p *Provider) resolveWAF(ctx context.Context, lb *cloud.LoadBalancer) (*string, error) {
	if lb.WAFv2ACL != nil || lb.WAFv2ACLName == "" {
		return lb.WAFv2ACL, nil
	}
	var found []string
	in := &wafv2.ListWebACLsInput{Scope: wafv2types.ScopeRegional, Limit: ptr(int32(100))}
	for {
		out, err := p.c.WAFv2.ListWebACLs(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("listing web ACLs: %w", classify(err))
		}
		for _, acl := range out.WebACLs {
			if deref(acl.Name) == lb.WAFv2ACLName {
				found = append(found, deref(acl.ARN))
			}
		}
		if deref(out.NextMarker) == "" || len(out.WebACLs) == 0 {
			break
		}
		in.NextMarker = out.NextMarker
	}
	if len(found) != 1 {
		return nil, cloud.Errorf(cloud.KindInvalidSpec, "wafv2-acl-name %s: found %d regional web ACLs of that name, want 1", lb.WAFv2ACLName, len(found))
	}
	return &found[0], nil
}

// observeCapacity reads the capacity reservation of the load balancer that may be kept (the one of the model's
// name), only when the model sets one.
func (p *Provider) observeCapacity(ctx context.Context, lb *cloud.LoadBalancer, a *actual) error {
	if lb.MinimumCapacityUnits == nil {
		return nil
	}
	for _, l := range a.lbs {
		if deref(l.lb.LoadBalancerName) != lb.Name {
			continue
		}
		out, err := p.c.ELBV2.DescribeCapacityReservation(ctx, &elbv2.DescribeCapacityReservationInput{LoadBalancerArn: l.lb.LoadBalancerArn})
		if err != nil {
			return fmt.Errorf("reading capacity reservation: %w", classify(err))
		}
		var units int32
		if out.MinimumLoadBalancerCapacity != nil {
			units = deref(out.MinimumLoadBalancerCapacity.CapacityUnits)
		}
		l.capacity = &units
	}
	return nil
}

// planLBOptions plans the IPAM pool and capacity reservation of the kept load balancer, or of the new one (keep
// nil), whose IPAM pool is given at create.
func planLBOptions(d *desired, keep *lbState, pl *plan) {
	want := d.lb.MinimumCapacityUnits
	var change bool
	switch {
	case want == nil:
	case keep == nil:
		change = *want > 0
	default:
		change = keep.capacity == nil || *keep.capacity != *want
	}
	// AWS changes the reservation of an active load balancer only: a new or provisioning one gets it on a
	// later Ensure, which pending asks for.
	active := keep != nil && keep.lb.State != nil && keep.lb.State.Code == elbv2types.LoadBalancerStateEnumActive
	switch {
	case change && active:
		pl.lb.capacity = want
	case change:
		pl.pending = true
	}
	if keep == nil {
		return
	}
	have := ""
	if keep.lb.IpamPools != nil {
		have = deref(keep.lb.IpamPools.Ipv4IpamPoolId)
	}
	pl.lb.setIPAM = have != d.lb.IPAMIPv4Pool
}

// removeIPAM takes the IPAM pool off before other changes, as AWS needs before an IP address type change.
func (p *Provider) removeIPAM(ctx context.Context, d *desired, pl *plan, arn *string) error {
	if !pl.lb.setIPAM || d.lb.IPAMIPv4Pool != "" {
		return nil
	}
	if _, err := p.c.ELBV2.ModifyIpPools(ctx, &elbv2.ModifyIpPoolsInput{LoadBalancerArn: arn,
		RemoveIpamPools: []elbv2types.RemoveIpamPoolEnum{elbv2types.RemoveIpamPoolEnumIpv4}}); err != nil {
		return fmt.Errorf("removing IPAM pool: %w", classify(err))
	}
	return nil
}

// setIPAM sets the model's IPAM pool after the other changes.
func (p *Provider) setIPAM(ctx context.Context, d *desired, pl *plan, arn *string) error {
	if !pl.lb.setIPAM || d.lb.IPAMIPv4Pool == "" {
		return nil
	}
	if _, err := p.c.ELBV2.ModifyIpPools(ctx, &elbv2.ModifyIpPoolsInput{LoadBalancerArn: arn,
		IpamPools: &elbv2types.IpamPools{Ipv4IpamPoolId: ptr(d.lb.IPAMIPv4Pool)}}); err != nil {
		return fmt.Errorf("setting IPAM pool: %w", classify(err))
	}
	return nil
}

// applyCapacity sets or resets the capacity reservation.
func (p *Provider) applyCapacity(ctx context.Context, pl *plan, arn *string) error {
	if pl.lb.capacity == nil {
		return nil
	}
	in := &elbv2.ModifyCapacityReservationInput{LoadBalancerArn: arn}
	if *pl.lb.capacity == 0 {
		in.ResetCapacityReservation = ptr(true)
	} else {
		in.MinimumLoadBalancerCapacity = &elbv2types.MinimumLoadBalancerCapacity{CapacityUnits: pl.lb.capacity}
	}
	if _, err := p.c.ELBV2.ModifyCapacityReservation(ctx, in); err != nil {
		return fmt.Errorf("capacity reservation: %w", classify(err))
	}
	return nil
}

// ipamPools is the IPAM pools of a new load balancer.
func ipamPools(lb *cloud.LoadBalancer) *elbv2types.IpamPools {
	if lb.IPAMIPv4Pool == "" {
		return nil
	}
	return &elbv2types.IpamPools{Ipv4IpamPoolId: ptr(lb.IPAMIPv4Pool)}
}

// customerOwnedPool is the customer-owned pool of a new load balancer.
func customerOwnedPool(lb *cloud.LoadBalancer) *string {
	if lb.CustomerOwnedIPv4Pool == "" {
		return nil
	}
	return ptr(lb.CustomerOwnedIPv4Pool)
}
