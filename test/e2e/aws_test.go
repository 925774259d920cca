package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cloudlb/cloudlb/test"
)

// Issue 4's check against moto: the binary with the AWS provider, endpoints written as EndpointSlices, and the
// result read back through the AWS APIs, as a user with the AWS CLI would.
var _ = Describe("The controller binary with the AWS provider against moto", Ordered, func() {
	const (
		cluster = "e2e-aws"
		// podPort is what the pods' port named "web" resolves to; the Service itself listens on 80.
		podPort = 8080
	)
	var (
		ctx        = context.Background()
		ns         string
		ing        *networkingv1.Ingress
		first      *discoveryv1.EndpointSlice
		second     *discoveryv1.EndpointSlice
		metricsURL string
		tgARN      string
	)

	BeforeAll(func() {
		port, err := test.FreePort()
		Expect(err).NotTo(HaveOccurred())
		metricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
		var env []string
		for k, v := range moto.Credentials() {
			env = append(env, k+"="+v)
		}
		startController("aws", env, "--cloud-provider=aws", "--aws-endpoint-url="+moto.URL, "--aws-region="+region,
			"--aws-vpc-id="+vpcID, "--cluster-name="+cluster, "--target-batch-window=500ms",
			fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", port), "--metrics-secure=false", "--health-probe-bind-address=0")

		ns = newNamespace()
		Expect(k8s.Create(ctx, service(ns, corev1.ServiceTypeClusterIP))).To(Succeed())
		// Pod IPs are in the default VPC's subnets (172.31.0.0/20, 172.31.16.0/20, ...), as with the VPC CNI:
		// AWS refuses IP targets outside the VPC.
		first = endpointSlice(ns, "web-a", podPort, ips("172.31.0.", 11, 13))
		Expect(k8s.Create(ctx, first)).To(Succeed())
		ing = ingressFor(ns, map[string]string{
			"alb.ingress.kubernetes.io/target-type": "ip",
			"alb.ingress.kubernetes.io/scheme":      "internet-facing",
		})
		Expect(k8s.Create(ctx, ing)).To(Succeed())
	})

	It("creates an ALB whose DNS name is the Ingress's address, with the 3 endpoints as targets", func() {
		// Creating a load balancer takes a dozen calls through the controller's rate limiter.
		Eventually(hostname).WithArguments(ing).WithTimeout(time.Minute).ShouldNot(BeEmpty())
		host, err := hostname(ing)
		Expect(err).NotTo(HaveOccurred())

		lbs, err := owned(ctx, cluster, "elasticloadbalancing:loadbalancer")
		Expect(err).NotTo(HaveOccurred())
		Expect(lbs).To(HaveLen(1))
		out, err := elbc.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: lbs})
		Expect(err).NotTo(HaveOccurred())
		Expect(out.LoadBalancers).To(HaveLen(1))
		lb := out.LoadBalancers[0]
		// The status is lower-case by design; DNS names are case-insensitive.
		Expect(strings.ToLower(aws.ToString(lb.DNSName))).To(Equal(host))
		Expect(lb.Scheme).To(Equal(elbv2types.LoadBalancerSchemeEnumInternetFacing))
		// The cluster identity is read by the binary from the API server: the UID of kube-system.
		var kubeSystem corev1.Namespace
		Expect(k8s.Get(ctx, types.NamespacedName{Name: "kube-system"}, &kubeSystem)).To(Succeed())
		tags, err := elbc.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: lbs})
		Expect(err).NotTo(HaveOccurred())
		Expect(tags.TagDescriptions[0].Tags).To(ContainElement(elbv2types.Tag{Key: aws.String("cloudlb.io/cluster-id"), Value: aws.String(string(kubeSystem.UID))}))

		tgs, err := owned(ctx, cluster, "elasticloadbalancing:targetgroup")
		Expect(err).NotTo(HaveOccurred())
		Expect(tgs).To(HaveLen(1))
		tgARN = tgs[0]
		// Seen here, so that "none left" after the deletion below is a check that can fail: the load balancer's
		// managed group and the cluster's shared backend group.
		Expect(securityGroups(ctx, cluster)).To(HaveLen(2))

		Eventually(targets).WithArguments(ctx, tgARN).Should(ConsistOf(endpoints(ips("172.31.0.", 11, 13), podPort)))
	})

	It("registers exactly the endpoints after a scale up from 3 to 10", func() {
		setEndpoints(first, ips("172.31.0.", 11, 15))
		Expect(k8s.Update(ctx, first)).To(Succeed())
		// The EndpointSlice controller spreads endpoints over several slices.
		second = endpointSlice(ns, "web-b", podPort, ips("172.31.16.", 11, 15))
		Expect(k8s.Create(ctx, second)).To(Succeed())

		want := endpoints(append(ips("172.31.0.", 11, 15), ips("172.31.16.", 11, 15)...), podPort)
		Eventually(targets).WithArguments(ctx, tgARN).Should(ConsistOf(want))
		Eventually(registeredGauge).WithArguments(metricsURL, ns+"/app").Should(Equal([]float64{10}))
		Expect(apiCalls(metricsURL, "RegisterTargets", "success")).To(ContainElement(BeNumerically(">", 0)))
	})

	It("deregisters the endpoints that went away after a scale down from 10 to 2", func() {
		Expect(k8s.Delete(ctx, second)).To(Succeed())
		setEndpoints(first, ips("172.31.0.", 11, 12))
		Expect(k8s.Update(ctx, first)).To(Succeed())

		Eventually(targets).WithArguments(ctx, tgARN).Should(ConsistOf(endpoints(ips("172.31.0.", 11, 12), podPort)))
		Eventually(registeredGauge).WithArguments(metricsURL, ns+"/app").Should(Equal([]float64{2}))
		Expect(apiCalls(metricsURL, "DeregisterTargets", "success")).To(ContainElement(BeNumerically(">", 0)))
	})

	It("deletes the load balancer, target group and security group before letting the deleted Ingress go", func() {
		Expect(k8s.Delete(ctx, ing)).To(Succeed())
		Eventually(gone).WithArguments(ing).Should(BeTrue(), "the Ingress is still there")

		// The finalizer comes off only once the cloud resources are deleted, so no waiting here.
		Expect(owned(ctx, cluster)).To(BeEmpty(), "resources tagged cloudlb.io/cluster=%s", cluster)
		Expect(securityGroups(ctx, cluster)).To(BeEmpty())
		_, err := elbc.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgARN)})
		Expect(err).To(MatchError(ContainSubstring("TargetGroupNotFound")))
	})
})

