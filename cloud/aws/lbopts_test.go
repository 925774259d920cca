package aws_test

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"github.com/aws/aws-sdk-go-v2/service/shield"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	wafv2types "github.com/aws/aws-sdk-go-v2/service/wafv2/types"
	"github.com/aws/smithy-go"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

// optsELB is moto's ELBv2 with what moto lacks for load balancer options, as AWS documents it: it keeps a load
// balancer's customer-owned pool, IPAM pool and capacity reservation (moto drops the first two and has no API
// for the others), and accepts dualstack-without-public-ipv4 (moto refuses it), keeping it as moto's dualstack.
// It records the calls it serves itself, and the inputs of every call it alters, as the provider sent them.
type optsELB struct {
	cloudaws.ELBV2
	mu       sync.Mutex
	coip     map[string]string
	ipam     map[string]string
	capacity map[string]int32
	noIPv4   map[string]bool
	// active says which load balancers moto last described as active.
	active map[string]bool
	// calls are the provider's inputs, by operation, of the calls this stub alters or serves.
	calls map[string][]any
}

func newOptsELB() *optsELB {
	return &optsELB{coip: map[string]string{}, ipam: map[string]string{}, capacity: map[string]int32{}, noIPv4: map[string]bool{},
		active: map[string]bool{}, calls: map[string][]any{}}
}

func (s *optsELB) record(op string, in any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op] = append(s.calls[op], in)
}

// writes are the mutating calls the stub served itself.
func (s *optsELB) writes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, op := range []string{"ModifyIpPools", "ModifyCapacityReservation"} {
		for range s.calls[op] {
			out = append(out, op)
		}
	}
	return out
}

func (s *optsELB) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string][]any{}
}

func (s *optsELB) CreateLoadBalancer(ctx context.Context, in *elbv2.CreateLoadBalancerInput, o ...func(*elbv2.Options)) (*elbv2.CreateLoadBalancerOutput, error) {
	s.record("CreateLoadBalancer", in)
	sent := *in
	noIPv4 := in.IpAddressType == elbv2types.IpAddressTypeDualstackWithoutPublicIpv4
	if noIPv4 {
		sent.IpAddressType = elbv2types.IpAddressTypeDualstack
	}
	sent.CustomerOwnedIpv4Pool, sent.IpamPools = nil, nil
	out, err := s.ELBV2.CreateLoadBalancer(ctx, &sent, o...)
	if err != nil {
		return nil, err
	}
	arn := aws.ToString(out.LoadBalancers[0].LoadBalancerArn)
	s.mu.Lock()
	s.noIPv4[arn] = noIPv4
	s.coip[arn] = aws.ToString(in.CustomerOwnedIpv4Pool)
	if in.IpamPools != nil {
		s.ipam[arn] = aws.ToString(in.IpamPools.Ipv4IpamPoolId)
	}
	s.mu.Unlock()
	s.patch(out.LoadBalancers)
	return out, nil
}

func (s *optsELB) DescribeLoadBalancers(ctx context.Context, in *elbv2.DescribeLoadBalancersInput, o ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancersOutput, error) {
	out, err := s.ELBV2.DescribeLoadBalancers(ctx, in, o...)
	if err == nil {
		s.patch(out.LoadBalancers)
	}
	return out, err
}

func (s *optsELB) patch(lbs []elbv2types.LoadBalancer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range lbs {
		arn := aws.ToString(lbs[i].LoadBalancerArn)
		if p := s.coip[arn]; p != "" {
			lbs[i].CustomerOwnedIpv4Pool = aws.String(p)
		}
		if p := s.ipam[arn]; p != "" {
			lbs[i].IpamPools = &elbv2types.IpamPools{Ipv4IpamPoolId: aws.String(p)}
		}
		if s.noIPv4[arn] {
			lbs[i].IpAddressType = elbv2types.IpAddressTypeDualstackWithoutPublicIpv4
		}
		s.active[arn] = lbs[i].State != nil && lbs[i].State.Code == elbv2types.LoadBalancerStateEnumActive
	}
}

