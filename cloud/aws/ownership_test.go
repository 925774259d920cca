package aws_test

import (
	"context"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
	"github.com/aws/aws-sdk-go-v2/service/shield"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

var _ = Describe("AWS provider ownership", func() {
	var (
		ctx     context.Context
		counter *test.CallCounter
		p       *cloudaws.Provider
	)
	const stack = "default/web"

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		p = newProvider(cluster, counter)
	})

	It("tags every resource it creates with the cluster identity", func() {
		st, err := p.Ensure(ctx, model(stack, "/api", "/"), cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		arns := []string{st.ID}
		for _, tg := range ownedTargetGroups(stack) {
			arns = append(arns, *tg.TargetGroupArn)
		}
		l := listenersOf(st.ID)[0]
		arns = append(arns, *l.ListenerArn, *sortedRules(*l.ListenerArn)[0].RuleArn)
		for _, arn := range arns {
			Expect(tagsOf(arn)).To(HaveKeyWithValue(cloud.TagClusterID, clusterID), arn)
		}
		sgs := ownedSecurityGroups(stack)
		Expect(sgs).To(HaveLen(1))
		Expect(sgTags(sgs[0])).To(HaveKeyWithValue(cloud.TagClusterID, clusterID))
	})

	It("never changes or deletes the load balancer of another cluster with the same cluster name", func() {
		lb := model(stack, "/api", "/")
		st, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		before := snapshot(stack)

		otherCounter := &test.CallCounter{}
		other := newProvider(cluster, otherCounter, func(o *cloudaws.Options) { o.ClusterID = "rebuilt-cluster-uid" })
		_, err = other.Ensure(ctx, model(stack, "/api", "/"), cloud.Known{})
		Expect(cloud.IsConflict(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring(st.ID))
		Expect(otherCounter.Mutating()).To(BeEmpty())

		Expect(other.Delete(ctx, stack, cloud.Known{ID: st.ID, Name: lb.Name})).To(Succeed())
		stacks, err := other.Stacks(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(stacks).To(BeEmpty())
		Expect(otherCounter.Mutating()).To(BeEmpty())
		Expect(snapshot(stack)).To(Equal(before))

		stacks, err = p.Stacks(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(stacks).To(Equal([]string{stack}))
	})

	Context("with resources made before cluster identity tags", func() {
		var (
			lb  *cloud.LoadBalancer
			arn string
		)
		BeforeEach(func() {
			lb = model(stack, "/api", "/")
			st, err := p.Ensure(ctx, lb, cloud.Known{})
			Expect(err).NotTo(HaveOccurred())
			arn = st.ID
			stripClusterID(stack)
			counter.Reset()
		})

		It("leaves them alone without this cluster's record, and garbage collection never lists them", func() {
			before := snapshot(stack)
			_, err := p.Ensure(ctx, model(stack, "/api", "/"), cloud.Known{Name: lb.Name})
			Expect(cloud.IsConflict(err)).To(BeTrue(), "got %v", err)
			Expect(p.Delete(ctx, stack, cloud.Known{Name: lb.Name})).To(Succeed())
			stacks, err := p.Stacks(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(stacks).To(BeEmpty())
			Expect(counter.Mutating()).To(BeEmpty())
			Expect(snapshot(stack)).To(Equal(before))
		})

		It("adopts the recorded load balancer with its target groups and security group, tagging before any change", func() {
			st, err := p.Ensure(ctx, model(stack, "/api", "/"), cloud.Known{ID: arn, Name: lb.Name})
			Expect(err).NotTo(HaveOccurred())
			Expect(st.ID).To(Equal(arn))
			Expect(counter.Mutating()).To(ConsistOf("AddTags", "AddTags", "AddTags", "CreateTags"))
			Expect(tagsOf(arn)).To(HaveKeyWithValue(cloud.TagClusterID, clusterID))
			tgs := ownedTargetGroups(stack)
			Expect(tgs).To(HaveLen(2))
			for _, tg := range tgs {
				Expect(tagsOf(*tg.TargetGroupArn)).To(HaveKeyWithValue(cloud.TagClusterID, clusterID))
			}
			Expect(sgTags(ownedSecurityGroups(stack)[0])).To(HaveKeyWithValue(cloud.TagClusterID, clusterID))

			counter.Reset()
			_, err = p.Ensure(ctx, model(stack, "/api", "/"), cloud.Known{ID: arn, Name: lb.Name})
			Expect(err).NotTo(HaveOccurred())
			Expect(counter.Mutating()).To(BeEmpty())
			stacks, err := p.Stacks(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(stacks).To(Equal([]string{stack}))
		})

		It("deletes them when the record proves them this cluster's", func() {
			Expect(p.Delete(ctx, stack, cloud.Known{ID: arn, Name: lb.Name})).To(Succeed())
			Expect(taggedResources(map[string]string{cloud.TagStack: stack})).To(BeEmpty())
			Expect(ownedSecurityGroups(stack)).To(BeEmpty())
		})

		It("never adopts them for another cluster, even with the record", func() {
			before := snapshot(stack)
			other := newProvider(cluster, nil, func(o *cloudaws.Options) { o.ClusterName = "other" })
			_, err := other.Ensure(ctx, model(stack, "/api", "/"), cloud.Known{ID: arn, Name: lb.Name})
			Expect(cloud.IsConflict(err)).To(BeTrue(), "got %v", err)
			Expect(other.Delete(ctx, stack, cloud.Known{ID: arn, Name: lb.Name})).To(Succeed())
			Expect(snapshot(stack)).To(Equal(before))
		})
	})

	It("refuses a load balancer name held by another stack or by nobody, and creates nothing", func() {
		taken := model("default/other", "/")
		taken.Name = "shared-name"
		st, err := p.Ensure(ctx, taken, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		_, err = elbc.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("users-own"), Subnets: subnets})
		Expect(err).NotTo(HaveOccurred())
		before := snapshot("default/other")

		for name, owner := range map[string]string{"shared-name": `stack "default/other"`, "users-own": "no cloudlb cluster"} {
			counter.Reset()
			lb := model(stack, "/api", "/")
			lb.Name = name
			_, err = p.Ensure(ctx, lb, cloud.Known{})
			Expect(cloud.IsConflict(err)).To(BeTrue(), "got %v", err)
			Expect(err.Error()).To(SatisfyAll(ContainSubstring(name), ContainSubstring(owner)))
			Expect(counter.Mutating()).To(BeEmpty())
			Expect(ownedTargetGroups(stack)).To(BeEmpty())
			Expect(ownedSecurityGroups(stack)).To(BeEmpty())
		}
		Expect(snapshot("default/other")).To(Equal(before))
		Expect(st.ID).NotTo(BeEmpty())
	})

	It("refuses a security group cloudlb manages for another stack, and uses a plain one as it is", func() {
		other := model("default/other", "/")
		other.Name = "k8s-default-other"
		_, err := p.Ensure(ctx, other, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		managed := *ownedSecurityGroups("default/other")[0].GroupId

		lb := model(stack, "/")
		lb.SecurityGroups = []string{managed}
		counter.Reset()
		_, err = p.Ensure(ctx, lb, cloud.Known{})
		Expect(cloud.IsConflict(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring(managed))
		Expect(counter.Mutating()).To(BeEmpty())

		plain, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("users-group"),
			Description: aws.String("the user's"), VpcId: aws.String(vpcID), TagSpecifications: []ec2types.TagSpecification{{
				ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("users-group")}}}}})
		Expect(err).NotTo(HaveOccurred())
		lb.SecurityGroups = []string{"users-group"}
		st, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(ownedLoadBalancers(stack)[0].SecurityGroups).To(ConsistOf(*plain.GroupId))
		got, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*plain.GroupId}})
		Expect(err).NotTo(HaveOccurred())
		Expect(got.SecurityGroups[0].Tags).To(ConsistOf(ec2types.Tag{Key: aws.String("Name"), Value: aws.String("users-group")}),
			"cloudlb adds no tag to the user's group")
		Expect(got.SecurityGroups[0].IpPermissions).To(BeEmpty())
		Expect(st.ID).NotTo(BeEmpty())
	})

	It("checks the tags of the load balancer CreateLoadBalancer returns before using it", func() {
		theirs, err := elbc.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("theirs"), Subnets: subnets})
		Expect(err).NotTo(HaveOccurred())
		c := motoClients(counter.Middleware)
		c.ELBV2 = &returnsExisting{ELBV2: c.ELBV2, lb: theirs.LoadBalancers[0]}
		stubbed := cloudaws.New(c, providerOptions())
		_, err = stubbed.Ensure(ctx, model(stack, "/api", "/"), cloud.Known{})
		Expect(cloud.IsConflict(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring(*theirs.LoadBalancers[0].LoadBalancerArn))
		Expect(listenersOf(*theirs.LoadBalancers[0].LoadBalancerArn)).To(BeEmpty())
		Expect(tagsOf(*theirs.LoadBalancers[0].LoadBalancerArn)).To(BeEmpty())
	})

	Context("while the tagging API has not caught up", func() {
		It("deletes everything an Ensure just created", func() {
			c := motoClients()
			c.Tagging = &laggingTagging{Tagging: c.Tagging, lag: 1000}
			blind := cloudaws.New(c, providerOptions())
			lb := model(stack, "/api", "/")
			_, err := blind.Ensure(ctx, lb, cloud.Known{})
			Expect(err).NotTo(HaveOccurred())
			Expect(blind.Delete(ctx, stack, cloud.Known{Name: lb.Name})).To(Succeed())
			Expect(taggedResources(map[string]string{cloud.TagCluster: cluster})).To(BeEmpty())
			Expect(ownedSecurityGroups(stack)).To(BeEmpty())
		})

		It("deletes by the record in a new process, and what a failed Ensure left behind", func() {
			c := motoClients()
			c.Tagging = &laggingTagging{Tagging: c.Tagging, lag: 1000}
			lb := model(stack, "/api", "/")
			st, err := cloudaws.New(c, providerOptions()).Ensure(ctx, lb, cloud.Known{})
			Expect(err).NotTo(HaveOccurred())
			Expect(cloudaws.New(c, providerOptions()).Delete(ctx, stack, cloud.Known{ID: st.ID})).To(Succeed())
			Expect(taggedResources(map[string]string{cloud.TagCluster: cluster})).To(BeEmpty())
			Expect(ownedSecurityGroups(stack)).To(BeEmpty())

			By("an Ensure that failed before any listener leaves target groups only this process knows of")
			failing := motoClients()
			failing.Tagging = c.Tagging
			failing.ELBV2 = &failsCreateListener{ELBV2: failing.ELBV2}
			half := cloudaws.New(failing, providerOptions())
			_, err = half.Ensure(ctx, lb, cloud.Known{})
			Expect(err).To(HaveOccurred())
			Expect(ownedTargetGroups(stack)).To(HaveLen(2))
			Expect(half.Delete(ctx, stack, cloud.Known{})).To(Succeed())
			Expect(taggedResources(map[string]string{cloud.TagCluster: cluster})).To(BeEmpty())
			Expect(ownedSecurityGroups(stack)).To(BeEmpty())
		})
	})

	Context("deletions that cannot finish", func() {
		It("reports deletion protection as blocked, naming the load balancer", func() {
			st, err := p.Ensure(ctx, model(stack, "/"), cloud.Known{})
			Expect(err).NotTo(HaveOccurred())
			c := motoClients()
			c.ELBV2 = &deletionProtected{ELBV2: c.ELBV2}
			err = cloudaws.New(c, providerOptions()).Delete(ctx, stack, cloud.Known{ID: st.ID})
			Expect(cloud.IsBlocked(err)).To(BeTrue(), "got %v", err)
			Expect(err.Error()).To(SatisfyAll(ContainSubstring(st.ID), ContainSubstring("deletion protection")))
		})

		It("reports a deletion as pending while a Describe still shows the load balancer", func() {
			st, err := p.Ensure(ctx, model(stack, "/"), cloud.Known{})
			Expect(err).NotTo(HaveOccurred())
			c := motoClients()
			c.ELBV2 = &lingering{ELBV2: c.ELBV2, ghosts: map[string]elbv2types.LoadBalancer{}}
			err = cloudaws.New(c, providerOptions()).Delete(ctx, stack, cloud.Known{ID: st.ID})
			Expect(cloud.IsPending(err)).To(BeTrue(), "got %v", err)
			Expect(err.Error()).To(ContainSubstring(st.ID))
			Expect(p.Delete(ctx, stack, cloud.Known{ID: st.ID})).To(Succeed())
		})

		It("reports a security group referenced by another group as blocked, naming that group", func() {
			st, err := p.Ensure(ctx, model(stack, "/"), cloud.Known{})
			Expect(err).NotTo(HaveOccurred())
			sg := *ownedSecurityGroups(stack)[0].GroupId
			ref, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("nodes"),
				Description: aws.String("nodes"), VpcId: aws.String(vpcID)})
			Expect(err).NotTo(HaveOccurred())
			_, err = ec2c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: ref.GroupId,
				IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8080), ToPort: aws.Int32(8080),
					UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String(sg)}}}}})
			Expect(err).NotTo(HaveOccurred())
			c := motoClients()
			c.EC2 = &sgInUse{EC2: c.EC2}
			err = cloudaws.New(c, providerOptions()).Delete(ctx, stack, cloud.Known{ID: st.ID})
			Expect(cloud.IsBlocked(err)).To(BeTrue(), "got %v", err)
			Expect(err.Error()).To(SatisfyAll(ContainSubstring(sg), ContainSubstring(*ref.GroupId)))
		})

		It("reports a target group used by a load balancer cloudlb does not own as blocked, naming it", func() {
			_, err := p.Ensure(ctx, model(stack, "/"), cloud.Known{})
			Expect(err).NotTo(HaveOccurred())
			tg := *ownedTargetGroups(stack)[0].TargetGroupArn
			theirs, err := elbc.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("theirs"), Subnets: subnets})
			Expect(err).NotTo(HaveOccurred())
			theirsARN := *theirs.LoadBalancers[0].LoadBalancerArn
			_, err = elbc.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(theirsARN), Port: aws.Int32(80),
				Protocol: elbv2types.ProtocolEnumHttp, DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}}})
			Expect(err).NotTo(HaveOccurred())
			err = p.Delete(ctx, stack, cloud.Known{})
			Expect(cloud.IsBlocked(err)).To(BeTrue(), "got %v", err)
			Expect(err.Error()).To(SatisfyAll(ContainSubstring(tg), ContainSubstring(theirsARN)))
			Expect(ownedLoadBalancers(stack)).To(BeEmpty())
			Expect(listenersOf(theirsARN)).To(HaveLen(1))
		})
	})

	It("hashes ownership tag values longer than AWS allows instead of refusing them", func() {
		long := strings.Repeat("n", 63) + "/" + strings.Repeat("i", 253)
		c := motoClients()
		c.ELBV2 = &tagLimits{ELBV2: c.ELBV2}
		c.EC2 = &ec2TagLimits{EC2: c.EC2}
		limited := cloudaws.New(c, providerOptions())
		st, err := limited.Ensure(ctx, model(long, "/api", "/"), cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(tagsOf(st.ID)).To(HaveKeyWithValue(cloud.TagStack, cloud.TagValue(long)))
		_, err = limited.Ensure(ctx, model(long, "/api", "/"), cloud.Known{ID: st.ID})
		Expect(err).NotTo(HaveOccurred())
		Expect(ownedLoadBalancers(cloud.TagValue(long))).To(HaveLen(1))
		Expect(ownedTargetGroups(cloud.TagValue(long))).To(HaveLen(2))
		Expect(limited.Delete(ctx, long, cloud.Known{ID: st.ID})).To(Succeed())
		Expect(taggedResources(map[string]string{cloud.TagCluster: cluster})).To(BeEmpty())
	})
})

