package aws_test

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

// asV1 re-tags an LBC layout of an implicit stack ns/name as the AWS ALB Ingress Controller v1.1.3+ tagged what it
// made: the cluster under ingress.k8s.aws/cluster only, its kubernetes.io/ keys, and no tag on listeners or rules.
func asV1(l lbcLayout, clusterName, ns, name string) {
	GinkgoHelper()
	ctx := context.Background()
	arns := []string{l.lb}
	for _, arn := range l.tgs {
		arns = append(arns, arn)
	}
	_, err := elbc.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: arns, TagKeys: []string{"elbv2.k8s.aws/cluster"}})
	Expect(err).NotTo(HaveOccurred())
	_, err = elbc.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: arns, Tags: []elbv2types.Tag{
		{Key: aws.String("ingress.k8s.aws/cluster"), Value: aws.String(clusterName)},
		{Key: aws.String("kubernetes.io/cluster/" + clusterName), Value: aws.String("owned")},
		{Key: aws.String("kubernetes.io/namespace"), Value: aws.String(ns)},
		{Key: aws.String("kubernetes.io/ingress-name"), Value: aws.String(name)}}})
	Expect(err).NotTo(HaveOccurred())
	_, err = elbc.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: append([]string{l.listener}, l.rules...),
		TagKeys: []string{"elbv2.k8s.aws/cluster", "ingress.k8s.aws/stack", "ingress.k8s.aws/resource"}})
	Expect(err).NotTo(HaveOccurred())
	_, err = ec2c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{l.sg}, Tags: []ec2types.Tag{{Key: aws.String("elbv2.k8s.aws/cluster")}}})
	Expect(err).NotTo(HaveOccurred())
	_, err = ec2c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{l.sg}, Tags: []ec2types.Tag{
		{Key: aws.String("ingress.k8s.aws/cluster"), Value: aws.String(clusterName)},
		{Key: aws.String("kubernetes.io/cluster-name"), Value: aws.String(clusterName)}}})
	Expect(err).NotTo(HaveOccurred())
}

func sgTagsOf(id string) map[string]string {
	GinkgoHelper()
	out, err := ec2c.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	Expect(err).NotTo(HaveOccurred())
	return sgTags(out.SecurityGroups[0])
}