// endpoints renders addresses as the "ip:port" that targets returns.
func endpoints(addrs []string, port int) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = fmt.Sprintf("%s:%d", a, port)
	}
	return out
}

// targets lists a target group's targets as "ip:port". Draining targets are being deregistered and no longer
// count; moto drops deregistered targets at once, AWS reports them as draining for the deregistration delay.
func targets(ctx context.Context, arn string) ([]string, error) {
	out, err := elbc.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
	if err != nil {
		return nil, err
	}
	var ts []string
	for _, d := range out.TargetHealthDescriptions {
		if d.TargetHealth != nil && d.TargetHealth.State == elbv2types.TargetHealthStateEnumDraining {
			continue
		}
		ts = append(ts, fmt.Sprintf("%s:%d", aws.ToString(d.Target.Id), aws.ToInt32(d.Target.Port)))
	}
	return ts, nil
}

// owned returns the ARNs of the resources of the given types (all when none) tagged for the cluster, found
// through the tagging API as cloudlb itself finds them.
func owned(ctx context.Context, cluster string, resourceTypes ...string) ([]string, error) {
	p := resourcegroupstaggingapi.NewGetResourcesPaginator(tagging, &resourcegroupstaggingapi.GetResourcesInput{
		TagFilters:          []taggingtypes.TagFilter{{Key: aws.String("cloudlb.io/cluster"), Values: []string{cluster}}},
		ResourceTypeFilters: resourceTypes,
	})
	var arns []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		// The filter is checked here too: moto does not apply a tag filter's values to every resource type.
		for _, r := range page.ResourceTagMappingList {
			if slices.ContainsFunc(r.Tags, func(t taggingtypes.Tag) bool {
				return aws.ToString(t.Key) == "cloudlb.io/cluster" && aws.ToString(t.Value) == cluster
			}) {
				arns = append(arns, aws.ToString(r.ResourceARN))
			}
		}
	}
	return arns, nil
}

// securityGroups returns the IDs of the security groups tagged for the cluster.
func securityGroups(ctx context.Context, cluster string) ([]string, error) {
	out, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:cloudlb.io/cluster"), Values: []string{cluster}},
	}})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, g := range out.SecurityGroups {
		ids = append(ids, aws.ToString(g.GroupId))
	}
	return ids, nil
}

// registeredGauge is cloudlb_target_group_targets{state="registered"} of a stack, one value per target group.
func registeredGauge(url, stack string) ([]float64, error) {
	m, err := scrape(url)
	if err != nil {
		return nil, err
	}
	return samples(m, "cloudlb_target_group_targets", map[string]string{"stack": stack, "state": "registered"}), nil
}

// apiCalls is cloudlb_aws_api_calls_total of an operation and outcome.
func apiCalls(url, operation, outcome string) ([]float64, error) {
	m, err := scrape(url)
	if err != nil {
		return nil, err
	}
	return samples(m, "cloudlb_aws_api_calls_total", map[string]string{"operation": operation, "outcome": outcome}), nil
}
