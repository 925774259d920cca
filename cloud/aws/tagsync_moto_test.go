package aws_test

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

var _ = Describe("Tags on every resource", func() {
	const stack = "default/tags"
	var (
		ctx     context.Context
		counter *test.CallCounter
		p       *cloudaws.Provider
	)
	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		p = newProvider(cluster, counter, func(o *cloudaws.Options) { o.ExternalManagedTags = []string{"billing"} })
	})
	ensure := func(lb *cloud.LoadBalancer) {
		GinkgoHelper()
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
	}
	// everyARN is the stack's load balancer, listeners and rules (default rules are not taggable resources of
	// their own in cloudlb's model, and AWS keeps no tags on them).
	everyARN := func() (lbARN string, children []string) {
		GinkgoHelper()
		lbs := ownedLoadBalancers(stack)
		Expect(lbs).To(HaveLen(1))
		lbARN = *lbs[0].LoadBalancerArn
		for _, l := range listenersOf(lbARN) {
			children = append(children, *l.ListenerArn)
			for _, r := range sortedRules(*l.ListenerArn) {
				children = append(children, *r.RuleArn)
			}
		}
		return lbARN, children
	}
	sgTags := func() map[string]string {
		GinkgoHelper()
		sgs := ownedSecurityGroups(stack)
		Expect(sgs).To(HaveLen(1))
		out := map[string]string{}
		for _, t := range sgs[0].Tags {
			out[*t.Key] = *t.Value
		}
		return out
	}

	It("puts the user's tags on listeners and rules, and changes them with tag calls only", func() {
		lb := model(stack, "/api", "/")
		lb.Name = "k8s-default-tags"
		lb.Tags = map[string]string{"team": "web"}
		ensure(lb)
		lbARN, children := everyARN()
		Expect(children).To(HaveLen(3), "a listener and two rules")
		for _, arn := range children {
			Expect(tagsOf(arn)).To(SatisfyAll(HaveKeyWithValue("team", "web"), HaveKeyWithValue(cloud.TagStack, stack),
				HaveKeyWithValue(cloud.TagCluster, cluster), HaveKeyWithValue(cloud.TagClusterID, clusterID)), arn)
		}
		Expect(sgTags()).To(HaveKeyWithValue("team", "web"))

		By("a key set out of band, and external-managed, on the load balancer and a listener")
		for _, arn := range []string{lbARN, children[0]} {
			_, err := elbc.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{arn},
				Tags: []elbv2types.Tag{{Key: aws.String("billing"), Value: aws.String("finance")}}})
			Expect(err).NotTo(HaveOccurred())
		}

		By("an unchanged model: no write, and listener and rule tags are not even read")
		counter.Reset()
		ensure(lb)
		Expect(counter.Mutating()).To(BeEmpty())
		Expect(counter.Counts()).NotTo(HaveKey("DescribeTags"))

		By("a tag change")
		counter.Reset()
		lb.Tags = map[string]string{"team": "payments", "cost": "42"}
		ensure(lb)
		for _, op := range counter.Mutating() {
			Expect(op).To(BeElementOf("AddTags", "RemoveTags", "CreateTags", "DeleteTags"), "a tag change makes tag calls only")
		}
		// One AddTags per target group, listener, rule and the load balancer; CreateTags on the security group.
		Expect(counter.Counts()).To(SatisfyAll(HaveKeyWithValue("AddTags", 2+3+1), HaveKeyWithValue("CreateTags", 1)))
		for _, arn := range append([]string{lbARN}, children...) {
			Expect(tagsOf(arn)).To(SatisfyAll(HaveKeyWithValue("team", "payments"), HaveKeyWithValue("cost", "42"),
				HaveKeyWithValue(cloud.TagStack, stack), HaveKeyWithValue(cloud.TagResource, Not(BeEmpty()))), arn)
		}
		Expect(tagsOf(lbARN)).To(HaveKeyWithValue("billing", "finance"), "an external-managed key survives")
		Expect(tagsOf(children[0])).To(HaveKeyWithValue("billing", "finance"), "an external-managed key survives")
		Expect(sgTags()).To(SatisfyAll(HaveKeyWithValue("team", "payments"), HaveKeyWithValue("cost", "42")))

		By("a key removed")
		counter.Reset()
		lb.Tags = map[string]string{"cost": "42"}
		ensure(lb)
		for _, op := range counter.Mutating() {
			Expect(op).To(BeElementOf("RemoveTags", "DeleteTags"))
		}
		for _, arn := range append([]string{lbARN}, children...) {
			Expect(tagsOf(arn)).NotTo(HaveKey("team"), arn)
			Expect(tagsOf(arn)).To(HaveKeyWithValue(cloud.TagCluster, cluster), arn)
		}
		Expect(sgTags()).NotTo(HaveKey("team"))
		Expect(tagsOf(lbARN)).To(HaveKeyWithValue("billing", "finance"))

		By("a new rule gets the tags at creation")
		counter.Reset()
		lb.Listeners[0].Rules = append(lb.Listeners[0].Rules, cloud.Rule{Priority: 3,
			Conditions: []cloud.Condition{{Type: cloud.ConditionPath, PathMatch: cloud.PathExact, Values: []string{"/new"}}},
			Action:     lb.Listeners[0].Rules[0].Action})
		ensure(lb)
		Expect(slices.DeleteFunc(counter.Mutating(), func(op string) bool { return op == "CreateRule" })).To(BeEmpty())
		_, children = everyARN()
		for _, arn := range children {
			Expect(tagsOf(arn)).To(HaveKeyWithValue("cost", "42"), arn)
		}
	})

	It("lets --default-tags win over the model's tags", func() {
		p = newProvider(cluster, counter, func(o *cloudaws.Options) { o.DefaultTags = map[string]string{"team": "platform"} })
		lb := model(stack, "/")
		lb.Name = "k8s-default-tags"
		lb.Tags = map[string]string{"team": "web", "app": "shop"}
		ensure(lb)
		lbARN, children := everyARN()
		for _, arn := range append([]string{lbARN, *ownedTargetGroups(stack)[0].TargetGroupArn}, children...) {
			Expect(tagsOf(arn)).To(SatisfyAll(HaveKeyWithValue("team", "platform"), HaveKeyWithValue("app", "shop")), arn)
		}
		Expect(sgTags()).To(HaveKeyWithValue("team", "platform"))
	})
})

