package aws_test

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

func TestAWSProvider(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "AWS provider (moto)")
}

const (
	region  = "us-east-1"
	cluster = "moto"
)

var (
	moto    *test.Moto
	awsCfg  aws.Config
	ec2c    *ec2.Client
	elbc    *elbv2.Client
	acmc    *acm.Client
	tagging *resourcegroupstaggingapi.Client
	vpcID   string
	subnets []string
)

var _ = BeforeSuite(func() {
	var err error
	moto, err = test.StartMoto()
	Expect(err).NotTo(HaveOccurred())
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": region, "AWS_EC2_METADATA_DISABLED": "true",
	} {
		Expect(os.Setenv(k, v)).To(Succeed())
	}
	awsCfg, err = config.LoadDefaultConfig(context.Background())
	Expect(err).NotTo(HaveOccurred())
	awsCfg.BaseEndpoint = aws.String(moto.URL)
	ec2c = ec2.NewFromConfig(awsCfg)
	elbc = elbv2.NewFromConfig(awsCfg)
	acmc = acm.NewFromConfig(awsCfg)
	tagging = resourcegroupstaggingapi.NewFromConfig(awsCfg)
})

var _ = AfterSuite(func() {
	if moto != nil {
		moto.Stop()
	}
})

// resetCloud wipes moto and tags the default VPC's subnets for load balancer discovery, as an EKS cluster's
// subnets are tagged.
func resetCloud() {
	GinkgoHelper()
	ctx := context.Background()
	Expect(moto.Reset()).To(Succeed())
	vpcs, err := ec2c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
	Expect(err).NotTo(HaveOccurred())
	Expect(vpcs.Vpcs).NotTo(BeEmpty())
	vpcID = *vpcs.Vpcs[0].VpcId
	out, err := ec2c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}}})
	Expect(err).NotTo(HaveOccurred())
	Expect(len(out.Subnets)).To(BeNumerically(">=", 3))
	subnets = nil
	for _, s := range out.Subnets {
		subnets = append(subnets, *s.SubnetId)
	}
	_, err = ec2c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: subnets, Tags: []ec2types.Tag{
		{Key: aws.String("kubernetes.io/role/elb"), Value: aws.String("1")},
		{Key: aws.String("kubernetes.io/role/internal-elb"), Value: aws.String("1")},
	}})
	Expect(err).NotTo(HaveOccurred())
}

// newProvider returns an AWS provider pointed at moto, counting its calls.
func newProvider(clusterName string, counter *test.CallCounter, opts ...func(*cloudaws.Options)) *cloudaws.Provider {
	GinkgoHelper()
	o := cloudaws.Options{ClusterName: clusterName, Region: region, VPCID: vpcID, EndpointURL: moto.URL, MaxRetries: 8}
	if counter != nil {
		o.APIOptions = append(o.APIOptions, counter.Middleware)
	}
	for _, f := range opts {
		f(&o)
	}
	p, err := cloudaws.NewFromConfig(context.Background(), o)
	Expect(err).NotTo(HaveOccurred())
	return p
}
