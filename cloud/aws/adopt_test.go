package aws_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

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
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/controllers/ingress"
	"github.com/cloudlb/cloudlb/test"
)

// The AWS Load Balancer Controller's layout, as its model builders and deployers make it: names of the form
// k8s-<namespace>-<name>-<hash> (k8s-<group>-<hash> for an explicit group), a managed security group open on the
// listener ports, its shared backend group, target groups per Ingress, Service and port, an HTTP:80 listener whose
// default action is a 404 fixed response, rules at priorities 1, 2, 3... with host then path conditions (a prefix
// path as the path and path/*), and its tracking tags on every resource.

var lbcUnsafe = regexp.MustCompile("[[:^alnum:]]")

func lbcHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// lbcName is LBC's name for a load balancer or its security group of stack: hashKey already holds what it hashes.
func lbcName(ns, name, hash string) string {
	if ns == "" {
		return fmt.Sprintf("k8s-%.17s-%.10s", lbcUnsafe.ReplaceAllString(name, ""), hash)
	}
	return fmt.Sprintf("k8s-%.8s-%.8s-%.10s", lbcUnsafe.ReplaceAllString(ns, ""), lbcUnsafe.ReplaceAllString(name, ""), hash)
}

func lbcELBTags(clusterName, stack, resource string) []elbv2types.Tag {
	return []elbv2types.Tag{{Key: aws.String("elbv2.k8s.aws/cluster"), Value: aws.String(clusterName)},
		{Key: aws.String("ingress.k8s.aws/stack"), Value: aws.String(stack)},
		{Key: aws.String("ingress.k8s.aws/resource"), Value: aws.String(resource)}}
}

// lbcPath is one Ingress path of an LBC member: a Prefix path to a Service port, on host when set.
type lbcPath struct {
	host, path, svc string
	port            int32
}

type lbcMember struct {
	ns, name string
	order    int
	paths    []lbcPath
}

// lbcLayout is what makeLBCStack made.
type lbcLayout struct {
	lb, listener, sg string
	tgs              map[string]string // LBC's resource ID -> ARN
	rules            []string          // by priority
}

func (l lbcLayout) elbARNs() []string {
	out := []string{l.lb, l.listener}
	for _, arn := range l.tgs {
		out = append(out, arn)
	}
	return append(out, l.rules...)
}

// lbcServices are the Services the members use: a NodePort each, instance targets being LBC's default.
var lbcServices = map[string]corev1.ServicePort{
	"web": {Port: 80, NodePort: 30080, TargetPort: intstr.FromInt32(8080)},
	"api": {Port: 8080, NodePort: 30081, TargetPort: intstr.FromInt32(9090)},
}

func makeLBCBackendSG(clusterName string) string {
	GinkgoHelper()
	out, err := ec2c.CreateSecurityGroup(context.Background(), &ec2.CreateSecurityGroupInput{
		GroupName:   aws.String(fmt.Sprintf("k8s-traffic-%.232s-%.10s", lbcUnsafe.ReplaceAllString(clusterName, ""), lbcHash(clusterName))),
		Description: aws.String("[k8s] Shared Backend SecurityGroup for LoadBalancer"), VpcId: aws.String(vpcID),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: []ec2types.Tag{
			{Key: aws.String("elbv2.k8s.aws/cluster"), Value: aws.String(clusterName)},
			{Key: aws.String("elbv2.k8s.aws/resource"), Value: aws.String("backend-sg")}}}},
	})
	Expect(err).NotTo(HaveOccurred())
	return *out.GroupId
}

