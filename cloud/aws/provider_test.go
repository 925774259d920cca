package aws_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

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
	wafv2types "github.com/aws/aws-sdk-go-v2/service/wafv2/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

var _ = Describe("AWS provider", func() {
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

	ensure := func(lb *cloud.LoadBalancer) cloud.Status {
		GinkgoHelper()
		st, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		return st
	}

	It("creates the load balancer, listener, rules, target groups, tags and security group", func() {
		lb := model(stack, "/api", "/")
		lb.Tags = map[string]string{"team": "web"}
		st := ensure(lb)

		lbs := ownedLoadBalancers(stack)
		Expect(lbs).To(HaveLen(1))
		got := lbs[0]
		Expect(*got.DNSName).To(Equal(st.DNSName))
		Expect(*got.LoadBalancerName).To(Equal(lb.Name))
		Expect(got.Scheme).To(Equal(elbv2types.LoadBalancerSchemeEnumInternetFacing))
		Expect(got.AvailabilityZones).To(HaveLen(len(subnets)))
		Expect(tagsOf(*got.LoadBalancerArn)).To(SatisfyAll(
			HaveKeyWithValue(cloud.TagCluster, cluster), HaveKeyWithValue(cloud.TagStack, stack), HaveKeyWithValue("team", "web")))

		listeners := listenersOf(*got.LoadBalancerArn)
		Expect(listeners).To(HaveLen(1))
		Expect(*listeners[0].Port).To(BeEquivalentTo(80))
		Expect(listeners[0].DefaultActions[0].Type).To(Equal(elbv2types.ActionTypeEnumFixedResponse))
		Expect(rulePaths(*listeners[0].ListenerArn)).To(Equal([][]string{{"/api", "/api/*"}, {"/*"}}))

		tgs := ownedTargetGroups(stack)
		Expect(tgs).To(HaveLen(2))
		for _, tg := range tgs {
			Expect(*tg.HealthCheckPath).To(Equal("/healthz"))
			Expect(tg.TargetType).To(Equal(elbv2types.TargetTypeEnumIp))
			Expect(*tg.VpcId).To(Equal(vpcID))
			Expect(len(*tg.TargetGroupName)).To(BeNumerically("<=", 32))
		}

		sgs := ownedSecurityGroups(stack)
		Expect(sgs).To(HaveLen(1))
		Expect(got.SecurityGroups).To(ConsistOf(*sgs[0].GroupId))
		Expect(sgs[0].IpPermissions).To(HaveLen(1))
		Expect(*sgs[0].IpPermissions[0].FromPort).To(BeEquivalentTo(80))
		Expect(*sgs[0].IpPermissions[0].IpRanges[0].CidrIp).To(Equal("0.0.0.0/0"))
	})

	It("makes no mutating call when nothing changed", func() {
		lb := model(stack, "/api", "/")
		ensure(lb)
		counter.Reset()
		ensure(model(stack, "/api", "/"))
		Expect(counter.Mutating()).To(BeEmpty())
	})

	It("never lists every load balancer or target group in the account", func() {
		guarded := newProvider(cluster, nil, func(o *cloudaws.Options) { o.APIOptions = append(o.APIOptions, forbidUnfilteredListing) })
		_, err := guarded.Ensure(ctx, model(stack, "/api", "/"), cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		_, err = guarded.Ensure(ctx, model(stack, "/api"), cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(guarded.Delete(ctx, stack, cloud.Known{})).To(Succeed())
	})

	It("adds a path with one CreateRule and nothing else, keeping the other priorities", func() {
		ensure(model(stack, "/api", "/"))
		before := rulePriorities(stack)
		counter.Reset()

		ensure(model(stack, "/api", "/admin", "/"))
		Expect(counter.Mutating()).To(Equal([]string{"CreateTargetGroup", "CreateRule"}))
		after := rulePriorities(stack)
		Expect(after[`["/api","/api/*"]`]).To(Equal(before[`["/api","/api/*"]`]))
		Expect(after[`["/*"]`]).To(Equal(before[`["/*"]`]))
		Expect(orderedPaths(stack)).To(Equal([][]string{{"/api", "/api/*"}, {"/admin", "/admin/*"}, {"/*"}}))
	})

	It("adds a path to an existing backend with exactly one CreateRule", func() {
		lb := model(stack, "/api", "/")
		ensure(lb)
		counter.Reset()
		lb = model(stack, "/api", "/")
		extra := lb.Listeners[0].Rules[0]
		extra.Conditions = []cloud.Condition{{Type: cloud.ConditionPath, PathMatch: cloud.PathPrefix, Values: []string{"/v2"}}}
		lb.Listeners[0].Rules = slices.Insert(lb.Listeners[0].Rules, 1, extra)
		ensure(lb)
		Expect(counter.Mutating()).To(Equal([]string{"CreateRule"}))
	})

	It("reorders rules through free priorities and creates a changed path before deleting the old one", func() {
		ensure(model(stack, "/a", "/b", "/c"))
		counter.Reset()
		ensure(model(stack, "/c", "/b", "/a"))
		Expect(orderedPaths(stack)).To(Equal([][]string{{"/c", "/c/*"}, {"/b", "/b/*"}, {"/a", "/a/*"}}))
		Expect(counter.Mutating()).To(ContainElement("SetRulePriorities"))
		Expect(counter.Mutating()).NotTo(ContainElements("CreateRule", "DeleteRule"))

		counter.Reset()
		lb := model(stack, "/c", "/b", "/a")
		lb.Listeners[0].Rules[1].Conditions[0].Values = []string{"/bee"}
		ensure(lb)
		calls := counter.Mutating()
		Expect(calls).To(ContainElements("CreateRule", "DeleteRule"))
		Expect(slices.Index(calls, "CreateRule")).To(BeNumerically("<", slices.Index(calls, "DeleteRule")))
		Expect(orderedPaths(stack)).To(Equal([][]string{{"/c", "/c/*"}, {"/bee", "/bee/*"}, {"/a", "/a/*"}}))
	})

	It("converges host, health check, tag, certificate, SSL policy and scheme changes", func() {
		ensure(model(stack, "/"))

		By("host")
		lb := model(stack, "/")
		lb.Listeners[0].Rules[0].Conditions = append(lb.Listeners[0].Rules[0].Conditions,
			cloud.Condition{Type: cloud.ConditionHost, Values: []string{"www.example.com"}})
		ensure(lb)
		Expect(ruleHosts(stack)).To(Equal([]string{"www.example.com"}))

		By("health check")
		counter.Reset()
		lb.TargetGroups[0].HealthCheck.Path = "/ready"
		lb.TargetGroups[0].HealthCheck.IntervalSeconds = 30
		ensure(lb)
		Expect(counter.Mutating()).To(Equal([]string{"ModifyTargetGroup"}))
		Expect(*ownedTargetGroups(stack)[0].HealthCheckPath).To(Equal("/ready"))

		By("tags")
		counter.Reset()
		lb.Tags = map[string]string{"team": "payments"}
		ensure(lb)
		Expect(tagsOf(*ownedLoadBalancers(stack)[0].LoadBalancerArn)).To(HaveKeyWithValue("team", "payments"))
		lb.Tags = nil
		ensure(lb)
		Expect(tagsOf(*ownedLoadBalancers(stack)[0].LoadBalancerArn)).NotTo(HaveKey("team"))

		By("certificate and SSL policy")
		cert1 := issueCertificate("www.example.com")
		cert2 := issueCertificate("*.example.com")
		lb.Listeners = append(lb.Listeners, cloud.Listener{Port: 443, Protocol: cloud.ProtocolHTTPS, Certificates: []string{cert1},
			DefaultAction: lb.Listeners[0].DefaultAction, Rules: lb.Listeners[0].Rules})
		ensure(lb)
		https := listenerOn(stack, 443)
		Expect(*https.Certificates[0].CertificateArn).To(Equal(cert1))
		Expect(*https.SslPolicy).To(Equal(cloudaws.DefaultSSLPolicy), "TLS 1.2 and 1.3 only unless the Ingress asks otherwise")
		Expect(*ownedSecurityGroups(stack)[0].IpPermissions[0].FromPort).To(BeElementOf(int32(80), int32(443)))
		Expect(ownedSecurityGroups(stack)[0].IpPermissions).To(HaveLen(2))

		lb.Listeners[1].Certificates = []string{cert2}
		lb.Listeners[1].SSLPolicy = "ELBSecurityPolicy-TLS-1-2-2017-01"
		ensure(lb)
		https = listenerOn(stack, 443)
		Expect(*https.Certificates[0].CertificateArn).To(Equal(cert2))
		Expect(*https.SslPolicy).To(Equal("ELBSecurityPolicy-TLS-1-2-2017-01"))

		By("the default policy is configurable")
		lb.Listeners[1].SSLPolicy = ""
		custom := newProvider(cluster, counter, func(o *cloudaws.Options) { o.DefaultSSLPolicy = "ELBSecurityPolicy-FS-1-2-Res-2020-10" })
		_, err := custom.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(*listenerOn(stack, 443).SslPolicy).To(Equal("ELBSecurityPolicy-FS-1-2-Res-2020-10"))

		By("scheme, which AWS cannot change in place")
		old := *ownedLoadBalancers(stack)[0].LoadBalancerArn
		counter.Reset()
		lb.Scheme = cloud.SchemeInternal
		lb.Name = "k8s-default-web-internal"
		ensure(lb)
		Expect(ownedLoadBalancers(stack)).To(HaveLen(2), "the old one serves through its grace period")
		ensure(lb) // the new one is active now: the old one is retired, starting its grace period
		Expect(counter.Mutating()).NotTo(ContainElement("DeleteLoadBalancer"))
		later := newProvider(cluster, counter, func(o *cloudaws.Options) { o.Now = func() time.Time { return time.Now().Add(6 * time.Minute) } })
		counter.Reset()
		_, err = later.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(counter.Mutating()).To(ContainElement("DeleteLoadBalancer"))
		lbs := ownedLoadBalancers(stack)
		Expect(lbs).To(HaveLen(1))
		Expect(lbs[0].Scheme).To(Equal(elbv2types.LoadBalancerSchemeEnumInternal))
		Expect(*lbs[0].LoadBalancerArn).NotTo(Equal(old))
		// An ALB target group serves one load balancer: the replacement has groups of its own.
		tgs := ownedTargetGroups(stack)
		Expect(tgs).To(HaveLen(1))
		Expect(tgs[0].LoadBalancerArns).To(HaveEach(*lbs[0].LoadBalancerArn))
	})

	It("keeps a target group whose port changed, since targets carry their own ports", func() {
		lb := model(stack, "/api")
		ensure(lb)
		counter.Reset()
		lb.TargetGroups[0].Port = 9090
		ensure(lb)
		Expect(counter.Mutating()).To(BeEmpty())
	})

	It("uses the user's security groups instead of the managed one, and deletes the managed one", func() {
		ensure(model(stack, "/"))
		Expect(ownedSecurityGroups(stack)).To(HaveLen(1))
		sg, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("sg-name-is-not-read"),
			Description: aws.String("the user's own"), VpcId: aws.String(vpcID), TagSpecifications: []ec2types.TagSpecification{{
				ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("user-frontend")}}}}})
		Expect(err).NotTo(HaveOccurred())

		lb := model(stack, "/")
		lb.SecurityGroups = []string{"user-frontend"}
		ensure(lb)
		Expect(ownedLoadBalancers(stack)[0].SecurityGroups).To(ConsistOf(*sg.GroupId))
		Expect(ownedSecurityGroups(stack)).To(BeEmpty())
		out, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*sg.GroupId}})
		Expect(err).NotTo(HaveOccurred())
		Expect(out.SecurityGroups[0].IpPermissions).To(BeEmpty(), "the user's group is used, never modified")

		counter.Reset()
		ensure(lb)
		Expect(counter.Mutating()).To(BeEmpty())
	})

	It("attaches the backend security group, never modifying it, next to the managed frontend group", func() {
		sg, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("cloudlb-backend"),
			Description: aws.String("allowed by the nodes"), VpcId: aws.String(vpcID)})
		Expect(err).NotTo(HaveOccurred())
		withBackend := newProvider(cluster, counter, func(o *cloudaws.Options) { o.BackendSecurityGroup = *sg.GroupId })
		_, err = withBackend.Ensure(ctx, model(stack, "/"), cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		frontend := ownedSecurityGroups(stack)
		Expect(frontend).To(HaveLen(1))
		Expect(ownedLoadBalancers(stack)[0].SecurityGroups).To(ConsistOf(*frontend[0].GroupId, *sg.GroupId))
		out, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*sg.GroupId}})
		Expect(err).NotTo(HaveOccurred())
		Expect(out.SecurityGroups[0].IpPermissions).To(BeEmpty())
		Expect(out.SecurityGroups[0].Tags).To(BeEmpty())

		counter.Reset()
		_, err = withBackend.Ensure(ctx, model(stack, "/"), cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(counter.Mutating()).To(BeEmpty())
		Expect(withBackend.Delete(ctx, stack, cloud.Known{})).To(Succeed())
		_, err = ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*sg.GroupId}})
		Expect(err).NotTo(HaveOccurred(), "the backend group outlives every load balancer")
	})

	It("allows only the inbound CIDRs on the listener ports", func() {
		lb := model(stack, "/")
		lb.InboundCIDRs = []string{"10.0.0.0/8", "2001:db8::/32"}
		ensure(lb)
		perms := ownedSecurityGroups(stack)[0].IpPermissions
		var v4, v6 []string
		for _, p := range perms {
			Expect(*p.FromPort).To(BeEquivalentTo(80))
			for _, r := range p.IpRanges {
				v4 = append(v4, *r.CidrIp)
			}
			for _, r := range p.Ipv6Ranges {
				v6 = append(v6, *r.CidrIpv6)
			}
		}
		Expect(v4).To(ConsistOf("10.0.0.0/8"))
		Expect(v6).To(ConsistOf("2001:db8::/32"))

		counter.Reset()
		lb.InboundCIDRs = []string{"192.168.0.0/16"}
		ensure(lb)
		Expect(counter.Mutating()).To(ConsistOf("AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"))
	})

	It("sets only the load balancer and target group attributes it is given", func() {
		lb := model(stack, "/")
		lb.Attributes = map[string]string{"idle_timeout.timeout_seconds": "120"}
		lb.TargetGroups[0].Attributes = map[string]string{"deregistration_delay.timeout_seconds": "30"}
		ensure(lb)
		lbARN := ownedLoadBalancers(stack)[0].LoadBalancerArn
		lbAttrs, err := elbc.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: lbARN})
		Expect(err).NotTo(HaveOccurred())
		Expect(lbAttrs.Attributes).To(ContainElement(elbv2types.LoadBalancerAttribute{
			Key: aws.String("idle_timeout.timeout_seconds"), Value: aws.String("120")}))
		tgAttrs, err := elbc.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{
			TargetGroupArn: ownedTargetGroups(stack)[0].TargetGroupArn})
		Expect(err).NotTo(HaveOccurred())
		Expect(tgAttrs.Attributes).To(ContainElement(elbv2types.TargetGroupAttribute{
			Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String("30")}))

		counter.Reset()
		ensure(lb)
		Expect(counter.Mutating()).To(BeEmpty())

		lb.Attributes["idle_timeout.timeout_seconds"] = "300"
		ensure(lb)
		Expect(counter.Mutating()).To(Equal([]string{"ModifyLoadBalancerAttributes"}))
	})

	It("associates a WAFv2 web ACL and Shield Advanced protection, and removes them", func() {
		wafc := wafv2.NewFromConfig(awsCfg)
		acl, err := wafc.CreateWebACL(ctx, &wafv2.CreateWebACLInput{Name: aws.String("acl"), Scope: wafv2types.ScopeRegional,
			DefaultAction:    &wafv2types.DefaultAction{Allow: &wafv2types.AllowAction{}},
			VisibilityConfig: &wafv2types.VisibilityConfig{MetricName: aws.String("acl")}})
		Expect(err).NotTo(HaveOccurred())
		lb := model(stack, "/")
		lb.WAFv2ACL = acl.Summary.ARN
		lb.ShieldAdvanced = aws.Bool(true)
		ensure(lb)
		arn := ownedLoadBalancers(stack)[0].LoadBalancerArn
		got, err := wafc.GetWebACLForResource(ctx, &wafv2.GetWebACLForResourceInput{ResourceArn: arn})
		Expect(err).NotTo(HaveOccurred())
		Expect(*got.WebACL.ARN).To(Equal(*acl.Summary.ARN))
		shieldc := shield.NewFromConfig(awsCfg)
		prot, err := shieldc.DescribeProtection(ctx, &shield.DescribeProtectionInput{ResourceArn: arn})
		Expect(err).NotTo(HaveOccurred())
		Expect(*prot.Protection.Name).To(HavePrefix("cloudlb-"))

		counter.Reset()
		ensure(lb)
		Expect(counter.Mutating()).To(BeEmpty())

		lb.WAFv2ACL = aws.String("")
		lb.ShieldAdvanced = aws.Bool(false)
		ensure(lb)
		got, err = wafc.GetWebACLForResource(ctx, &wafv2.GetWebACLForResourceInput{ResourceArn: arn})
		Expect(err == nil && got.WebACL != nil).To(BeFalse(), "the web ACL is disassociated")
		_, err = shieldc.DescribeProtection(ctx, &shield.DescribeProtectionInput{ResourceArn: arn})
		Expect(err).To(HaveOccurred(), "the protection is deleted")

		By("deleting the stack deletes its protection too")
		lb.ShieldAdvanced = aws.Bool(true)
		ensure(lb)
		Expect(p.Delete(ctx, stack, cloud.Known{})).To(Succeed())
		protections, err := shieldc.ListProtections(ctx, &shield.ListProtectionsInput{})
		Expect(err).NotTo(HaveOccurred())
		Expect(protections.Protections).To(BeEmpty())
	})

	It("refuses subnet discovery with fewer than two zones, and skips subnets of other clusters", func() {
		_, err := ec2c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: subnets[1:], Tags: []ec2types.Tag{
			{Key: aws.String("kubernetes.io/cluster/someone-else"), Value: aws.String("owned")}}})
		Expect(err).NotTo(HaveOccurred())
		_, err = p.Ensure(ctx, model(stack, "/"), cloud.Known{})
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "got %v", err)
		Expect(ownedLoadBalancers(stack)).To(BeEmpty())

		lb := model(stack, "/")
		lb.Subnets = subnets[:2]
		ensure(lb)
		var got []string
		for _, az := range ownedLoadBalancers(stack)[0].AvailabilityZones {
			got = append(got, *az.SubnetId)
		}
		Expect(got).To(ConsistOf(subnets[:2]))
	})

	It("discovers certificates by host, preferring exact names, and warns about hosts without one", func() {
		wild := issueCertificate("*.example.com")
		exact := issueCertificate("shop.example.com")
		lb := model(stack, "/")
		lb.Listeners[0] = cloud.Listener{Port: 443, Protocol: cloud.ProtocolHTTPS, DefaultAction: lb.Listeners[0].DefaultAction,
			Rules: lb.Listeners[0].Rules, CertificateHosts: []string{"shop.example.com", "www.example.com", "a.b.example.com", "other.org"}}
		st := ensure(lb)
		https := listenerOn(stack, 443)
		Expect(*https.Certificates[0].CertificateArn).To(Equal(exact))
		Expect(listenerCertificates(*https.ListenerArn)).To(ConsistOf(exact, wild))
		Expect(st.Warnings).To(ConsistOf(ContainSubstring("a.b.example.com"), ContainSubstring("other.org")))
	})

	It("converges from a stack applied halfway without a duplicate load balancer", func() {
		faulty := newProvider(cluster, nil, func(o *cloudaws.Options) {
			o.APIOptions = append(o.APIOptions, test.FailOperation("CreateListener", 100))
		})
		_, err := faulty.Ensure(ctx, model(stack, "/api", "/"), cloud.Known{})
		Expect(err).To(HaveOccurred())
		Expect(ownedLoadBalancers(stack)).To(HaveLen(1))
		Expect(ownedTargetGroups(stack)).To(HaveLen(2))

		ensure(model(stack, "/api", "/"))
		Expect(ownedLoadBalancers(stack)).To(HaveLen(1))
		Expect(ownedTargetGroups(stack)).To(HaveLen(2))
		Expect(orderedPaths(stack)).To(Equal([][]string{{"/api", "/api/*"}, {"/*"}}))

		By("a duplicate load balancer left by a crash is removed")
		lb := model(stack, "/api", "/")
		_, err = elbc.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(lb.Name), Subnets: subnets,
			Tags: []elbv2types.Tag{{Key: aws.String(cloud.TagCluster), Value: aws.String(cluster)},
				{Key: aws.String(cloud.TagClusterID), Value: aws.String(clusterID)}, {Key: aws.String(cloud.TagStack), Value: aws.String(stack)}}})
		Expect(err).NotTo(HaveOccurred())
		Expect(ownedLoadBalancers(stack)).To(HaveLen(2))
		ensure(lb)
		Expect(ownedLoadBalancers(stack)).To(HaveLen(1))
	})

	It("deletes everything the stack owns", func() {
		ensure(model(stack, "/api", "/"))
		Expect(p.Delete(ctx, stack, cloud.Known{})).To(Succeed())
		Expect(taggedResources(map[string]string{cloud.TagStack: stack})).To(BeEmpty())
		Expect(ownedSecurityGroups(stack)).To(BeEmpty())
		Expect(p.Delete(ctx, stack, cloud.Known{})).To(Succeed(), "deleting what is already gone succeeds")
	})

	It("reports a deletion AWS has not finished as pending, and finishes it on the next call", func() {
		ensure(model(stack, "/"))
		slow := newProvider(cluster, nil, func(o *cloudaws.Options) {
			o.APIOptions = append(o.APIOptions, test.FailOperationWith("DeleteSecurityGroup", 1,
				&smithy.GenericAPIError{Code: "DependencyViolation", Message: "resource has a dependent object"}))
		})
		err := slow.Delete(ctx, stack, cloud.Known{})
		Expect(cloud.IsPending(err)).To(BeTrue(), "got %v", err)
		Expect(ownedLoadBalancers(stack)).To(BeEmpty())
		Expect(ownedSecurityGroups(stack)).To(HaveLen(1))

		Expect(slow.Delete(ctx, stack, cloud.Known{})).To(Succeed())
		Expect(ownedSecurityGroups(stack)).To(BeEmpty())
	})

	It("refuses, before any change, a model whose tags exceed the AWS limit", func() {
		defaults := map[string]string{}
		// 46 and cloudlb's 4 are 50: legal, but a replacement could not add cloudlb.io/retired-at.
		for i := range 46 {
			defaults["team-"+strconv.Itoa(i)] = "x"
		}
		tagged := newProvider(cluster, counter, func(o *cloudaws.Options) { o.DefaultTags = defaults })
		counter.Reset()
		_, err := tagged.Ensure(ctx, model(stack, "/"), cloud.Known{})
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(And(ContainSubstring("50 tags"), ContainSubstring(cloud.TagRetiredAt)))
		Expect(counter.Mutating()).To(BeEmpty())
	})

	It("never touches resources of another cluster or untagged ones", func() {
		foreign := foreignResources(stack)
		lb := model(stack, "/api", "/")
		ensure(lb)
		other := model(stack, "/x")
		other.Name = lb.Name + "-x"
		ensure(other)
		Expect(p.Delete(ctx, stack, cloud.Known{})).To(Succeed())
		stacks, err := p.Stacks(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(stacks).To(BeEmpty())
		foreign.expectUntouched()
	})

	It("retries injected throttling and HTTP 500s until it converges", func() {
		proxy := test.NewFaultProxy(moto.URL, 3)
		DeferCleanup(proxy.Close)
		flaky := newProvider(cluster, counter, func(o *cloudaws.Options) { o.EndpointURL = proxy.URL })
		throttledBefore := metricSum("cloudlb_aws_api_throttled_total")
		_, err := flaky.Ensure(ctx, model(stack, "/api", "/"), cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(proxy.Injected()).To(BeNumerically(">", 3))
		Expect(metricSum("cloudlb_aws_api_throttled_total")).To(BeNumerically(">", throttledBefore))
		Expect(metricSum("cloudlb_aws_api_calls_total")).To(BeNumerically(">=", len(counter.Calls())))
		Expect(orderedPaths(stack)).To(Equal([][]string{{"/api", "/api/*"}, {"/*"}}))
		Expect(ownedLoadBalancers(stack)).To(HaveLen(1))
	})

	It("syncs a target group to a set of targets in batches", func() {
		lb := model(stack, "/")
		ensure(lb)
		tgID := lb.TargetGroups[0].ID
		var targets []cloud.Target
		for i := range 250 {
			targets = append(targets, cloud.Target{ID: "10.0." + strconv.Itoa(i/200) + "." + strconv.Itoa(i%200+1), Port: 8080})
		}
		counter.Reset()
		_, err := p.SyncTargets(ctx, stack, tgID, targets)
		Expect(err).NotTo(HaveOccurred())
		Expect(counter.Counts()["RegisterTargets"]).To(Equal(2))
		Expect(registeredTargets(stack)).To(HaveLen(250))

		counter.Reset()
		health, err := p.SyncTargets(ctx, stack, tgID, targets[:100])
		Expect(err).NotTo(HaveOccurred())
		Expect(health).To(HaveLen(100))
		Expect(counter.Mutating()).To(Equal([]string{"DeregisterTargets"}))
		Expect(registeredTargets(stack)).To(HaveLen(100))

		counter.Reset()
		_, err = p.SyncTargets(ctx, stack, tgID, targets[:100])
		Expect(err).NotTo(HaveOccurred())
		Expect(counter.Mutating()).To(BeEmpty())
	})
})

