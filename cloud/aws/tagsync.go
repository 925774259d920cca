package aws

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// checkTagLimits refuses, before any change, tags that a kept resource could not take: AWS counts the
// external-managed keys it carries, which cloudlb must leave, against the limit of 50. One is kept free on load
// balancers and target groups for cloud.TagRetiredAt, which a replacement adds.
func checkTagLimits(d *desired, a *actual, pl *plan) error {
	if pl.lb.existing != nil {
		if err := d.policy.fits(pl.lb.existing.tags, d.tags, maxTags-1); err != nil {
			return fmt.Errorf("load balancer: %w", err)
		}
	}
	for _, want := range d.lb.TargetGroups {
		arn, ok := pl.keepTGs[want.ID]
		if !ok {
			// A new group: its own tags come on top of the stack's, which only the load balancer's check counts,
			// and AWS would refuse the group (TooManyTags) after the load balancer was made.
			if err := d.policy.fits(nil, tgTags(d, want), maxTags-1); err != nil {
				return fmt.Errorf("target group %s: %w", want.ID, err)
			}
			continue
		}
		for _, tg := range a.targetGroups {
			if deref(tg.tg.TargetGroupArn) == arn {
				if err := d.policy.fits(tg.tags, tgTags(d, want), maxTags-1); err != nil {
					return fmt.Errorf("target group %s: %w", want.ID, err)
				}
			}
		}
	}
	if pl.sg != nil && pl.sg.id != "" {
		for _, sg := range a.securityGroups {
			if deref(sg.GroupId) == pl.sg.id {
				if err := d.policy.fits(fromEC2(sg.Tags), d.sgTags, maxTags); err != nil {
					return fmt.Errorf("security group: %w", err)
				}
			}
		}
	}
	return nil
}

// childTagChanges brings the tags of the kept listeners and rules in step with the model. Their tags are read
// only when the load balancer's own tags change: all of them carry the same user tags, and the load balancer is
// retagged last, so a crash in between shows as a change again. An unchanged stack costs no call here.
func (p *Provider) childTagChanges(ctx context.Context, d *desired, pl *plan) ([]tagChange, error) {
	if pl.lb.existing == nil || pl.lb.tags == nil {
		return nil, nil
	}
	gone := map[string]bool{}
	for _, arn := range pl.deleteListeners {
		gone[arn] = true
	}
	for _, lp := range pl.listeners {
		for _, arn := range lp.rules.deletes {
			gone[arn] = true
		}
	}
	for _, s := range pl.ruleSteps {
		gone[s.del] = true
	}
	want := map[string]tagSet{}
	for _, l := range pl.lb.existing.listeners {
		arn := deref(l.l.ListenerArn)
		if gone[arn] {
			continue
		}
		port := deref(l.l.Port)
		want[arn] = p.tagsFor(d.lb.Tags, d.lb.Stack, fmt.Sprintf("listener/%d", port))
		for _, r := range l.rules {
			if !gone[deref(r.RuleArn)] {
				want[deref(r.RuleArn)] = p.tagsFor(d.lb.Tags, d.lb.Stack, fmt.Sprintf("rule/%d", port))
			}
		}
	}
	have, err := p.describeTags(ctx, sortedKeys(want))
	if err != nil {
		return nil, err
	}
	var out []tagChange
	for _, arn := range sortedKeys(want) {
		tags, ok := have[arn]
		// Never a listener or rule without this stack's ownership tags, whoever made it.
		if !ok || !p.owns(tags, d.lb.Stack) {
			continue
		}
		if err := p.tags.fits(tags, want[arn], maxTags); err != nil {
			return nil, cloud.Errorf(cloud.KindInvalidSpec, "%s: %s", arn, err)
		}
		if set, remove := p.tags.diff(tags, want[arn]); len(set)+len(remove) > 0 {
			out = append(out, tagChange{arn: arn, set: set, remove: remove})
		}
	}
	return out, nil
}

// applySGTags removes before it adds, as retag does, so that renaming a key on a group at the limit works.
func (p *Provider) applySGTags(ctx context.Context, id string, sp *sgPlan) error {
	if len(sp.removeTags) > 0 {
		// A tag without a value is deleted whatever its value.
		in := &ec2.DeleteTagsInput{Resources: []string{id}}
		for _, k := range slices.Sorted(slices.Values(sp.removeTags)) {
			in.Tags = append(in.Tags, ec2types.Tag{Key: ptr(k)})
		}
		if _, err := p.c.EC2.DeleteTags(ctx, in); err != nil {
			return fmt.Errorf("untagging %s: %w", id, classify(err))
		}
	}
	if len(sp.setTags) > 0 {
		if _, err := p.c.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: sp.setTags.ec2Tags()}); err != nil {
			return fmt.Errorf("tagging %s: %w", id, classify(err))
		}
	}
	return nil
}
