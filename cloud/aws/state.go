package aws

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
	"github.com/aws/smithy-go"

	"github.com/cloudlb/cloudlb/cloud"
)

// actual is what the cloud holds for one stack, found by ownership tags.
type actual struct {
	// lbs are the stack's load balancers: normally none or one, more after a crash between create and
	// record (emulators do not dedupe names) or during a replacement.
	lbs            []*lbState
	targetGroups   []*tgState
	securityGroups []ec2types.SecurityGroup
}

type lbState struct {
	lb        elbv2types.LoadBalancer
	tags      tagSet
	listeners []*listenerState
	// attrs are read only when the model sets attributes, which most stacks never do.
	attrs map[string]string
}

type listenerState struct {
	l elbv2types.Listener
	// certs are every certificate ARN on the listener, the default one included.
	certs []string
	// rules are the non-default rules, in ascending priority.
	rules []elbv2types.Rule
}

type tgState struct {
	tg    elbv2types.TargetGroup
	tags  tagSet
	attrs map[string]string
}

const (
	resourceTypeLB = "elasticloadbalancing:loadbalancer"
	resourceTypeTG = "elasticloadbalancing:targetgroup"
)

// taggedARNs asks the tagging API, server-side, for resources of the given types carrying every tag in filter.
func (p *Provider) taggedARNs(ctx context.Context, filter map[string]string, types ...string) (map[string]tagSet, error) {
	in := &resourcegroupstaggingapi.GetResourcesInput{ResourceTypeFilters: types}
	for _, k := range sortedKeys(filter) {
		in.TagFilters = append(in.TagFilters, taggingtypes.TagFilter{Key: ptr(k), Values: []string{filter[k]}})
	}
	out := map[string]tagSet{}
	pages := resourcegroupstaggingapi.NewGetResourcesPaginator(p.c.Tagging, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify(err)
		}
		for _, m := range page.ResourceTagMappingList {
			tags := tagSet{}
			for _, t := range m.Tags {
				tags[deref(t.Key)] = deref(t.Value)
			}
			out[deref(m.ResourceARN)] = tags
		}
	}
	return out, nil
}

// observe reads everything the stack owns. It never lists the account: owned ARNs come from the tagging API,
// and only those are described.
func (p *Provider) observe(ctx context.Context, stack string) (*actual, error) {
	owned, err := p.taggedARNs(ctx, map[string]string{cloud.TagCluster: p.opts.ClusterName, cloud.TagStack: stack}, resourceTypeLB, resourceTypeTG)
	if err != nil {
		return nil, err
	}
	var lbARNs, tgARNs []string
	for arn, tags := range owned {
		switch {
		case !p.owns(tags, stack):
		case strings.Contains(arn, ":loadbalancer/app/"):
			lbARNs = append(lbARNs, arn)
		case strings.Contains(arn, ":targetgroup/"):
			tgARNs = append(tgARNs, arn)
		}
	}
	slices.Sort(lbARNs)
	slices.Sort(tgARNs)

	a := &actual{}
	for _, batch := range chunks(lbARNs, 20) {
		lbs, err := p.describeLBs(ctx, batch)
		if err != nil {
			return nil, err
		}
		for _, lb := range lbs {
			st := &lbState{lb: lb, tags: owned[deref(lb.LoadBalancerArn)]}
			if st.listeners, err = p.observeListeners(ctx, deref(lb.LoadBalancerArn)); err != nil {
				return nil, err
			}
			a.lbs = append(a.lbs, st)
		}
	}
	slices.SortFunc(a.lbs, func(x, y *lbState) int { return deref(x.lb.CreatedTime).Compare(deref(y.lb.CreatedTime)) })
	for _, batch := range chunks(tgARNs, 20) {
		tgs, err := p.describeTGs(ctx, batch)
		if err != nil {
			return nil, err
		}
		for _, tg := range tgs {
			a.targetGroups = append(a.targetGroups, &tgState{tg: tg, tags: owned[deref(tg.TargetGroupArn)]})
		}
	}
	sgs, err := p.c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: ptr("tag:" + cloud.TagCluster), Values: []string{p.opts.ClusterName}},
		{Name: ptr("tag:" + cloud.TagStack), Values: []string{stack}},
	}})
	if err != nil {
		return nil, classify(err)
	}
	for _, sg := range sgs.SecurityGroups {
		if p.owns(fromEC2(sg.Tags), stack) {
			a.securityGroups = append(a.securityGroups, sg)
		}
	}
	return a, nil
}

// observeAttributes reads the attributes of owned load balancers and target groups, only where the model sets
// some: attributes cloudlb does not set are left as they are, so there is nothing to compare otherwise.
func (p *Provider) observeAttributes(ctx context.Context, lb *cloud.LoadBalancer, a *actual) error {
	if len(lb.Attributes) > 0 {
		for _, l := range a.lbs {
			out, err := p.c.ELBV2.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: l.lb.LoadBalancerArn})
			if err != nil {
				return classify(err)
			}
			l.attrs = map[string]string{}
			for _, at := range out.Attributes {
				l.attrs[deref(at.Key)] = deref(at.Value)
			}
		}
	}
	withAttrs := map[string]bool{}
	for _, tg := range lb.TargetGroups {
		withAttrs[tg.ID] = len(tg.Attributes) > 0
	}
	for _, tg := range a.targetGroups {
		if !withAttrs[tg.tags[cloud.TagResource]] {
			continue
		}
		out, err := p.c.ELBV2.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: tg.tg.TargetGroupArn})
		if err != nil {
			return classify(err)
		}
		tg.attrs = map[string]string{}
		for _, at := range out.Attributes {
			tg.attrs[deref(at.Key)] = deref(at.Value)
		}
	}
	return nil
}