// makeLBCStack lays out stack (LBC's stack ID: "namespace/name" of an implicit group, or the group name) as LBC
// does for the members, internet-facing.
func makeLBCStack(clusterName, stack, backendSG string, members ...lbcMember) lbcLayout {
	GinkgoHelper()
	ctx := context.Background()
	ns, name := "", stack
	if i := indexByte(stack, '/'); i >= 0 {
		ns, name = stack[:i], stack[i+1:]
	}
	out := lbcLayout{tgs: map[string]string{}}
	sg, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName:   aws.String(lbcName(ns, name, lbcHash(clusterName, stack))),
		Description: aws.String("[k8s] Managed SecurityGroup for LoadBalancer"), VpcId: aws.String(vpcID),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: []ec2types.Tag{
			{Key: aws.String("elbv2.k8s.aws/cluster"), Value: aws.String(clusterName)},
			{Key: aws.String("ingress.k8s.aws/stack"), Value: aws.String(stack)},
			{Key: aws.String("ingress.k8s.aws/resource"), Value: aws.String("ManagedLBSecurityGroup")}}}},
	})
	Expect(err).NotTo(HaveOccurred())
	out.sg = *sg.GroupId
	_, err = ec2c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId,
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}})
	Expect(err).NotTo(HaveOccurred())

	lb, err := elbc.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String(lbcName(ns, name, lbcHash(clusterName, stack, "internet-facing"))), Type: elbv2types.LoadBalancerTypeEnumApplication,
		Scheme: elbv2types.LoadBalancerSchemeEnumInternetFacing, IpAddressType: elbv2types.IpAddressTypeIpv4,
		Subnets: subnets, SecurityGroups: []string{out.sg, backendSG}, Tags: lbcELBTags(clusterName, stack, "LoadBalancer"),
	})
	Expect(err).NotTo(HaveOccurred())
	out.lb = *lb.LoadBalancers[0].LoadBalancerArn
	l, err := elbc.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(out.lb), Port: aws.Int32(80),
		Protocol: elbv2types.ProtocolEnumHttp, Tags: lbcELBTags(clusterName, stack, "80"),
		DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumFixedResponse,
			FixedResponseConfig: &elbv2types.FixedResponseActionConfig{StatusCode: aws.String("404"), ContentType: aws.String("text/plain")}}}})
	Expect(err).NotTo(HaveOccurred())
	out.listener = *l.Listeners[0].ListenerArn

	priority := int32(1)
	for _, m := range members {
		for _, p := range m.paths {
			sp := lbcServices[p.svc]
			resID := fmt.Sprintf("%s/%s-%s:%d", m.ns, m.name, p.svc, p.port)
			if out.tgs[resID] == "" {
				tg, err := elbc.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
					Name: aws.String(fmt.Sprintf("k8s-%.8s-%.8s-%.10s", m.ns, p.svc, lbcHash(clusterName, stack, m.ns, m.name,
						"uid-"+p.svc, strconv.Itoa(int(p.port)), strconv.Itoa(int(sp.NodePort)), "instance", "HTTP", "HTTP1"))),
					Protocol: elbv2types.ProtocolEnumHttp, ProtocolVersion: aws.String("HTTP1"), Port: aws.Int32(sp.NodePort),
					TargetType: elbv2types.TargetTypeEnumInstance, VpcId: aws.String(vpcID), IpAddressType: elbv2types.TargetGroupIpAddressTypeEnumIpv4,
					HealthCheckProtocol: elbv2types.ProtocolEnumHttp, HealthCheckPort: aws.String("traffic-port"), HealthCheckPath: aws.String("/"),
					HealthCheckIntervalSeconds: aws.Int32(15), HealthCheckTimeoutSeconds: aws.Int32(5),
					HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2),
					Matcher: &elbv2types.Matcher{HttpCode: aws.String("200")}, Tags: lbcELBTags(clusterName, stack, resID),
				})
				Expect(err).NotTo(HaveOccurred())
				out.tgs[resID] = *tg.TargetGroups[0].TargetGroupArn
			}
			var conds []elbv2types.RuleCondition
			if p.host != "" {
				conds = append(conds, elbv2types.RuleCondition{Field: aws.String("host-header"),
					HostHeaderConfig: &elbv2types.HostHeaderConditionConfig{Values: []string{p.host}}})
			}
			values := []string{p.path, p.path + "/*"}
			if p.path == "/" {
				values = []string{"/*"}
			}
			conds = append(conds, elbv2types.RuleCondition{Field: aws.String("path-pattern"),
				PathPatternConfig: &elbv2types.PathPatternConditionConfig{Values: values}})
			r, err := elbc.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: aws.String(out.listener), Priority: aws.Int32(priority),
				Conditions: conds, Tags: lbcELBTags(clusterName, stack, fmt.Sprintf("80:%d", priority)),
				Actions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, ForwardConfig: &elbv2types.ForwardActionConfig{
					TargetGroups: []elbv2types.TargetGroupTuple{{TargetGroupArn: aws.String(out.tgs[resID])}}}}}})
			Expect(err).NotTo(HaveOccurred())
			out.rules = append(out.rules, *r.Rules[0].RuleArn)
			priority++
		}
	}
	return out
}

