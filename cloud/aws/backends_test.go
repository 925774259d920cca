package aws_test

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go/middleware"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

// requests keeps the inputs of the target group writes sent to AWS, for the fields moto does not keep.
type requests struct {
	mu     sync.Mutex
	create []*elbv2.CreateTargetGroupInput
	modify []*elbv2.ModifyTargetGroupInput
}

func (r *requests) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("test/capture-target-groups",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			r.mu.Lock()
			switch p := in.Parameters.(type) {
			case *elbv2.CreateTargetGroupInput:
				r.create = append(r.create, p)
			case *elbv2.ModifyTargetGroupInput:
				r.modify = append(r.modify, p)
			}
			r.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

func (r *requests) created(name string) *elbv2.CreateTargetGroupInput {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.create {
		if aws.ToString(c.Name) == name {
			return c
		}
	}
	return nil
}

var _ = Describe("Backend protocols and address families", func() {
	var (
		ctx     context.Context
		counter *test.CallCounter
		elb     *stubELB
		now     *clock
		sent    *requests
		p       *cloudaws.Provider
	)
	const stack = "default/web"

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		elb = &stubELB{}
		now = &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
		sent = &requests{}
		p = stubbedProvider(counter, elb, nil, now, sent.middleware)
	})

	ensure := func(lb *cloud.LoadBalancer) cloud.Status {
		GinkgoHelper()
		st, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		return st
	}
	groupOf := func(id string) elbv2types.TargetGroup {
		GinkgoHelper()
		tgs := ownedTargetGroups(stack)
		i := slices.IndexFunc(tgs, func(tg elbv2types.TargetGroup) bool {
			return tagsOf(*tg.TargetGroupArn)[cloud.TagResource] == cloud.TagValue(id)
		})
		Expect(i).To(BeNumerically(">=", 0))
		return tgs[i]
	}

	It("creates HTTPS and gRPC target groups as AWS receives them, and leaves them alone after", func() {
		lb := model(stack, "/secure", "/grpc", "/plain")
		https, grpc, plain := &lb.TargetGroups[0], &lb.TargetGroups[1], &lb.TargetGroups[2]
		https.Protocol, https.HealthCheck.Protocol = cloud.ProtocolHTTPS, cloud.ProtocolHTTPS
		grpc.Protocol, grpc.ProtocolVersion = cloud.ProtocolHTTPS, cloud.ProtocolVersionGRPC
		grpc.HealthCheck.Path, grpc.HealthCheck.SuccessCodes, grpc.HealthCheck.GRPCCodes = "/AWS.ALB/healthcheck", "", "0-99"
		ensure(lb)

		h := sent.created(*groupOf(https.ID).TargetGroupName)
		Expect(h).NotTo(BeNil())
		Expect(h.Protocol).To(Equal(elbv2types.ProtocolEnumHttps))
		Expect(h.HealthCheckProtocol).To(Equal(elbv2types.ProtocolEnumHttps))
		Expect(h.ProtocolVersion).To(BeNil(), "HTTP1 is AWS's default and is not sent")

		g := sent.created(*groupOf(grpc.ID).TargetGroupName)
		Expect(g).NotTo(BeNil())
		Expect(aws.ToString(g.ProtocolVersion)).To(Equal("GRPC"))
		Expect(g.Matcher.HttpCode).To(BeNil())
		Expect(aws.ToString(g.Matcher.GrpcCode)).To(Equal("0-99"))
		Expect(aws.ToString(g.HealthCheckPath)).To(Equal("/AWS.ALB/healthcheck"))

		pl := sent.created(*groupOf(plain.ID).TargetGroupName)
		Expect(pl.ProtocolVersion).To(BeNil())
		Expect(pl.IpAddressType).To(BeEmpty())
		Expect(aws.ToString(pl.Matcher.HttpCode)).To(Equal("200"))

		By("as AWS reports them back")
		Expect(aws.ToString(groupOf(grpc.ID).ProtocolVersion)).To(Equal("GRPC"))
		Expect(aws.ToString(groupOf(grpc.ID).Matcher.GrpcCode)).To(Equal("0-99"))

		counter.Reset()
		ensure(lb)
		Expect(counter.Mutating()).To(BeEmpty())

		By("a change of gRPC codes is a ModifyTargetGroup with the gRPC matcher")
		grpc.HealthCheck.GRPCCodes = "12"
		ensure(lb)
		Expect(sent.modify).To(HaveLen(1))
		Expect(aws.ToString(sent.modify[0].Matcher.GrpcCode)).To(Equal("12"))
		Expect(sent.modify[0].Matcher.HttpCode).To(BeNil())
	})

	It("replaces a target group whose protocol version changes, make before break", func() {
		lb := model(stack, "/api")
		ensure(lb)
		old := *ownedTargetGroups(stack)[0].TargetGroupArn
		targets := []cloud.Target{{ID: "10.0.0.1", Port: 8080}}
		_, err := p.SyncTargets(ctx, stack, lb.TargetGroups[0].ID, targets)
		Expect(err).NotTo(HaveOccurred())

		lb.TargetGroups[0].ProtocolVersion = cloud.ProtocolVersionHTTP2
		Expect(ensure(lb).Pending).To(BeTrue())
		tgs := ownedTargetGroups(stack)
		Expect(tgs).To(HaveLen(2))
		replacement := *tgs[slices.IndexFunc(tgs, func(tg elbv2types.TargetGroup) bool { return *tg.TargetGroupArn != old })].TargetGroupArn
		Expect(aws.ToString(sent.created(*groupOf(lb.TargetGroups[0].ID).TargetGroupName).ProtocolVersion)).To(Equal("HTTP2"))
		Expect(targetsOf(replacement)).To(ConsistOf("10.0.0.1"))
		forward := func() []elbv2types.TargetGroupTuple {
			GinkgoHelper()
			return sortedRules(*listenerOn(stack, 80).ListenerArn)[0].Actions[0].ForwardConfig.TargetGroups
		}
		Expect(forward()).To(ContainElement(elbv2types.TargetGroupTuple{TargetGroupArn: aws.String(old), Weight: aws.Int32(1)}),
			"the old group serves until the new one is healthy")
		Expect(forward()).To(ContainElement(elbv2types.TargetGroupTuple{TargetGroupArn: aws.String(replacement), Weight: aws.Int32(0)}))

		elb.setHealthy(replacement)
		Expect(ensure(lb).Pending).To(BeFalse())
		Expect(forward()).To(ConsistOf(elbv2types.TargetGroupTuple{TargetGroupArn: aws.String(replacement), Weight: aws.Int32(1)}))
		Expect(ownedTargetGroups(stack)).To(HaveLen(1))
	})

	It("replaces an IPv4 target group by an IPv6 one without copying IPv4 targets into it", func() {
		lb := model(stack, "/api")
		lb.IPAddressType = cloud.IPAddressTypeDualStack
		ensure(lb)
		old := *ownedTargetGroups(stack)[0].TargetGroupArn
		_, err := p.SyncTargets(ctx, stack, lb.TargetGroups[0].ID, []cloud.Target{{ID: "10.0.0.1", Port: 8080}})
		Expect(err).NotTo(HaveOccurred())

		lb.TargetGroups[0].IPAddressType = cloud.TargetIPv6
		Expect(ensure(lb).Pending).To(BeTrue())
		tgs := ownedTargetGroups(stack)
		Expect(tgs).To(HaveLen(2))
		replacement := *tgs[slices.IndexFunc(tgs, func(tg elbv2types.TargetGroup) bool { return *tg.TargetGroupArn != old })].TargetGroupArn
		Expect(sent.created(*groupOf(lb.TargetGroups[0].ID).TargetGroupName).IpAddressType).To(Equal(elbv2types.TargetGroupIpAddressTypeEnumIpv6))
		Expect(targetsOf(replacement)).To(BeEmpty(), "IPv4 addresses do not register in an IPv6 group")

		By("target syncs fill the new group and leave the old one, which cannot take them")
		_, err = p.SyncTargets(ctx, stack, lb.TargetGroups[0].ID, []cloud.Target{{ID: "fd00::1", Port: 8080}})
		Expect(err).NotTo(HaveOccurred())
		Expect(targetsOf(replacement)).To(ConsistOf("fd00::1"))
		Expect(targetsOf(old)).To(ConsistOf("10.0.0.1"))
	})
})