// providerOptions are newProvider's options, for providers built over stub clients.
func providerOptions() cloudaws.Options {
	return cloudaws.Options{ClusterName: cluster, ClusterID: clusterID, Region: region, VPCID: vpcID}
}

// motoClients are SDK clients pointed at moto, with extra middleware.
func motoClients(apiOptions ...func(*middleware.Stack) error) cloudaws.Clients {
	cfg := awsCfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, apiOptions...)
	return cloudaws.Clients{
		ELBV2:   elbv2.NewFromConfig(cfg),
		EC2:     ec2.NewFromConfig(cfg),
		ACM:     acm.NewFromConfig(cfg),
		Tagging: resourcegroupstaggingapi.NewFromConfig(cfg),
		WAFv2:   wafv2.NewFromConfig(cfg),
		Shield:  shield.NewFromConfig(cfg),
	}
}

func sgTags(sg ec2types.SecurityGroup) map[string]string {
	out := map[string]string{}
	for _, t := range sg.Tags {
		out[*t.Key] = *t.Value
	}
	return out
}

// stripClusterID makes a stack look as it did before cluster identity tags: it removes them from the load
// balancer, the target groups and the security group.
func stripClusterID(stack string) {
	GinkgoHelper()
	ctx := context.Background()
	var arns []string
	for _, lb := range ownedLoadBalancers(stack) {
		arns = append(arns, *lb.LoadBalancerArn)
	}
	for _, tg := range ownedTargetGroups(stack) {
		arns = append(arns, *tg.TargetGroupArn)
	}
	Expect(arns).To(HaveLen(3))
	_, err := elbc.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: arns, TagKeys: []string{cloud.TagClusterID}})
	Expect(err).NotTo(HaveOccurred())
	for _, sg := range ownedSecurityGroups(stack) {
		_, err := ec2c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{*sg.GroupId}, Tags: []ec2types.Tag{{Key: aws.String(cloud.TagClusterID)}}})
		Expect(err).NotTo(HaveOccurred())
	}
	for _, arn := range arns {
		Expect(tagsOf(arn)).NotTo(HaveKey(cloud.TagClusterID))
	}
}