// metricSum adds up every series of a counter in the controller's metrics registry.
func metricSum(name string) float64 {
	GinkgoHelper()
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	total := 0.0
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// forbidUnfilteredListing fails any DescribeLoadBalancers or DescribeTargetGroups call that names nothing,
// which would list the whole account.
func forbidUnfilteredListing(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("test/forbid-listing",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			switch params := in.Parameters.(type) {
			case *elbv2.DescribeLoadBalancersInput:
				if len(params.LoadBalancerArns)+len(params.Names) == 0 {
					return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("DescribeLoadBalancers without ARNs or names lists the account")
				}
			case *elbv2.DescribeTargetGroupsInput:
				if len(params.TargetGroupArns)+len(params.Names) == 0 && params.LoadBalancerArn == nil {
					return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("DescribeTargetGroups without a filter lists the account")
				}
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

// model is a small internet-facing stack: one HTTP listener, one IP-mode target group per path.
func model(stack string, paths ...string) *cloud.LoadBalancer {
	lb := &cloud.LoadBalancer{
		Stack: stack, Name: "k8s-default-web", Scheme: cloud.SchemeInternetFacing, IPAddressType: cloud.IPAddressTypeIPv4,
	}
	l := cloud.Listener{Port: 80, Protocol: cloud.ProtocolHTTP, DefaultAction: cloud.Action{Type: cloud.ActionFixedResponse,
		FixedResponse: &cloud.FixedResponse{StatusCode: 404, ContentType: "text/plain"}}}
	for i, path := range paths {
		id := stack + "/web-" + strings.Trim(strings.ReplaceAll(path, "/", "-"), "-") + ":80"
		lb.TargetGroups = append(lb.TargetGroups, cloud.TargetGroup{ID: id, Protocol: cloud.ProtocolHTTP, Port: 8080,
			TargetType: cloud.TargetTypeIP, HealthCheck: cloud.HealthCheck{Protocol: cloud.ProtocolHTTP, Port: "traffic-port",
				Path: "/healthz", IntervalSeconds: 15, TimeoutSeconds: 5, HealthyThresholdCount: 2, UnhealthyThresholdCount: 2, SuccessCodes: "200"}})
		l.Rules = append(l.Rules, cloud.Rule{Priority: int32(i + 1),
			Conditions: []cloud.Condition{{Type: cloud.ConditionPath, PathMatch: cloud.PathPrefix, Values: []string{path}}},
			Action:     cloud.Action{Type: cloud.ActionForward, Forward: []cloud.WeightedTargetGroup{{TargetGroupID: id, Weight: 1}}}})
	}
	lb.Listeners = []cloud.Listener{l}
	return lb
}

func taggedResources(tags map[string]string) []string {
	GinkgoHelper()
	in := &resourcegroupstaggingapi.GetResourcesInput{}
	for k, v := range tags {
		in.TagFilters = append(in.TagFilters, taggingtypes.TagFilter{Key: aws.String(k), Values: []string{v}})
	}
	out, err := tagging.GetResources(context.Background(), in)
	Expect(err).NotTo(HaveOccurred())
	var arns []string
	for _, m := range out.ResourceTagMappingList {
		arns = append(arns, *m.ResourceARN)
	}
	return arns
}

func ownedLoadBalancers(stack string) []elbv2types.LoadBalancer {
	GinkgoHelper()
	var arns []string
	for _, arn := range taggedResources(map[string]string{cloud.TagCluster: cluster, cloud.TagStack: stack}) {
		if strings.Contains(arn, ":loadbalancer/") {
			arns = append(arns, arn)
		}
	}
	if len(arns) == 0 {
		return nil
	}
	out, err := elbc.DescribeLoadBalancers(context.Background(), &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: arns})
	Expect(err).NotTo(HaveOccurred())
	return out.LoadBalancers
}

func ownedTargetGroups(stack string) []elbv2types.TargetGroup {
	GinkgoHelper()
	var arns []string
	for _, arn := range taggedResources(map[string]string{cloud.TagCluster: cluster, cloud.TagStack: stack}) {
		if strings.Contains(arn, ":targetgroup/") {
			arns = append(arns, arn)
		}
	}
	if len(arns) == 0 {
		return nil
	}
	out, err := elbc.DescribeTargetGroups(context.Background(), &elbv2.DescribeTargetGroupsInput{TargetGroupArns: arns})
	Expect(err).NotTo(HaveOccurred())
	return out.TargetGroups
}

func ownedSecurityGroups(stack string) []ec2types.SecurityGroup {
	GinkgoHelper()
	out, err := ec2c.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + cloud.TagCluster), Values: []string{cluster}},
		{Name: aws.String("tag:" + cloud.TagStack), Values: []string{stack}},
	}})
	Expect(err).NotTo(HaveOccurred())
	return out.SecurityGroups
}

