package aws

import (
	"fmt"
	"maps"
	"slices"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// tagSet is a resource's tags as a map.
type tagSet map[string]string

// ownershipTags is how many tags cloudlb itself puts on every resource.
const ownershipTags = 4

// owns applies the ownership rule of cloud/ownership.go: cluster name, cluster identity AND stack must all match.
func (p *Provider) owns(tags tagSet, stack string) bool {
	return tags[cloud.TagCluster] == p.opts.ClusterName && tags[cloud.TagClusterID] == p.opts.ClusterID &&
		tags[cloud.TagStack] == cloud.TagValue(stack)
}

// legacy reports whether tags are those of a resource this cluster name made for stack before cluster identity
// tags existed. Such a resource is this cluster's only once proven by its own record (see adopt).
func (p *Provider) legacy(tags tagSet, stack string) bool {
	_, hasID := tags[cloud.TagClusterID]
	return !hasID && tags[cloud.TagCluster] == p.opts.ClusterName && tags[cloud.TagStack] == cloud.TagValue(stack)
}

// ownerOf describes, for an error message, whom a resource belongs to by its tags.
func ownerOf(tags tagSet) string {
	if tags[cloud.TagCluster] == "" && tags[cloud.TagStack] == "" && tags[cloud.TagClusterID] == "" {
		return "no cloudlb cluster (it has no cloudlb ownership tags)"
	}
	id := tags[cloud.TagClusterID]
	if id == "" {
		return fmt.Sprintf("stack %q of cluster %q, made before cluster identity tags and not named by this cluster's record",
			tags[cloud.TagStack], tags[cloud.TagCluster])
	}
	return fmt.Sprintf("stack %q of cluster %q (cluster ID %s)", tags[cloud.TagStack], tags[cloud.TagCluster], id)
}

// tagsFor returns the full tag set of one resource: the user's tags, then the default tags, which win as in the
// AWS Load Balancer Controller (an account's cost and owner tags cannot be changed per Ingress), then ownership,
// which nothing can override. External keys are never written.
func (p *Provider) tagsFor(user map[string]string, stack, resource string) tagSet {
	out := p.tags.merge(nil, user)
	out[cloud.TagCluster] = p.opts.ClusterName
	out[cloud.TagClusterID] = p.opts.ClusterID
	out[cloud.TagStack] = cloud.TagValue(stack)
	out[cloud.TagResource] = cloud.TagValue(resource)
	return out
}

// tagPolicy is how user tags meet the flags: --default-tags win over them, and the keys of
// --external-managed-tags belong to someone else, so cloudlb never adds, changes or removes them.
type tagPolicy struct {
	defaults map[string]string
	external map[string]bool
}

func newTagPolicy(defaults map[string]string, external []string) tagPolicy {
	t := tagPolicy{defaults: defaults, external: map[string]bool{}}
	for _, k := range external {
		t.external[k] = true
	}
	return t
}

// merge returns base with user's tags and then the defaults on top, without external keys.
func (t tagPolicy) merge(base tagSet, user map[string]string) tagSet {
	out := maps.Clone(base)
	if out == nil {
		out = tagSet{}
	}
	maps.Copy(out, user)
	maps.Copy(out, t.defaults)
	maps.DeleteFunc(out, func(k, _ string) bool { return t.external[k] })
	return out
}

// diff is diffTags that leaves external keys, and the AWS Load Balancer Controller's own (adopt.go), alone,
// whatever either side says of them.
func (t tagPolicy) diff(have, want tagSet) (set tagSet, remove []string) {
	set, remove = diffTags(have, want)
	maps.DeleteFunc(set, func(k, _ string) bool { return t.external[k] || lbcKept(have, k) })
	remove = slices.DeleteFunc(remove, func(k string) bool { return t.external[k] || lbcKept(have, k) })
	return set, remove
}

// fits reports whether a resource holding have can be given want: AWS counts the external keys it keeps too.
func (t tagPolicy) fits(have, want tagSet, limit int) error {
	n := len(want)
	for k := range have {
		if _, ok := want[k]; !ok && (t.external[k] || lbcKept(have, k)) {
			n++
		}
	}
	if n > limit {
		return fmt.Errorf("%d tags (%d wanted and %d external-managed ones it carries) exceed the AWS limit of %d per resource",
			n, len(want), n-len(want), limit)
	}
	return nil
}

func (t tagSet) elbv2() []elbv2types.Tag {
	out := make([]elbv2types.Tag, 0, len(t))
	for _, k := range sortedKeys(t) {
		out = append(out, elbv2types.Tag{Key: ptr(k), Value: ptr(t[k])})
	}
	return out
}

func (t tagSet) ec2(resourceType ec2types.ResourceType) []ec2types.TagSpecification {
	return []ec2types.TagSpecification{{ResourceType: resourceType, Tags: t.ec2Tags()}}
}

func (t tagSet) ec2Tags() []ec2types.Tag {
	tags := make([]ec2types.Tag, 0, len(t))
	for _, k := range sortedKeys(t) {
		tags = append(tags, ec2types.Tag{Key: ptr(k), Value: ptr(t[k])})
	}
	return tags
}

func fromEC2(tags []ec2types.Tag) tagSet {
	out := tagSet{}
	for _, t := range tags {
		out[deref(t.Key)] = deref(t.Value)
	}
	return out
}

func fromELBV2(tags []elbv2types.Tag) tagSet {
	out := tagSet{}
	for _, t := range tags {
		out[deref(t.Key)] = deref(t.Value)
	}
	return out
}

// diffTags says which keys to set and which to remove to turn have into want.
func diffTags(have, want tagSet) (set tagSet, remove []string) {
	set = tagSet{}
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			set[k] = v
		}
	}
	for _, k := range sortedKeys(have) {
		if _, ok := want[k]; !ok {
			remove = append(remove, k)
		}
	}
	return set, remove
}