// snapshot is what a stack holds in the cloud, with tags, for before/after comparisons.
func snapshot(stack string) map[string]map[string]string {
	GinkgoHelper()
	out := map[string]map[string]string{}
	for _, lb := range ownedLoadBalancers(stack) {
		out[*lb.LoadBalancerArn] = tagsOf(*lb.LoadBalancerArn)
		for _, l := range listenersOf(*lb.LoadBalancerArn) {
			out[*l.ListenerArn] = map[string]string{"rules": strings.Repeat("x", len(sortedRules(*l.ListenerArn)))}
		}
	}
	for _, tg := range ownedTargetGroups(stack) {
		out[*tg.TargetGroupArn] = tagsOf(*tg.TargetGroupArn)
	}
	for _, sg := range ownedSecurityGroups(stack) {
		out[*sg.GroupId] = sgTags(sg)
	}
	return out
}

// laggingTagging is the tagging API as AWS documents it: eventually consistent. A resource is listed only lag
// calls after it was first seen.
type laggingTagging struct {
	cloudaws.Tagging
	lag   int
	mu    sync.Mutex
	calls int
	first map[string]int
}

func (t *laggingTagging) GetResources(ctx context.Context, in *resourcegroupstaggingapi.GetResourcesInput,
	opts ...func(*resourcegroupstaggingapi.Options)) (*resourcegroupstaggingapi.GetResourcesOutput, error) {
	out, err := t.Tagging.GetResources(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls++
	if t.first == nil {
		t.first = map[string]int{}
	}
	var shown []taggingtypes.ResourceTagMapping
	for _, m := range out.ResourceTagMappingList {
		if _, ok := t.first[*m.ResourceARN]; !ok {
			t.first[*m.ResourceARN] = t.calls
		}
		if t.calls-t.first[*m.ResourceARN] >= t.lag {
			shown = append(shown, m)
		}
	}
	out.ResourceTagMappingList = shown
	return out, nil
}

// returnsExisting answers CreateLoadBalancer with an existing load balancer, as AWS does for a create whose
// settings match one.
type returnsExisting struct {
	cloudaws.ELBV2
	lb elbv2types.LoadBalancer
}

func (s *returnsExisting) CreateLoadBalancer(context.Context, *elbv2.CreateLoadBalancerInput, ...func(*elbv2.Options)) (*elbv2.CreateLoadBalancerOutput, error) {
	return &elbv2.CreateLoadBalancerOutput{LoadBalancers: []elbv2types.LoadBalancer{s.lb}}, nil
}

type failsCreateListener struct{ cloudaws.ELBV2 }

func (s *failsCreateListener) CreateListener(context.Context, *elbv2.CreateListenerInput, ...func(*elbv2.Options)) (*elbv2.CreateListenerOutput, error) {
	return nil, &smithy.GenericAPIError{Code: "InternalFailure", Message: "injected"}
}

// deletionProtected refuses DeleteLoadBalancer as AWS does with deletion_protection.enabled.
type deletionProtected struct{ cloudaws.ELBV2 }

func (s *deletionProtected) DeleteLoadBalancer(context.Context, *elbv2.DeleteLoadBalancerInput, ...func(*elbv2.Options)) (*elbv2.DeleteLoadBalancerOutput, error) {
	return nil, &smithy.GenericAPIError{Code: "OperationNotPermitted", Message: "Load balancer is protected from deletion"}
}

// lingering deletes load balancers but keeps describing them as active, as AWS may for a moment.
type lingering struct {
	cloudaws.ELBV2
	ghosts map[string]elbv2types.LoadBalancer
}

func (s *lingering) DeleteLoadBalancer(ctx context.Context, in *elbv2.DeleteLoadBalancerInput, o ...func(*elbv2.Options)) (*elbv2.DeleteLoadBalancerOutput, error) {
	out, err := s.ELBV2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{*in.LoadBalancerArn}}, o...)
	if err == nil {
		s.ghosts[*in.LoadBalancerArn] = out.LoadBalancers[0]
	}
	return s.ELBV2.DeleteLoadBalancer(ctx, in, o...)
}