func indexByte(s string, c byte) int {
	for i := range len(s) {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// lbcIngress is the Ingress behind an LBC member, as the user wrote it for LBC.
func lbcIngress(m lbcMember, group string) *networkingv1.Ingress {
	ann := map[string]string{"alb.ingress.kubernetes.io/scheme": "internet-facing"}
	if group != "" {
		ann["alb.ingress.kubernetes.io/group.name"] = group
		ann["alb.ingress.kubernetes.io/group.order"] = strconv.Itoa(m.order)
	}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: m.ns, Name: m.name, Annotations: ann}}
	for _, p := range m.paths {
		ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{Host: p.host, IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: p.path, PathType: new(networkingv1.PathTypePrefix),
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: p.svc,
					Port: networkingv1.ServiceBackendPort{Number: p.port}}}}}}}})
	}
	return ing
}

// lbcModel is cloudlb's translation of the members.
func lbcModel(stack, group string, members ...lbcMember) *cloud.LoadBalancer {
	GinkgoHelper()
	services := map[types.NamespacedName]*corev1.Service{}
	var ings []*networkingv1.Ingress
	for _, m := range members {
		for svc, sp := range lbcServices {
			services[types.NamespacedName{Namespace: m.ns, Name: svc}] = &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: m.ns, Name: svc, UID: types.UID("uid-" + svc)},
				Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{sp}}}
		}
		ings = append(ings, lbcIngress(m, group))
	}
	out := ingress.Translate(ingress.Input{ClusterName: cluster, Stack: stack, Ingresses: ings, Services: services})
	Expect(out.Errors).To(BeEmpty())
	return out.LoadBalancer
}

func onlyTagWrites(counter *test.CallCounter) {
	GinkgoHelper()
	for _, op := range counter.Mutating() {
		Expect(op).To(BeElementOf("AddTags", "CreateTags"), "a takeover writes nothing but tags: %v", counter.Mutating())
	}
}

// exists says whether an ELBv2 resource is still there, by a consistent Describe of its kind.
func exists(arn string) bool {
	GinkgoHelper()
	ctx := context.Background()
	var err error
	switch {
	case strings.Contains(arn, ":loadbalancer/"):
		var out *elbv2.DescribeLoadBalancersOutput
		if out, err = elbc.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}}); err == nil {
			return len(out.LoadBalancers) == 1
		}
	case strings.Contains(arn, ":targetgroup/"):
		var out *elbv2.DescribeTargetGroupsOutput
		if out, err = elbc.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{arn}}); err == nil {
			return len(out.TargetGroups) == 1
		}
	case strings.Contains(arn, ":listener/"):
		var out *elbv2.DescribeListenersOutput
		if out, err = elbc.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{arn}}); err == nil {
			return len(out.Listeners) == 1
		}
	default:
		var out *elbv2.DescribeRulesOutput
		if out, err = elbc.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{arn}}); err == nil {
			return len(out.Rules) == 1
		}
	}
	Expect(err).To(MatchError(ContainSubstring("NotFound")))
	return false
}

func sgExists(id string) bool {
	GinkgoHelper()
	_, err := ec2c.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	return err == nil
}

