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
	// held are load balancers found by one of the names looked up that are not this stack's, by name.
	held map[string]heldLB
	// health holds the targets of target groups that replace another group (see healthChecks), by ARN.
	health map[string]groupHealth
	// certs are the certificates the stack made (acmcert.go), by ARN, with their tags as the tagging API lists them.
	certs map[string]tagSet
	// adopted says what observe adopted from the AWS Load Balancer Controller (adopt.go).
	adopted []string
}

// heldLB is a load balancer holding a name, with its tags, that the stack does not own.
type heldLB struct {
	arn  string
	tags tagSet
}

type lbState struct {
	lb        elbv2types.LoadBalancer
	tags      tagSet
	listeners []*listenerState
	// attrs are read only when the model sets attributes, which most stacks never do.
	attrs map[string]string
	// capacity is the reserved capacity units, read only when the model sets a reservation.
	capacity *int32
}

type listenerState struct {
	l elbv2types.Listener
	// certs are every certificate ARN on the listener, the default one included.
	certs []string
	// rules are the non-default rules, in ascending priority.
	rules []elbv2types.Rule
	// attrs are read only when the model sets attributes on the listener's port.
	attrs map[string]string
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

// scope says where observe looks besides the tagging API, which is eventually consistent and does not list
// resources made before cluster identity tags.
type scope struct {
	known cloud.Known
	// names are load balancer names to look up by consistent Describe calls.
	names []string
	// excludeSGs are security groups cloudlb must not consider its own (the user's and the backend group).
	excludeSGs []string
	// thorough also asks AWS which target groups each load balancer uses (on Delete, where nothing may leak).
	thorough bool
	// lbcTGs names the target groups adopted from the AWS Load Balancer Controller as the model does (adopt.go).
	lbcTGs tgIDMapper
}

// observe reads everything the stack owns. It never lists the account: owned ARNs come from the tagging API,
// from this process's memory of what it created, from the stack's record (known) and from the load balancers'
// own listeners, rules and security groups; every resource found other than by the tagging API is checked for
// ownership tags before it counts. Legacy resources (no cluster identity tag) proven by known.ID are adopted.
func (p *Provider) observe(ctx context.Context, stack string, sc scope) (*actual, error) {
	owned, err := p.taggedARNs(ctx, p.ownerFilter(stack), resourceTypeLB, resourceTypeTG, resourceTypeCert)
	if err != nil {
		return nil, err
	}
	a := &actual{held: map[string]heldLB{}, certs: map[string]tagSet{}}
	if p.adoptingLBC(ctx) {
		if err := p.adoptLBC(ctx, stack, sc.lbcTGs, owned, a); err != nil {
			return nil, err
		}
	}
	var lbARNs, tgARNs []string
	for arn, tags := range owned {
		switch {
		case !p.owns(tags, stack):
		case isLBARN(arn):
			lbARNs = append(lbARNs, arn)
		case isTGARN(arn):
			tgARNs = append(tgARNs, arn)
		case isCertARN(arn):
			a.certs[arn] = tags
		}
	}
	slices.Sort(lbARNs)
	slices.Sort(tgARNs)

	lbs := map[string]*lbState{}
	for _, batch := range chunks(lbARNs, 20) {
		described, err := p.describeLBs(ctx, batch)
		if err != nil {
			return nil, err
		}
		for _, lb := range described {
			lbs[deref(lb.LoadBalancerArn)] = &lbState{lb: lb, tags: owned[deref(lb.LoadBalancerArn)]}
		}
	}
	if err := p.findLBs(ctx, stack, sc, lbs, a); err != nil {
		return nil, err
	}
	for _, st := range lbs {
		a.lbs = append(a.lbs, st)
	}
	slices.SortFunc(a.lbs, func(x, y *lbState) int {
		if c := deref(x.lb.CreatedTime).Compare(deref(y.lb.CreatedTime)); c != 0 {
			return c
		}
		return strings.Compare(deref(x.lb.LoadBalancerArn), deref(y.lb.LoadBalancerArn))
	})
	for _, st := range a.lbs {
		if st.listeners, err = p.observeListeners(ctx, deref(st.lb.LoadBalancerArn)); err != nil {
			return nil, err
		}
	}
	if p.adoptingLBC(ctx) {
		if err := p.adoptLBCChildren(ctx, stack, a.lbs, a); err != nil {
			return nil, err
		}
	}

	tgTags := map[string]tagSet{}
	for _, arn := range tgARNs {
		tgTags[arn] = owned[arn]
	}
	if err := p.findTGs(ctx, stack, sc, a.lbs, tgTags); err != nil {
		return nil, err
	}
	for _, batch := range chunks(sortedKeys(tgTags), 20) {
		tgs, err := p.describeTGs(ctx, batch)
		if err != nil {
			return nil, err
		}
		for _, tg := range tgs {
			a.targetGroups = append(a.targetGroups, &tgState{tg: tg, tags: tgTags[deref(tg.TargetGroupArn)]})
		}
	}

	sgs, err := p.c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: p.ec2OwnerFilter(stack)})
	if err != nil {
		return nil, classify(err)
	}
	for _, sg := range sgs.SecurityGroups {
		if p.owns(fromEC2(sg.Tags), stack) {
			a.securityGroups = append(a.securityGroups, sg)
		}
	}
	if a.securityGroups, err = p.findSGs(ctx, stack, sc, a.lbs, a.securityGroups); err != nil {
		return nil, err
	}
	return a, nil
}

