package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	wafv2types "github.com/aws/aws-sdk-go-v2/service/wafv2/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/test"
)

// The corpus: realistic Ingress manifests, written in the style of the AWS Load Balancer Controller's
// documentation and of popular charts' ALB examples, each with what its load balancer must carry. Each one is
// applied as it is to the API server, served by the controller binary against moto, and must settle with no
// Warning Event and a load balancer that matches its expectation, read back through the AWS APIs. At the end,
// deleting every manifest deletes every resource cloudlb made, and the resources cloudlb did not make (the
// external target group, the certificate, the web ACL) are still there.

// corpusExpectation is what a manifest's load balancer must carry; fields left empty are not checked.
type corpusExpectation struct {
	Scheme           string            `json:"scheme"`
	LoadBalancerName string            `json:"loadBalancerName"`
	IPAddressType    string            `json:"ipAddressType"`
	Attributes       map[string]string `json:"attributes"`
	Tags             map[string]string `json:"tags"`
	WebACL           string            `json:"webACL"`
	InboundCIDRs     []string          `json:"inboundCIDRs"`
	Listeners        []struct {
		Port         int32             `json:"port"`
		Protocol     string            `json:"protocol"`
		Default      string            `json:"default"`
		SSLPolicy    string            `json:"sslPolicy"`
		Certificates int               `json:"certificates"`
		Attributes   map[string]string `json:"attributes"`
		// Rules are summaries (ruleSummary) in priority order; nil is not checked, [] means no rule.
		Rules *[]string `json:"rules"`
	} `json:"listeners"`
	// TargetGroups are the target groups cloudlb made for the load balancer, in any order.
	TargetGroups []corpusTargetGroup `json:"targetGroups"`
}

type corpusTargetGroup struct {
	Protocol                   string            `json:"protocol"`
	ProtocolVersion            string            `json:"protocolVersion"`
	TargetType                 string            `json:"targetType"`
	Port                       int32             `json:"port"`
	HealthCheckProtocol        string            `json:"healthCheckProtocol"`
	HealthCheckPath            string            `json:"healthCheckPath"`
	HealthCheckIntervalSeconds int32             `json:"healthCheckIntervalSeconds"`
	HealthyThresholdCount      int32             `json:"healthyThresholdCount"`
	Matcher                    string            `json:"matcher"`
	GRPCCode                   string            `json:"grpcCode"`
	Attributes                 map[string]string `json:"attributes"`
	Tags                       map[string]string `json:"tags"`
}