var _ = Describe("Takeover from the AWS Load Balancer Controller", func() {
	var (
		ctx     context.Context
		counter *test.CallCounter
		backend string
	)
	web := lbcMember{ns: "ns1", name: "web", paths: []lbcPath{{path: "/api", svc: "api", port: 8080}, {path: "/", svc: "web", port: 80}}}
	shopA := lbcMember{ns: "ns1", name: "a", order: 1, paths: []lbcPath{{path: "/a", svc: "web", port: 80}}}
	shopB := lbcMember{ns: "ns2", name: "b", order: 2, paths: []lbcPath{{host: "shop.example.com", path: "/b", svc: "web", port: 80},
		{path: "/api", svc: "api", port: 8080}}}
	adopting := func(o *cloudaws.Options) { o.AdoptLBC, o.ManageBackendSecurityGroup = true, true }

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		backend = makeLBCBackendSG(cluster)
	})

	It("adopts an implicit and an explicit group in place, writing only tags, and then changes them as usual", func() {
		implicit := makeLBCStack(cluster, "ns1/web", backend, web)
		explicit := makeLBCStack(cluster, "shop", backend, shopA, shopB)
		p := newProvider(cluster, counter, adopting)

		for _, c := range []struct {
			stack, group string
			layout       lbcLayout
			members      []lbcMember
		}{{"ns1/web", "", implicit, []lbcMember{web}}, {"shop", "shop", explicit, []lbcMember{shopA, shopB}}} {
			By("adopting " + c.stack)
			m := lbcModel(c.stack, c.group, c.members...)
			counter.Reset()
			st, err := p.Ensure(ctx, m, cloud.Known{})
			Expect(err).NotTo(HaveOccurred())
			onlyTagWrites(counter)
			Expect(st.ID).To(Equal(c.layout.lb))
			Expect(st.Adopted).To(ContainElement(ContainSubstring("adopted load balancer " + c.layout.lb)))
			Expect(st.Adopted).To(ContainElement(ContainSubstring(c.layout.sg)))
			Expect(ownedLoadBalancers(c.stack)).To(HaveLen(1))
			Expect(ownedTargetGroups(c.stack)).To(HaveLen(len(c.layout.tgs)))
			for _, tg := range ownedTargetGroups(c.stack) {
				Expect(c.layout.tgs).To(ContainElement(*tg.TargetGroupArn))
			}
			Expect(ownedSecurityGroups(c.stack)).To(HaveLen(1))
			Expect(*ownedSecurityGroups(c.stack)[0].GroupId).To(Equal(c.layout.sg))
			var rules []string
			for _, r := range sortedRules(c.layout.listener) {
				rules = append(rules, *r.RuleArn)
			}
			Expect(rules).To(Equal(c.layout.rules), "same rules at the same priorities")
			for _, arn := range append([]string{c.layout.listener}, c.layout.rules...) {
				Expect(tagsOf(arn)).To(HaveKeyWithValue(cloud.TagClusterID, clusterID), "listeners and rules are claimed too: %s", arn)
			}
			Expect(st.Adopted).To(ContainElement(fmt.Sprintf("adopted %d rule(s) on port 80 from the AWS Load Balancer Controller", len(c.layout.rules))))
			for _, arn := range []string{c.layout.lb, c.layout.tgs[fmt.Sprintf("%s/%s-%s:%d", c.members[0].ns, c.members[0].name,
				c.members[0].paths[0].svc, c.members[0].paths[0].port)]} {
				tags := tagsOf(arn)
				Expect(tags).To(HaveKeyWithValue(cloud.TagClusterID, clusterID))
				Expect(tags).To(HaveKeyWithValue("ingress.k8s.aws/stack", c.stack), "LBC's tags are kept")
				Expect(tags).To(HaveKeyWithValue("elbv2.k8s.aws/cluster", cluster))
			}

			By("making no call at all the next time")
			counter.Reset()
			st, err = p.Ensure(ctx, m, cloud.Known{ID: st.ID})
			Expect(err).NotTo(HaveOccurred())
			Expect(counter.Mutating()).To(BeEmpty())
			Expect(st.Adopted).To(BeEmpty())
		}

		By("adopting LBC's backend group as the cluster's")
		out, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{backend}})
		Expect(err).NotTo(HaveOccurred())
		Expect(sgTags(out.SecurityGroups[0])).To(HaveKeyWithValue(cloud.TagResource, cloud.ResourceBackendSecurityGroup))
		Expect(sgTags(out.SecurityGroups[0])).NotTo(HaveKey(cloud.TagStack))

		By("a path added to the explicit group, by a new provider with the takeover mode off")
		p = newProvider(cluster, counter, func(o *cloudaws.Options) { o.ManageBackendSecurityGroup = true })
		more := shopB
		more.paths = append(append([]lbcPath{}, shopB.paths...), lbcPath{path: "/c", svc: "web", port: 80})
		counter.Reset()
		st, err := p.Ensure(ctx, lbcModel("shop", "shop", shopA, more), cloud.Known{ID: explicit.lb})
		Expect(err).NotTo(HaveOccurred())
		Expect(st.ID).To(Equal(explicit.lb))
		Expect(counter.Mutating()).To(Equal([]string{"CreateRule"}))
		paths := orderedPaths("shop")
		Expect(paths).To(HaveLen(len(explicit.rules) + 1))
		Expect(paths[len(paths)-1]).To(Equal([]string{"/c", "/c/*"}))
	})

	It("previews a takeover as tags only, writing nothing, and Ensure then adds exactly those tags", func() {
		layout := makeLBCStack(cluster, "ns1/web", backend, web)
		p := newProvider(cluster, counter, adopting)
		m := lbcModel("ns1/web", "", web)

		counter.Reset()
		plan, err := p.Plan(ctx, m, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(counter.Mutating()).To(BeEmpty(), "a preview writes nothing")
		Expect(plan).NotTo(BeEmpty())
		claimed := map[string]bool{}
		for _, c := range plan {
			Expect(c.Action).To(Equal(cloud.ActionTag), "a takeover of a matching stack only tags: %s", c)
			claimed[c.Resource] = true
		}
		Expect(claimed).To(HaveKey(layout.lb))
		Expect(claimed).To(HaveKey(layout.listener))
		for _, arn := range layout.tgs {
			Expect(claimed).To(HaveKey(arn))
		}
		Expect(tagsOf(layout.lb)).NotTo(HaveKey(cloud.TagClusterID), "nothing was claimed yet")

		counter.Reset()
		_, err = p.Ensure(ctx, m, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		onlyTagWrites(counter)
		for arn := range claimed {
			if strings.HasPrefix(arn, "arn:") {
				Expect(tagsOf(arn)).To(HaveKeyWithValue(cloud.TagClusterID, clusterID), "planned and then claimed: %s", arn)
			}
		}
		plan, err = p.Plan(ctx, m, cloud.Known{ID: layout.lb})
		Expect(err).NotTo(HaveOccurred())
		Expect(plan).To(BeEmpty(), "nothing left to do once taken over")
	})

	It("converges an adopted stack that differs from the translation in place, and says so", func() {
		layout := makeLBCStack(cluster, "ns1/web", backend, web)
		apiTG := layout.tgs["ns1/web-api:8080"]
		_, err := elbc.ModifyTargetGroup(ctx, &elbv2.ModifyTargetGroupInput{TargetGroupArn: aws.String(apiTG), HealthCheckPath: aws.String("/old")})
		Expect(err).NotTo(HaveOccurred())
		_, err = elbc.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: aws.String(layout.listener),
			DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumFixedResponse,
				FixedResponseConfig: &elbv2types.FixedResponseActionConfig{StatusCode: aws.String("503"), ContentType: aws.String("text/plain")}}}})
		Expect(err).NotTo(HaveOccurred())
		p := newProvider(cluster, counter, adopting)
		st, err := p.Ensure(ctx, lbcModel("ns1/web", "", web), cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(st.ID).To(Equal(layout.lb))
		for _, op := range counter.Mutating() {
			Expect(op).To(BeElementOf("AddTags", "CreateTags", "ModifyTargetGroup", "ModifyListener"), "%v", counter.Mutating())
		}
		Expect(counter.Counts()).To(HaveKeyWithValue("ModifyTargetGroup", 1))
		Expect(counter.Counts()).To(HaveKeyWithValue("ModifyListener", 1))
		Expect(st.Adopted).To(ContainElements(ContainSubstring("target group ns1/web/api:8080: health check changed in place"),
			ContainSubstring("listener 80: default action")))
		tgs, err := elbc.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{apiTG}})
		Expect(err).NotTo(HaveOccurred())
		Expect(*tgs.TargetGroups[0].HealthCheckPath).To(Equal("/"))
	})

	It("touches nothing LBC made without the takeover mode", func() {
		layout := makeLBCStack(cluster, "ns1/web", backend, web)
		before := map[string]map[string]string{}
		for _, arn := range layout.elbARNs() {
			before[arn] = tagsOf(arn)
		}
		p := newProvider(cluster, counter, func(o *cloudaws.Options) { o.ManageBackendSecurityGroup = true })
		st, err := p.Ensure(ctx, lbcModel("ns1/web", "", web), cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(st.ID).NotTo(Equal(layout.lb))
		Expect(st.Adopted).To(BeEmpty())
		for arn, tags := range before {
			Expect(tagsOf(arn)).To(Equal(tags), arn)
		}
		for _, id := range []string{layout.sg, backend} {
			out, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
			Expect(err).NotTo(HaveOccurred())
			Expect(sgTags(out.SecurityGroups[0])).NotTo(HaveKey(cloud.TagCluster), id)
		}
	})

	It("never claims what LBC made for another cluster name", func() {
		otherBackend := makeLBCBackendSG("other")
		layout := makeLBCStack("other", "ns1/web", otherBackend, web)
		p := newProvider(cluster, counter, adopting)
		st, err := p.Ensure(ctx, lbcModel("ns1/web", "", web), cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(st.ID).NotTo(Equal(layout.lb))
		Expect(st.Adopted).To(BeEmpty())
		for _, arn := range layout.elbARNs() {
			Expect(tagsOf(arn)).NotTo(HaveKey(cloud.TagCluster), arn)
		}
		for _, id := range []string{layout.sg, otherBackend} {
			out, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
			Expect(err).NotTo(HaveOccurred())
			Expect(sgTags(out.SecurityGroups[0])).NotTo(HaveKey(cloud.TagCluster), id)
		}
		// This cluster's own LBC backend group is adopted instead of making a new one.
		out, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{backend}})
		Expect(err).NotTo(HaveOccurred())
		Expect(sgTags(out.SecurityGroups[0])).To(HaveKeyWithValue(cloud.TagClusterID, clusterID))
	})

	It("never claims nor deletes what LBC made under this cluster name in another VPC", func() {
		// Another cluster of the same name (a blue/green replacement) whose LBC stack lives in the default VPC.
		layout := makeLBCStack(cluster, "ns1/web", backend, web)
		vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.20.0.0/16")})
		Expect(err).NotTo(HaveOccurred())
		p := newProvider(cluster, counter, adopting, func(o *cloudaws.Options) { o.VPCID = *vpc.Vpc.VpcId })
		Expect(p.Delete(ctx, "ns1/web", cloud.Known{})).To(Succeed())
		for _, arn := range layout.elbARNs() {
			Expect(exists(arn)).To(BeTrue(), arn)
			Expect(tagsOf(arn)).NotTo(HaveKey(cloud.TagCluster), arn)
		}
		for _, id := range []string{layout.sg, backend} {
			out, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
			Expect(err).NotTo(HaveOccurred())
			Expect(sgTags(out.SecurityGroups[0])).NotTo(HaveKey(cloud.TagCluster), id)
		}
	})

	It("never claims what carries another cloudlb cluster's tags, nor the target groups of a load balancer it does not claim", func() {
		layout := makeLBCStack(cluster, "ns1/web", backend, web)
		_, err := elbc.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{layout.lb}, Tags: []elbv2types.Tag{
			{Key: aws.String(cloud.TagCluster), Value: aws.String(cluster)}, {Key: aws.String(cloud.TagClusterID), Value: aws.String("another-uid")},
			{Key: aws.String(cloud.TagStack), Value: aws.String("ns1/web")}}})
		Expect(err).NotTo(HaveOccurred())
		before := map[string]map[string]string{}
		for _, arn := range layout.elbARNs() {
			before[arn] = tagsOf(arn)
		}
		p := newProvider(cluster, counter, adopting)
		st, err := p.Ensure(ctx, lbcModel("ns1/web", "", web), cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(st.ID).NotTo(Equal(layout.lb))
		Expect(st.Adopted).NotTo(ContainElement(ContainSubstring(":loadbalancer/")))
		Expect(st.Adopted).NotTo(ContainElement(ContainSubstring(":targetgroup/")))
		for arn, tags := range before {
			Expect(tagsOf(arn)).To(Equal(tags), arn)
		}
	})

	It("reads the tags again right before claiming: a load balancer listed with LBC's tags only, but claimed meanwhile by another cloudlb, stays as it is", func() {
		layout := makeLBCStack(cluster, "ns1/web", backend, web)
		_, err := elbc.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{layout.lb}, Tags: []elbv2types.Tag{
			{Key: aws.String(cloud.TagCluster), Value: aws.String(cluster)}, {Key: aws.String(cloud.TagClusterID), Value: aws.String("another-uid")},
			{Key: aws.String(cloud.TagStack), Value: aws.String("ns1/web")}}})
		Expect(err).NotTo(HaveOccurred())
		before := map[string]map[string]string{}
		for _, arn := range layout.elbARNs() {
			before[arn] = tagsOf(arn)
		}
		c := motoClients(counter.Middleware)
		lagging := &lbcOnlyTagging{Tagging: c.Tagging}
		c.Tagging = lagging
		o := providerOptions()
		adopting(&o)
		p := cloudaws.New(c, o)
		st, err := p.Ensure(ctx, lbcModel("ns1/web", "", web), cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(lagging.stripped).To(BeTrue(), "the takeover's listing showed LBC's tags only")
		Expect(st.ID).NotTo(Equal(layout.lb))
		Expect(st.Adopted).NotTo(ContainElement(ContainSubstring(":loadbalancer/")))
		Expect(st.Adopted).NotTo(ContainElement(ContainSubstring(":targetgroup/")))
		for arn, tags := range before {
			Expect(tagsOf(arn)).To(Equal(tags), arn)
		}
	})

	It("neither claims nor deletes an LBC stack when garbage collection deletes its stack key", func() {
		layout := makeLBCStack(cluster, "ns1/web", backend, web)
		before := map[string]map[string]string{}
		for _, arn := range layout.elbARNs() {
			before[arn] = tagsOf(arn)
		}
		p := newProvider(cluster, counter, adopting)
		Expect(p.Delete(cloud.WithoutAdoption(ctx), "ns1/web", cloud.Known{})).To(Succeed())
		for arn, tags := range before {
			Expect(exists(arn)).To(BeTrue(), arn)
			Expect(tagsOf(arn)).To(Equal(tags), arn)
		}
		for _, id := range []string{layout.sg, backend} {
			out, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
			Expect(err).NotTo(HaveOccurred())
			Expect(sgTags(out.SecurityGroups[0])).NotTo(HaveKey(cloud.TagCluster), id)
		}
	})

	It("deletes exactly an LBC stack whose Ingress is deleted during the takeover", func() {
		implicit := makeLBCStack(cluster, "ns1/web", backend, web)
		explicit := makeLBCStack(cluster, "shop", backend, shopA, shopB)
		p := newProvider(cluster, counter, adopting)
		Eventually(func() error { return p.Delete(ctx, "ns1/web", cloud.Known{}) }).Should(Succeed())
		for _, arn := range implicit.elbARNs() {
			Expect(exists(arn)).To(BeFalse(), arn)
		}
		Expect(sgExists(implicit.sg)).To(BeFalse())
		for _, arn := range explicit.elbARNs() {
			Expect(exists(arn)).To(BeTrue(), arn)
			Expect(tagsOf(arn)).NotTo(HaveKey(cloud.TagCluster), arn)
		}
		Expect(sgExists(explicit.sg)).To(BeTrue())
		Expect(sgExists(backend)).To(BeTrue())
	})
})

// lbcOnlyTagging is a tagging API that, asked by LBC's stack key, lists resources without cloudlb's tags, as AWS's
// eventually consistent one may for a while after another cloudlb claimed them.
type lbcOnlyTagging struct {
	cloudaws.Tagging
	stripped bool
}

func (t *lbcOnlyTagging) GetResources(ctx context.Context, in *resourcegroupstaggingapi.GetResourcesInput,
	opts ...func(*resourcegroupstaggingapi.Options)) (*resourcegroupstaggingapi.GetResourcesOutput, error) {
	out, err := t.Tagging.GetResources(ctx, in, opts...)
	if err != nil || !slices.ContainsFunc(in.TagFilters, func(f taggingtypes.TagFilter) bool { return aws.ToString(f.Key) == "ingress.k8s.aws/stack" }) {
		return out, err
	}
	for i, m := range out.ResourceTagMappingList {
		out.ResourceTagMappingList[i].Tags = slices.DeleteFunc(slices.Clone(m.Tags), func(tag taggingtypes.Tag) bool {
			strip := strings.HasPrefix(aws.ToString(tag.Key), "cloudlb.io/")
			t.stripped = t.stripped || strip
			return strip
		})
	}
	return out, nil
}