func (s *lingering) DescribeLoadBalancers(ctx context.Context, in *elbv2.DescribeLoadBalancersInput, o ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancersOutput, error) {
	if len(in.LoadBalancerArns) == 1 {
		if lb, ok := s.ghosts[in.LoadBalancerArns[0]]; ok {
			return &elbv2.DescribeLoadBalancersOutput{LoadBalancers: []elbv2types.LoadBalancer{lb}}, nil
		}
	}
	return s.ELBV2.DescribeLoadBalancers(ctx, in, o...)
}

// sgInUse refuses DeleteSecurityGroup as AWS does while another group's rules refer to it.
type sgInUse struct{ cloudaws.EC2 }

func (s *sgInUse) DeleteSecurityGroup(context.Context, *ec2.DeleteSecurityGroupInput, ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error) {
	return nil, &smithy.GenericAPIError{Code: "DependencyViolation", Message: "resource has a dependent object"}
}

// tagLimits enforces AWS's limits on tags passed to ELBv2 creates and AddTags: 50 tags, values of 256 characters.
type tagLimits struct{ cloudaws.ELBV2 }

func checkTags(tags []elbv2types.Tag) error {
	if len(tags) > 50 {
		return &smithy.GenericAPIError{Code: "TooManyTags", Message: "more than 50 tags"}
	}
	for _, t := range tags {
		if len(aws.ToString(t.Value)) > 256 {
			return &smithy.GenericAPIError{Code: "ValidationError", Message: "tag value longer than 256 characters"}
		}
	}
	return nil
}

