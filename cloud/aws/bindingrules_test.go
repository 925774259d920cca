package aws_test

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/test"
)

// The rules TargetGroupBindings ask for are cloudlb's to revoke once no binding needs them; rules someone else
// added, even for the same peer and port, are not.
var _ = Describe("TargetGroupBinding networking rules", func() {
	var (
		ctx               context.Context
		counter           *test.CallCounter
		podSG, lbSG, arnA string
		arnB              string
		pod               cloud.Target
	)

	group := func(name string) string {
		GinkgoHelper()
		out, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String(name), VpcId: aws.String(vpcID)})
		Expect(err).NotTo(HaveOccurred())
		return *out.GroupId
	}
	targetGroup := func(name string) string {
		GinkgoHelper()
		out, err := elbc.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbv2types.ProtocolEnumHttp,
			Port: aws.Int32(80), VpcId: aws.String(vpcID), TargetType: elbv2types.TargetTypeEnumIp})
		Expect(err).NotTo(HaveOccurred())
		return *out.TargetGroups[0].TargetGroupArn
	}
	// rules lists the pods' group's inbound rules as "peer:from-to description".
	rules := func() []string {
		GinkgoHelper()
		out, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{podSG}})
		Expect(err).NotTo(HaveOccurred())
		var got []string
		for _, perm := range out.SecurityGroups[0].IpPermissions {
			ports := ":" + itoa(aws.ToInt32(perm.FromPort)) + "-" + itoa(aws.ToInt32(perm.ToPort)) + " "
			for _, pair := range perm.UserIdGroupPairs {
				got = append(got, aws.ToString(pair.GroupId)+ports+aws.ToString(pair.Description))
			}
			for _, r := range perm.IpRanges {
				got = append(got, aws.ToString(r.CidrIp)+ports+aws.ToString(r.Description))
			}
		}
		return got
	}
	const ours = "cloudlb.io/targetgroupbinding cluster-id=" + clusterID
	sgPeer := func(port int32) cloud.IngressPermission {
		return cloud.IngressPermission{SecurityGroup: lbSG, Protocol: "tcp", Port: port}
	}

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		podSG, lbSG = group("pods"), group("lb")
		eni, err := ec2c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnets[0]), Groups: []string{podSG}})
		Expect(err).NotTo(HaveOccurred())
		pod = cloud.Target{ID: *eni.NetworkInterface.PrivateIpAddress, Port: 8080}
		arnA, arnB = targetGroup("binding-a"), targetGroup("binding-b")
		// The user's own rules: one for a peer and port a binding asks for too, without cloudlb's marker.
		_, err = ec2c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(podSG),
			IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(7070), ToPort: aws.Int32(7070),
				UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String(lbSG), Description: aws.String("the user's")}}}}})
		Expect(err).NotTo(HaveOccurred())
	})

	It("revokes a binding's rules when its ports change or it goes, only when no other binding needs them, never the user's", func() {
		p := newProvider(cluster, counter)
		sync := func(arn, binding string, networked []string, perms ...cloud.IngressPermission) {
			GinkgoHelper()
			s := cloud.BoundSync{ARN: arn, Ingress: perms, Binding: binding, Networked: networked}
			if len(perms) > 0 {
				s.Targets = []cloud.Target{pod}
			}
			_, err := p.SyncBoundTargets(ctx, s)
			Expect(err).NotTo(HaveOccurred())
		}
		user := lbSG + ":7070-7070 the user's"

		sync(arnA, "ns/a", []string{"ns/a"}, sgPeer(8080), sgPeer(7070))
		Expect(rules()).To(ConsistOf(user, lbSG+":8080-8080 "+ours), "the user's rule lets the peer in on 7070: none added")

		By("a port changes: the new rule before the old one goes")
		counter.Reset()
		sync(arnA, "ns/a", []string{"ns/a"}, sgPeer(9090))
		Expect(rules()).To(ConsistOf(user, lbSG+":9090-9090 "+ours))
		Expect(counter.Mutating()).To(Equal([]string{"AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"}))

		By("a second binding needs the same rule: it stays while either does")
		sync(arnB, "ns/b", []string{"ns/a", "ns/b"}, sgPeer(9090), cloud.IngressPermission{CIDR: "10.0.0.0/16", Protocol: "tcp"})
		Expect(rules()).To(ConsistOf(user, lbSG+":9090-9090 "+ours, "10.0.0.0/16:0-65535 "+ours))
		sync(arnA, "ns/a", []string{"ns/a", "ns/b"})
		Expect(rules()).To(ConsistOf(user, lbSG+":9090-9090 "+ours, "10.0.0.0/16:0-65535 "+ours))

		By("the last binding goes: every rule cloudlb added goes, the user's stays")
		sync(arnB, "ns/b", []string{"ns/b"})
		Expect(rules()).To(ConsistOf(user))

		By("steady state: no write")
		counter.Reset()
		sync(arnA, "ns/a", []string{"ns/a"}, sgPeer(7070))
		Expect(counter.Mutating()).To(Equal([]string{"RegisterTargets"}))
		Expect(rules()).To(ConsistOf(user))
	})

	It("lets a peer in on its own port before revoking the wider rule that let it in", func() {
		p := newProvider(cluster, counter)
		sync := func(arn, binding string, networked []string, perms ...cloud.IngressPermission) {
			GinkgoHelper()
			s := cloud.BoundSync{ARN: arn, Ingress: perms, Binding: binding, Networked: networked}
			if len(perms) > 0 {
				s.Targets = []cloud.Target{pod}
			}
			_, err := p.SyncBoundTargets(ctx, s)
			Expect(err).NotTo(HaveOccurred())
		}
		sync(arnA, "ns/a", []string{"ns/a"}, sgPeer(0))
		sync(arnB, "ns/b", []string{"ns/a", "ns/b"}, sgPeer(8080))
		Expect(rules()).To(ConsistOf(lbSG+":7070-7070 the user's", lbSG+":0-65535 "+ours), "every port covers 8080: no rule added")

		counter.Reset()
		sync(arnA, "ns/a", []string{"ns/a", "ns/b"})
		Expect(rules()).To(ConsistOf(lbSG+":7070-7070 the user's", lbSG+":8080-8080 "+ours))
		Expect(counter.Mutating()).To(Equal([]string{"DeregisterTargets", "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"}))
	})

	It("revokes one peer of a port and keeps the other, with no write for the one kept", func() {
		p := newProvider(cluster, counter)
		cidr := cloud.IngressPermission{CIDR: "10.0.0.0/16", Protocol: "tcp", Port: 8080}
		_, err := p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arnA, Targets: []cloud.Target{pod}, Ingress: []cloud.IngressPermission{sgPeer(8080), cidr},
			Binding: "ns/a", Networked: []string{"ns/a"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(rules()).To(ConsistOf(lbSG+":7070-7070 the user's", lbSG+":8080-8080 "+ours, "10.0.0.0/16:8080-8080 "+ours))

		counter.Reset()
		_, err = p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arnA, Targets: []cloud.Target{pod}, Ingress: []cloud.IngressPermission{sgPeer(8080)},
			Binding: "ns/a", Networked: []string{"ns/a"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(rules()).To(ConsistOf(lbSG+":7070-7070 the user's", lbSG+":8080-8080 "+ours))
		Expect(counter.Mutating()).To(Equal([]string{"RevokeSecurityGroupIngress"}))
	})

	It("never revokes a rule marked by another cluster, even for a peer and port no binding needs any more", func() {
		p := newProvider(cluster, counter)
		theirs := "cloudlb.io/targetgroupbinding cluster-id=another-uid"
		_, err := ec2c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(podSG),
			IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(6060), ToPort: aws.Int32(6060),
				IpRanges: []ec2types.IpRange{{CidrIp: aws.String("10.1.0.0/16"), Description: aws.String(theirs)}}}}})
		Expect(err).NotTo(HaveOccurred())
		_, err = p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arnA, Targets: []cloud.Target{pod}, Ingress: []cloud.IngressPermission{sgPeer(8080)},
			Binding: "ns/a", Networked: []string{"ns/a"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(rules()).To(ConsistOf(lbSG+":7070-7070 the user's", "10.1.0.0/16:6060-6060 "+theirs, lbSG+":8080-8080 "+ours))

		By("the binding goes: only this cluster's rule is revoked")
		counter.Reset()
		_, err = p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arnA, Binding: "ns/a", Networked: []string{"ns/a"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(rules()).To(ConsistOf(lbSG+":7070-7070 the user's", "10.1.0.0/16:6060-6060 "+theirs))
		Expect(counter.Counts()["RevokeSecurityGroupIngress"]).To(Equal(1))
	})

	It("revokes nothing while a target's security groups are unknown", func() {
		p := newProvider(cluster, counter)
		_, err := p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arnA, Targets: []cloud.Target{pod}, Ingress: []cloud.IngressPermission{sgPeer(8080)},
			Binding: "ns/a", Networked: []string{"ns/a"}})
		Expect(err).NotTo(HaveOccurred())
		// A pod whose address is on no network interface yet may sit behind the group that holds the old rule.
		unknown := cloud.Target{ID: "172.31.99.99", Port: 8080}
		_, err = p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arnA, Targets: []cloud.Target{pod, unknown}, Ingress: []cloud.IngressPermission{sgPeer(9090)},
			Binding: "ns/a", Networked: []string{"ns/a"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(rules()).To(ConsistOf(lbSG+":7070-7070 the user's", lbSG+":8080-8080 "+ours, lbSG+":9090-9090 "+ours))

		_, err = p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arnA, Targets: []cloud.Target{pod}, Ingress: []cloud.IngressPermission{sgPeer(9090)},
			Binding: "ns/a", Networked: []string{"ns/a"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(rules()).To(ConsistOf(lbSG+":7070-7070 the user's", lbSG+":9090-9090 "+ours))
	})

	It("after a restart, revokes rules left by a binding deleted meanwhile only once every binding has synced", func() {
		old := newProvider(cluster, nil)
		_, err := old.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arnA, Targets: []cloud.Target{pod}, Ingress: []cloud.IngressPermission{sgPeer(6060)},
			Binding: "ns/gone", Networked: []string{"ns/gone"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(rules()).To(ContainElement(lbSG + ":6060-6060 " + ours))

		p := newProvider(cluster, counter)
		// ns/b has networking but has not synced in this process: it might need the rule.
		_, err = p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arnA, Targets: []cloud.Target{pod}, Ingress: []cloud.IngressPermission{sgPeer(8080)},
			Binding: "ns/a", Networked: []string{"ns/a", "ns/b"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(rules()).To(ContainElement(lbSG + ":6060-6060 " + ours))
		Expect(counter.Counts()["RevokeSecurityGroupIngress"]).To(BeZero())

		_, err = p.SyncBoundTargets(ctx, cloud.BoundSync{ARN: arnB, Targets: []cloud.Target{pod}, Ingress: []cloud.IngressPermission{sgPeer(8080)},
			Binding: "ns/b", Networked: []string{"ns/a", "ns/b"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(rules()).To(ConsistOf(lbSG+":7070-7070 the user's", lbSG+":8080-8080 "+ours))
	})
})