var _ = Describe("The manifest corpus against moto", Ordered, ContinueOnFailure, func() {
	const cluster = "e2e-corpus"
	var (
		ctx      = context.Background()
		vars     map[string]string
		external string
		objects  = map[string][]*unstructured.Unstructured{}
	)
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.expect.yaml"))
	if err != nil || len(files) < 20 {
		panic(fmt.Sprintf("the corpus must have at least 20 manifests, found %d (%v)", len(files), err))
	}

	BeforeAll(func() {
		Expect(v1alpha1.AddToScheme(k8s.Scheme())).To(Succeed())
		var env []string
		for k, v := range moto.Credentials() {
			env = append(env, k+"="+v)
		}
		startController("corpus", env, "--cloud-provider=aws", "--aws-endpoint-url="+moto.URL, "--aws-region="+region,
			"--aws-vpc-id="+vpcID, "--cluster-name="+cluster, "--metrics-bind-address=0", "--health-probe-bind-address=0")

		// What the manifests refer to and cloudlb does not own: a certificate, a web ACL, a target group.
		cfg := elbc.Options()
		acmc := acm.New(acm.Options{Region: region, Credentials: cfg.Credentials, BaseEndpoint: aws.String(moto.URL)})
		cert, err := acmc.RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String("*.example.com")})
		Expect(err).NotTo(HaveOccurred())
		wafc := wafv2.New(wafv2.Options{Region: region, Credentials: cfg.Credentials, BaseEndpoint: aws.String(moto.URL)})
		acl, err := wafc.CreateWebACL(ctx, &wafv2.CreateWebACLInput{Name: aws.String("corpus-acl"), Scope: wafv2types.ScopeRegional,
			DefaultAction: &wafv2types.DefaultAction{Allow: &wafv2types.AllowAction{}},
			VisibilityConfig: &wafv2types.VisibilityConfig{CloudWatchMetricsEnabled: false, MetricName: aws.String("corpus"),
				SampledRequestsEnabled: false}})
		Expect(err).NotTo(HaveOccurred())
		tg, err := elbc.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("corpus-terraform-tg"),
			Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String(vpcID), TargetType: elbv2types.TargetTypeEnumIp})
		Expect(err).NotTo(HaveOccurred())
		external = aws.ToString(tg.TargetGroups[0].TargetGroupArn)
		vars = map[string]string{"CERT_ARN": aws.ToString(cert.CertificateArn), "WAF_ACL_ARN": aws.ToString(acl.Summary.ARN),
			"EXTERNAL_TG_ARN": external}
	})

	for _, expectFile := range files {
		name := strings.TrimSuffix(filepath.Base(expectFile), ".expect.yaml")
		It("serves "+name+" as its annotations ask", func() {
			raw, err := os.ReadFile(filepath.Join("testdata", "corpus", name+".yaml"))
			Expect(err).NotTo(HaveOccurred())
			objs, err := test.DecodeYAML([]byte(os.Expand(string(raw), func(k string) string { return vars[k] })))
			Expect(err).NotTo(HaveOccurred())
			rawExpect, err := os.ReadFile(expectFile)
			Expect(err).NotTo(HaveOccurred())
			var want corpusExpectation
			Expect(yaml.UnmarshalStrict([]byte(os.Expand(string(rawExpect), func(k string) string { return vars[k] })), &want)).To(Succeed())

			// Ingresses last, as `kubectl apply` of a directory sorted by kind would: a Service created after its
			// Ingress is a transient ServiceNotFound Warning, which is right but not what the corpus checks.
			slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
				return cmpBool(a.GetKind() == "Ingress", b.GetKind() == "Ingress")
			})
			var ingresses []client.ObjectKey
			for _, o := range objs {
				if ns := o.GetNamespace(); ns != "" {
					err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
					Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
				}
				Expect(k8s.Create(ctx, o)).To(Succeed(), "%s %s", o.GetKind(), o.GetName())
				if o.GetKind() == "Ingress" {
					ingresses = append(ingresses, client.ObjectKeyFromObject(o))
				}
			}
			objects[name] = objs

			// Every Ingress gets the DNS name of the same load balancer.
			var dns string
			for _, key := range ingresses {
				Eventually(func(g Gomega) {
					ing := &networkingv1.Ingress{}
					g.Expect(k8s.Get(ctx, key, ing)).To(Succeed())
					g.Expect(ing.Status.LoadBalancer.Ingress).To(HaveLen(1), "no address yet; warnings: %v", warnings(ctx, key))
					host := ing.Status.LoadBalancer.Ingress[0].Hostname
					g.Expect(host).NotTo(BeEmpty())
					if dns == "" {
						dns = host
					}
					g.Expect(host).To(Equal(dns), "the members of a group share one load balancer")
				}).Should(Succeed())
			}
			// Settled, with nothing to warn about: every annotation was understood and honoured.
			Eventually(func(g Gomega) {
				g.Expect(settled(ctx, ingresses)).To(BeTrue())
			}).Should(Succeed())
			for _, key := range ingresses {
				Expect(warnings(ctx, key)).To(BeEmpty(), "Warning Events of %s", key)
			}
			checkLoadBalancer(ctx, dns, want, external)
		})
	}

	It("deletes everything it made, and nothing else, when the manifests go", func() {
		for _, objs := range objects {
			for _, o := range objs {
				if o.GetKind() == "Ingress" {
					Expect(client.IgnoreNotFound(k8s.Delete(ctx, o))).To(Succeed())
				}
			}
		}
		Eventually(func(g Gomega) {
			arns, err := owned(ctx, cluster)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(arns).To(BeEmpty())
		}).WithTimeout(2 * corpusTimeout).Should(Succeed())
		out, err := elbc.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{external}})
		Expect(err).NotTo(HaveOccurred())
		Expect(out.TargetGroups).To(HaveLen(1), "the target group cloudlb did not make is still there")
		tags, err := elbc.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{external}})
		Expect(err).NotTo(HaveOccurred())
		Expect(tags.TagDescriptions[0].Tags).To(BeEmpty(), "cloudlb never tags what it does not own")
	})
})

// corpusTimeout bounds the clean-up, which waits for one load balancer deletion per manifest.
const corpusTimeout = time.Minute