func (s *optsELB) SetIpAddressType(ctx context.Context, in *elbv2.SetIpAddressTypeInput, o ...func(*elbv2.Options)) (*elbv2.SetIpAddressTypeOutput, error) { //nolint:revive // the SDK's name
	s.record("SetIpAddressType", in)
	sent := *in
	noIPv4 := in.IpAddressType == elbv2types.IpAddressTypeDualstackWithoutPublicIpv4
	if noIPv4 {
		sent.IpAddressType = elbv2types.IpAddressTypeDualstack
	}
	out, err := s.ELBV2.SetIpAddressType(ctx, &sent, o...)
	if err == nil {
		s.mu.Lock()
		s.noIPv4[aws.ToString(in.LoadBalancerArn)] = noIPv4
		s.mu.Unlock()
		out.IpAddressType = in.IpAddressType
	}
	return out, err
}

func (s *optsELB) ModifyIpPools(_ context.Context, in *elbv2.ModifyIpPoolsInput, _ ...func(*elbv2.Options)) (*elbv2.ModifyIpPoolsOutput, error) { //nolint:revive // the SDK's name
	s.record("ModifyIpPools", in)
	s.mu.Lock()
	defer s.mu.Unlock()
	arn := aws.ToString(in.LoadBalancerArn)
	if len(in.RemoveIpamPools) > 0 {
		delete(s.ipam, arn)
	}
	if in.IpamPools != nil {
		s.ipam[arn] = aws.ToString(in.IpamPools.Ipv4IpamPoolId)
	}
	return &elbv2.ModifyIpPoolsOutput{}, nil
}

// DescribeCapacityReservation goes to moto, so that it is counted, and answers with the kept reservation.
func (s *optsELB) DescribeCapacityReservation(ctx context.Context, in *elbv2.DescribeCapacityReservationInput, o ...func(*elbv2.Options)) (*elbv2.DescribeCapacityReservationOutput, error) {
	out, err := s.ELBV2.DescribeCapacityReservation(ctx, in, o...)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if units, ok := s.capacity[aws.ToString(in.LoadBalancerArn)]; ok {
		out.MinimumLoadBalancerCapacity = &elbv2types.MinimumLoadBalancerCapacity{CapacityUnits: aws.Int32(units)}
	}
	return out, nil
}

