package aws

import (
	"context"
	"fmt"
	"strings"
	"testing"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/smithy-go"

	"github.com/cloudlb/cloudlb/cloud"
)

// limitedTags is an ELBv2 tag store that enforces what AWS documents and emulators do not: at most 50 tags per
// resource (TooManyTags) and tag values of at most 256 characters (ValidationError).
type limitedTags struct {
	ELBV2
	tags map[string]tagSet
}

func (s *limitedTags) AddTags(_ context.Context, in *elbv2.AddTagsInput, _ ...func(*elbv2.Options)) (*elbv2.AddTagsOutput, error) {
	for _, arn := range in.ResourceArns {
		next := tagSet{}
		for k, v := range s.tags[arn] {
			next[k] = v
		}
		for _, t := range in.Tags {
			if len(deref(t.Value)) > cloud.MaxTagValueLength {
				return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "tag value longer than 256"}
			}
			next[deref(t.Key)] = deref(t.Value)
		}
		if len(next) > maxTags {
			return nil, &smithy.GenericAPIError{Code: "TooManyTags", Message: fmt.Sprintf("%d tags", len(next))}
		}
		s.tags[arn] = next
	}
	return &elbv2.AddTagsOutput{}, nil
}

func (s *limitedTags) RemoveTags(_ context.Context, in *elbv2.RemoveTagsInput, _ ...func(*elbv2.Options)) (*elbv2.RemoveTagsOutput, error) {
	for _, arn := range in.ResourceArns {
		for _, k := range in.TagKeys {
			delete(s.tags[arn], k)
		}
	}
	return &elbv2.RemoveTagsOutput{}, nil
}

func TestRetagRenamesAKeyAtTheLimit(t *testing.T) {
	const arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/x/1"
	p := New(Clients{}, Options{ClusterName: "c1", ClusterID: "id1"})
	user := map[string]string{}
	for i := range maxTags - ownershipTags {
		user[fmt.Sprintf("team-%d", i)] = "x"
	}
	have := p.tagsFor(user, "ns/web", "load-balancer")
	if len(have) != maxTags {
		t.Fatalf("setup: %d tags", len(have))
	}
	store := &limitedTags{tags: map[string]tagSet{arn: have}}
	p.c.ELBV2 = store

	delete(user, "team-0")
	user["renamed"] = "x"
	want := p.tagsFor(user, "ns/web", "load-balancer")
	set, remove := diffTags(have, want)
	if err := p.retag(context.Background(), tagChange{arn: arn, set: set, remove: remove}); err != nil {
		t.Fatalf("retag: %v", err)
	}
	if got := store.tags[arn]; len(got) != maxTags || got["renamed"] != "x" || got["team-0"] != "" {
		t.Errorf("tags after rename: %d, renamed=%q, team-0 present=%v", len(got), got["renamed"], got["team-0"] != "")
	}
}

func TestOwnershipTagValuesFitAWS(t *testing.T) {
	p := New(Clients{}, Options{ClusterName: "c1", ClusterID: "id1"})
	stack := strings.Repeat("n", 63) + "/" + strings.Repeat("i", 253)
	resource := stack + "/svc:80"
	tags := p.tagsFor(nil, stack, resource)
	for k, v := range tags {
		if len(v) > cloud.MaxTagValueLength {
			t.Errorf("tag %s has %d characters", k, len(v))
		}
	}
	if !p.owns(tags, stack) || p.owns(tags, stack+"x") {
		t.Errorf("owns must compare the hashed stack key")
	}
	other := p.tagsFor(nil, strings.Repeat("n", 63)+"/"+strings.Repeat("i", 252)+"j", resource)
	if other[cloud.TagStack] == tags[cloud.TagStack] {
		t.Errorf("two long stack keys share a tag value")
	}
}

// TestAdoptingALegacyResourceAtTheTagLimit checks that a resource of an earlier cloudlb whose 50 tags leave no
// room for the cluster identity is refused with the reason, not retried against TooManyTags forever.
func TestAdoptingALegacyResourceAtTheTagLimit(t *testing.T) {
	const arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/x/1"
	p := New(Clients{}, Options{ClusterName: "c1", ClusterID: "id1"})
	have := p.tagsFor(nil, "ns/web", "load-balancer")
	delete(have, cloud.TagClusterID)
	for i := 0; len(have) < maxTags; i++ {
		have[fmt.Sprintf("team-%d", i)] = "x"
	}
	store := &limitedTags{tags: map[string]tagSet{arn: have}}
	p.c.ELBV2 = store
	mine, err := p.claim(context.Background(), "ns/web", arn, have, true)
	if mine || !cloud.IsBlocked(err) || !strings.Contains(err.Error(), "limit") {
		t.Errorf("claim = %v, %v; want a KindBlocked error naming the tag limit", mine, err)
	}

	delete(have, "team-0")
	if mine, err := p.claim(context.Background(), "ns/web", arn, have, true); !mine || err != nil {
		t.Errorf("claim with room = %v, %v; want adopted", mine, err)
	}
}