var _ = Describe("Tags on listeners and rules not this cluster's", func() {
	const stack = "default/tags-foreign"
	It("never retags a listener or rule whose tags, read right before, name another cluster identity or none", func() {
		ctx := context.Background()
		resetCloud()
		p := newProvider(cluster, &test.CallCounter{})
		lb := model(stack, "/api", "/")
		lb.Tags = map[string]string{"team": "web"}
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		lbs := ownedLoadBalancers(stack)
		Expect(lbs).To(HaveLen(1))
		listener := *listenersOf(*lbs[0].LoadBalancerArn)[0].ListenerArn
		var rules []string
		for _, r := range sortedRules(listener) {
			rules = append(rules, *r.RuleArn)
		}
		Expect(rules).To(HaveLen(2))
		// One rule now says it is another cluster's (same name, other identity); the other lost cloudlb's tags.
		_, err = elbc.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{rules[0]},
			Tags: []elbv2types.Tag{{Key: aws.String(cloud.TagClusterID), Value: aws.String("another-uid")}}})
		Expect(err).NotTo(HaveOccurred())
		_, err = elbc.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{rules[1]},
			TagKeys: []string{cloud.TagCluster, cloud.TagClusterID, cloud.TagStack, cloud.TagResource}})
		Expect(err).NotTo(HaveOccurred())

		lb.Tags = map[string]string{"cost": "42"}
		_, err = p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(tagsOf(listener)).To(SatisfyAll(HaveKeyWithValue("cost", "42"), Not(HaveKey("team"))), "the listener is ours")
		Expect(tagsOf(rules[0])).To(SatisfyAll(HaveKeyWithValue("team", "web"), Not(HaveKey("cost")),
			HaveKeyWithValue(cloud.TagClusterID, "another-uid")))
		Expect(tagsOf(rules[1])).To(SatisfyAll(HaveKeyWithValue("team", "web"), Not(HaveKey("cost")), Not(HaveKey(cloud.TagCluster))))
	})
})
