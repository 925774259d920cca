package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// This file finds a stack's resources by consistent Describe calls, next to the eventually consistent tagging
// API, and adopts resources made before cluster identity tags (see cloud/ownership.go). Nothing found here
// counts as the stack's until its tags, read here, say so.

// findLBs adds to lbs the stack's load balancers that the tagging API did not list: the recorded one, those
// this process created, and those holding a looked-up name. A name held by a load balancer the stack does not
// own is recorded in a.held.
func (p *Provider) findLBs(ctx context.Context, stack string, sc scope, lbs map[string]*lbState, a *actual) error {
	var arns []string
	for _, arn := range append(p.created.of(stack), sc.known.ID) {
		if arn != "" && isLBARN(arn) && lbs[arn] == nil && !slices.Contains(arns, arn) {
			arns = append(arns, arn)
		}
	}
	var found []elbv2types.LoadBalancer
	for _, batch := range chunks(arns, 20) {
		described, err := p.describeLBs(ctx, batch)
		if err != nil {
			return err
		}
		found = append(found, described...)
	}
	var names []string
	for _, name := range sc.names {
		if name != "" && !slices.Contains(names, name) && !hasLBNamed(lbs, name) && !slices.ContainsFunc(found, func(lb elbv2types.LoadBalancer) bool {
			return deref(lb.LoadBalancerName) == name
		}) {
			names = append(names, name)
		}
	}
	for _, name := range names {
		out, err := p.c.ELBV2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{name}})
		if err != nil {
			if hasCode(err, "LoadBalancerNotFound") {
				continue
			}
			return classify(err)
		}
		found = append(found, out.LoadBalancers...)
	}
	if len(found) == 0 {
		return nil
	}
	var foundARNs []string
	for _, lb := range found {
		foundARNs = append(foundARNs, deref(lb.LoadBalancerArn))
	}
	tags, err := p.describeTags(ctx, foundARNs)
	if err != nil {
		return err
	}
	for _, lb := range found {
		arn := deref(lb.LoadBalancerArn)
		if lbs[arn] != nil {
			continue
		}
		t, ok := tags[arn]
		if !ok {
			continue // deleted since it was described
		}
		mine, err := p.claim(ctx, stack, arn, t, arn == sc.known.ID)
		if err != nil {
			return err
		}
		if mine {
			lbs[arn] = &lbState{lb: lb, tags: t}
		} else if slices.Contains(sc.names, deref(lb.LoadBalancerName)) {
			a.held[deref(lb.LoadBalancerName)] = heldLB{arn: arn, tags: t}
		}
	}
	return nil
}

func hasLBNamed(lbs map[string]*lbState, name string) bool {
	for _, st := range lbs {
		if deref(st.lb.LoadBalancerName) == name {
			return true
		}
	}
	return false
}

// findTGs adds to tags the stack's target groups that the tagging API did not list: those this process
// created and those the stack's load balancers use. Legacy groups used by the recorded load balancer are adopted.
func (p *Provider) findTGs(ctx context.Context, stack string, sc scope, lbs []*lbState, tags map[string]tagSet) error {
	proven := map[string]bool{}
	var arns []string
	add := func(arn string, viaRecord bool) {
		if arn == "" || tags[arn] != nil {
			return
		}
		if !slices.Contains(arns, arn) {
			arns = append(arns, arn)
		}
		proven[arn] = proven[arn] || viaRecord
	}
	for _, arn := range p.created.of(stack) {
		if isTGARN(arn) {
			add(arn, false)
		}
	}
	p.tgARNs.Range(func(k, v any) bool {
		if strings.HasPrefix(k.(string), stack+"\x00") {
			add(v.(string), false)
		}
		return true
	})
	for _, lb := range lbs {
		viaRecord := deref(lb.lb.LoadBalancerArn) == sc.known.ID
		for _, l := range lb.listeners {
			for _, arn := range actionTargetGroups(l.l.DefaultActions) {
				add(arn, viaRecord)
			}
			for _, r := range l.rules {
				for _, arn := range actionTargetGroups(r.Actions) {
					add(arn, viaRecord)
				}
			}
		}
		if !sc.thorough {
			continue
		}
		pages := elbv2.NewDescribeTargetGroupsPaginator(p.c.ELBV2, &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: lb.lb.LoadBalancerArn})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				// AWS answers an empty list, emulators an error, when no group is attached.
				if hasCode(err, "TargetGroupNotFound", "LoadBalancerNotFound") {
					break
				}
				return classify(err)
			}
			for _, tg := range page.TargetGroups {
				add(deref(tg.TargetGroupArn), viaRecord)
			}
		}
	}
	if len(arns) == 0 {
		return nil
	}
	found, err := p.describeTags(ctx, arns)
	if err != nil {
		return err
	}
	for _, arn := range arns {
		t, ok := found[arn]
		if !ok {
			continue
		}
		mine, err := p.claim(ctx, stack, arn, t, proven[arn])
		if err != nil {
			return err
		}
		if mine {
			tags[arn] = t
		}
	}
	return nil
}

func actionTargetGroups(actions []elbv2types.Action) []string {
	var out []string
	for _, a := range actions {
		if a.TargetGroupArn != nil {
			out = append(out, *a.TargetGroupArn)
		}
		if a.ForwardConfig != nil {
			for _, tg := range a.ForwardConfig.TargetGroups {
				out = append(out, deref(tg.TargetGroupArn))
			}
		}
	}
	return out
}

