package aws_test

import (
	"context"
	"slices"
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

// rememberingELB passes rule calls to moto and records the requests as the provider sent them. moto keeps
// neither regexValues (its validation reads Values) nor transforms, so it is sent regexes as plain values and no
// transforms, and DescribeRules gives back what AWS would: the regexes as regexValues, and the transforms.
type rememberingELB struct {
	cloudaws.ELBV2
	mu         sync.Mutex
	creates    []elbv2.CreateRuleInput
	modifies   []elbv2.ModifyRuleInput
	regex      map[string][]bool
	transforms map[string][]elbv2types.RuleTransform
}

func (e *rememberingELB) CreateRule(ctx context.Context, in *elbv2.CreateRuleInput, o ...func(*elbv2.Options)) (*elbv2.CreateRuleOutput, error) {
	e.mu.Lock()
	e.creates = append(e.creates, *in)
	e.mu.Unlock()
	sent := *in
	var flags []bool
	sent.Conditions, flags = regexAsValues(in.Conditions)
	sent.Transforms = nil
	out, err := e.ELBV2.CreateRule(ctx, &sent, o...)
	if err == nil {
		e.mu.Lock()
		arn := aws.ToString(out.Rules[0].RuleArn)
		e.regex[arn], e.transforms[arn] = flags, in.Transforms
		e.mu.Unlock()
	}
	return out, err
}

func (e *rememberingELB) ModifyRule(ctx context.Context, in *elbv2.ModifyRuleInput, o ...func(*elbv2.Options)) (*elbv2.ModifyRuleOutput, error) {
	e.mu.Lock()
	e.modifies = append(e.modifies, *in)
	e.mu.Unlock()
	sent := *in
	sent.Transforms, sent.ResetTransforms = nil, nil
	out, err := e.ELBV2.ModifyRule(ctx, &sent, o...)
	if err == nil {
		e.mu.Lock()
		arn := aws.ToString(in.RuleArn)
		switch {
		case aws.ToBool(in.ResetTransforms):
			delete(e.transforms, arn)
		case in.Transforms != nil:
			e.transforms[arn] = in.Transforms
		}
		e.mu.Unlock()
	}
	return out, err
}

func (e *rememberingELB) DescribeRules(ctx context.Context, in *elbv2.DescribeRulesInput, o ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error) {
	out, err := e.ELBV2.DescribeRules(ctx, in, o...)
	if err != nil {
		return out, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, r := range out.Rules {
		arn := aws.ToString(r.RuleArn)
		for j, isRegex := range e.regex[arn] {
			if !isRegex || j >= len(r.Conditions) {
				continue
			}
			c := &out.Rules[i].Conditions[j]
			switch {
			case c.HostHeaderConfig != nil:
				c.HostHeaderConfig.RegexValues, c.HostHeaderConfig.Values = c.HostHeaderConfig.Values, nil
			case c.PathPatternConfig != nil:
				c.PathPatternConfig.RegexValues, c.PathPatternConfig.Values = c.PathPatternConfig.Values, nil
			case c.HttpHeaderConfig != nil:
				c.HttpHeaderConfig.RegexValues, c.HttpHeaderConfig.Values = c.HttpHeaderConfig.Values, nil
			}
			c.Values = nil
		}
		out.Rules[i].Transforms = e.transforms[arn]
	}
	return out, nil
}

func regexAsValues(conds []elbv2types.RuleCondition) ([]elbv2types.RuleCondition, []bool) {
	out := make([]elbv2types.RuleCondition, len(conds))
	flags := make([]bool, len(conds))
	for i, c := range conds {
		out[i] = c
		switch {
		case c.HostHeaderConfig != nil && len(c.HostHeaderConfig.RegexValues) > 0:
			out[i].HostHeaderConfig = &elbv2types.HostHeaderConditionConfig{Values: c.HostHeaderConfig.RegexValues}
			flags[i] = true
		case c.PathPatternConfig != nil && len(c.PathPatternConfig.RegexValues) > 0:
			out[i].PathPatternConfig = &elbv2types.PathPatternConditionConfig{Values: c.PathPatternConfig.RegexValues}
			flags[i] = true
		case c.HttpHeaderConfig != nil && len(c.HttpHeaderConfig.RegexValues) > 0:
			out[i].HttpHeaderConfig = &elbv2types.HttpHeaderConditionConfig{HttpHeaderName: c.HttpHeaderConfig.HttpHeaderName,
				Values: c.HttpHeaderConfig.RegexValues}
			flags[i] = true
		}
	}
	return out, flags
}

func (e *rememberingELB) lastCreate(path string) elbv2.CreateRuleInput {
	GinkgoHelper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.creates) - 1; i >= 0; i-- {
		for _, c := range e.creates[i].Conditions {
			if c.PathPatternConfig != nil && slices.Contains(slices.Concat(c.PathPatternConfig.Values, c.PathPatternConfig.RegexValues), path) {
				return e.creates[i]
			}
		}
	}
	Fail("no CreateRule for path " + path)
	return elbv2.CreateRuleInput{}
}

var _ = Describe("Routing rules", func() {
	const stack = "default/web"
	var (
		ctx     context.Context
		counter *test.CallCounter
		elb     *rememberingELB
		p       *cloudaws.Provider
	)

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		elb = &rememberingELB{regex: map[string][]bool{}, transforms: map[string][]elbv2types.RuleTransform{}}
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
	// stable applies lb again and expects no write: the plan reads back what it wrote as equal.
	stable := func(lb *cloud.LoadBalancer) {
		GinkgoHelper()
		counter.Reset()
		ensure(lb)
		Expect(counter.Mutating()).To(BeEmpty())
	}
	// withRules is model's two target groups (/a and /b) with rules replacing model's.
	withRules := func(rules ...cloud.Rule) *cloud.LoadBalancer {
		lb := model(stack, "/a", "/b")
		lb.Listeners[0].Rules = rules
		return lb
	}
	exact := func(p string) cloud.Condition {
		return cloud.Condition{Type: cloud.ConditionPath, PathMatch: cloud.PathExact, Values: []string{p}}
	}
	tgA, tgB := stack+"/web-a:80", stack+"/web-b:80"
	rulesOf := func() []elbv2types.Rule {
		GinkgoHelper()
		l := listenerOn(stack, 80)
		rules, err := elb.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn})
		Expect(err).NotTo(HaveOccurred())
		out := sortedRules(aws.ToString(l.ListenerArn))
		for i := range out {
			for _, r := range rules.Rules {
				if aws.ToString(r.RuleArn) == aws.ToString(out[i].RuleArn) {
					out[i] = r
				}
			}
		}
		return out
	}
	arnOf := func(id string) string {
		GinkgoHelper()
		for _, tg := range ownedTargetGroups(stack) {
			if tagsOf(aws.ToString(tg.TargetGroupArn))[cloud.TagResource] == cloud.TagValue(id) {
				return aws.ToString(tg.TargetGroupArn)
			}
		}
		Fail("no target group " + id)
		return ""
	}

	It("writes fixed-response, redirect and weighted forward actions with stickiness", func() {
		lb := withRules(
			cloud.Rule{Conditions: []cloud.Condition{exact("/503")}, Action: cloud.Action{Type: cloud.ActionFixedResponse,
				FixedResponse: &cloud.FixedResponse{StatusCode: 503, ContentType: "text/plain", Body: "503 error text"}}},
			cloud.Rule{Conditions: []cloud.Condition{exact("/eks")}, Action: cloud.Action{Type: cloud.ActionRedirect,
				Redirect: &cloud.Redirect{Host: "aws.amazon.com", Path: "/eks/", Port: "443", Protocol: "HTTPS", Query: "k=v", StatusCode: 302}}},
			cloud.Rule{Conditions: []cloud.Condition{exact("/split")}, Action: cloud.Action{Type: cloud.ActionForward, Stickiness: 200,
				Forward: []cloud.WeightedTargetGroup{{TargetGroupID: tgA, Weight: 20}, {TargetGroupID: tgB, Weight: 80}}}})
		ensure(lb)
		rules := rulesOf()
		Expect(rules).To(HaveLen(3))

		f := rules[0].Actions[0].FixedResponseConfig
		Expect([]string{aws.ToString(f.StatusCode), aws.ToString(f.ContentType), aws.ToString(f.MessageBody)}).To(
			Equal([]string{"503", "text/plain", "503 error text"}))
		r := rules[1].Actions[0].RedirectConfig
		Expect([]string{aws.ToString(r.Host), aws.ToString(r.Path), aws.ToString(r.Port), aws.ToString(r.Protocol), aws.ToString(r.Query),
			string(r.StatusCode)}).To(Equal([]string{"aws.amazon.com", "/eks/", "443", "HTTPS", "k=v", "HTTP_302"}))
		fc := rules[2].Actions[0].ForwardConfig
		weights := map[string]int32{}
		for _, t := range fc.TargetGroups {
			weights[aws.ToString(t.TargetGroupArn)] = aws.ToInt32(t.Weight)
		}
		Expect(weights).To(Equal(map[string]int32{arnOf(tgA): 20, arnOf(tgB): 80}))
		Expect(aws.ToBool(fc.TargetGroupStickinessConfig.Enabled)).To(BeTrue())
		Expect(aws.ToInt32(fc.TargetGroupStickinessConfig.DurationSeconds)).To(BeEquivalentTo(200))
		stable(lb)

		By("turning stickiness off with one ModifyRule")
		lb.Listeners[0].Rules[2].Action.Stickiness = 0
		counter.Reset()
		ensure(lb)
		Expect(counter.Mutating()).To(Equal([]string{"ModifyRule"}))
		Expect(aws.ToBool(rulesOf()[2].Actions[0].ForwardConfig.TargetGroupStickinessConfig.Enabled)).To(BeFalse())
		stable(lb)
	})

	It("changes only the weights of a canary with exactly one ModifyRule", func() {
		canary := func(a, b int32) *cloud.LoadBalancer {
			return withRules(cloud.Rule{Conditions: []cloud.Condition{{Type: cloud.ConditionPath, PathMatch: cloud.PathPrefix, Values: []string{"/"}}},
				Action: cloud.Action{Type: cloud.ActionForward, Forward: []cloud.WeightedTargetGroup{{TargetGroupID: tgA, Weight: a}, {TargetGroupID: tgB, Weight: b}}}})
		}
		ensure(canary(100, 0))
		counter.Reset()
		ensure(canary(90, 10))
		Expect(counter.Mutating()).To(Equal([]string{"ModifyRule"}))
		weights := map[string]int32{}
		for _, t := range rulesOf()[0].Actions[0].ForwardConfig.TargetGroups {
			weights[aws.ToString(t.TargetGroupArn)] = aws.ToInt32(t.Weight)
		}
		Expect(weights).To(Equal(map[string]int32{arnOf(tgA): 90, arnOf(tgB): 10}))
		stable(canary(90, 10))
	})

	It("writes every condition type and reads each back as written", func() {
		fixed := cloud.Action{Type: cloud.ActionFixedResponse, FixedResponse: &cloud.FixedResponse{StatusCode: 200}}
		lb := withRules(
			cloud.Rule{Action: fixed, Conditions: []cloud.Condition{{Type: cloud.ConditionHost, Values: []string{"www.example.com", "anno.example.com"}}, exact("/p1")}},
			cloud.Rule{Action: fixed, Conditions: []cloud.Condition{exact("/p2"), {Type: cloud.ConditionPath, PathMatch: cloud.PathPattern, Values: []string{"/anno/p2"}}}},
			cloud.Rule{Action: fixed, Conditions: []cloud.Condition{exact("/p3"), {Type: cloud.ConditionHeader, HeaderName: "HeaderName", Values: []string{"V1", "V2"}}}},
			cloud.Rule{Action: fixed, Conditions: []cloud.Condition{exact("/p4"), {Type: cloud.ConditionMethod, Values: []string{"GET", "HEAD"}}}},
			cloud.Rule{Action: fixed, Conditions: []cloud.Condition{exact("/p5"), {Type: cloud.ConditionQuery, Query: []cloud.QueryMatch{{Key: "paramA", Value: "valueA1"}, {Value: "alone"}}}}},
			cloud.Rule{Action: fixed, Conditions: []cloud.Condition{exact("/p6"), {Type: cloud.ConditionSourceIP, Values: []string{"192.168.0.0/16", "172.16.0.0/16"}}}})
		ensure(lb)
		rules := rulesOf()
		Expect(rules).To(HaveLen(6))
		field := func(r elbv2types.Rule, f string) elbv2types.RuleCondition {
			for _, c := range r.Conditions {
				if aws.ToString(c.Field) == f {
					return c
				}
			}
			Fail("no " + f)
			return elbv2types.RuleCondition{}
		}
		Expect(field(rules[0], "host-header").HostHeaderConfig.Values).To(Equal([]string{"www.example.com", "anno.example.com"}))
		Expect(field(rules[1], "path-pattern").PathPatternConfig.Values).To(Equal([]string{"/p2", "/anno/p2"}))
		h := field(rules[2], "http-header").HttpHeaderConfig
		Expect(aws.ToString(h.HttpHeaderName)).To(Equal("HeaderName"))
		Expect(h.Values).To(Equal([]string{"V1", "V2"}))
		Expect(field(rules[3], "http-request-method").HttpRequestMethodConfig.Values).To(Equal([]string{"GET", "HEAD"}))
		q := field(rules[4], "query-string").QueryStringConfig.Values
		Expect(q).To(HaveLen(2))
		Expect([]string{aws.ToString(q[0].Key), aws.ToString(q[0].Value), aws.ToString(q[1].Value)}).To(Equal([]string{"paramA", "valueA1", "alone"}))
		Expect(q[1].Key).To(BeNil())
		Expect(field(rules[5], "source-ip").SourceIpConfig.Values).To(Equal([]string{"192.168.0.0/16", "172.16.0.0/16"}))
		stable(lb)
	})

	It("sends regex conditions and transforms, and modifies transforms in place", func() {
		rewrite := func(replace string) []cloud.Transform {
			return []cloud.Transform{{Type: cloud.TransformURL, Rewrites: []cloud.Rewrite{{Regex: `^/api/(.+)$`, Replace: replace}}},
				{Type: cloud.TransformHostHeader, Rewrites: []cloud.Rewrite{{Regex: `^(.+)\.example\.com$`, Replace: "$1.example.org"}}}}
		}
		fwd := cloud.Action{Type: cloud.ActionForward, Forward: []cloud.WeightedTargetGroup{{TargetGroupID: tgA, Weight: 1}}}
		lb := withRules(cloud.Rule{Action: fwd, Transforms: rewrite("/$1"), Conditions: []cloud.Condition{
			{Type: cloud.ConditionHost, Values: []string{`^(.+)\.Example\.com$`}, Regex: true},
			{Type: cloud.ConditionPath, PathMatch: cloud.PathPattern, Values: []string{`^/api/(.+)$`}, Regex: true},
			{Type: cloud.ConditionHeader, HeaderName: "User-Agent", Values: []string{".+Chrome.+"}, Regex: true}}})
		ensure(lb)
		sent := elb.lastCreate(`^/api/(.+)$`)
		conds := map[string]elbv2types.RuleCondition{}
		for _, c := range sent.Conditions {
			conds[aws.ToString(c.Field)] = c
		}
		Expect(conds["host-header"].HostHeaderConfig.RegexValues).To(Equal([]string{`^(.+)\.Example\.com$`}))
		Expect(conds["host-header"].HostHeaderConfig.Values).To(BeEmpty())
		Expect(conds["path-pattern"].PathPatternConfig.RegexValues).To(Equal([]string{`^/api/(.+)$`}))
		Expect(conds["http-header"].HttpHeaderConfig.RegexValues).To(Equal([]string{".+Chrome.+"}))
		Expect(sent.Transforms).To(HaveLen(2))
		Expect(sent.Transforms[0].Type).To(Equal(elbv2types.TransformTypeEnumUrlRewrite))
		Expect(aws.ToString(sent.Transforms[0].UrlRewriteConfig.Rewrites[0].Replace)).To(Equal("/$1"))
		Expect(aws.ToString(sent.Transforms[1].HostHeaderRewriteConfig.Rewrites[0].Replace)).To(Equal("$1.example.org"))
		stable(lb)

		By("changing a rewrite: one ModifyRule with the new transforms")
		lb.Listeners[0].Rules[0].Transforms = rewrite("/v2/$1")
		counter.Reset()
		ensure(lb)
		Expect(counter.Mutating()).To(Equal([]string{"ModifyRule"}))
		Expect(aws.ToString(elb.modifies[len(elb.modifies)-1].Transforms[0].UrlRewriteConfig.Rewrites[0].Replace)).To(Equal("/v2/$1"))
		stable(lb)

		By("removing the transforms: one ModifyRule that resets them")
		lb.Listeners[0].Rules[0].Transforms = nil
		counter.Reset()
		ensure(lb)
		Expect(counter.Mutating()).To(Equal([]string{"ModifyRule"}))
		Expect(aws.ToBool(elb.modifies[len(elb.modifies)-1].ResetTransforms)).To(BeTrue())
		stable(lb)
	})

	It("forwards to target groups it does not own, by ARN or name, and never touches them", func() {
		legacy := func(name string) string {
			out, err := elbc.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbv2types.ProtocolEnumHttp,
				Port: aws.Int32(80), VpcId: aws.String(vpcID), TargetType: elbv2types.TargetTypeEnumIp,
				Tags: []elbv2types.Tag{{Key: aws.String("owner"), Value: aws.String("legacy-team")}}})
			Expect(err).NotTo(HaveOccurred())
			return aws.ToString(out.TargetGroups[0].TargetGroupArn)
		}
		byARN, byName := legacy("legacy-by-arn"), legacy("legacy-by-name")
		lb := withRules(cloud.Rule{Conditions: []cloud.Condition{exact("/legacy")}, Action: cloud.Action{Type: cloud.ActionForward,
			Forward: []cloud.WeightedTargetGroup{{TargetGroupID: tgA, Weight: 50}, {External: byARN, Weight: 30}, {External: "legacy-by-name", Weight: 20}}}})
		ensure(lb)
		weights := map[string]int32{}
		for _, t := range rulesOf()[0].Actions[0].ForwardConfig.TargetGroups {
			weights[aws.ToString(t.TargetGroupArn)] = aws.ToInt32(t.Weight)
		}
		Expect(weights).To(Equal(map[string]int32{arnOf(tgA): 50, byARN: 30, byName: 20}))
		stable(lb)

		By("dropping them from the model: they stay, with their tags only")
		counter.Reset()
		ensure(withRules())
		for _, arn := range []string{byARN, byName} {
			Expect(tagsOf(arn)).To(Equal(map[string]string{"owner": "legacy-team"}))
		}
		Expect(counter.Counts()).NotTo(HaveKey("ModifyTargetGroup"))

		By("naming one that does not exist: refused before any write")
		counter.Reset()
		_, err := p.Ensure(ctx, withRules(cloud.Rule{Conditions: []cloud.Condition{exact("/x")}, Action: cloud.Action{Type: cloud.ActionForward,
			Forward: []cloud.WeightedTargetGroup{{External: "no-such-group", Weight: 1}}}}), cloud.Known{})
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "%v", err)
		Expect(err).To(MatchError(ContainSubstring("no-such-group")))
		Expect(counter.Mutating()).To(BeEmpty())

		By("naming a target group cloudlb manages for a stack: refused before any write")
		ensure(lb)
		counter.Reset()
		_, err = p.Ensure(ctx, withRules(cloud.Rule{Conditions: []cloud.Condition{exact("/x")}, Action: cloud.Action{Type: cloud.ActionForward,
			Forward: []cloud.WeightedTargetGroup{{External: arnOf(tgA), Weight: 1}}}}), cloud.Known{})
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "%v", err)
		Expect(err).To(MatchError(ContainSubstring("managed by cloudlb")))
		Expect(counter.Mutating()).To(BeEmpty())

		By("deleting the stack while its rules forward to them: they stay, with their tags only")
		Expect(p.Delete(ctx, stack, cloud.Known{})).To(Succeed())
		for _, arn := range []string{byARN, byName} {
			Expect(tagsOf(arn)).To(Equal(map[string]string{"owner": "legacy-team"}), "still there, untouched")
		}
	})
})
