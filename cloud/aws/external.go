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
	for i := range d.listeners {
		l := &d.listeners[i]
		var err error
		if l.DefaultAction, err = resolve(l.DefaultAction); err != nil {
			return err
		}
		l.Rules = slices.Clone(l.Rules)
		for j := range l.Rules {
			if l.Rules[j].Action, err = resolve(l.Rules[j].Action); err != nil {
				return err
			}
		}
	}
	return nil
}
