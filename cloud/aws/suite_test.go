package aws_test

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
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
	region    = "us-east-1"
	cluster   = "moto"
	clusterID = "moto-uid-1"
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
	for k, v := range moto.Credentials() {
		Expect(os.Setenv(k, v)).To(Succeed())
	}
	Expect(os.Setenv("AWS_REGION", region)).To(Succeed())
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

// resetCloud wipes moto and tags the default VPC's subnets for discovery.
func resetCloud() {
	GinkgoHelper()
	Expect(moto.Reset()).To(Succeed())
	var err error
	vpcID, subnets, err = test.PrepareVPC(context.Background(), ec2c)
	Expect(err).NotTo(HaveOccurred())
	Expect(len(subnets)).To(BeNumerically(">=", 3))
}

// newProvider returns an AWS provider pointed at moto, counting its calls.
func newProvider(clusterName string, counter *test.CallCounter, opts ...func(*cloudaws.Options)) *cloudaws.Provider {
	GinkgoHelper()
	o := cloudaws.Options{ClusterName: clusterName, ClusterID: clusterID, Region: region, VPCID: vpcID, EndpointURL: moto.URL, MaxRetries: 8}
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