// settled says that a LoadBalancer record is Ready and reports every Ingress applied, so that a Warning the
// controller emits after its first apply is not missed.
func settled(ctx context.Context, ingresses []client.ObjectKey) bool {
	list := &v1alpha1.LoadBalancerList{}
	if err := k8s.List(ctx, list); err != nil {
		return false
	}
	for _, rec := range list.Items {
		if !meta.IsStatusConditionTrue(rec.Status.Conditions, "Ready") {
			continue
		}
		applied := 0
		for _, key := range ingresses {
			for _, m := range rec.Status.Members {
				if m.Name == key.String() && m.Applied {
					applied++
				}
			}
		}
		if applied == len(ingresses) {
			return true
		}
	}
	return false
}

// warnings returns the reasons and notes of the Warning Events about an Ingress.
func warnings(ctx context.Context, key client.ObjectKey) []string {
	list := &eventsv1.EventList{}
	if err := k8s.List(ctx, list, client.InNamespace(key.Namespace)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return []string{err.Error()}
	}
	var out []string
	for _, e := range list.Items {
		if e.Type == corev1.EventTypeWarning && e.Regarding.Kind == "Ingress" && e.Regarding.Name == key.Name {
			out = append(out, e.Reason+": "+e.Note)
		}
	}
	return out
}

// checkLoadBalancer reads the load balancer with the DNS name through the ELBv2, EC2 and WAFv2 APIs and compares
// it with want.
func checkLoadBalancer(ctx context.Context, dns string, want corpusExpectation, external string) {
	GinkgoHelper()
	var lb *elbv2types.LoadBalancer
	p := elbv2.NewDescribeLoadBalancersPaginator(elbc, &elbv2.DescribeLoadBalancersInput{})
	for p.HasMorePages() && lb == nil {
		page, err := p.NextPage(ctx)
		Expect(err).NotTo(HaveOccurred())
		for i := range page.LoadBalancers {
			if aws.ToString(page.LoadBalancers[i].DNSName) == dns {
				lb = &page.LoadBalancers[i]
			}
		}
	}
	Expect(lb).NotTo(BeNil(), "no load balancer named %s", dns)
	arn := aws.ToString(lb.LoadBalancerArn)
	if want.Scheme != "" {
		Expect(string(lb.Scheme)).To(Equal(want.Scheme))
	}
	if want.LoadBalancerName != "" {
		Expect(aws.ToString(lb.LoadBalancerName)).To(Equal(want.LoadBalancerName))
	}
	if want.IPAddressType != "" {
		Expect(string(lb.IpAddressType)).To(Equal(want.IPAddressType))
	}
	if len(want.Attributes) > 0 {
		out, err := elbc.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: &arn})
		Expect(err).NotTo(HaveOccurred())
		have := map[string]string{}
		for _, a := range out.Attributes {
			have[aws.ToString(a.Key)] = aws.ToString(a.Value)
		}
		for k, v := range want.Attributes {
			Expect(have).To(HaveKeyWithValue(k, v))
		}
	}
	if len(want.Tags) > 0 {
		Expect(tagsOf(ctx, arn)).To(SatisfyAll(haveAll(want.Tags)...))
	}
	if want.WebACL != "" {
		cfg := elbc.Options()
		wafc := wafv2.New(wafv2.Options{Region: region, Credentials: cfg.Credentials, BaseEndpoint: aws.String(moto.URL)})
		out, err := wafc.GetWebACLForResource(ctx, &wafv2.GetWebACLForResourceInput{ResourceArn: &arn})
		Expect(err).NotTo(HaveOccurred())
		Expect(out.WebACL).NotTo(BeNil())
		Expect(aws.ToString(out.WebACL.ARN)).To(Equal(want.WebACL))
	}
	if len(want.InboundCIDRs) > 0 {
		out, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: lb.SecurityGroups})
		Expect(err).NotTo(HaveOccurred())
		var cidrs []string
		for _, g := range out.SecurityGroups {
			for _, perm := range g.IpPermissions {
				for _, r := range perm.IpRanges {
					if !slices.Contains(cidrs, aws.ToString(r.CidrIp)) {
						cidrs = append(cidrs, aws.ToString(r.CidrIp))
					}
				}
			}
		}
		slices.Sort(cidrs)
		Expect(cidrs).To(Equal(want.InboundCIDRs))
	}

	listeners, err := elbc.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: &arn})
	Expect(err).NotTo(HaveOccurred())
	var ports []string
	for _, l := range listeners.Listeners {
		ports = append(ports, fmt.Sprintf("%s:%d", l.Protocol, aws.ToInt32(l.Port)))
	}
	var wantPorts []string
	for _, l := range want.Listeners {
		wantPorts = append(wantPorts, fmt.Sprintf("%s:%d", l.Protocol, l.Port))
	}
	Expect(ports).To(ConsistOf(wantPorts))
	for _, wl := range want.Listeners {
		var l elbv2types.Listener
		for _, have := range listeners.Listeners {
			if aws.ToInt32(have.Port) == wl.Port {
				l = have
			}
		}
		what := fmt.Sprintf("listener %d", wl.Port)
		if wl.Default != "" {
			Expect(actionSummary(l.DefaultActions)).To(Equal(wl.Default), what)
		}
		if wl.SSLPolicy != "" {
			Expect(aws.ToString(l.SslPolicy)).To(Equal(wl.SSLPolicy), what)
		}
		if wl.Certificates > 0 {
			Expect(l.Certificates).To(HaveLen(wl.Certificates), what)
		}
		if len(wl.Attributes) > 0 {
			out, err := elbc.DescribeListenerAttributes(ctx, &elbv2.DescribeListenerAttributesInput{ListenerArn: l.ListenerArn})
			Expect(err).NotTo(HaveOccurred())
			have := map[string]string{}
			for _, a := range out.Attributes {
				have[aws.ToString(a.Key)] = aws.ToString(a.Value)
			}
			Expect(have).To(SatisfyAll(haveAll(wl.Attributes)...), what)
		}
		if wl.Rules != nil {
			out, err := elbc.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn})
			Expect(err).NotTo(HaveOccurred())
			rules := slices.DeleteFunc(out.Rules, func(r elbv2types.Rule) bool { return aws.ToBool(r.IsDefault) })
			slices.SortFunc(rules, func(a, b elbv2types.Rule) int {
				pa, _ := strconv.Atoi(aws.ToString(a.Priority))
				pb, _ := strconv.Atoi(aws.ToString(b.Priority))
				return pa - pb
			})
			summaries := []string{}
			for _, r := range rules {
				summaries = append(summaries, ruleSummary(r))
			}
			Expect(summaries).To(Equal(*wl.Rules), what)
		}
	}

	tgs, err := elbc.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: &arn})
	Expect(err).NotTo(HaveOccurred())
	ours := slices.DeleteFunc(tgs.TargetGroups, func(tg elbv2types.TargetGroup) bool { return aws.ToString(tg.TargetGroupArn) == external })
	Expect(ours).To(HaveLen(len(want.TargetGroups)), "target groups of the load balancer")
	used := map[int]bool{}
	for _, wtg := range want.TargetGroups {
		found := false
		for i, tg := range ours {
			if !used[i] && targetGroupMatches(ctx, tg, wtg) {
				used[i], found = true, true
				break
			}
		}
		Expect(found).To(BeTrue(), "no target group like %+v among %s", wtg, describeTGs(ours))
	}
}

