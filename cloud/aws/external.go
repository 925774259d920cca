package aws

import (
	"context"
	"slices"
	"strings"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/cloudlb/cloudlb/cloud"
)

// resolveExternalTargetGroups replaces, in the desired listeners' actions, the names of target groups the stack
// does not own by their ARNs, so that the plan compares ARNs with ARNs. These groups are only ever referred to:
// nothing here or in the plan creates, modifies, tags or deletes them.
func (p *Provider) resolveExternalTargetGroups(ctx context.Context, d *desired) error {
	arns := map[string]string{}
	resolve := func(a cloud.Action) (cloud.Action, error) {
		if !slices.ContainsFunc(a.Forward, func(f cloud.WeightedTargetGroup) bool { return f.External != "" }) {
			return a, nil
		}
		// A copy: the model belongs to the caller, who hashes it.
		a.Forward = slices.Clone(a.Forward)
		for i, f := range a.Forward {
			if f.External == "" || strings.HasPrefix(f.External, "arn:") {
				continue
			}
			arn, ok := arns[f.External]
			if !ok {
				out, err := p.c.ELBV2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{f.External}})
				switch {
				case hasCode(err, "TargetGroupNotFound"):
					return a, cloud.Errorf(cloud.KindInvalidSpec, "target group %s, named in a forward action, does not exist", f.External)
				case err != nil:
					return a, classify(err)
				case len(out.TargetGroups) == 0:
					return a, cloud.Errorf(cloud.KindInvalidSpec, "target group %s, named in a forward action, does not exist", f.External)
				}
				arn = deref(out.TargetGroups[0].TargetGroupArn)
				arns[f.External] = arn
			}
			a.Forward[i].External = arn
		}
		return a, nil
	}
	var external []string
	collect := func(a cloud.Action) {
		for _, f := range a.Forward {
			if f.External != "" && !slices.Contains(external, f.External) {
				external = append(external, f.External)
			}
		}
	}
	for i := range d.listeners {
		l := &d.listeners[i]
		var err error
		if l.DefaultAction, err = resolve(l.DefaultAction); err != nil {
			return err
		}
		collect(l.DefaultAction)
		l.Rules = slices.Clone(l.Rules)
		for j := range l.Rules {
			if l.Rules[j].Action, err = resolve(l.Rules[j].Action); err != nil {
				return err
			}
			collect(l.Rules[j].Action)
		}
	}
	return p.refuseManagedTargetGroups(ctx, external)
}

// refuseManagedTargetGroups refuses forwards to target groups that cloudlb manages for a stack: such a group is
// fed from another Ingress's Service and goes with it (a forward from here would block its deletion), so an
// Ingress reaches it through the Service, not by ARN or name.
func (p *Provider) refuseManagedTargetGroups(ctx context.Context, arns []string) error {
	if len(arns) == 0 {
		return nil
	}
	tags, err := p.describeTags(ctx, arns)
	if err != nil {
		return classify(err)
	}
	for _, arn := range arns {
		if stack := tags[arn][cloud.TagStack]; tags[arn][cloud.TagCluster] != "" {
			return cloud.Errorf(cloud.KindInvalidSpec, "target group %s, named in a forward action, is managed by cloudlb for stack %s: "+
				"forward to its Service instead", arn, stack)
		}
	}
	return nil
}
