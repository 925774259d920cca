package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// syncCertificateTags brings the tags of a certificate cloudlb requested in step with the model, as the other
// resources' are: a changed tags annotation or class tags, or a tag someone removed. listed are its tags as the
// tagging API listed them in this Ensure's observe (nil when not listed yet, which a certificate made moments ago
// may be, with the tags it was requested with): only when they differ are the tags read again, right before the
// change, which is made only while they show the certificate is this cluster's and this stack's.
func (p *Provider) syncCertificateTags(ctx context.Context, d *desired, arn, key string, listed tagSet) error {
	want := p.tagsFor(d.lb.Tags, d.lb.Stack, key)
	if set, remove := p.tags.diff(listed, want); listed == nil || len(set)+len(remove) == 0 {
		return nil
	}
	out, err := p.c.ACM.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: ptr(arn)})
	if hasCode(err, "ResourceNotFoundException") {
		return nil
	}
	if err != nil {
		return classify(err)
	}
	have := tagSet{}
	for _, t := range out.Tags {
		have[deref(t.Key)] = deref(t.Value)
	}
	if !p.owns(have, d.lb.Stack) {
		return nil
	}
	if err := p.tags.fits(have, want, maxTags); err != nil {
		return cloud.Errorf(cloud.KindInvalidSpec, "certificate %s: %s", arn, err)
	}
	set, remove := p.tags.diff(have, want)
	if rec := planning(ctx); rec != nil {
		for _, k := range sortedKeys(set) {
			rec.add(cloud.Change{Action: cloud.ActionTag, Kind: kindCert, Resource: arn, Field: "tag " + k, Old: have[k], New: set[k]})
		}
		for _, k := range remove {
			rec.add(cloud.Change{Action: cloud.ActionTag, Kind: kindCert, Resource: arn, Field: "tag " + k, Old: have[k]})
		}
		return nil
	}
	// Removed before added, as for the other resources, so that renaming a key on a certificate at the limit works.
	if len(remove) > 0 {
		in := &acm.RemoveTagsFromCertificateInput{CertificateArn: ptr(arn)}
		for _, k := range remove {
			// With its value, so that only the tag as read goes.
			in.Tags = append(in.Tags, acmtypes.Tag{Key: ptr(k), Value: ptr(have[k])})
		}
		if _, err := p.c.ACM.RemoveTagsFromCertificate(ctx, in); err != nil {
			return fmt.Errorf("untagging certificate %s: %w", arn, classify(err))
		}
	}
	if len(set) > 0 {
		in := &acm.AddTagsToCertificateInput{CertificateArn: ptr(arn)}
		for _, k := range sortedKeys(set) {
			in.Tags = append(in.Tags, acmtypes.Tag{Key: ptr(k), Value: ptr(set[k])})
		}
		if _, err := p.c.ACM.AddTagsToCertificate(ctx, in); err != nil {
			return fmt.Errorf("tagging certificate %s: %w", arn, classify(err))
		}
	}
	return nil
}