func targetGroupMatches(ctx context.Context, tg elbv2types.TargetGroup, want corpusTargetGroup) bool {
	GinkgoHelper()
	matcher := func() (http, grpc string) {
		if tg.Matcher == nil {
			return "", ""
		}
		return aws.ToString(tg.Matcher.HttpCode), aws.ToString(tg.Matcher.GrpcCode)
	}
	http, grpc := matcher()
	checks := []bool{
		want.Protocol == "" || string(tg.Protocol) == want.Protocol,
		want.ProtocolVersion == "" || aws.ToString(tg.ProtocolVersion) == want.ProtocolVersion,
		want.TargetType == "" || string(tg.TargetType) == want.TargetType,
		want.Port == 0 || aws.ToInt32(tg.Port) == want.Port,
		want.HealthCheckProtocol == "" || string(tg.HealthCheckProtocol) == want.HealthCheckProtocol,
		want.HealthCheckPath == "" || aws.ToString(tg.HealthCheckPath) == want.HealthCheckPath,
		want.HealthCheckIntervalSeconds == 0 || aws.ToInt32(tg.HealthCheckIntervalSeconds) == want.HealthCheckIntervalSeconds,
		want.HealthyThresholdCount == 0 || aws.ToInt32(tg.HealthyThresholdCount) == want.HealthyThresholdCount,
		want.Matcher == "" || http == want.Matcher,
		want.GRPCCode == "" || grpc == want.GRPCCode,
	}
	if slices.Contains(checks, false) {
		return false
	}
	if len(want.Attributes) > 0 {
		out, err := elbc.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: tg.TargetGroupArn})
		Expect(err).NotTo(HaveOccurred())
		have := map[string]string{}
		for _, a := range out.Attributes {
			have[aws.ToString(a.Key)] = aws.ToString(a.Value)
		}
		for k, v := range want.Attributes {
			if have[k] != v {
				return false
			}
		}
	}
	have := tagsOf(ctx, aws.ToString(tg.TargetGroupArn))
	for k, v := range want.Tags {
		if have[k] != v {
			return false
		}
	}
	return true
}