func (s *tagLimits) CreateLoadBalancer(ctx context.Context, in *elbv2.CreateLoadBalancerInput, o ...func(*elbv2.Options)) (*elbv2.CreateLoadBalancerOutput, error) {
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	return s.ELBV2.CreateLoadBalancer(ctx, in, o...)
}

func (s *tagLimits) CreateTargetGroup(ctx context.Context, in *elbv2.CreateTargetGroupInput, o ...func(*elbv2.Options)) (*elbv2.CreateTargetGroupOutput, error) {
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	return s.ELBV2.CreateTargetGroup(ctx, in, o...)
}

func (s *tagLimits) CreateListener(ctx context.Context, in *elbv2.CreateListenerInput, o ...func(*elbv2.Options)) (*elbv2.CreateListenerOutput, error) {
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	return s.ELBV2.CreateListener(ctx, in, o...)
}

func (s *tagLimits) CreateRule(ctx context.Context, in *elbv2.CreateRuleInput, o ...func(*elbv2.Options)) (*elbv2.CreateRuleOutput, error) {
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	return s.ELBV2.CreateRule(ctx, in, o...)
}

func (s *tagLimits) AddTags(ctx context.Context, in *elbv2.AddTagsInput, o ...func(*elbv2.Options)) (*elbv2.AddTagsOutput, error) {
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	return s.ELBV2.AddTags(ctx, in, o...)
}

type ec2TagLimits struct{ cloudaws.EC2 }

func (s *ec2TagLimits) CreateSecurityGroup(ctx context.Context, in *ec2.CreateSecurityGroupInput, o ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error) {
	for _, spec := range in.TagSpecifications {
		for _, t := range spec.Tags {
			if len(aws.ToString(t.Value)) > 256 {
				return nil, &smithy.GenericAPIError{Code: "InvalidParameterValue", Message: "tag value longer than 256 characters"}
			}
		}
	}
	return s.EC2.CreateSecurityGroup(ctx, in, o...)
}
