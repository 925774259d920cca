package aws_test

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
)

var _ = Describe("Subnets selected by tags", func() {
	const stack = "default/web"
	var ctx context.Context

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
	})
	tag := func(ids []string, kv ...string) {
		GinkgoHelper()
		var tags []ec2types.Tag
		for i := 0; i+1 < len(kv); i += 2 {
			tags = append(tags, ec2types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		_, err := ec2c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: ids, Tags: tags})
		Expect(err).NotTo(HaveOccurred())
	}
	zonesOf := func() []string {
		var got []string
		for _, az := range ownedLoadBalancers(stack)[0].AvailabilityZones {
			got = append(got, *az.SubnetId)
		}
		return got
	}

	It("puts the load balancer in the subnets carrying every key with one of its values, never another cluster's", func() {
		tag(subnets[:3], "tier", "web")
		tag(subnets[3:], "tier", "db")
		tag(subnets[2:3], "kubernetes.io/cluster/someone-else", "owned")
		p := newProvider(cluster, nil)

		lb := model(stack, "/")
		lb.SubnetTags = map[string][]string{"tier": {"web", "api"}}
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(zonesOf()).To(ConsistOf(subnets[0], subnets[1]))

		By("a second key narrows the match; fewer than two zones is refused, and the load balancer stays")
		tag(subnets[:1], "env", "prod")
		lb.SubnetTags["env"] = []string{"prod"}
		_, err = p.Ensure(ctx, lb, cloud.Known{})
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "got %v", err)
		Expect(err).To(MatchError(ContainSubstring("found subnets in 1 availability zone(s) matching the IngressClassParams subnets.tags")))
		Expect(zonesOf()).To(ConsistOf(subnets[0], subnets[1]))

		By("tagging another subnet moves the load balancer onto it")
		tag(subnets[1:2], "env", "prod")
		tag(subnets[3:4], "env", "prod", "tier", "api")
		_, err = p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(zonesOf()).To(ConsistOf(subnets[0], subnets[1], subnets[3]))
	})
})
