package aws_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"github.com/aws/aws-sdk-go-v2/service/shield"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

// hostsModel is model(stack, paths...) served on each of hosts, host by host as an Ingress lists them.
func hostsModel(stack string, hosts []string, paths ...string) *cloud.LoadBalancer {
	lb := model(stack, paths...)
	byPath := lb.Listeners[0].Rules
	lb.Listeners[0].Rules = nil
	for _, h := range hosts {
		for _, r := range byPath {
			r.Conditions = append([]cloud.Condition{{Type: cloud.ConditionHost, Values: []string{h}}}, r.Conditions...)
			lb.Listeners[0].Rules = append(lb.Listeners[0].Rules, r)
		}
	}
	return lb
}

// albGlob matches an ALB wildcard pattern: * any run of characters, ? one.
func albGlob(pattern, s string, fold bool) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	if fold {
		re = "(?i)" + re
	}
	return regexp.MustCompile(re).MatchString(s)
}

// route is where the listener's rules, as the cloud holds them, send a request: the resource ID of the target
// group of the first rule that matches it by priority (host and path conditions), or "404".
func route(listenerARN, host, path string) string {
	GinkgoHelper()
	for _, r := range sortedRules(listenerARN) {
		if !slices.ContainsFunc(conditionValues(r, "host-header"), func(v string) bool { return albGlob(v, host, true) }) &&
			conditionValues(r, "host-header") != nil {
			continue
		}
		if !slices.ContainsFunc(conditionValues(r, "path-pattern"), func(v string) bool { return albGlob(v, path, false) }) {
			continue
		}
		return tagsOf(aws.ToString(r.Actions[0].ForwardConfig.TargetGroups[0].TargetGroupArn))[cloud.TagResource]
	}
	return "404"
}

// routes maps "host path" to route for every host and path given.
func routes(listenerARN string, hosts, paths []string) map[string]string {
	GinkgoHelper()
	out := map[string]string{}
	for _, h := range hosts {
		for _, p := range paths {
			out[h+" "+p] = route(listenerARN, h, p)
		}
	}
	return out
}

// tgID is the resource ID model gives the target group of path.
func tgID(stack, path string) string {
	return cloud.TagValue(stack + "/web-" + strings.Trim(strings.ReplaceAll(path, "/", "-"), "-") + ":80")
}

// routeWatchingELB passes every call to moto and, after each rule write, checks where requests go: a request
// in watch that goes to no rule (404) is recorded in gaps.
type routeWatchingELB struct {
	cloudaws.ELBV2
	mu       sync.Mutex
	listener string
	hosts    []string
	paths    []string
	gaps     []string
	writes   []string
}

func (e *routeWatchingELB) check(op string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.writes = append(e.writes, op)
	if e.listener == "" {
		return
	}
	for req, to := range routes(e.listener, e.hosts, e.paths) {
		if to == "404" {
			e.gaps = append(e.gaps, fmt.Sprintf("after write %d (%s): %s", len(e.writes), op, req))
		}
	}
}

func (e *routeWatchingELB) CreateRule(ctx context.Context, in *elbv2.CreateRuleInput, o ...func(*elbv2.Options)) (*elbv2.CreateRuleOutput, error) {
	out, err := e.ELBV2.CreateRule(ctx, in, o...)
	e.check("CreateRule")
	return out, err
}

func (e *routeWatchingELB) ModifyRule(ctx context.Context, in *elbv2.ModifyRuleInput, o ...func(*elbv2.Options)) (*elbv2.ModifyRuleOutput, error) {
	out, err := e.ELBV2.ModifyRule(ctx, in, o...)
	e.check("ModifyRule")
	return out, err
}

func (e *routeWatchingELB) DeleteRule(ctx context.Context, in *elbv2.DeleteRuleInput, o ...func(*elbv2.Options)) (*elbv2.DeleteRuleOutput, error) {
	out, err := e.ELBV2.DeleteRule(ctx, in, o...)
	e.check("DeleteRule")
	return out, err
}

func (e *routeWatchingELB) SetRulePriorities(ctx context.Context, in *elbv2.SetRulePrioritiesInput, o ...func(*elbv2.Options)) (*elbv2.SetRulePrioritiesOutput, error) {
	out, err := e.ELBV2.SetRulePriorities(ctx, in, o...)
	e.check("SetRulePriorities")
	return out, err
}