var _ = Describe("Takeover leftovers from the AWS Load Balancer Controller", func() {
	var (
		ctx     context.Context
		counter *test.CallCounter
		backend string
	)
	web := lbcMember{ns: "ns1", name: "web", paths: []lbcPath{{path: "/api", svc: "api", port: 8080}, {path: "/", svc: "web", port: 80}}}
	shopA := lbcMember{ns: "ns1", name: "a", order: 1, paths: []lbcPath{{path: "/a", svc: "web", port: 80}}}
	shopB := lbcMember{ns: "ns2", name: "b", order: 2, paths: []lbcPath{{path: "/b", svc: "web", port: 80}}}
	adopting := func(o *cloudaws.Options) { o.AdoptLBC, o.ManageBackendSecurityGroup = true, true }

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		backend = makeLBCBackendSG(cluster)
	})

	It("claims the stack of a group its last member left, and only then deletes it, leaving the group the member joined", func() {
		left := makeLBCStack(cluster, "old", backend, shopA)
		joined := makeLBCStack(cluster, "shop", backend, shopB)
		before := map[string]map[string]string{}
		for _, arn := range joined.elbARNs() {
			before[arn] = tagsOf(arn)
		}
		p := newProvider(cluster, counter, adopting)

		By("never with garbage collection's context")
		Expect(p.Delete(cloud.WithoutAdoption(ctx), "old", cloud.Known{})).To(Succeed())
		Expect(counter.Mutating()).To(BeEmpty())
		Expect(exists(left.lb)).To(BeTrue())

		By("the stale finalizer's stack: claimed with cloudlb's four tags, then deleted")
		counter.Reset()
		Eventually(func() error { return p.Delete(ctx, "old", cloud.Known{}) }).Should(Succeed())
		calls := counter.Mutating()
		claim, del := slices.Index(calls, "AddTags"), slices.Index(calls, "DeleteLoadBalancer")
		Expect(claim).To(BeNumerically(">=", 0), "%v", calls)
		Expect(del).To(BeNumerically(">", claim), "claimed before any delete: %v", calls)
		Expect(slices.Index(calls, "CreateTags")).To(BeNumerically("<", slices.Index(calls, "DeleteSecurityGroup")), "%v", calls)
		for _, arn := range left.elbARNs() {
			Expect(exists(arn)).To(BeFalse(), arn)
		}
		Expect(sgExists(left.sg)).To(BeFalse())

		for arn, tags := range before {
			Expect(exists(arn)).To(BeTrue(), arn)
			Expect(tagsOf(arn)).To(Equal(tags), arn)
		}
		Expect(sgExists(joined.sg)).To(BeTrue())
		Expect(sgExists(backend)).To(BeTrue())
	})

	It("adopts what the ALB Ingress Controller v1 made, tagged with its legacy cluster key, keeping its tags", func() {
		layout := makeLBCStack(cluster, "ns1/web", backend, web)
		asV1(layout, cluster, "ns1", "web")
		m := lbcModel("ns1/web", "", web)

		By("the same load balancer, target groups and security group, claimed by tags only")
		p := newProvider(cluster, counter, adopting)
		counter.Reset()
		status, err := p.Ensure(ctx, m, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(status.ID).To(Equal(layout.lb))
		onlyTagWrites(counter)
		Expect(status.Adopted).To(ContainElement(ContainSubstring("adopted load balancer " + layout.lb)))
		Expect(ownedTargetGroups("ns1/web")).To(HaveLen(len(layout.tgs)))
		for _, tg := range ownedTargetGroups("ns1/web") {
			Expect(layout.tgs).To(ContainElement(*tg.TargetGroupArn))
		}
		Expect(ownedSecurityGroups("ns1/web")).To(HaveLen(1))
		Expect(*ownedSecurityGroups("ns1/web")[0].GroupId).To(Equal(layout.sg))
		for _, arn := range append([]string{layout.lb}, layout.tgs["ns1/web-web:80"]) {
			tags := tagsOf(arn)
			Expect(tags).To(HaveKeyWithValue(cloud.TagClusterID, clusterID), arn)
			Expect(tags).To(HaveKeyWithValue(cloud.TagStack, "ns1/web"), arn)
			for _, k := range []string{"ingress.k8s.aws/cluster", "kubernetes.io/cluster/" + cluster, "kubernetes.io/namespace", "kubernetes.io/ingress-name"} {
				Expect(tags).To(HaveKey(k), "v1's own tags are kept on %s", arn)
			}
			Expect(tags).NotTo(HaveKey("elbv2.k8s.aws/cluster"), "LBC's tags are never added")
		}
		Expect(sgTagsOf(layout.sg)).To(HaveKeyWithValue(cloud.TagClusterID, clusterID))
		Expect(sgTagsOf(layout.sg)).To(HaveKey("kubernetes.io/cluster-name"))

		By("and the next Ensure writes nothing, v1's tags included")
		counter.Reset()
		_, err = p.Ensure(ctx, m, cloud.Known{ID: layout.lb})
		Expect(err).NotTo(HaveOccurred())
		Expect(counter.Mutating()).To(BeEmpty())
	})

	It("never claims what v1 tagged for another cluster, or in another VPC", func() {
		other := makeLBCStack("other", "ns1/web", backend, web)
		asV1(other, "other", "ns1", "web")
		vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.30.0.0/16")})
		Expect(err).NotTo(HaveOccurred())
		mine := makeLBCStack(cluster, "ns1/api", backend, lbcMember{ns: "ns1", name: "api", paths: []lbcPath{{path: "/", svc: "api", port: 8080}}})
		asV1(mine, cluster, "ns1", "api")
		// A v1 resource under this cluster name that says another LBC cluster under the current key.
		_, err = elbc.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{other.lb},
			Tags: []elbv2types.Tag{{Key: aws.String("elbv2.k8s.aws/cluster"), Value: aws.String(cluster)}}})
		Expect(err).NotTo(HaveOccurred())
		before := map[string]map[string]string{}
		for _, arn := range append(other.elbARNs(), mine.elbARNs()...) {
			before[arn] = tagsOf(arn)
		}

		By("another cluster's, even with this cluster's name under the other key")
		p := newProvider(cluster, counter, adopting)
		Expect(p.Delete(ctx, "ns1/web", cloud.Known{})).To(Succeed())
		By("this cluster's, from a provider in another VPC")
		elsewhere := newProvider(cluster, counter, adopting, func(o *cloudaws.Options) { o.VPCID = *vpc.Vpc.VpcId })
		Expect(elsewhere.Delete(ctx, "ns1/api", cloud.Known{})).To(Succeed())
		for arn, tags := range before {
			Expect(exists(arn)).To(BeTrue(), arn)
			Expect(tagsOf(arn)).To(Equal(tags), arn)
		}
		for _, id := range []string{other.sg, mine.sg} {
			Expect(sgTagsOf(id)).NotTo(HaveKey(cloud.TagCluster), id)
		}

	})
})
