package aws_test

import (
	"context"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

// assumeRoles records the AssumeRole requests the provider sends, and the zones of the targets it registers.
type assumeRoles struct {
	mu    sync.Mutex
	sent  []sts.AssumeRoleInput
	zones []string
}

func (a *assumeRoles) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("recordAssumeRole", func(ctx context.Context, in middleware.InitializeInput,
		next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		if r, ok := in.Parameters.(*sts.AssumeRoleInput); ok {
			a.mu.Lock()
			a.sent = append(a.sent, *r)
			a.mu.Unlock()
		}
		if r, ok := in.Parameters.(*elbv2.RegisterTargetsInput); ok {
			a.mu.Lock()
			for _, t := range r.Targets {
				a.zones = append(a.zones, aws.ToString(t.Id)+" "+aws.ToString(t.AvailabilityZone))
			}
			a.mu.Unlock()
		}
		return next.HandleInitialize(ctx, in)
	}), middleware.After)
}

func (a *assumeRoles) requests() []sts.AssumeRoleInput {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]sts.AssumeRoleInput(nil), a.sent...)
}

// A TargetGroupBinding with iamRoleArnToAssume reaches a target group of another account through that account's
// role (moto keeps each account's resources apart, and maps assumed credentials to the role's account).
var _ = Describe("Target groups of another account", func() {
	const (
		otherAccount = "222222222222"
		role         = "arn:aws:iam::" + otherAccount + ":role/tg-owner"
	)
	var (
		ctx      context.Context
		counter  *test.CallCounter
		recorded *assumeRoles
		p        *cloudaws.Provider
		owner    *elbv2.Client
		arn      string
		vpc      string
	)

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter, recorded = &test.CallCounter{}, &assumeRoles{}
		p = newProvider(cluster, counter, func(o *cloudaws.Options) { o.APIOptions = append(o.APIOptions, recorded.middleware) })

		// The other account, as its owner (Terraform there) sees it.
		cfg := awsCfg.Copy()
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(awsCfg), role))
		owner = elbv2.NewFromConfig(cfg)
		vpcs, err := ec2.NewFromConfig(cfg).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
		Expect(err).NotTo(HaveOccurred())
		Expect(vpcs.Vpcs).NotTo(BeEmpty())
		vpc = *vpcs.Vpcs[0].VpcId
		out, err := owner.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("central"), Protocol: elbv2types.ProtocolEnumHttp,
			Port: aws.Int32(80), VpcId: aws.String(vpc), TargetType: elbv2types.TargetTypeEnumIp})
		Expect(err).NotTo(HaveOccurred())
		arn = *out.TargetGroups[0].TargetGroupArn
		Expect(arn).To(ContainSubstring(":" + otherAccount + ":"))
	})

	It("registers through credentials of the assumed role, assumed once per role and external ID", func() {
		asOwner := cloud.WithRole(ctx, cloud.Role{ARN: role, ExternalID: "ext-1"})
		_, err := p.BoundTargetGroup(ctx, arn, "")
		Expect(cloud.IsNotFound(err)).To(BeTrue(), "the cluster's own identity does not see the other account's group: %v", err)

		g, err := p.BoundTargetGroup(asOwner, arn, "")
		Expect(err).NotTo(HaveOccurred(), "a group of a peered VPC of another account can be bound in IP mode")
		Expect(g.VPCID).To(Equal(vpc))

		pods := []cloud.Target{{ID: "172.31.1.10", Port: 8080}, {ID: "172.31.1.11", Port: 8080}}
		_, err = p.SyncBoundTargets(asOwner, cloud.BoundSync{ARN: arn, Targets: pods})
		Expect(err).NotTo(HaveOccurred())
		_, err = p.SyncBoundTargets(asOwner, cloud.BoundSync{ARN: arn, Targets: pods[:1]})
		Expect(err).NotTo(HaveOccurred())

		health, err := owner.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
		Expect(err).NotTo(HaveOccurred())
		var got []string
		for _, h := range health.TargetHealthDescriptions {
			if h.TargetHealth == nil || h.TargetHealth.State != elbv2types.TargetHealthStateEnumDraining {
				got = append(got, aws.ToString(h.Target.Id))
			}
		}
		Expect(got).To(ConsistOf("172.31.1.10"))
		recorded.mu.Lock()
		Expect(recorded.zones).To(ConsistOf("172.31.1.10 all", "172.31.1.11 all"), "pods outside the group's VPC are registered in every zone")
		recorded.mu.Unlock()

		Expect(counter.Counts()["AssumeRole"]).To(Equal(1))
		sent := recorded.requests()
		Expect(sent).To(HaveLen(1))
		Expect(aws.ToString(sent[0].RoleArn)).To(Equal(role))
		Expect(aws.ToString(sent[0].ExternalId)).To(Equal("ext-1"))
		Expect(aws.ToString(sent[0].RoleSessionName)).To(Equal("cloudlb-" + cluster))

		// Another external ID is another session: the first one's never serves it.
		_, err = p.BoundTargetGroup(cloud.WithRole(ctx, cloud.Role{ARN: role, ExternalID: "ext-2"}), arn, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(counter.Counts()["AssumeRole"]).To(Equal(2))
		Expect(aws.ToString(recorded.requests()[1].ExternalId)).To(Equal("ext-2"))

		By("the other account's calls are paced by buckets of its own")
		families, err := metrics.Registry.Gather()
		Expect(err).NotTo(HaveOccurred())
		var buckets []string
		for _, f := range families {
			if f.GetName() == "cloudlb_aws_api_rate_limit" {
				for _, m := range f.GetMetric() {
					if v := m.GetLabel()[0].GetValue(); strings.HasPrefix(v, otherAccount+"/") {
						buckets = append(buckets, v)
					}
				}
			}
		}
		Expect(buckets).To(ContainElements(otherAccount+"/"+cloudaws.BucketELBv2Describe, otherAccount+"/"+cloudaws.BucketELBv2Registration))
	})

	It("refuses a role that is not an IAM role's ARN, and makes no call", func() {
		_, err := p.BoundTargetGroup(cloud.WithRole(ctx, cloud.Role{ARN: "arn:aws:iam::222222222222:user/bob"}), arn, "")
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "%v", err)
		Expect(counter.Calls()).To(BeEmpty())
	})
})
