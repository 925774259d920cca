package aws_test

import (
	"context"
	"slices"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

// The shared backend security group: on every managed load balancer, the one source the targets' own groups are
// opened to, and gone with its rules when the last load balancer goes.
var _ = Describe("Backend security group", func() {
	var (
		ctx     context.Context
		counter *test.CallCounter
		p       *cloudaws.Provider
	)

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		p = newProvider(cluster, counter, func(o *cloudaws.Options) { o.ManageBackendSecurityGroup = true })
	})

	group := func(name string, tags map[string]string) string {
		GinkgoHelper()
		in := &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String(name), VpcId: aws.String(vpcID)}
		if len(tags) > 0 {
			spec := ec2types.TagSpecification{ResourceType: ec2types.ResourceTypeSecurityGroup}
			for k, v := range tags {
				spec.Tags = append(spec.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
			}
			in.TagSpecifications = []ec2types.TagSpecification{spec}
		}
		out, err := ec2c.CreateSecurityGroup(ctx, in)
		Expect(err).NotTo(HaveOccurred())
		return *out.GroupId
	}
	// eni makes a pod's network interface with its own groups and returns its address.
	eni := func(groups ...string) string {
		GinkgoHelper()
		out, err := ec2c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnets[0]), Groups: groups})
		Expect(err).NotTo(HaveOccurred())
		return *out.NetworkInterface.PrivateIpAddress
	}
	instance := func(groups ...string) string {
		GinkgoHelper()
		out, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			SubnetId: aws.String(subnets[0]), SecurityGroupIds: groups})
		Expect(err).NotTo(HaveOccurred())
		return *out.Instances[0].InstanceId
	}
	// rules lists a group's ingress rules as "source:port" or "cidr:port".
	rules := func(id string) []string {
		GinkgoHelper()
		out, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
		Expect(err).NotTo(HaveOccurred())
		var got []string
		for _, perm := range out.SecurityGroups[0].IpPermissions {
			port := aws.ToInt32(perm.FromPort)
			for _, pair := range perm.UserIdGroupPairs {
				got = append(got, aws.ToString(pair.GroupId)+":"+itoa(port))
			}
			for _, r := range perm.IpRanges {
				got = append(got, aws.ToString(r.CidrIp)+":"+itoa(port))
			}
		}
		slices.Sort(got)
		return got
	}
	backend := func() []ec2types.SecurityGroup {
		GinkgoHelper()
		out, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
			{Name: aws.String("tag:" + cloud.TagResource), Values: []string{cloud.ResourceBackendSecurityGroup}}}})
		Expect(err).NotTo(HaveOccurred())
		return out.SecurityGroups
	}

	It("opens the pods' and nodes' groups to it per port, and takes its rules and itself away with the last load balancer", func() {
		pods := group("pods", nil)
		_, err := ec2c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(pods),
			IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
				IpRanges: []ec2types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}}})
		Expect(err).NotTo(HaveOccurred())
		nodes := group("nodes", map[string]string{"kubernetes.io/cluster/" + cluster: "owned"})
		extra, extra2 := group("extra", nil), group("extra2", nil)
		foreign := group("foreign", map[string]string{"kubernetes.io/cluster/other": "owned"})
		podIP, podIP2 := eni(pods), eni(pods)
		twoGroupsIP := eni(extra, nodes)
		foreignIP := eni(foreign)
		ambiguousIP := eni(extra, extra2)
		node := instance(nodes)

		ipLB := model("default/ip", "/")
		ipLB.TargetGroups[0].HealthCheck.Port = "9090"
		_, err = p.Ensure(ctx, ipLB, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(backend()).To(HaveLen(1))
		shared := *backend()[0].GroupId
		Expect(ownedLoadBalancers("default/ip")[0].SecurityGroups).To(ContainElement(shared))
		Expect(p.Stacks(ctx)).To(Equal([]string{"default/ip"}), "the shared group is no stack's")

		ipTG := ipLB.TargetGroups[0].ID
		_, err = p.SyncTargets(ctx, "default/ip", ipTG, []cloud.Target{{ID: podIP, Port: 8080}, {ID: podIP2, Port: 8080},
			{ID: twoGroupsIP, Port: 8081}, {ID: foreignIP, Port: 8080}, {ID: ambiguousIP, Port: 8082}})
		Expect(err).NotTo(HaveOccurred())
		Expect(rules(pods)).To(ConsistOf("10.0.0.0/8:22", shared+":8080", shared+":9090"))
		Expect(rules(nodes)).To(ConsistOf(shared+":8081", shared+":9090"), "the one group tagged for the cluster")
		Expect(rules(extra)).To(BeEmpty())
		Expect(rules(extra2)).To(BeEmpty(), "two groups, none tagged for the cluster")
		Expect(rules(foreign)).To(BeEmpty(), "a group of another cluster")

		// Nothing changed: no AWS call beyond the target group's own.
		counter.Reset()
		_, err = p.SyncTargets(ctx, "default/ip", ipTG, []cloud.Target{{ID: podIP, Port: 8080}, {ID: twoGroupsIP, Port: 8081}})
		Expect(err).NotTo(HaveOccurred())
		Expect(counter.Counts()).To(Equal(map[string]int{"DescribeTargetHealth": 1, "DeregisterTargets": 1}))

		instLB := model("default/inst", "/")
		instLB.Name = "k8s-default-inst"
		instLB.TargetGroups[0].TargetType = cloud.TargetTypeInstance
		_, err = p.Ensure(ctx, instLB, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(backend()).To(HaveLen(1), "one group for the cluster")
		Expect(ownedLoadBalancers("default/inst")[0].SecurityGroups).To(ContainElement(shared))
		_, err = p.SyncTargets(ctx, "default/inst", instLB.TargetGroups[0].ID, []cloud.Target{{ID: node, Port: 30080}})
		Expect(err).NotTo(HaveOccurred())
		Expect(rules(nodes)).To(ConsistOf(shared+":8081", shared+":9090", shared+":30080"))

		Expect(p.Delete(ctx, "default/ip", cloud.Known{})).To(Succeed())
		Expect(backend()).To(HaveLen(1), "still on a load balancer")
		Expect(rules(nodes)).To(ConsistOf(shared+":30080"), "only the rules a target still needs")
		Expect(rules(pods)).To(ConsistOf("10.0.0.0/8:22"))

		Expect(p.Delete(ctx, "default/inst", cloud.Known{})).To(Succeed())
		Expect(backend()).To(BeEmpty())
		Expect(rules(pods)).To(ConsistOf("10.0.0.0/8:22"), "the user's own rule stays")
		Expect(rules(nodes)).To(BeEmpty())
	})

	It("registers the other targets, and deregisters the gone ones, while AWS refuses a full group a rule", func() {
		pods, nodes := group("pods", nil), group("nodes", nil)
		stub := &fullEC2{full: map[string]bool{pods: true}}
		c := motoClients(counter.Middleware)
		stub.EC2, c.EC2 = c.EC2, stub
		o := providerOptions()
		o.ManageBackendSecurityGroup = true
		p := cloudaws.New(c, o)
		lb := model("default/ip", "/")
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		tg := lb.TargetGroups[0].ID
		inFull, gone, other := eni(pods), eni(nodes), eni(nodes)
		_, err = p.SyncTargets(ctx, "default/ip", tg, []cloud.Target{{ID: gone, Port: 8080}})
		Expect(err).NotTo(HaveOccurred())

		for range 2 {
			_, err = p.SyncTargets(ctx, "default/ip", tg, []cloud.Target{{ID: inFull, Port: 8080}, {ID: other, Port: 8080}})
			Expect(err).To(MatchError(ContainSubstring(pods)))
			Expect(registeredTargets("default/ip")).To(ConsistOf(other), "never a target the load balancer cannot reach")
			Expect(rules(pods)).To(BeEmpty())
		}

		stub.free(pods)
		_, err = p.SyncTargets(ctx, "default/ip", tg, []cloud.Target{{ID: inFull, Port: 8080}, {ID: other, Port: 8080}})
		Expect(err).NotTo(HaveOccurred())
		Expect(registeredTargets("default/ip")).To(ConsistOf(inFull, other))
		Expect(rules(pods)).NotTo(BeEmpty())
	})

	It("describes only targets not seen before, in batches, and adds no rule a group already has", func() {
		pods := group("pods", nil)
		var targets []cloud.Target
		for range 230 {
			targets = append(targets, cloud.Target{ID: eni(pods), Port: 8080})
		}
		lb := model("default/ip", "/")
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		counter.Reset()
		_, err = p.SyncTargets(ctx, "default/ip", lb.TargetGroups[0].ID, targets[:220])
		Expect(err).NotTo(HaveOccurred())
		counts := counter.Counts()
		Expect(counts["DescribeNetworkInterfaces"]).To(Equal(2), "220 addresses, 200 a call")
		Expect(counts["AuthorizeSecurityGroupIngress"]).To(Equal(1))

		// A rollout: ten pods go, ten come, in the same group.
		counter.Reset()
		_, err = p.SyncTargets(ctx, "default/ip", lb.TargetGroups[0].ID, targets[10:])
		Expect(err).NotTo(HaveOccurred())
		counts = counter.Counts()
		Expect(counts["DescribeNetworkInterfaces"]).To(Equal(1))
		Expect(counts).NotTo(HaveKey("DescribeSecurityGroups"))
		Expect(counts).NotTo(HaveKey("AuthorizeSecurityGroupIngress"))
		Expect(rules(pods)).To(ConsistOf(*backend()[0].GroupId + ":8080"))

		// Addresses that left are looked up again when they come back: a new pod may hold one on another interface.
		counter.Reset()
		_, err = p.SyncTargets(ctx, "default/ip", lb.TargetGroups[0].ID, targets[:220])
		Expect(err).NotTo(HaveOccurred())
		Expect(counter.Counts()["DescribeNetworkInterfaces"]).To(Equal(1))
	})

	It("reads, after a restart, which target groups it opens the targets' groups for", func() {
		pods := group("pods", nil)
		podIP := eni(pods)
		lb := model("default/ip", "/")
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		shared := *backend()[0].GroupId

		other := model("default/other", "/")
		other.Name = "k8s-default-other"
		other.TargetGroups[0].HealthCheck.Port = "9090"
		_, err = p.Ensure(ctx, other, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		_, err = p.SyncTargets(ctx, "default/other", other.TargetGroups[0].ID, []cloud.Target{{ID: podIP, Port: 8081}})
		Expect(err).NotTo(HaveOccurred())

		restarted := newProvider(cluster, nil, func(o *cloudaws.Options) { o.ManageBackendSecurityGroup = true })
		_, err = restarted.SyncTargets(ctx, "default/ip", lb.TargetGroups[0].ID, []cloud.Target{{ID: podIP, Port: 8080}})
		Expect(err).NotTo(HaveOccurred())
		Expect(rules(pods)).To(ConsistOf(shared+":8080", shared+":8081", shared+":9090"))

		// What the other load balancer's targets need is read from the cloud, not from memory.
		again := newProvider(cluster, nil, func(o *cloudaws.Options) { o.ManageBackendSecurityGroup = true })
		Expect(again.Delete(ctx, "default/ip", cloud.Known{})).To(Succeed())
		Expect(rules(pods)).To(ConsistOf(shared+":8081", shared+":9090"))
	})

	It("leaves the targets' groups alone for a load balancer with the user's own groups", func() {
		pods := group("pods", nil)
		mine := group("mine", nil)
		podIP := eni(pods)
		lb := model("default/ip", "/")
		lb.SecurityGroups = []string{mine}
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(backend()).To(BeEmpty())
		Expect(ownedLoadBalancers("default/ip")[0].SecurityGroups).To(Equal([]string{mine}))
		_, err = p.SyncTargets(ctx, "default/ip", lb.TargetGroups[0].ID, []cloud.Target{{ID: podIP, Port: 8080}})
		Expect(err).NotTo(HaveOccurred())
		Expect(rules(pods)).To(BeEmpty())

		lb.BackendRules = true
		_, err = p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		shared := *backend()[0].GroupId
		Expect(ownedLoadBalancers("default/ip")[0].SecurityGroups).To(ConsistOf(mine, shared))
		_, err = p.SyncTargets(ctx, "default/ip", lb.TargetGroups[0].ID, []cloud.Target{{ID: podIP, Port: 8081}})
		Expect(err).NotTo(HaveOccurred())
		Expect(rules(pods)).To(ConsistOf(shared + ":8081"))
	})

	It("revokes, from the group the flag names, only the rules with this cluster identity's marker", func() {
		// The flag's group may be shared with another cluster, or be a source of the user's own rules: a rule
		// from it is this cluster's only by the marker in its description, which names this cluster's identity.
		shared := group("flag-backend", nil)
		pods := group("pods", nil)
		for port, description := range map[int32]string{7070: "cloudlb.io/backend cluster-id=another-uid", 7071: ""} {
			pair := ec2types.UserIdGroupPair{GroupId: aws.String(shared)}
			if description != "" {
				pair.Description = aws.String(description)
			}
			_, err := ec2c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(pods),
				IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
					UserIdGroupPairs: []ec2types.UserIdGroupPair{pair}}}})
			Expect(err).NotTo(HaveOccurred())
		}
		p = newProvider(cluster, counter, func(o *cloudaws.Options) {
			o.ManageBackendSecurityGroup, o.BackendSecurityGroup = true, shared
		})
		podIP := eni(pods)
		lb := model("default/ip", "/")
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(ownedLoadBalancers("default/ip")[0].SecurityGroups).To(ContainElement(shared))
		_, err = p.SyncTargets(ctx, "default/ip", lb.TargetGroups[0].ID, []cloud.Target{{ID: podIP, Port: 8080}})
		Expect(err).NotTo(HaveOccurred())
		Expect(rules(pods)).To(ConsistOf(shared+":7070", shared+":7071", shared+":8080"))

		Expect(p.Delete(ctx, "default/ip", cloud.Known{})).To(Succeed())
		Expect(rules(pods)).To(ConsistOf(shared+":7070", shared+":7071"), "another cluster's rule and the user's stay")
		_, err = ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{shared}})
		Expect(err).NotTo(HaveOccurred(), "the flag's group is never deleted")
	})

	It("refuses backend rules when the controller runs without the backend group", func() {
		off := newProvider(cluster, nil)
		lb := model("default/ip", "/")
		lb.SecurityGroups, lb.BackendRules = []string{group("mine", nil)}, true
		_, err := off.Ensure(ctx, lb, cloud.Known{})
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "%v", err)
		Expect(ownedLoadBalancers("default/ip")).To(BeEmpty())
	})

	It("reads the shared group's tags again right before deleting it, not the ID it remembers", func() {
		lb := model("default/ip", "/")
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(backend()).To(HaveLen(1))
		shared := *backend()[0].GroupId
		// After p found it, the group stops naming this cluster's identity (handed over, or restored elsewhere).
		_, err = ec2c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{shared},
			Tags: []ec2types.Tag{{Key: aws.String(cloud.TagClusterID)}}})
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Delete(ctx, "default/ip", cloud.Known{})).To(Succeed())
		Expect(backend()).To(HaveLen(1))
		Expect(*backend()[0].GroupId).To(Equal(shared))
	})

	It("never deletes a backend group of another cluster", func() {
		other := group("other-backend", map[string]string{cloud.TagCluster: cluster, cloud.TagClusterID: "another-uid",
			cloud.TagResource: cloud.ResourceBackendSecurityGroup})
		lb := model("default/ip", "/")
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(backend()).To(HaveLen(2))
		Expect(ownedLoadBalancers("default/ip")[0].SecurityGroups).NotTo(ContainElement(other))
		Expect(p.Delete(ctx, "default/ip", cloud.Known{})).To(Succeed())
		Expect(backend()).To(HaveLen(1))
		Expect(*backend()[0].GroupId).To(Equal(other))
	})
})

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// fullEC2 is moto's EC2 with a rule of AWS that moto does not keep: a security group at its quota of inbound rules
// (60 by default) refuses another (RulesPerSecurityGroupLimitExceeded).
type fullEC2 struct {
	cloudaws.EC2
	mu   sync.Mutex
	full map[string]bool
}

func (s *fullEC2) free(group string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.full, group)
}

func (s *fullEC2) AuthorizeSecurityGroupIngress(ctx context.Context, in *ec2.AuthorizeSecurityGroupIngressInput,
	o ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error) {
	s.mu.Lock()
	full := s.full[aws.ToString(in.GroupId)]
	s.mu.Unlock()
	if full {
		return nil, &smithy.GenericAPIError{Code: "RulesPerSecurityGroupLimitExceeded",
			Message: "The maximum number of rules per security group has been reached."}
	}
	return s.EC2.AuthorizeSecurityGroupIngress(ctx, in, o...)
}