// unmerge rebuilds, by hand, the listener's rules one per host, in the same order and with the same tags, as
// cloudlb made them before it merged rules by host, and deletes the merged ones.
func unmerge(listenerARN string) {
	GinkgoHelper()
	ctx := context.Background()
	merged := sortedRules(listenerARN)
	priority := int32(100)
	var byHost [][]elbv2types.Rule
	for _, r := range merged {
		for i, h := range conditionValues(r, "host-header") {
			if i == len(byHost) {
				byHost = append(byHost, nil)
			}
			one := r
			one.Conditions = []elbv2types.RuleCondition{{Field: aws.String("host-header"),
				HostHeaderConfig: &elbv2types.HostHeaderConditionConfig{Values: []string{h}}},
				{Field: aws.String("path-pattern"), PathPatternConfig: &elbv2types.PathPatternConditionConfig{Values: conditionValues(r, "path-pattern")}}}
			byHost[i] = append(byHost[i], one)
		}
	}
	for _, rules := range byHost {
		for _, r := range rules {
			tags, err := elbc.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{*r.RuleArn}})
			Expect(err).NotTo(HaveOccurred())
			_, err = elbc.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: aws.String(listenerARN), Priority: aws.Int32(priority),
				Conditions: r.Conditions, Actions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward,
					ForwardConfig: &elbv2types.ForwardActionConfig{TargetGroups: []elbv2types.TargetGroupTuple{
						{TargetGroupArn: r.Actions[0].ForwardConfig.TargetGroups[0].TargetGroupArn, Weight: aws.Int32(1)}}}}},
				Tags: tags.TagDescriptions[0].Tags})
			Expect(err).NotTo(HaveOccurred())
			priority++
		}
	}
	for _, r := range merged {
		_, err := elbc.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: r.RuleArn})
		Expect(err).NotTo(HaveOccurred())
	}
}