func describeTGs(tgs []elbv2types.TargetGroup) string {
	var parts []string
	for _, tg := range tgs {
		http, grpc := "", ""
		if tg.Matcher != nil {
			http, grpc = aws.ToString(tg.Matcher.HttpCode), aws.ToString(tg.Matcher.GrpcCode)
		}
		parts = append(parts, fmt.Sprintf("{%s %s %s port %d hc %s %s %s/%s}", tg.Protocol, aws.ToString(tg.ProtocolVersion), tg.TargetType,
			aws.ToInt32(tg.Port), tg.HealthCheckProtocol, aws.ToString(tg.HealthCheckPath), http, grpc))
	}
	return strings.Join(parts, " ")
}

func tagsOf(ctx context.Context, arn string) map[string]string {
	GinkgoHelper()
	out, err := elbc.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{arn}})
	Expect(err).NotTo(HaveOccurred())
	tags := map[string]string{}
	for _, d := range out.TagDescriptions {
		for _, t := range d.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return tags
}

func haveAll(m map[string]string) []OmegaMatcher {
	var out []OmegaMatcher
	for k, v := range m {
		out = append(out, HaveKeyWithValue(k, v))
	}
	return out
}

// ruleSummary is a rule as the expectations spell it: its conditions, sorted, then its actions.
func ruleSummary(r elbv2types.Rule) string {
	var conds []string
	for _, c := range r.Conditions {
		field := aws.ToString(c.Field)
		var values []string
		switch {
		case c.HostHeaderConfig != nil:
			values = c.HostHeaderConfig.Values
		case c.PathPatternConfig != nil:
			values = c.PathPatternConfig.Values
		case c.HttpHeaderConfig != nil:
			field += ":" + aws.ToString(c.HttpHeaderConfig.HttpHeaderName)
			values = c.HttpHeaderConfig.Values
		case c.HttpRequestMethodConfig != nil:
			values = c.HttpRequestMethodConfig.Values
		case c.QueryStringConfig != nil:
			for _, kv := range c.QueryStringConfig.Values {
				values = append(values, aws.ToString(kv.Key)+"="+aws.ToString(kv.Value))
			}
		case c.SourceIpConfig != nil:
			values = c.SourceIpConfig.Values
		default:
			values = c.Values
		}
		conds = append(conds, field+"="+strings.Join(values, ","))
	}
	slices.Sort(conds)
	return strings.TrimSpace(strings.Join(conds, " ") + " => " + actionSummary(r.Actions))
}

// actionSummary is the last action of a list (the one that answers): forward with its weights when there are
// several target groups, redirect with protocol, port, status and a host other than the request's, or a fixed
// response's status.
func actionSummary(actions []elbv2types.Action) string {
	if len(actions) == 0 {
		return ""
	}
	slices.SortFunc(actions, func(a, b elbv2types.Action) int { return int(aws.ToInt32(a.Order) - aws.ToInt32(b.Order)) })
	a := actions[len(actions)-1]
	switch a.Type {
	case elbv2types.ActionTypeEnumForward:
		if a.ForwardConfig == nil || len(a.ForwardConfig.TargetGroups) < 2 {
			return "forward"
		}
		var weights []int
		for _, t := range a.ForwardConfig.TargetGroups {
			weights = append(weights, int(aws.ToInt32(t.Weight)))
		}
		slices.Sort(weights)
		slices.Reverse(weights)
		return fmt.Sprintf("forward%v", strings.ReplaceAll(fmt.Sprint(weights), " ", ","))
	case elbv2types.ActionTypeEnumRedirect:
		r := a.RedirectConfig
		s := fmt.Sprintf("redirect:%s:%s:%s", aws.ToString(r.Protocol), aws.ToString(r.Port), r.StatusCode)
		if h := aws.ToString(r.Host); h != "#{host}" && h != "" {
			s += ":" + h
		}
		return s
	case elbv2types.ActionTypeEnumFixedResponse:
		return "fixed-response:" + aws.ToString(a.FixedResponseConfig.StatusCode)
	}
	return string(a.Type)
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
