package aws_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"github.com/aws/aws-sdk-go-v2/service/shield"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	wafv2types "github.com/aws/aws-sdk-go-v2/service/wafv2/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

// stubELB is moto's ELBv2 with what moto does not do: it refuses a rule past AWS's quota of 100 per load
// balancer (TooManyRules), and reports registered targets as initial (moto: healthy at once) unless their group
// is in healthy.
type stubELB struct {
	cloudaws.ELBV2
	mu      sync.Mutex
	healthy map[string]bool
	// rules counts the rules of each load balancer (see ruleCount).
	rules map[string]int
	// peak is the most rules a load balancer held after a CreateRule.
	peak int
	// tagLag is how many more DescribeTags of a load balancer answer LoadBalancerNotFound, as AWS may right
	// after its create.
	tagLag int
}

func (s *stubELB) DescribeTags(ctx context.Context, in *elbv2.DescribeTagsInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error) {
	s.mu.Lock()
	lag := s.tagLag > 0 && slices.ContainsFunc(in.ResourceArns, func(arn string) bool { return strings.Contains(arn, ":loadbalancer/") })
	if lag {
		s.tagLag--
	}
	s.mu.Unlock()
	if lag {
		return nil, &smithy.GenericAPIError{Code: "LoadBalancerNotFound", Message: "One or more load balancers not found"}
	}
	return s.ELBV2.DescribeTags(ctx, in, opts...)
}

func (s *stubELB) CreateRule(ctx context.Context, in *elbv2.CreateRuleInput, opts ...func(*elbv2.Options)) (*elbv2.CreateRuleOutput, error) {
	lb, err := s.ruleCount(ctx, aws.ToString(in.ListenerArn))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rules[lb] >= 100 {
		return nil, &smithy.GenericAPIError{Code: "TooManyRules", Message: "The load balancer has too many rules"}
	}
	out, err := s.ELBV2.CreateRule(ctx, in, opts...)
	if err == nil {
		s.rules[lb]++
		s.peak = max(s.peak, s.rules[lb])
	}
	return out, err
}

func (s *stubELB) DeleteRule(ctx context.Context, in *elbv2.DeleteRuleInput, opts ...func(*elbv2.Options)) (*elbv2.DeleteRuleOutput, error) {
	out, err := s.ELBV2.DeleteRule(ctx, in, opts...)
	if err == nil {
		s.mu.Lock()
		s.rules[lbOf(aws.ToString(in.RuleArn))]--
		s.mu.Unlock()
	}
	return out, err
}

// lbOf is the "app/<name>/<id>" part of a listener or rule ARN: its load balancer.
func lbOf(arn string) string {
	_, rest, _ := strings.Cut(arn, "/")
	parts := strings.SplitN(rest, "/", 4)
	return strings.Join(parts[:min(3, len(parts))], "/")
}

// ruleCount counts the rules of the listener's load balancer once, from moto; CreateRule and DeleteRule keep
// the count after that.
func (s *stubELB) ruleCount(ctx context.Context, listenerARN string) (string, error) {
	lb := lbOf(listenerARN)
	s.mu.Lock()
	_, known := s.rules[lb]
	s.mu.Unlock()
	if known {
		return lb, nil
	}
	l, err := s.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{listenerARN}})
	if err != nil {
		return "", err
	}
	all, err := s.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: l.Listeners[0].LoadBalancerArn})
	if err != nil {
		return "", err
	}
	n := 0
	for _, l := range all.Listeners {
		in := &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn}
		for {
			rules, err := s.DescribeRules(ctx, in)
			if err != nil {
				return "", err
			}
			for _, r := range rules.Rules {
				if !aws.ToBool(r.IsDefault) {
					n++
				}
			}
			if aws.ToString(rules.NextMarker) == "" {
				break
			}
			in.Marker = rules.NextMarker
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rules == nil {
		s.rules = map[string]int{}
	}
	s.rules[lb] = n
	return lb, nil
}