func tagsOf(arn string) map[string]string {
	GinkgoHelper()
	out, err := elbc.DescribeTags(context.Background(), &elbv2.DescribeTagsInput{ResourceArns: []string{arn}})
	Expect(err).NotTo(HaveOccurred())
	tags := map[string]string{}
	for _, t := range out.TagDescriptions[0].Tags {
		tags[*t.Key] = *t.Value
	}
	return tags
}

func listenersOf(lbARN string) []elbv2types.Listener {
	GinkgoHelper()
	out, err := elbc.DescribeListeners(context.Background(), &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(lbARN)})
	Expect(err).NotTo(HaveOccurred())
	return out.Listeners
}

func listenerOn(stack string, port int32) elbv2types.Listener {
	GinkgoHelper()
	lbs := ownedLoadBalancers(stack)
	Expect(lbs).To(HaveLen(1))
	for _, l := range listenersOf(*lbs[0].LoadBalancerArn) {
		if *l.Port == port {
			return l
		}
	}
	Fail("no listener on port " + strconv.Itoa(int(port)))
	return elbv2types.Listener{}
}

func listenerCertificates(listenerARN string) []string {
	GinkgoHelper()
	out, err := elbc.DescribeListenerCertificates(context.Background(), &elbv2.DescribeListenerCertificatesInput{ListenerArn: aws.String(listenerARN)})
	Expect(err).NotTo(HaveOccurred())
	var arns []string
	for _, c := range out.Certificates {
		if !slices.Contains(arns, *c.CertificateArn) {
			arns = append(arns, *c.CertificateArn)
		}
	}
	return arns
}