// describeLBs describes load balancers by ARN.
func (p *Provider) describeLBs(ctx context.Context, arns []string) ([]elbv2types.LoadBalancer, error) {
	return describeEach(arns, "LoadBalancerNotFound", func(batch []string) ([]elbv2types.LoadBalancer, error) {
		out, err := p.c.ELBV2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: batch})
		if err != nil {
			return nil, err
		}
		return out.LoadBalancers, nil
	})
}

// describeTGs describes target groups by ARN.
func (p *Provider) describeTGs(ctx context.Context, arns []string) ([]elbv2types.TargetGroup, error) {
	return describeEach(arns, "TargetGroupNotFound", func(batch []string) ([]elbv2types.TargetGroup, error) {
		out, err := p.c.ELBV2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: batch})
		if err != nil {
			return nil, err
		}
		return out.TargetGroups, nil
	})
}

// describeEach describes a batch of ARNs in one call. The tagging API is eventually consistent and may still
// list a resource just deleted, which fails the whole batch with notFound; then each ARN is described alone and
// the missing ones are dropped.
func describeEach[T any](arns []string, notFound string, describe func([]string) ([]T, error)) ([]T, error) {
	out, err := describe(arns)
	switch {
	case err == nil:
		return out, nil
	case !hasCode(err, notFound):
		return nil, classify(err)
	case len(arns) == 1:
		return nil, nil
	}
	var all []T
	for _, arn := range arns {
		one, err := describeEach([]string{arn}, notFound, describe)
		if err != nil {
			return nil, err
		}
		all = append(all, one...)
	}
	return all, nil
}

func (p *Provider) observeListeners(ctx context.Context, lbARN string) ([]*listenerState, error) {
	var out []*listenerState
	pages := elbv2.NewDescribeListenersPaginator(p.c.ELBV2, &elbv2.DescribeListenersInput{LoadBalancerArn: ptr(lbARN)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify(err)
		}
		for _, l := range page.Listeners {
			st := &listenerState{l: l}
			for _, c := range l.Certificates {
				st.certs = appendUnique(st.certs, deref(c.CertificateArn))
			}
			if l.Protocol == elbv2types.ProtocolEnumHttps {
				certs, err := p.c.ELBV2.DescribeListenerCertificates(ctx, &elbv2.DescribeListenerCertificatesInput{ListenerArn: l.ListenerArn})
				if err != nil {
					return nil, classify(err)
				}
				for _, c := range certs.Certificates {
					st.certs = appendUnique(st.certs, deref(c.CertificateArn))
				}
			}
			rules, err := p.describeRules(ctx, deref(l.ListenerArn))
			if err != nil {
				return nil, err
			}
			st.rules = rules
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(x, y *listenerState) int { return int(deref(x.l.Port) - deref(y.l.Port)) })
	return out, nil
}

// describeRules returns a listener's non-default rules sorted by priority: DescribeRules does not promise an
// order (emulators return creation order).
func (p *Provider) describeRules(ctx context.Context, listenerARN string) ([]elbv2types.Rule, error) {
	var rules []elbv2types.Rule
	in := &elbv2.DescribeRulesInput{ListenerArn: ptr(listenerARN)}
	for {
		page, err := p.c.ELBV2.DescribeRules(ctx, in)
		if err != nil {
			return nil, classify(err)
		}
		for _, r := range page.Rules {
			if !deref(r.IsDefault) && deref(r.Priority) != "default" {
				rules = append(rules, r)
			}
		}
		if page.NextMarker == nil || deref(page.NextMarker) == "" {
			break
		}
		in.Marker = page.NextMarker
	}
	slices.SortFunc(rules, func(x, y elbv2types.Rule) int { return int(rulePriority(x) - rulePriority(y)) })
	return rules, nil
}

func rulePriority(r elbv2types.Rule) int32 {
	var n int32
	for _, c := range deref(r.Priority) {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + c - '0'
	}
	return n
}

// hasCode reports whether err is an AWS API error with one of codes.
func hasCode(err error, codes ...string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && slices.Contains(codes, ae.ErrorCode())
}

// classify turns SDK errors into typed cloud errors the reconciler can act on.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch {
	case throttleCodes[ae.ErrorCode()]:
		return &cloud.Error{Kind: cloud.KindThrottled, Err: err}
	case hasCode(err, "LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound", "RuleNotFound",
		"InvalidGroup.NotFound", "CertificateNotFound", "ResourceNotFoundException", "WAFNonexistentItemException"):
		return &cloud.Error{Kind: cloud.KindNotFound, Err: err}
	case hasCode(err, "ValidationError", "InvalidConfigurationRequest", "InvalidParameterValue", "InvalidParameter",
		"InvalidSubnet", "InvalidSecurityGroup", "InvalidScheme", "UnsupportedProtocol", "SSLPolicyNotFound",
		"TooManyRules", "TooManyTargetGroups", "TooManyCertificates"):
		return &cloud.Error{Kind: cloud.KindInvalidSpec, Err: err}
	case hasCode(err, "DuplicateLoadBalancerName", "DuplicateTargetGroupName", "InvalidGroup.Duplicate"):
		// A name we would use is held by a resource we do not own.
		return &cloud.Error{Kind: cloud.KindConflict, Err: err}
	}
	return err
}