func (s *stubELB) DescribeTargetHealth(ctx context.Context, in *elbv2.DescribeTargetHealthInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error) {
	out, err := s.ELBV2.DescribeTargetHealth(ctx, in, opts...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		return out, err
	}
	health := &elbv2types.TargetHealth{State: elbv2types.TargetHealthStateEnumInitial}
	switch arn := aws.ToString(in.TargetGroupArn); {
	case !inUse(ctx, arn):
		// AWS health-checks no target group that no listener or rule forwards to.
		health = &elbv2types.TargetHealth{State: elbv2types.TargetHealthStateEnumUnused, Reason: elbv2types.TargetHealthReasonEnumNotInUse}
	case s.healthy[arn]:
		health = &elbv2types.TargetHealth{State: elbv2types.TargetHealthStateEnumHealthy}
	}
	for i, h := range out.TargetHealthDescriptions {
		if h.TargetHealth == nil || h.TargetHealth.State == elbv2types.TargetHealthStateEnumHealthy {
			out.TargetHealthDescriptions[i].TargetHealth = health
		}
	}
	return out, err
}

// inUse tells whether a listener's default action or a rule of any load balancer forwards to the target group
// arn (with any weight), read through the uncounted client: moto does not track it for modified rules.
func inUse(ctx context.Context, arn string) bool {
	lbs, err := elbc.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
	Expect(err).NotTo(HaveOccurred())
	uses := func(actions []elbv2types.Action) bool {
		for _, a := range actions {
			if aws.ToString(a.TargetGroupArn) == arn {
				return true
			}
			if a.ForwardConfig != nil && slices.ContainsFunc(a.ForwardConfig.TargetGroups, func(t elbv2types.TargetGroupTuple) bool {
				return aws.ToString(t.TargetGroupArn) == arn
			}) {
				return true
			}
		}
		return false
	}
	for _, lb := range lbs.LoadBalancers {
		ls, err := elbc.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: lb.LoadBalancerArn})
		Expect(err).NotTo(HaveOccurred())
		for _, l := range ls.Listeners {
			if uses(l.DefaultActions) || slices.ContainsFunc(allRules(aws.ToString(l.ListenerArn)), func(r elbv2types.Rule) bool { return uses(r.Actions) }) {
				return true
			}
		}
	}
	return false
}

func (s *stubELB) setHealthy(arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.healthy[arn] = true
}

// failingWAF refuses every association, as AWS does for a web ACL of another region or without permission.
type failingWAF struct{ cloudaws.WAFv2 }

func (failingWAF) AssociateWebACL(context.Context, *wafv2.AssociateWebACLInput, ...func(*wafv2.Options)) (*wafv2.AssociateWebACLOutput, error) {
	return nil, &smithy.GenericAPIError{Code: "WAFUnavailableEntityException", Message: "the web ACL is not available"}
}

// clock is a settable time for the provider's grace periods.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// stubbedProvider is a provider over moto whose ELBv2 client is elb and whose WAFv2 client is waf (nil: moto's).
func stubbedProvider(counter *test.CallCounter, elb *stubELB, waf cloudaws.WAFv2, now *clock, mw ...func(*middleware.Stack) error) *cloudaws.Provider {
	cfg := awsCfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, counter.Middleware)
	cfg.APIOptions = append(cfg.APIOptions, mw...)
	elb.ELBV2 = elbv2.NewFromConfig(cfg)
	if elb.healthy == nil {
		elb.healthy = map[string]bool{}
	}
	if waf == nil {
		waf = wafv2.NewFromConfig(cfg)
	}
	return cloudaws.New(cloudaws.Clients{ELBV2: elb, EC2: ec2.NewFromConfig(cfg), ACM: acm.NewFromConfig(cfg),
		Tagging: resourcegroupstaggingapi.NewFromConfig(cfg), WAFv2: waf, Shield: shield.NewFromConfig(cfg)},
		cloudaws.Options{ClusterName: cluster, VPCID: vpcID, Now: now.Now})
}

// hostRules gives lb n rules for host, /p0 to /p<n-1>, all to its first target group.
func hostRules(lb *cloud.LoadBalancer, host string, n int) *cloud.LoadBalancer {
	action := lb.Listeners[0].Rules[0].Action
	lb.Listeners[0].Rules = nil
	for i := range n {
		lb.Listeners[0].Rules = append(lb.Listeners[0].Rules, cloud.Rule{Action: action, Conditions: []cloud.Condition{
			{Type: cloud.ConditionHost, Values: []string{host}},
			{Type: cloud.ConditionPath, PathMatch: cloud.PathPrefix, Values: []string{fmt.Sprintf("/p%d", i)}}}})
	}
	return lb
}