// sortedRules returns a listener's non-default rules by priority (DescribeRules promises no order).
func sortedRules(listenerARN string) []elbv2types.Rule {
	GinkgoHelper()
	out, err := elbc.DescribeRules(context.Background(), &elbv2.DescribeRulesInput{ListenerArn: aws.String(listenerARN)})
	Expect(err).NotTo(HaveOccurred())
	var rules []elbv2types.Rule
	for _, r := range out.Rules {
		if !*r.IsDefault {
			rules = append(rules, r)
		}
	}
	slices.SortFunc(rules, func(a, b elbv2types.Rule) int {
		x, _ := strconv.Atoi(*a.Priority)
		y, _ := strconv.Atoi(*b.Priority)
		return x - y
	})
	return rules
}

func conditionValues(r elbv2types.Rule, field string) []string {
	for _, c := range r.Conditions {
		if *c.Field == field {
			switch {
			case c.PathPatternConfig != nil:
				return c.PathPatternConfig.Values
			case c.HostHeaderConfig != nil:
				return c.HostHeaderConfig.Values
			}
			return c.Values
		}
	}
	return nil
}

func rulePaths(listenerARN string) [][]string {
	GinkgoHelper()
	var out [][]string
	for _, r := range sortedRules(listenerARN) {
		out = append(out, conditionValues(r, "path-pattern"))
	}
	return out
}