// ownerFilter is the tagging API filter for the resources of stack in this cluster.
func (p *Provider) ownerFilter(stack string) map[string]string {
	return map[string]string{cloud.TagCluster: p.opts.ClusterName, cloud.TagClusterID: p.opts.ClusterID, cloud.TagStack: cloud.TagValue(stack)}
}

// ec2OwnerFilter is ownerFilter for EC2's Describe calls.
func (p *Provider) ec2OwnerFilter(stack string) []ec2types.Filter {
	var out []ec2types.Filter
	f := p.ownerFilter(stack)
	for _, k := range sortedKeys(f) {
		out = append(out, ec2types.Filter{Name: ptr("tag:" + k), Values: []string{f[k]}})
	}
	return out
}

func isLBARN(arn string) bool { return strings.Contains(arn, ":loadbalancer/app/") }
func isTGARN(arn string) bool { return strings.Contains(arn, ":targetgroup/") }

// observeAttributes reads the attributes of owned load balancers and target groups, only where the model sets
// some: attributes cloudlb does not set are left as they are, so there is nothing to compare otherwise.
func (p *Provider) observeAttributes(ctx context.Context, lb *cloud.LoadBalancer, a *actual) error {
	if err := p.observeCapacity(ctx, lb, a); err != nil {
		return err
	}
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
	if err := p.observeListenerAttributes(ctx, lb, a); err != nil {
		return err
	}
	withAttrs := map[string]bool{}
	for _, tg := range lb.TargetGroups {
		withAttrs[cloud.TagValue(tg.ID)] = len(tg.Attributes) > 0
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
	return describeEach(arns, []string{"LoadBalancerNotFound"}, func(batch []string) ([]elbv2types.LoadBalancer, error) {
		out, err := p.c.ELBV2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: batch})
		if err != nil {
			return nil, err
		}
		return out.LoadBalancers, nil
	})
}

// describeTGs describes target groups by ARN.
func (p *Provider) describeTGs(ctx context.Context, arns []string) ([]elbv2types.TargetGroup, error) {
	return describeEach(arns, []string{"TargetGroupNotFound"}, func(batch []string) ([]elbv2types.TargetGroup, error) {
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
func describeEach[T any](arns []string, notFound []string, describe func([]string) ([]T, error)) ([]T, error) {
	out, err := describe(arns)
	switch {
	case err == nil:
		return out, nil
	case !hasCode(err, notFound...):
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

// certificateNotFound are the codes of ELBv2's answer to a certificate ARN that does not exist (emulators
// answer with the classic ELB code).
var certificateNotFound = []string{"CertificateNotFound", "CertificateNotFoundException"}

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
	case hasCode(err, certificateNotFound...), hasCode(err, "WAFNonexistentItemException", "SubnetNotFound"):
		// Resources the user names (a certificate, a web ACL, a subnet): waiting will not make them appear.
		return &cloud.Error{Kind: cloud.KindInvalidSpec, Err: err}
	case hasCode(err, "LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound", "RuleNotFound",
		"InvalidGroup.NotFound", "ResourceNotFoundException"):
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
