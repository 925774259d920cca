package aws

import (
	"context"
	"strings"

	"github.com/cloudlb/cloudlb/cloud"
)

var _ cloud.Inventory = (*Provider)(nil)

// Inventory is Stacks with each stack's load balancers and target groups, from the same paginated tagging read.
func (p *Provider) Inventory(ctx context.Context) (map[string]cloud.StackResources, error) {
	owned, err := p.taggedARNs(ctx, map[string]string{cloud.TagCluster: p.opts.ClusterName, cloud.TagClusterID: p.opts.ClusterID},
		resourceTypeLB, resourceTypeTG, "ec2:security-group", resourceTypeCert)
	if err != nil {
		return nil, err
	}
	out := map[string]cloud.StackResources{}
	for arn, tags := range owned {
		s := tags[cloud.TagStack]
		if s == "" || tags[cloud.TagCluster] != p.opts.ClusterName || tags[cloud.TagClusterID] != p.opts.ClusterID {
			continue
		}
		res := out[s]
		if res.TargetGroups == nil {
			res.TargetGroups = map[string][]string{}
		}
		if _, retired := tags[cloud.TagRetiredAt]; !retired {
			switch {
			case strings.Contains(arn, ":loadbalancer/"):
				res.LoadBalancers = append(res.LoadBalancers, arn)
			case strings.Contains(arn, ":targetgroup/"):
				res.TargetGroups[tags[cloud.TagResource]] = append(res.TargetGroups[tags[cloud.TagResource]], arn)
			}
		}
		out[s] = res
	}
	return out, nil
}