func orderedPaths(stack string) [][]string {
	GinkgoHelper()
	return rulePaths(*listenerOn(stack, 80).ListenerArn)
}

func ruleHosts(stack string) []string {
	GinkgoHelper()
	var out []string
	for _, r := range sortedRules(*listenerOn(stack, 80).ListenerArn) {
		out = append(out, conditionValues(r, "host-header")...)
	}
	return out
}

// rulePriorities maps each rule's path values (JSON-ish) to its priority.
func rulePriorities(stack string) map[string]string {
	GinkgoHelper()
	out := map[string]string{}
	for _, r := range sortedRules(*listenerOn(stack, 80).ListenerArn) {
		out[`["`+strings.Join(conditionValues(r, "path-pattern"), `","`)+`"]`] = *r.Priority
	}
	return out
}

func registeredTargets(stack string) []string {
	GinkgoHelper()
	tgs := ownedTargetGroups(stack)
	Expect(tgs).NotTo(BeEmpty())
	out, err := elbc.DescribeTargetHealth(context.Background(), &elbv2.DescribeTargetHealthInput{TargetGroupArn: tgs[0].TargetGroupArn})
	Expect(err).NotTo(HaveOccurred())
	var ids []string
	for _, d := range out.TargetHealthDescriptions {
		if d.TargetHealth == nil || d.TargetHealth.State != elbv2types.TargetHealthStateEnumDraining {
			ids = append(ids, *d.Target.Id)
		}
	}
	return ids
}

