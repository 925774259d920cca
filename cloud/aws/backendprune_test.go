package aws_test

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

// Rules from the backend group go as soon as no target needs them, after the rules the new targets need exist,
// and only rules cloudlb added: never the user's, never one another load balancer's targets still need.
var _ = Describe("Backend security group rules no target needs", func() {
	var (
		ctx     context.Context
		counter *test.CallCounter
		p       *cloudaws.Provider
		shared  string
	)
	sg := func(name string) string {
		GinkgoHelper()
		out, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String(name), VpcId: aws.String(vpcID)})
		Expect(err).NotTo(HaveOccurred())
		return *out.GroupId
	}
	pod := func(group string) string {
		GinkgoHelper()
		out, err := ec2c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnets[0]), Groups: []string{group}})
		Expect(err).NotTo(HaveOccurred())
		return *out.NetworkInterface.PrivateIpAddress
	}
	// from lists the ports a group lets the backend group in on.
	from := func(group string) []int32 {
		GinkgoHelper()
		out, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{group}})
		Expect(err).NotTo(HaveOccurred())
		var ports []int32
		for _, perm := range out.SecurityGroups[0].IpPermissions {
			for _, pair := range perm.UserIdGroupPairs {
				if aws.ToString(pair.GroupId) == shared {
					ports = append(ports, aws.ToInt32(perm.FromPort))
				}
			}
		}
		slices.Sort(ports)
		return ports
	}
	ensure := func(p *cloudaws.Provider, lb *cloud.LoadBalancer) {
		GinkgoHelper()
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		out, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
			{Name: aws.String("tag:" + cloud.TagResource), Values: []string{cloud.ResourceBackendSecurityGroup}}}})
		Expect(err).NotTo(HaveOccurred())
		Expect(out.SecurityGroups).To(HaveLen(1))
		shared = *out.SecurityGroups[0].GroupId
	}
	sync := func(p *cloudaws.Provider, lb *cloud.LoadBalancer, i int, targets ...cloud.Target) {
		GinkgoHelper()
		_, err := p.SyncTargets(ctx, lb.Stack, lb.TargetGroups[i].ID, targets)
		Expect(err).NotTo(HaveOccurred())
	}
	managed := func(o *cloudaws.Options) { o.ManageBackendSecurityGroup = true }

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		p = newProvider(cluster, counter, managed)
	})

	It("revokes the old port's rule after the new one exists and the targets moved, and leaves the user's rule", func() {
		pods := sg("pods")
		ip := pod(pods)
		lb := model("default/ip", "/")
		ensure(p, lb)
		// The user's own rule from the backend group, on the port the targets use first.
		_, err := ec2c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(pods),
			IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(7070), ToPort: aws.Int32(7070),
				UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String(shared), Description: aws.String("mine")}}}}})
		Expect(err).NotTo(HaveOccurred())

		sync(p, lb, 0, cloud.Target{ID: ip, Port: 7070})
		Expect(from(pods)).To(Equal([]int32{7070}), "the user's rule serves")

		// (moto keeps one target per address: each step's pods have new addresses.)
		counter.Reset()
		sync(p, lb, 0, cloud.Target{ID: pod(pods), Port: 8080})
		Expect(from(pods)).To(Equal([]int32{7070, 8080}), "the user's rule is never cloudlb's to revoke")
		Expect(counter.Counts()).NotTo(HaveKey("RevokeSecurityGroupIngress"))

		// A rollout onto a new port.
		ip2 := pod(pods)
		counter.Reset()
		sync(p, lb, 0, cloud.Target{ID: ip2, Port: 9090})
		Expect(from(pods)).To(Equal([]int32{7070, 9090}))
		calls := counter.Calls()
		at := func(op string) int {
			GinkgoHelper()
			i := slices.Index(calls, op)
			Expect(i).To(BeNumerically(">=", 0), "%s in %v", op, calls)
			return i
		}
		Expect(at("AuthorizeSecurityGroupIngress")).To(BeNumerically("<", at("RegisterTargets")))
		Expect(at("RegisterTargets")).To(BeNumerically("<", at("DeregisterTargets")))
		Expect(at("DeregisterTargets")).To(BeNumerically("<", at("RevokeSecurityGroupIngress")))

		// Converged: the same targets again make no call beyond the target group's own.
		counter.Reset()
		sync(p, lb, 0, cloud.Target{ID: ip2, Port: 9090})
		Expect(counter.Counts()).To(Equal(map[string]int{"DescribeTargetHealth": 1}))
	})

	It("revokes the rule on a group no target is in any more", func() {
		before, after := sg("pods-before"), sg("pods-after")
		lb := model("default/ip", "/")
		ensure(p, lb)
		sync(p, lb, 0, cloud.Target{ID: pod(before), Port: 8080})
		Expect(from(before)).To(Equal([]int32{8080}))

		sync(p, lb, 0, cloud.Target{ID: pod(after), Port: 8080})
		Expect(from(after)).To(Equal([]int32{8080}))
		Expect(from(before)).To(BeEmpty())

		// The last endpoint gone: no target needs the rule.
		sync(p, lb, 0)
		Expect(from(after)).To(BeEmpty())
	})

	It("keeps a rule another load balancer's targets need, known from memory or read from the cloud", func() {
		pods := sg("pods")
		ip := pod(pods)
		a := model("default/a", "/")
		a.Name = "k8s-default-a"
		b := model("default/b", "/")
		b.Name = "k8s-default-b"
		ensure(p, a)
		ensure(p, b)
		sync(p, b, 0, cloud.Target{ID: ip, Port: 8080})
		sync(p, a, 0, cloud.Target{ID: ip, Port: 8080})

		counter.Reset()
		sync(p, a, 0, cloud.Target{ID: ip, Port: 9090})
		Expect(from(pods)).To(Equal([]int32{8080, 9090}))
		Expect(counter.Counts()).NotTo(HaveKey("RevokeSecurityGroupIngress"))
		Expect(counter.Counts()).NotTo(HaveKey("GetResources"), "the other target group's need is known: nothing to read")

		// A restarted controller has synced only a: what b's targets need is read from the cloud.
		restarted := newProvider(cluster, counter, managed)
		sync(restarted, a, 0, cloud.Target{ID: ip, Port: 9090})
		sync(restarted, a, 0, cloud.Target{ID: ip, Port: 8080})
		sync(restarted, a, 0, cloud.Target{ID: ip, Port: 7070})
		Expect(from(pods)).To(Equal([]int32{7070, 8080}), "b still needs 8080; no target needs 9090")

		// Once b no longer needs it either, it goes.
		sync(restarted, b, 0, cloud.Target{ID: ip, Port: 7070})
		Expect(from(pods)).To(Equal([]int32{7070}))
	})

	It("opens a new health check port first, and revokes the rules of a removed target group, a health check port given up, and a load balancer that stopped asking", func() {
		pods := sg("pods")
		ip := pod(pods)
		lb := model("default/ip", "/", "/api")
		lb.TargetGroups[1].HealthCheck.Port = "9091"
		ensure(p, lb)
		sync(p, lb, 0, cloud.Target{ID: ip, Port: 8080})
		sync(p, lb, 1, cloud.Target{ID: ip, Port: 8081})
		Expect(from(pods)).To(Equal([]int32{8080, 8081, 9091}))

		// Make before break: a health check moved to a port of its own finds its rule there.
		lb.TargetGroups[0].HealthCheck.Port = "9092"
		counter.Reset()
		ensure(p, lb)
		Expect(from(pods)).To(Equal([]int32{8080, 8081, 9091, 9092}))
		calls := counter.Calls()
		Expect(slices.Index(calls, "AuthorizeSecurityGroupIngress")).To(BeNumerically(">=", 0))
		Expect(slices.Index(calls, "AuthorizeSecurityGroupIngress")).To(BeNumerically("<", slices.Index(calls, "ModifyTargetGroup")), "%v", calls)

		lb.TargetGroups[1].HealthCheck.Port = "traffic-port"
		ensure(p, lb)
		Expect(from(pods)).To(Equal([]int32{8080, 8081, 9092}))

		lb = model("default/ip", "/")
		ensure(p, lb)
		Expect(from(pods)).To(Equal([]int32{8080}), "the path and its target group are gone, the health check is back on the traffic port")

		counter.Reset()
		ensure(p, lb)
		Expect(counter.Counts()).NotTo(HaveKey("RevokeSecurityGroupIngress"))
		Expect(counter.Counts()).NotTo(HaveKey("DescribeTargetHealth"), "nothing changed: no target read")

		// With the user's groups, rules are kept only while manage-backend-security-group-rules asks for them.
		lb.SecurityGroups, lb.BackendRules = []string{sg("mine")}, true
		ensure(p, lb)
		sync(p, lb, 0, cloud.Target{ID: ip, Port: 8080})
		Expect(from(pods)).To(Equal([]int32{8080}))
		lb.BackendRules = false
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(ownedLoadBalancers("default/ip")[0].SecurityGroups).NotTo(ContainElement(shared))
		Expect(from(pods)).To(BeEmpty())
	})
})
