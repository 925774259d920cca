package aws_test

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

// TargetGroupBindings register into target groups that someone else made (here the test, as Terraform would):
// the groups are never modified, and a shared group keeps the targets the binding did not register.
var _ = Describe("Bound target groups", func() {
	var (
		ctx     context.Context
		counter *test.CallCounter
		p       *cloudaws.Provider
	)

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		p = newProvider(cluster, counter)
	})

	targetGroup := func(name string, targetType elbv2types.TargetTypeEnum, vpc string, tags ...elbv2types.Tag) string {
		GinkgoHelper()
		out, err := elbc.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbv2types.ProtocolEnumHttp,
			Port: aws.Int32(80), VpcId: aws.String(vpc), TargetType: targetType, Tags: tags})
		Expect(err).NotTo(HaveOccurred())
		return *out.TargetGroups[0].TargetGroupArn
	}
	// registered lists the targets a group holds, as "id:port", leaving out those draining.
	registered := func(arn string) []cloud.Target {
		GinkgoHelper()
		out, err := elbc.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
		Expect(err).NotTo(HaveOccurred())
		var got []cloud.Target
		for _, h := range out.TargetHealthDescriptions {
			if h.TargetHealth != nil && h.TargetHealth.State == elbv2types.TargetHealthStateEnumDraining {
				continue
			}
			got = append(got, cloud.Target{ID: aws.ToString(h.Target.Id), Port: aws.ToInt32(h.Target.Port)})
		}
		return got
	}
	register := func(arn string, targets ...cloud.Target) {
		GinkgoHelper()
		var in []elbv2types.TargetDescription
		for _, t := range targets {
			in = append(in, elbv2types.TargetDescription{Id: aws.String(t.ID), Port: aws.Int32(t.Port)})
		}
		_, err := elbc.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: in})
		Expect(err).NotTo(HaveOccurred())
	}
	instance := func() string {
		GinkgoHelper()
		out, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			SubnetId: aws.String(subnets[0])})
		Expect(err).NotTo(HaveOccurred())
		return *out.Instances[0].InstanceId
	}
	// groupWrites are the calls that change a target group itself, which a binding must never make.
	groupWrites := func() []string {
		var out []string
		for _, op := range counter.Mutating() {
			if op != "RegisterTargets" && op != "DeregisterTargets" && op != "AuthorizeSecurityGroupIngress" {
				out = append(out, op)
			}
		}
		return out
	}

	It("registers a Service's pods into an IP target group named by ARN, and holds exactly them", func() {
		arn := targetGroup("terraform-ip", elbv2types.TargetTypeEnumIp, vpcID)
		stray := cloud.Target{ID: "172.31.9.9", Port: 8080}
		register(arn, stray)

		g, err := p.BoundTargetGroup(ctx, arn, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(g).To(Equal(cloud.BoundTargetGroup{ARN: arn, TargetType: cloud.TargetTypeIP, VPCID: vpcID}))

		pods := []cloud.Target{{ID: "172.31.1.10", Port: 8080}, {ID: "172.31.1.11", Port: 8080}}
		health, err := p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arn, Targets: pods})
		Expect(err).NotTo(HaveOccurred())
		Expect(health).To(HaveLen(2))
		Expect(registered(arn)).To(ConsistOf(pods), "without multiClusterTargetGroup the binding owns the group's target list")

		counter.Reset()
		_, err = p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arn, Targets: pods[:1]})
		Expect(err).NotTo(HaveOccurred())
		Expect(registered(arn)).To(ConsistOf(pods[0]))
		Expect(counter.Mutating()).To(Equal([]string{"DeregisterTargets"}))
		Expect(groupWrites()).To(BeEmpty())
	})

	It("finds a group by name, and registers nodes into an instance group on their NodePort", func() {
		arn := targetGroup("terraform-instance", elbv2types.TargetTypeEnumInstance, vpcID)
		g, err := p.BoundTargetGroup(ctx, "", "terraform-instance")
		Expect(err).NotTo(HaveOccurred())
		Expect(g.ARN).To(Equal(arn))
		Expect(g.TargetType).To(Equal(cloud.TargetTypeInstance))

		nodes := []cloud.Target{{ID: instance(), Port: 30080}, {ID: instance(), Port: 30080}}
		_, err = p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arn, Targets: nodes})
		Expect(err).NotTo(HaveOccurred())
		Expect(registered(arn)).To(ConsistOf(nodes))
		Expect(groupWrites()).To(BeEmpty())
	})

	It("never deregisters from a group that cloudlb came to manage for an Ingress after the binding registered", func() {
		arn := targetGroup("adopted", elbv2types.TargetTypeEnumIp, vpcID)
		pods := []cloud.Target{{ID: "172.31.1.10", Port: 8080}}
		_, err := p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arn, Targets: pods})
		Expect(err).NotTo(HaveOccurred())
		// Claimed since (a takeover from LBC): the targets reconciler owns its target list now.
		_, err = elbc.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{arn}, Tags: []elbv2types.Tag{
			{Key: aws.String(cloud.TagCluster), Value: aws.String(cluster)}, {Key: aws.String(cloud.TagStack), Value: aws.String("ns1/web")}}})
		Expect(err).NotTo(HaveOccurred())

		counter.Reset()
		_, err = p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arn})
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "%v", err)
		Expect(registered(arn)).To(ConsistOf(pods))
		Expect(counter.Mutating()).To(BeEmpty())
	})

	It("keeps, in a multi-cluster group, the targets it did not register, and deregisters only its own", func() {
		arn := targetGroup("shared", elbv2types.TargetTypeEnumIp, vpcID)
		others := []cloud.Target{{ID: "172.31.5.1", Port: 8080}, {ID: "172.31.5.2", Port: 8080}}
		register(arn, others...)

		ours := []cloud.Target{{ID: "172.31.1.10", Port: 8080}, {ID: "172.31.1.11", Port: 8080}}
		_, err := p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arn, Targets: ours, Shared: true})
		Expect(err).NotTo(HaveOccurred())
		Expect(registered(arn)).To(ConsistOf(append(slices.Clone(others), ours...)))

		// A pod went: it is ours, so it goes; the other cluster's targets are not ours to judge.
		_, err = p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arn, Targets: ours[:1], Shared: true, Owned: ours})
		Expect(err).NotTo(HaveOccurred())
		Expect(registered(arn)).To(ConsistOf(others[0], others[1], ours[0]))

		// The binding is deleted: every target it registered goes, none of the others.
		counter.Reset()
		_, err = p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arn, Shared: true, Owned: ours})
		Expect(err).NotTo(HaveOccurred())
		Expect(registered(arn)).To(ConsistOf(others))
		Expect(counter.Mutating()).To(Equal([]string{"DeregisterTargets"}))
	})

	It("says what is wrong with a group it cannot bind, and modifies none", func() {
		_, err := p.BoundTargetGroup(ctx, "", "nowhere")
		Expect(cloud.IsNotFound(err)).To(BeTrue(), "%v", err)
		_, err = p.BoundTargetGroup(ctx, "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/nowhere/0123456789abcdef", "")
		Expect(cloud.IsNotFound(err)).To(BeTrue(), "%v", err)

		vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.9.0.0/16")})
		Expect(err).NotTo(HaveOccurred())
		elsewhere := targetGroup("elsewhere", elbv2types.TargetTypeEnumIp, *vpc.Vpc.VpcId)
		_, err = p.BoundTargetGroup(ctx, elsewhere, "")
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("not in the cluster's VPC"))

		managed := targetGroup("managed", elbv2types.TargetTypeEnumIp, vpcID,
			elbv2types.Tag{Key: aws.String(cloud.TagCluster), Value: aws.String(cluster)}, elbv2types.Tag{Key: aws.String(cloud.TagStack), Value: aws.String("default/web")})
		_, err = p.BoundTargetGroup(ctx, managed, "")
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("managed by cloudlb"))
		Expect(counter.Mutating()).To(BeEmpty())
	})

	It("lets the binding's peers into the targets' security group before registering them, once", func() {
		sg, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("pods"), Description: aws.String("pods"), VpcId: aws.String(vpcID)})
		Expect(err).NotTo(HaveOccurred())
		lbSG, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("lb"), Description: aws.String("lb"), VpcId: aws.String(vpcID)})
		Expect(err).NotTo(HaveOccurred())
		eni, err := ec2c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnets[0]), Groups: []string{*sg.GroupId}})
		Expect(err).NotTo(HaveOccurred())
		pod := cloud.Target{ID: *eni.NetworkInterface.PrivateIpAddress, Port: 8080}
		arn := targetGroup("with-networking", elbv2types.TargetTypeEnumIp, vpcID)

		ingress := []cloud.IngressPermission{{SecurityGroup: *lbSG.GroupId, Protocol: "tcp", Port: 8080}, {CIDR: "10.0.0.0/16", Protocol: "tcp"}}
		_, err = p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arn, Targets: []cloud.Target{pod}, Ingress: ingress})
		Expect(err).NotTo(HaveOccurred())
		Expect(counter.Mutating()).To(Equal([]string{"AuthorizeSecurityGroupIngress", "RegisterTargets"}))
		out, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*sg.GroupId}})
		Expect(err).NotTo(HaveOccurred())
		var got []string
		for _, perm := range out.SecurityGroups[0].IpPermissions {
			for _, pair := range perm.UserIdGroupPairs {
				got = append(got, aws.ToString(pair.GroupId)+":"+itoa(aws.ToInt32(perm.FromPort))+"-"+itoa(aws.ToInt32(perm.ToPort)))
			}
			for _, r := range perm.IpRanges {
				got = append(got, aws.ToString(r.CidrIp)+":"+itoa(aws.ToInt32(perm.FromPort))+"-"+itoa(aws.ToInt32(perm.ToPort)))
			}
		}
		Expect(got).To(ConsistOf(*lbSG.GroupId+":8080-8080", "10.0.0.0/16:0-65535"))

		// Another process (a restart) finds the rules there and adds none.
		counter.Reset()
		_, err = newProvider(cluster, counter).SyncBoundTargets(ctx, cloud.BoundSync{ARN: arn, Targets: []cloud.Target{pod}, Ingress: ingress})
		Expect(err).NotTo(HaveOccurred())
		Expect(counter.Mutating()).To(BeEmpty())
	})
})