var _ = Describe("Changes without traffic loss", func() {
	var (
		ctx     context.Context
		counter *test.CallCounter
		elb     *stubELB
		now     *clock
		p       *cloudaws.Provider
	)
	const stack = "default/web"

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		elb = &stubELB{}
		now = &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
		p = stubbedProvider(counter, elb, nil, now)
	})

	ensure := func(lb *cloud.LoadBalancer) cloud.Status {
		GinkgoHelper()
		st, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		return st
	}

	It("renames the host of 60 paths within the quota of 100 rules, each path without a rule for one call at most", func() {
		ensure(hostRules(model(stack, "/"), "old.example.com", 60))
		counter.Reset()
		ensure(hostRules(model(stack, "/"), "new.example.com", 60))
		Expect(elb.peak).To(Equal(100))
		var hosts []string
		for _, r := range allRules(*listenerOn(stack, 80).ListenerArn) {
			hosts = append(hosts, conditionValues(r, "host-header")...)
		}
		Expect(hosts).To(HaveLen(60))
		Expect(hosts).To(HaveEach("new.example.com"))
		calls := counter.Mutating()
		lastCreate := 0
		for i, c := range calls {
			if c == "CreateRule" {
				lastCreate = i
			}
		}
		early := 0
		for i, c := range calls[:lastCreate] {
			if c == "DeleteRule" {
				early++
				Expect(calls[i+1]).To(Equal("CreateRule"), "a delete is followed at once by the create that needed its room")
			}
		}
		Expect(early).To(Equal(20), "rules are deleted early only as far as the quota needs")
	})

	It("refuses, before any change, a model past a quota", func() {
		ensure(model(stack, "/"))
		counter.Reset()
		_, err := p.Ensure(ctx, hostRules(model(stack, "/"), "www.example.com", 101), cloud.Known{})
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("quota of 100 rules per load balancer"))
		Expect(counter.Mutating()).To(BeEmpty())
	})

	It("creates the rules that replace a default backend before changing the default action", func() {
		lb := model(stack, "/")
		lb.Listeners[0].DefaultAction = lb.Listeners[0].Rules[0].Action
		lb.Listeners[0].Rules = nil
		ensure(lb)
		counter.Reset()
		ensure(model(stack, "/"))
		calls := counter.Mutating()
		Expect(calls).To(ContainElements("CreateRule", "ModifyListener"))
		Expect(slices.Index(calls, "CreateRule")).To(BeNumerically("<", slices.Index(calls, "ModifyListener")))
	})

	It("waits, without calling it a conflict, for a new load balancer AWS cannot read yet", func() {
		elb.tagLag = 1
		_, err := p.Ensure(ctx, model(stack, "/"), cloud.Known{})
		Expect(cloud.IsPending(err)).To(BeTrue(), "got %v", err)
		Expect(ownedLoadBalancers(stack)).To(HaveLen(1))
		ensure(model(stack, "/"))
		Expect(ownedLoadBalancers(stack)).To(HaveLen(1))
	})

	It("refuses a web ACL or a certificate that does not exist, naming it, instead of waiting for it", func() {
		lb := model(stack, "/")
		lb.WAFv2ACL = aws.String("arn:aws:wafv2:us-east-1:123456789012:regional/webacl/missing/0000")
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring(*lb.WAFv2ACL))

		lb = model(stack, "/")
		missing := "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
		lb.Listeners[0].Protocol = cloud.ProtocolHTTPS
		lb.Listeners[0].Port = 443
		lb.Listeners[0].Certificates = []string{missing}
		_, err = p.Ensure(ctx, lb, cloud.Known{})
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring(missing))
	})

	It("gives a new load balancer no listener until its web ACL is associated", func() {
		wafc := wafv2.NewFromConfig(awsCfg)
		acl, err := wafc.CreateWebACL(ctx, &wafv2.CreateWebACLInput{Name: aws.String("acl"), Scope: wafv2types.ScopeRegional,
			DefaultAction:    &wafv2types.DefaultAction{Allow: &wafv2types.AllowAction{}},
			VisibilityConfig: &wafv2types.VisibilityConfig{MetricName: aws.String("acl")}})
		Expect(err).NotTo(HaveOccurred())
		lb := model(stack, "/")
		lb.WAFv2ACL = acl.Summary.ARN
		failing := stubbedProvider(counter, &stubELB{}, failingWAF{wafc}, now)
		_, err = failing.Ensure(ctx, lb, cloud.Known{})
		Expect(err).To(MatchError(ContainSubstring("web ACL")))
		Expect(counter.Counts()).NotTo(HaveKey("CreateListener"))
		lbs := ownedLoadBalancers(stack)
		Expect(lbs).To(HaveLen(1))
		Expect(listenersOf(*lbs[0].LoadBalancerArn)).To(BeEmpty())

		By("once the association works, the listeners follow it")
		_, err = failing.Ensure(ctx, lb, cloud.Known{})
		Expect(err).To(HaveOccurred())
		ensure(lb)
		Expect(listenersOf(*lbs[0].LoadBalancerArn)).To(HaveLen(1))
		calls := counter.Mutating()
		Expect(slices.Index(calls, "AssociateWebACL")).To(BeNumerically("<", slices.Index(calls, "CreateListener")))
	})

	It("replaces a renamed load balancer and deletes the old one only after the grace period, even across a restart", func() {
		first := ensure(model(stack, "/"))
		old := *ownedLoadBalancers(stack)[0].LoadBalancerArn
		renamed := model(stack, "/")
		renamed.Name = "web-renamed"
		st := ensure(renamed)
		Expect(st.DNSName).To(Equal(first.DNSName), "the Ingress stays on the old one while the new one provisions")
		Expect(st.ID).To(Equal(old))
		Expect(st.Pending).To(BeTrue())
		Expect(tagsOf(old)).NotTo(HaveKey(cloud.TagRetiredAt), "the grace period starts once the new one is active")

		By("once the new one is active, the Ingress moves to it and the old one is retired")
		now.Advance(time.Minute)
		lbs := ownedLoadBalancers(stack) // moto makes every load balancer active on a Describe
		Expect(lbs).To(HaveLen(2))
		st = ensure(renamed)
		Expect(st.DNSName).NotTo(Equal(first.DNSName))
		Expect(st.ID).NotTo(Equal(old))
		Expect(st.Pending).To(BeTrue())
		Expect(tagsOf(old)).To(HaveKeyWithValue(cloud.TagRetiredAt, now.Now().Format(time.RFC3339)))
		Expect(listenersOf(old)).To(HaveLen(1), "the old load balancer keeps serving")
		Expect(ownedSecurityGroups(stack)).To(HaveLen(2))
		tgs := ownedTargetGroups(stack)
		Expect(tgs).To(HaveLen(2))

		By("target syncs reach the old load balancer's group too")
		_, err := p.SyncTargets(ctx, stack, renamed.TargetGroups[0].ID, []cloud.Target{{ID: "10.0.0.9", Port: 8080}})
		Expect(err).NotTo(HaveOccurred())
		for _, tg := range tgs {
			Expect(targetsOf(*tg.TargetGroupArn)).To(ConsistOf("10.0.0.9"))
		}

		By("a restarted controller keeps counting from the tag")
		now.Advance(4*time.Minute + 59*time.Second)
		p = stubbedProvider(counter, &stubELB{}, nil, now)
		counter.Reset()
		st = ensure(renamed)
		Expect(st.Pending).To(BeTrue())
		Expect(counter.Mutating()).To(BeEmpty())

		By("after the grace period the old one goes, with its target groups and security group")
		now.Advance(time.Second)
		st = ensure(renamed)
		if st.Pending {
			st = ensure(renamed)
		}
		Expect(st.Pending).To(BeFalse())
		lbs = ownedLoadBalancers(stack)
		Expect(lbs).To(HaveLen(1))
		Expect(*lbs[0].DNSName).To(Equal(st.DNSName))
		Expect(ownedTargetGroups(stack)).To(HaveLen(1))
		Expect(ownedSecurityGroups(stack)).To(HaveLen(1))
	})

	It("refuses a scheme change under a fixed name, which would delete the serving load balancer first", func() {
		lb := model(stack, "/")
		ensure(lb)
		lb.Scheme = cloud.SchemeInternal
		counter.Reset()
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("change load-balancer-name together with scheme"))
		Expect(counter.Mutating()).To(BeEmpty())
		lbs := ownedLoadBalancers(stack)
		Expect(lbs).To(HaveLen(1))
		Expect(lbs[0].Scheme).To(Equal(elbv2types.LoadBalancerSchemeEnumInternetFacing))
	})

	It("switches rules to a replacement target group once it has a healthy target, even across a restart", func() {
		lb := model(stack, "/api")
		ensure(lb)
		old := *ownedTargetGroups(stack)[0].TargetGroupArn
		targets := []cloud.Target{{ID: "10.0.0.1", Port: 8080}, {ID: "10.0.0.2", Port: 8080}}
		_, err := p.SyncTargets(ctx, stack, lb.TargetGroups[0].ID, targets)
		Expect(err).NotTo(HaveOccurred())

		lb.TargetGroups[0].Protocol = cloud.ProtocolHTTPS
		st := ensure(lb)
		Expect(st.Pending).To(BeTrue())
		tgs := ownedTargetGroups(stack)
		Expect(tgs).To(HaveLen(2))
		replacement := *tgs[slices.IndexFunc(tgs, func(tg elbv2types.TargetGroup) bool { return *tg.TargetGroupArn != old })].TargetGroupArn
		Expect(targetsOf(replacement)).To(ConsistOf("10.0.0.1", "10.0.0.2"), "the new group has the old one's targets")
		forwardsTo := func() string {
			GinkgoHelper()
			return *sortedRules(*listenerOn(stack, 80).ListenerArn)[0].Actions[0].ForwardConfig.TargetGroups[0].TargetGroupArn
		}
		Expect(forwardsTo()).To(Equal(old), "the old group serves until the new one is healthy")
		Expect(sortedRules(*listenerOn(stack, 80).ListenerArn)[0].Actions[0].ForwardConfig.TargetGroups).To(ContainElement(
			elbv2types.TargetGroupTuple{TargetGroupArn: aws.String(replacement), Weight: aws.Int32(0)}),
			"the new group is in use at weight 0, so that AWS health-checks it")

		By("target syncs go to the new group at once")
		_, err = p.SyncTargets(ctx, stack, lb.TargetGroups[0].ID, targets[:1])
		Expect(err).NotTo(HaveOccurred())
		Expect(targetsOf(replacement)).To(ConsistOf("10.0.0.1"))
		Expect(targetsOf(old)).To(ConsistOf("10.0.0.1"), "and to the old one while it serves")

		By("a restarted controller still waits while the new group has no healthy target")
		now.Advance(time.Minute)
		restarted := &stubELB{}
		p = stubbedProvider(counter, restarted, nil, now)
		counter.Reset()
		Expect(ensure(lb).Pending).To(BeTrue())
		Expect(counter.Mutating()).To(BeEmpty())

		By("and switches once it has one, deleting the old group")
		restarted.setHealthy(replacement)
		st = ensure(lb)
		Expect(st.Pending).To(BeFalse())
		Expect(st.Warnings).To(BeEmpty())
		Expect(forwardsTo()).To(Equal(replacement))
		Expect(ownedTargetGroups(stack)).To(HaveLen(1))
	})

	It("syncs a restarted controller's targets into the current group of a replacement, never the replaced one", func() {
		lb := model(stack, "/api")
		ensure(lb)
		old := *ownedTargetGroups(stack)[0].TargetGroupArn
		lb.TargetGroups[0].Protocol = cloud.ProtocolHTTPS
		Expect(ensure(lb).Pending).To(BeTrue())
		tgs := ownedTargetGroups(stack)
		Expect(tgs).To(HaveLen(2))
		replacement := *tgs[slices.IndexFunc(tgs, func(tg elbv2types.TargetGroup) bool { return *tg.TargetGroupArn != old })].TargetGroupArn
		Expect(tagsOf(old)).To(HaveKey(cloud.TagRetiredAt))
		// Each restart has an empty cache and picks anew: a random pick would hit the old group soon.
		for i := range 6 {
			restarted := stubbedProvider(counter, &stubELB{}, nil, now)
			target := cloud.Target{ID: fmt.Sprintf("10.0.0.%d", i+1), Port: 8080}
			_, err := restarted.SyncTargets(ctx, stack, lb.TargetGroups[0].ID, []cloud.Target{target})
			Expect(err).NotTo(HaveOccurred())
			Expect(targetsOf(replacement)).To(ConsistOf(target.ID))
			Expect(targetsOf(old)).To(BeEmpty())
		}

		By("with neither group retired (a crash before the tag), the sync waits for Ensure to tell")
		_, err := elbc.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{old}, TagKeys: []string{cloud.TagRetiredAt}})
		Expect(err).NotTo(HaveOccurred())
		restarted := stubbedProvider(counter, &stubELB{}, nil, now)
		_, err = restarted.SyncTargets(ctx, stack, lb.TargetGroups[0].ID, []cloud.Target{{ID: "10.0.0.9", Port: 8080}})
		Expect(cloud.IsPending(err)).To(BeTrue(), "got %v", err)
	})

	It("fills a replacement target group left empty by a crash before the old group's targets were copied", func() {
		lb := model(stack, "/api")
		ensure(lb)
		old := *ownedTargetGroups(stack)[0].TargetGroupArn
		_, err := p.SyncTargets(ctx, stack, lb.TargetGroups[0].ID, []cloud.Target{{ID: "10.0.0.1", Port: 8080}})
		Expect(err).NotTo(HaveOccurred())
		lb.TargetGroups[0].Protocol = cloud.ProtocolHTTPS
		crashing := stubbedProvider(counter, &stubELB{}, nil, now, test.FailOperation("RegisterTargets", 100))
		_, err = crashing.Ensure(ctx, lb, cloud.Known{})
		Expect(err).To(HaveOccurred())
		tgs := ownedTargetGroups(stack)
		Expect(tgs).To(HaveLen(2))
		replacement := *tgs[slices.IndexFunc(tgs, func(tg elbv2types.TargetGroup) bool { return *tg.TargetGroupArn != old })].TargetGroupArn
		Expect(targetsOf(replacement)).To(BeEmpty())

		Expect(ensure(lb).Pending).To(BeTrue())
		Expect(targetsOf(replacement)).To(ConsistOf("10.0.0.1"))
	})

	It("switches rules to a replacement target group that stays unhealthy after the wait, with a warning", func() {
		lb := model(stack, "/api")
		ensure(lb)
		lb.TargetGroups[0].Protocol = cloud.ProtocolHTTPS
		Expect(ensure(lb).Pending).To(BeTrue())
		now.Advance(119 * time.Second)
		Expect(ensure(lb).Pending).To(BeTrue())
		now.Advance(time.Second)
		st := ensure(lb)
		Expect(st.Pending).To(BeFalse())
		Expect(st.Warnings).To(ContainElement(ContainSubstring("no healthy target")))
		tgs := ownedTargetGroups(stack)
		Expect(tgs).To(HaveLen(1))
		Expect(tgs[0].Protocol).To(Equal(elbv2types.ProtocolEnumHttps))
	})
})

// targetsOf lists the IDs of the targets registered in a target group, draining ones excepted.
func targetsOf(tgARN string) []string {
	GinkgoHelper()
	out, err := elbc.DescribeTargetHealth(context.Background(), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgARN)})
	Expect(err).NotTo(HaveOccurred())
	var ids []string
	for _, d := range out.TargetHealthDescriptions {
		if d.TargetHealth == nil || d.TargetHealth.State != elbv2types.TargetHealthStateEnumDraining {
			ids = append(ids, *d.Target.Id)
		}
	}
	return ids
}

// allRules lists a listener's non-default rules, page by page.
func allRules(listenerARN string) []elbv2types.Rule {
	GinkgoHelper()
	var out []elbv2types.Rule
	in := &elbv2.DescribeRulesInput{ListenerArn: aws.String(listenerARN)}
	for {
		page, err := elbc.DescribeRules(context.Background(), in)
		Expect(err).NotTo(HaveOccurred())
		for _, r := range page.Rules {
			if !aws.ToBool(r.IsDefault) {
				out = append(out, r)
			}
		}
		if aws.ToString(page.NextMarker) == "" {
			return out
		}
		in.Marker = page.NextMarker
	}
}