func issueCertificate(domain string) string {
	GinkgoHelper()
	out, err := acmc.RequestCertificate(context.Background(), &acm.RequestCertificateInput{DomainName: aws.String(domain)})
	Expect(err).NotTo(HaveOccurred())
	return *out.CertificateArn
}

// foreign holds resources that cloudlb must never touch: tagged for another cluster (same stack name), or
// untagged.
type foreign struct {
	lbs []string
	tgs []string
	sgs []string
}

func foreignResources(stack string) foreign {
	GinkgoHelper()
	ctx := context.Background()
	var f foreign
	tagsFor := func(clusterName string) []elbv2types.Tag {
		if clusterName == "" {
			return nil
		}
		return []elbv2types.Tag{{Key: aws.String(cloud.TagCluster), Value: aws.String(clusterName)}, {Key: aws.String(cloud.TagStack), Value: aws.String(stack)}}
	}
	for i, owner := range []string{"other-cluster", ""} {
		name := "foreign-" + strconv.Itoa(i)
		lb, err := elbc.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(name), Subnets: subnets, Tags: tagsFor(owner)})
		Expect(err).NotTo(HaveOccurred())
		f.lbs = append(f.lbs, *lb.LoadBalancers[0].LoadBalancerArn)
		tg, err := elbc.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbv2types.ProtocolEnumHttp,
			Port: aws.Int32(80), VpcId: aws.String(vpcID), Tags: tagsFor(owner)})
		Expect(err).NotTo(HaveOccurred())
		f.tgs = append(f.tgs, *tg.TargetGroups[0].TargetGroupArn)
		in := &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String("foreign"), VpcId: aws.String(vpcID)}
		if owner != "" {
			in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: []ec2types.Tag{
				{Key: aws.String(cloud.TagCluster), Value: aws.String(owner)}, {Key: aws.String(cloud.TagStack), Value: aws.String(stack)}}}}
		}
		sg, err := ec2c.CreateSecurityGroup(ctx, in)
		Expect(err).NotTo(HaveOccurred())
		f.sgs = append(f.sgs, *sg.GroupId)
	}
	return f
}

func (f foreign) expectUntouched() {
	GinkgoHelper()
	ctx := context.Background()
	lbs, err := elbc.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: f.lbs})
	Expect(err).NotTo(HaveOccurred())
	Expect(lbs.LoadBalancers).To(HaveLen(len(f.lbs)))
	tgs, err := elbc.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: f.tgs})
	Expect(err).NotTo(HaveOccurred())
	Expect(tgs.TargetGroups).To(HaveLen(len(f.tgs)))
	for _, arn := range f.lbs {
		tags := tagsOf(arn)
		Expect(tags).NotTo(HaveKeyWithValue(cloud.TagCluster, cluster))
	}
	sgs, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: f.sgs})
	Expect(err).NotTo(HaveOccurred())
	Expect(sgs.SecurityGroups).To(HaveLen(len(f.sgs)))
}