var _ = Describe("Rules merged by host", func() {
	var (
		ctx     context.Context
		counter *test.CallCounter
		elb     *routeWatchingELB
		p       *cloudaws.Provider
	)
	const stack = "default/web"
	hosts := []string{"a.example.com", "b.example.com"}
	paths := []string{"/p0", "/p1", "/p2"}
	requests := []string{"/p0", "/p0/x", "/p1", "/p2/y/z", "/p3", "/"}

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		elb = &routeWatchingELB{}
		cfg := awsCfg.Copy()
		cfg.APIOptions = append(cfg.APIOptions, counter.Middleware)
		elb.ELBV2 = elbv2.NewFromConfig(cfg)
		p = cloudaws.New(cloudaws.Clients{ELBV2: elb, EC2: ec2.NewFromConfig(cfg), ACM: acm.NewFromConfig(cfg),
			Tagging: resourcegroupstaggingapi.NewFromConfig(cfg), WAFv2: wafv2.NewFromConfig(cfg), Shield: shield.NewFromConfig(cfg)},
			cloudaws.Options{ClusterName: cluster, ClusterID: clusterID, VPCID: vpcID})
	})

	ensure := func(lb *cloud.LoadBalancer) {
		GinkgoHelper()
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
	}
	// expected is where the model sends each request: a path of the model on one of served, to its group.
	expected := func(served, hosts []string, modelPaths ...string) map[string]string {
		out := map[string]string{}
		for _, h := range hosts {
			for _, r := range requests {
				out[h+" "+r] = "404"
				for _, mp := range modelPaths {
					if slices.Contains(served, h) && (r == mp || strings.HasPrefix(r, mp+"/")) {
						out[h+" "+r] = tgID(stack, mp)
					}
				}
			}
		}
		return out
	}

	It("creates 3 rules of 2 hosts each for 2 hosts x 3 paths, serving every route as the model does", func() {
		ensure(hostsModel(stack, hosts, paths...))
		Expect(counter.Counts()["CreateRule"]).To(Equal(3))
		l := *listenerOn(stack, 80).ListenerArn
		rules := sortedRules(l)
		Expect(rules).To(HaveLen(3))
		for i, r := range rules {
			Expect(conditionValues(r, "host-header")).To(Equal(hosts))
			Expect(conditionValues(r, "path-pattern")).To(Equal([]string{paths[i], paths[i] + "/*"}))
		}
		all := append(slices.Clone(hosts), "c.example.com")
		Expect(routes(l, all, requests)).To(Equal(expected(hosts, all, paths...)))

		By("making no write the next time")
		counter.Reset()
		ensure(hostsModel(stack, hosts, paths...))
		Expect(counter.Mutating()).To(BeEmpty())
	})

	It("does not merge rules where another rule between them could take the later one's requests", func() {
		lb := hostsModel(stack, []string{"a.example.com"}, "/p0")
		wild := model(stack, "/p1")
		lb.TargetGroups = append(lb.TargetGroups, wild.TargetGroups...)
		// *.example.com/p0 goes to the /p1 group: between a.example.com/p0 and b.example.com/p0, it takes
		// b.example.com's requests, which a merged a.example.com,b.example.com/p0 rule above it would take instead.
		between := hostsModel(stack, []string{"*.example.com"}, "/p0").Listeners[0].Rules[0]
		between.Action = wild.Listeners[0].Rules[0].Action
		last := hostsModel(stack, []string{"b.example.com"}, "/p0").Listeners[0].Rules[0]
		lb.Listeners[0].Rules = append(lb.Listeners[0].Rules, between, last)
		ensure(lb)
		l := *listenerOn(stack, 80).ListenerArn
		Expect(sortedRules(l)).To(HaveLen(3))
		Expect(ruleHosts(stack)).To(Equal([]string{"a.example.com", "*.example.com", "b.example.com"}))
		Expect(route(l, "a.example.com", "/p0")).To(Equal(tgID(stack, "/p0")))
		Expect(route(l, "b.example.com", "/p0/x")).To(Equal(tgID(stack, "/p1")))
		Expect(route(l, "c.example.com", "/p0")).To(Equal(tgID(stack, "/p1")))
	})

	It("keeps rules made one per host with no write, and converges a change make before break", func() {
		ensure(hostsModel(stack, hosts, paths...))
		l := *listenerOn(stack, 80).ListenerArn
		unmerge(l)
		Expect(sortedRules(l)).To(HaveLen(6))
		kept := sortedRules(l)

		counter.Reset()
		ensure(hostsModel(stack, hosts, paths...))
		Expect(counter.Mutating()).To(BeEmpty())
		Expect(sortedRules(l)).To(Equal(kept))

		By("adding a third host: every rule changes, so each path gets one merged rule before its old ones go")
		three := append(slices.Clone(hosts), "c.example.com")
		elb.listener, elb.hosts, elb.paths, elb.writes = l, hosts, requests[:4], nil
		counter.Reset()
		ensure(hostsModel(stack, three, paths...))
		Expect(elb.gaps).To(BeEmpty(), "a request of a path kept went to no rule")
		Expect(counter.Counts()["CreateRule"]).To(Equal(3))
		Expect(counter.Counts()["DeleteRule"]).To(Equal(6))
		last := slices.Index(elb.writes, "CreateRule")
		for i, w := range elb.writes {
			if w == "CreateRule" {
				last = i
			}
		}
		Expect(slices.Index(elb.writes, "DeleteRule")).To(BeNumerically(">", last), "every create before any delete: %v", elb.writes)
		rules := sortedRules(l)
		Expect(rules).To(HaveLen(3))
		for _, r := range rules {
			Expect(conditionValues(r, "host-header")).To(Equal(three))
		}
		all := append(slices.Clone(three), "d.example.com")
		Expect(routes(l, all, requests)).To(Equal(expected(three, all, paths...)))

		By("then making no write")
		counter.Reset()
		ensure(hostsModel(stack, three, paths...))
		Expect(counter.Mutating()).To(BeEmpty())
	})

	It("takes over LBC's rules of 2 hosts x 1 path writing only tags, and then makes no write", func() {
		backend := makeLBCBackendSG(cluster)
		two := lbcMember{ns: "ns1", name: "two", paths: []lbcPath{{host: "a.example.com", path: "/x", svc: "web", port: 80},
			{host: "b.example.com", path: "/x", svc: "web", port: 80}}}
		layout := makeLBCStack(cluster, "ns1/two", backend, two)
		m := lbcModel("ns1/two", "", two)
		Expect(m.Listeners[0].Rules).To(HaveLen(2))
		Expect(m.Listeners[0].Rules[1].Action).To(Equal(m.Listeners[0].Rules[0].Action), "rules a fresh load balancer would merge")
		p := newProvider(cluster, counter, func(o *cloudaws.Options) { o.AdoptLBC, o.ManageBackendSecurityGroup = true, true })

		counter.Reset()
		st, err := p.Ensure(ctx, m, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		onlyTagWrites(counter)
		Expect(st.ID).To(Equal(layout.lb))
		counter.Reset()
		_, err = p.Ensure(ctx, m, cloud.Known{ID: st.ID})
		Expect(err).NotTo(HaveOccurred())
		Expect(counter.Mutating()).To(BeEmpty())
		var rules []string
		for _, r := range sortedRules(layout.listener) {
			rules = append(rules, *r.RuleArn)
		}
		Expect(rules).To(Equal(layout.rules), "LBC's rules are kept as they are")
	})
})