// ModifyCapacityReservation refuses a load balancer that is not active, as AWS does.
func (s *optsELB) ModifyCapacityReservation(ctx context.Context, in *elbv2.ModifyCapacityReservationInput, o ...func(*elbv2.Options)) (*elbv2.ModifyCapacityReservationOutput, error) {
	s.record("ModifyCapacityReservation", in)
	// Any Describe makes moto's load balancers active: the state is the one moto last reported to the provider.
	s.mu.Lock()
	active := s.active[aws.ToString(in.LoadBalancerArn)]
	s.mu.Unlock()
	if !active {
		return nil, &smithy.GenericAPIError{Code: "OperationNotPermitted", Message: "the load balancer is not active"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	arn := aws.ToString(in.LoadBalancerArn)
	if aws.ToBool(in.ResetCapacityReservation) {
		delete(s.capacity, arn)
	} else {
		s.capacity[arn] = aws.ToInt32(in.MinimumLoadBalancerCapacity.CapacityUnits)
	}
	return &elbv2.ModifyCapacityReservationOutput{}, nil
}

// optsProvider is a provider over moto whose ELBv2 client is elb.
func optsProvider(counter *test.CallCounter, elb *optsELB) *cloudaws.Provider {
	cfg := awsCfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, counter.Middleware)
	elb.ELBV2 = elbv2.NewFromConfig(cfg)
	return cloudaws.New(cloudaws.Clients{ELBV2: elb, EC2: ec2.NewFromConfig(cfg), ACM: acm.NewFromConfig(cfg),
		Tagging: resourcegroupstaggingapi.NewFromConfig(cfg), WAFv2: wafv2.NewFromConfig(cfg), Shield: shield.NewFromConfig(cfg)},
		cloudaws.Options{ClusterName: cluster, VPCID: vpcID})
}

var _ = Describe("Load balancer options", func() {
	var (
		ctx     context.Context
		counter *test.CallCounter
		elb     *optsELB
		p       *cloudaws.Provider
	)
	const stack = "default/web"

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		elb = newOptsELB()
		p = optsProvider(counter, elb)
	})

	ensure := func(lb *cloud.LoadBalancer) cloud.Status {
		GinkgoHelper()
		st, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		return st
	}
	// noChange asserts that converging lb again makes no write, neither to moto nor to the stub.
	noChange := func(lb *cloud.LoadBalancer) map[string]int {
		GinkgoHelper()
		counter.Reset()
		elb.reset()
		ensure(lb)
		Expect(counter.Mutating()).To(BeEmpty())
		Expect(elb.writes()).To(BeEmpty())
		return counter.Counts()
	}

	It("makes no call for options a model does not set", func() {
		ensure(model(stack, "/"))
		counts := noChange(model(stack, "/"))
		Expect(counts).NotTo(HaveKey("DescribeCapacityReservation"))
		Expect(counts).NotTo(HaveKey("ListWebACLs"))
		Expect(elb.calls).To(BeEmpty())
	})

	It("creates the load balancer with its pools, address type and capacity reservation, then changes them in place", func() {
		lb := model(stack, "/")
		lb.CustomerOwnedIPv4Pool = "ipv4pool-coip-0123abcd"
		lb.IPAMIPv4Pool = "ipam-pool-0a"
		lb.IPAddressType = cloud.IPAddressTypeDualStackWithoutPublicIPv4
		lb.MinimumCapacityUnits = aws.Int32(1000)
		st := ensure(lb)
		Expect(st.Pending).To(BeTrue(), "the reservation waits for the load balancer to be active")
		Expect(elb.calls["ModifyCapacityReservation"]).To(BeEmpty())
		st = ensure(lb)
		Expect(st.Pending).To(BeFalse())
		Expect(elb.calls["CreateLoadBalancer"]).To(HaveLen(1))
		created := elb.calls["CreateLoadBalancer"][0].(*elbv2.CreateLoadBalancerInput)
		Expect(aws.ToString(created.CustomerOwnedIpv4Pool)).To(Equal("ipv4pool-coip-0123abcd"))
		Expect(aws.ToString(created.IpamPools.Ipv4IpamPoolId)).To(Equal("ipam-pool-0a"))
		Expect(created.IpAddressType).To(Equal(elbv2types.IpAddressTypeDualstackWithoutPublicIpv4))
		Expect(elb.calls["ModifyIpPools"]).To(BeEmpty(), "the pool is given at create")
		Expect(elb.calls["ModifyCapacityReservation"]).To(HaveLen(1))
		reserved := elb.calls["ModifyCapacityReservation"][0].(*elbv2.ModifyCapacityReservationInput)
		Expect(aws.ToInt32(reserved.MinimumLoadBalancerCapacity.CapacityUnits)).To(BeEquivalentTo(1000))
		arn := ownedLoadBalancers(stack)[0].LoadBalancerArn
		Expect(aws.ToString(reserved.LoadBalancerArn)).To(Equal(aws.ToString(arn)))
		sg := ownedSecurityGroups(stack)[0]
		Expect(sg.IpPermissions[0].Ipv6Ranges).To(ConsistOf(HaveField("CidrIpv6", HaveValue(Equal("::/0")))),
			"a load balancer serving IPv6 allows it by default")

		counts := noChange(lb)
		Expect(counts["DescribeCapacityReservation"]).To(Equal(1), "the reservation is read only because the model sets it")

		By("a new IPAM pool, capacity and address type, in place")
		lb.IPAMIPv4Pool = "ipam-pool-0b"
		lb.MinimumCapacityUnits = aws.Int32(2000)
		lb.IPAddressType = cloud.IPAddressTypeDualStack
		counter.Reset()
		elb.reset()
		ensure(lb)
		Expect(counter.Mutating()).To(Equal([]string{"SetIpAddressType"}))
		Expect(elb.writes()).To(Equal([]string{"ModifyIpPools", "ModifyCapacityReservation"}))
		Expect(aws.ToString(elb.calls["ModifyIpPools"][0].(*elbv2.ModifyIpPoolsInput).IpamPools.Ipv4IpamPoolId)).To(Equal("ipam-pool-0b"))
		Expect(ownedLoadBalancers(stack)[0].LoadBalancerArn).To(Equal(arn), "the same load balancer")
		noChange(lb)

		By("no IPAM pool removes it before the address type changes, and capacity 0 resets the reservation")
		lb.IPAMIPv4Pool = ""
		lb.MinimumCapacityUnits = aws.Int32(0)
		lb.IPAddressType = cloud.IPAddressTypeDualStackWithoutPublicIPv4
		elb.reset()
		ensure(lb)
		Expect(elb.writes()).To(Equal([]string{"ModifyIpPools", "ModifyCapacityReservation"}))
		removed := elb.calls["ModifyIpPools"][0].(*elbv2.ModifyIpPoolsInput)
		Expect(removed.RemoveIpamPools).To(Equal([]elbv2types.RemoveIpamPoolEnum{elbv2types.RemoveIpamPoolEnumIpv4}))
		Expect(removed.IpamPools).To(BeNil())
		Expect(aws.ToBool(elb.calls["ModifyCapacityReservation"][0].(*elbv2.ModifyCapacityReservationInput).ResetCapacityReservation)).To(BeTrue())
		Expect(elb.calls["SetIpAddressType"][0].(*elbv2.SetIpAddressTypeInput).IpAddressType).To(
			Equal(elbv2types.IpAddressTypeDualstackWithoutPublicIpv4))
		noChange(lb)

		By("leaving the reservation alone once the model stops setting it")
		lb.MinimumCapacityUnits = nil
		Expect(noChange(lb)).NotTo(HaveKey("DescribeCapacityReservation"))
	})

	It("refuses a changed customer-owned pool under the same name, and creates a replacement under a new one", func() {
		lb := model(stack, "/")
		lb.CustomerOwnedIPv4Pool = "ipv4pool-coip-1"
		ensure(lb)

		lb.CustomerOwnedIPv4Pool = "ipv4pool-coip-2"
		counter.Reset()
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("customer-owned-ipv4-pool cannot change under a fixed load-balancer-name"))
		Expect(counter.Mutating()).To(BeEmpty())

		// Translation names the load balancer after its pool, as after its scheme.
		lb.Name = "k8s-default-web-coip2"
		ensure(lb)
		Expect(ownedLoadBalancers(stack)).To(HaveLen(2), "the replaced load balancer serves through its grace period")
		Expect(elb.calls["CreateLoadBalancer"]).To(HaveLen(2))
		Expect(aws.ToString(elb.calls["CreateLoadBalancer"][1].(*elbv2.CreateLoadBalancerInput).CustomerOwnedIpv4Pool)).To(Equal("ipv4pool-coip-2"))
	})

	It("allows prefix lists on the listener ports, without the default CIDR, and revokes them when they go", func() {
		pl, err := ec2c.CreateManagedPrefixList(ctx, &ec2.CreateManagedPrefixListInput{PrefixListName: aws.String("office"),
			AddressFamily: aws.String("IPv4"), MaxEntries: aws.Int32(5),
			Entries: []ec2types.AddPrefixListEntry{{Cidr: aws.String("192.0.2.0/24")}}})
		Expect(err).NotTo(HaveOccurred())
		id := aws.ToString(pl.PrefixList.PrefixListId)
		lb := model(stack, "/")
		lb.PrefixLists = []string{id}
		ensure(lb)
		perms := ownedSecurityGroups(stack)[0].IpPermissions
		Expect(perms).To(HaveLen(1))
		Expect(aws.ToInt32(perms[0].FromPort)).To(BeEquivalentTo(80))
		Expect(perms[0].PrefixListIds).To(ConsistOf(HaveField("PrefixListId", HaveValue(Equal(id)))))
		Expect(perms[0].IpRanges).To(BeEmpty(), "prefix lists alone allow no CIDR")
		noChange(lb)

		lb.InboundCIDRs = []string{"10.0.0.0/8"}
		ensure(lb)
		perms = ownedSecurityGroups(stack)[0].IpPermissions
		Expect(perms).To(HaveLen(1))
		Expect(perms[0].PrefixListIds).To(HaveLen(1))
		Expect(perms[0].IpRanges).To(ConsistOf(HaveField("CidrIp", HaveValue(Equal("10.0.0.0/8")))))

		lb.PrefixLists, lb.InboundCIDRs = nil, nil
		ensure(lb)
		perms = ownedSecurityGroups(stack)[0].IpPermissions
		Expect(perms).To(HaveLen(1))
		Expect(perms[0].PrefixListIds).To(BeEmpty(), "a prefix list no longer asked for is revoked")
		Expect(perms[0].IpRanges).To(ConsistOf(HaveField("CidrIp", HaveValue(Equal("0.0.0.0/0")))))
	})

	It("associates a web ACL found by name, and refuses a name it cannot find", func() {
		wafc := wafv2.NewFromConfig(awsCfg)
		acl, err := wafc.CreateWebACL(ctx, &wafv2.CreateWebACLInput{Name: aws.String("web-acl-name-1"), Scope: wafv2types.ScopeRegional,
			DefaultAction:    &wafv2types.DefaultAction{Allow: &wafv2types.AllowAction{}},
			VisibilityConfig: &wafv2types.VisibilityConfig{MetricName: aws.String("acl")}})
		Expect(err).NotTo(HaveOccurred())

		lb := model(stack, "/")
		lb.WAFv2ACLName = "missing"
		_, err = p.Ensure(ctx, lb, cloud.Known{})
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("wafv2-acl-name missing: found 0 regional web ACLs"))
		Expect(counter.Mutating()).To(BeEmpty(), "nothing is created for a model that cannot be served")

		lb.WAFv2ACLName = "web-acl-name-1"
		ensure(lb)
		got, err := wafc.GetWebACLForResource(ctx, &wafv2.GetWebACLForResourceInput{ResourceArn: ownedLoadBalancers(stack)[0].LoadBalancerArn})
		Expect(err).NotTo(HaveOccurred())
		Expect(aws.ToString(got.WebACL.ARN)).To(Equal(aws.ToString(acl.Summary.ARN)))
		Expect(noChange(lb)).To(HaveKeyWithValue("ListWebACLs", 1))
	})

	It("resolves security group names by their Name tag, and refuses a name several groups carry", func() {
		tagged, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("alpha"),
			Description: aws.String("named by tag"), VpcId: aws.String(vpcID), TagSpecifications: []ec2types.TagSpecification{{
				ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("front")}}}}})
		Expect(err).NotTo(HaveOccurred())
		// Its group name is the name asked for, but not its Name tag: the AWS Load Balancer Controller ignores it.
		_, err = ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("front"),
			Description: aws.String("named by group name"), VpcId: aws.String(vpcID)})
		Expect(err).NotTo(HaveOccurred())

		lb := model(stack, "/")
		lb.SecurityGroups = []string{"front"}
		ensure(lb)
		Expect(ownedLoadBalancers(stack)[0].SecurityGroups).To(ConsistOf(aws.ToString(tagged.GroupId)))

		twin, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("beta"),
			Description: aws.String("same Name tag"), VpcId: aws.String(vpcID), TagSpecifications: []ec2types.TagSpecification{{
				ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("front")}}}}})
		Expect(err).NotTo(HaveOccurred())
		counter.Reset()
		_, err = p.Ensure(ctx, lb, cloud.Known{})
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(SatisfyAll(ContainSubstring(`security group "front": 2 security groups`),
			ContainSubstring(aws.ToString(tagged.GroupId)), ContainSubstring(aws.ToString(twin.GroupId))))
		Expect(counter.Mutating()).To(BeEmpty())

		lb.SecurityGroups = []string{"nobody"}
		_, err = p.Ensure(ctx, lb, cloud.Known{})
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring(`security group "nobody": no security group in the VPC has this Name tag`))
	})
})