// findSGs adds to sgs the stack's security groups on its load balancers that the owner filter did not find;
// legacy groups on the recorded load balancer are adopted.
func (p *Provider) findSGs(ctx context.Context, stack string, sc scope, lbs []*lbState, sgs []ec2types.SecurityGroup) ([]ec2types.SecurityGroup, error) {
	proven := map[string]bool{}
	var ids []string
	for _, lb := range lbs {
		for _, id := range lb.lb.SecurityGroups {
			if id == p.opts.BackendSecurityGroup || slices.Contains(sc.excludeSGs, id) ||
				slices.ContainsFunc(sgs, func(sg ec2types.SecurityGroup) bool { return deref(sg.GroupId) == id }) {
				continue
			}
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
			proven[id] = proven[id] || deref(lb.lb.LoadBalancerArn) == sc.known.ID
		}
	}
	if len(ids) == 0 {
		return sgs, nil
	}
	found, err := describeEach(ids, []string{"InvalidGroup.NotFound"}, func(batch []string) ([]ec2types.SecurityGroup, error) {
		out, err := p.c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: batch})
		if err != nil {
			return nil, err
		}
		return out.SecurityGroups, nil
	})
	if err != nil {
		return nil, err
	}
	for _, sg := range found {
		id := deref(sg.GroupId)
		tags := fromEC2(sg.Tags)
		switch {
		case p.owns(tags, stack):
		case proven[id] && p.legacy(tags, stack):
			if rec := planning(ctx); rec != nil {
				rec.add(cloud.Change{Action: cloud.ActionTag, Kind: kindSG, Resource: deref(sg.GroupName), Field: "tag " + cloud.TagClusterID, New: p.opts.ClusterID})
			} else if _, err := p.c.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id},
				Tags: tagSet{cloud.TagClusterID: p.opts.ClusterID}.ec2Tags()}); err != nil {
				return nil, fmt.Errorf("adopting security group %s: %w", id, classify(err))
			}
			sg.Tags = append(sg.Tags, ec2types.Tag{Key: ptr(cloud.TagClusterID), Value: ptr(p.opts.ClusterID)})
		default:
			continue
		}
		sgs = append(sgs, sg)
	}
	return sgs, nil
}

// claim says whether an ELBv2 resource with tags is the stack's. A legacy resource (no cluster identity tag)
// counts only when proven by this cluster's record, and is then tagged with the identity before anything else.
func (p *Provider) claim(ctx context.Context, stack, arn string, tags tagSet, proven bool) (bool, error) {
	switch {
	case p.owns(tags, stack):
		return true, nil
	case proven && p.legacy(tags, stack):
		if len(tags) >= maxTags {
			return false, cloud.Errorf(cloud.KindBlocked, "%s, made by an earlier cloudlb, has %d tags, the AWS limit: remove one of "+
				"its other tags so that cloudlb can add %s and adopt it", arn, len(tags), cloud.TagClusterID)
		}
		if rec := planning(ctx); rec != nil {
			rec.add(cloud.Change{Action: cloud.ActionTag, Kind: kindOf(arn), Resource: arn, Field: "tag " + cloud.TagClusterID, New: p.opts.ClusterID})
		} else if _, err := p.c.ELBV2.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{arn},
			Tags: tagSet{cloud.TagClusterID: p.opts.ClusterID}.elbv2()}); err != nil {
			return false, fmt.Errorf("adopting %s: %w", arn, classify(err))
		}
		tags[cloud.TagClusterID] = p.opts.ClusterID
		return true, nil
	}
	return false, nil
}

// describeTags reads the tags of ELBv2 resources; resources gone meanwhile are left out.
func (p *Provider) describeTags(ctx context.Context, arns []string) (map[string]tagSet, error) {
	notFound := []string{"LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound", "RuleNotFound"}
	out := map[string]tagSet{}
	for _, batch := range chunks(arns, 20) {
		descs, err := describeEach(batch, notFound, func(b []string) ([]elbv2types.TagDescription, error) {
			res, err := p.c.ELBV2.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: b})
			if err != nil {
				return nil, err
			}
			return res.TagDescriptions, nil
		})
		if err != nil {
			return nil, err
		}
		for _, d := range descs {
			out[deref(d.ResourceArn)] = fromELBV2(d.Tags)
		}
	}
	return out, nil
}

// createdSet remembers, per stack, the load balancers and target groups this process created, so that a
// Delete right after an Ensure finds them before the tagging API lists them.
type createdSet struct {
	mu     sync.Mutex
	arns   map[string][]string // stack -> ARNs
	stacks map[string]string   // ARN -> stack
}

func (c *createdSet) add(stack, arn string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.arns == nil {
		c.arns, c.stacks = map[string][]string{}, map[string]string{}
	}
	if _, ok := c.stacks[arn]; !ok {
		c.arns[stack] = append(c.arns[stack], arn)
		c.stacks[arn] = stack
	}
}

func (c *createdSet) of(stack string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.arns[stack])
}

func (c *createdSet) forget(arn string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stack, ok := c.stacks[arn]
	if !ok {
		return
	}
	delete(c.stacks, arn)
	c.arns[stack] = slices.DeleteFunc(c.arns[stack], func(a string) bool { return a == arn })
	if len(c.arns[stack]) == 0 {
		delete(c.arns, stack)
	}
}
