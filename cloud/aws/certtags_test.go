package aws_test

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

// A certificate cloudlb requested keeps the tags of the model, as the other resources do.
var _ = Describe("Created certificates' tags", func() {
	const (
		stack = "default/web"
		ca    = "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/12345678-1234-1234-1234-123456789012"
	)
	var (
		ctx     context.Context
		counter *test.CallCounter
	)
	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
	})
	ensure := func(p *cloudaws.Provider, tags map[string]string) string {
		GinkgoHelper()
		lb := withCreatedCertificate(model(stack, "/a"), ca, "a.internal")
		lb.Tags = tags
		st, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Certificates).To(HaveLen(1))
		return st.Certificates[0].ID
	}

	It("follows a changed tags annotation and puts back a tag someone removed", func() {
		p := newProvider(cluster, counter)
		cert := ensure(p, map[string]string{"team": "a"})
		Expect(certificateTags(cert)).To(HaveKeyWithValue("team", "a"))

		counter.Reset()
		Expect(ensure(p, map[string]string{"team": "b", "env": "prod"})).To(Equal(cert), "tags are no reason for a new certificate")
		Expect(certificateTags(cert)).To(And(HaveKeyWithValue("team", "b"), HaveKeyWithValue("env", "prod"),
			HaveKeyWithValue(cloud.TagClusterID, clusterID)))
		Expect(counter.Counts()).NotTo(HaveKey("RequestCertificate"))

		_, err := acmc.RemoveTagsFromCertificate(ctx, &acm.RemoveTagsFromCertificateInput{CertificateArn: aws.String(cert),
			Tags: []acmtypes.Tag{{Key: aws.String("env")}}})
		Expect(err).NotTo(HaveOccurred())
		ensure(p, map[string]string{"team": "b", "env": "prod"})
		Expect(certificateTags(cert)).To(HaveKeyWithValue("env", "prod"))

		counter.Reset()
		ensure(p, map[string]string{"env": "prod"})
		Expect(certificateTags(cert)).NotTo(HaveKey("team"))
		Expect(counter.Counts()).To(HaveKeyWithValue("RemoveTagsFromCertificate", 1))
		Expect(counter.Counts()).NotTo(HaveKey("AddTagsToCertificate"))

		counter.Reset()
		ensure(p, map[string]string{"env": "prod"})
		Expect(counter.Counts()).NotTo(HaveKey("ListTagsForCertificate"), "tags as listed match: nothing to read again")
		Expect(counter.Mutating()).To(BeEmpty())
	})

	It("reads the tags again right before changing them, and leaves a certificate that is no longer this cluster's", func() {
		stale := &staleTagging{seen: map[string]taggingtypes.ResourceTagMapping{}}
		c := motoClients(counter.Middleware)
		stale.Tagging, c.Tagging = c.Tagging, stale
		p := cloudaws.New(c, providerOptions())
		cert := ensure(p, map[string]string{"team": "a"})
		ensure(p, map[string]string{"team": "a"})
		Expect(stale.seen).To(HaveKey(cert), "the tagging API listed it, with this cluster's tags")

		// Handed to another cluster; the tagging API still lists the tags it had.
		_, err := acmc.AddTagsToCertificate(ctx, &acm.AddTagsToCertificateInput{CertificateArn: aws.String(cert),
			Tags: []acmtypes.Tag{{Key: aws.String(cloud.TagClusterID), Value: aws.String("another-uid")}}})
		Expect(err).NotTo(HaveOccurred())
		counter.Reset()
		ensure(p, map[string]string{"team": "b"})
		Expect(counter.Counts()).To(HaveKey("ListTagsForCertificate"))
		Expect(counter.Counts()).NotTo(HaveKey("AddTagsToCertificate"))
		Expect(certificateTags(cert)).To(HaveKeyWithValue("team", "a"))
	})
})

// staleTagging is a tagging API that keeps listing certificates with the tags it first listed them with, as AWS's
// eventually consistent one may for a while.
type staleTagging struct {
	cloudaws.Tagging
	mu   sync.Mutex
	seen map[string]taggingtypes.ResourceTagMapping
}

func (t *staleTagging) GetResources(ctx context.Context, in *resourcegroupstaggingapi.GetResourcesInput,
	opts ...func(*resourcegroupstaggingapi.Options)) (*resourcegroupstaggingapi.GetResourcesOutput, error) {
	out, err := t.Tagging.GetResources(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	listed := map[string]bool{}
	for i, m := range out.ResourceTagMappingList {
		arn := aws.ToString(m.ResourceARN)
		listed[arn] = true
		if old, ok := t.seen[arn]; ok {
			out.ResourceTagMappingList[i] = old
		} else if strings.Contains(arn, ":acm:") {
			t.seen[arn] = m
		}
	}
	for arn, m := range t.seen {
		if !listed[arn] && slices.Contains(in.ResourceTypeFilters, "acm:certificate") {
			out.ResourceTagMappingList = append(out.ResourceTagMappingList, m)
		}
	}
	return out, nil
}
