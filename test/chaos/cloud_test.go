package chaos_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// stackCloud is what moto holds for one stack, found by the ownership tags.
type stackCloud struct {
	lbs   []lbInfo
	tgs   []tgInfo
	sgs   []string
	paths []string
}

type lbInfo struct{ arn, dns string }

type tgInfo struct {
	arn, hcPath string
	lbs         []string
}

// cloudState is everything moto holds: every load balancer and target group (only cloudlb makes them in these
// suites) and every security group that carries a cloudlb tag. strays are those without a stack.
type cloudState struct {
	stacks map[string]*stackCloud
	strays []string
	// backendSGs are the cluster's shared backend security groups, which belong to no stack.
	backendSGs []string
}

// readCloud reads moto's state directly, not through a fault proxy.
func readCloud(ctx context.Context) (cloudState, error) {
	st := cloudState{stacks: map[string]*stackCloud{}}
	of := func(tags map[string]string, what string) *stackCloud {
		stack, ok := tags[cloud.TagStack]
		if !ok || tags[cloud.TagCluster] == "" {
			st.strays = append(st.strays, what)
			return nil
		}
		if st.stacks[stack] == nil {
			st.stacks[stack] = &stackCloud{}
		}
		return st.stacks[stack]
	}

	var lbs []elbv2types.LoadBalancer
	for p := elbv2.NewDescribeLoadBalancersPaginator(elbc, &elbv2.DescribeLoadBalancersInput{}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return st, err
		}
		lbs = append(lbs, page.LoadBalancers...)
	}
	var tgs []elbv2types.TargetGroup
	for p := elbv2.NewDescribeTargetGroupsPaginator(elbc, &elbv2.DescribeTargetGroupsInput{}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return st, err
		}
		tgs = append(tgs, page.TargetGroups...)
	}
	var arns []string
	for _, lb := range lbs {
		arns = append(arns, aws.ToString(lb.LoadBalancerArn))
	}
	for _, tg := range tgs {
		arns = append(arns, aws.ToString(tg.TargetGroupArn))
	}
	tags, err := elbTags(ctx, arns)
	if err != nil {
		return st, err
	}

	for _, lb := range lbs {
		arn := aws.ToString(lb.LoadBalancerArn)
		s := of(tags[arn], "load balancer "+aws.ToString(lb.LoadBalancerName))
		if s == nil {
			continue
		}
		s.lbs = append(s.lbs, lbInfo{arn: arn, dns: strings.ToLower(aws.ToString(lb.DNSName))})
		paths, err := pathPatterns(ctx, arn)
		if err != nil {
			return st, err
		}
		s.paths = append(s.paths, paths...)
	}
	for _, tg := range tgs {
		arn := aws.ToString(tg.TargetGroupArn)
		if s := of(tags[arn], "target group "+aws.ToString(tg.TargetGroupName)); s != nil {
			s.tgs = append(s.tgs, tgInfo{arn: arn, hcPath: aws.ToString(tg.HealthCheckPath), lbs: tg.LoadBalancerArns})
		}
	}

	sgs, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag-key"), Values: []string{cloud.TagCluster, cloud.TagStack}},
	}})
	if err != nil {
		return st, err
	}
	for _, g := range sgs.SecurityGroups {
		t := map[string]string{}
		for _, tag := range g.Tags {
			t[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		if t[cloud.TagResource] == cloud.ResourceBackendSecurityGroup && t[cloud.TagCluster] != "" {
			st.backendSGs = append(st.backendSGs, aws.ToString(g.GroupId))
			continue
		}
		if s := of(t, "security group "+aws.ToString(g.GroupId)); s != nil {
			s.sgs = append(s.sgs, aws.ToString(g.GroupId))
		}
	}
	return st, nil
}

// elbTags returns the tags of ELBv2 resources by ARN, 20 at a time as the API allows.
func elbTags(ctx context.Context, arns []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for chunk := range slices.Chunk(arns, 20) {
		resp, err := elbc.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: chunk})
		if err != nil {
			return nil, err
		}
		for _, d := range resp.TagDescriptions {
			t := map[string]string{}
			for _, tag := range d.Tags {
				t[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			out[aws.ToString(d.ResourceArn)] = t
		}
	}
	return out, nil
}

// pathPatterns returns the path patterns of every rule of every listener of a load balancer.
func pathPatterns(ctx context.Context, lbARN string) ([]string, error) {
	ls, err := elbc.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(lbARN)})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range ls.Listeners {
		rules, err := elbc.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn})
		if err != nil {
			return nil, err
		}
		for _, r := range rules.Rules {
			for _, c := range r.Conditions {
				if c.PathPatternConfig != nil {
					out = append(out, c.PathPatternConfig.Values...)
				} else if aws.ToString(c.Field) == "path-pattern" {
					out = append(out, c.Values...)
				}
			}
		}
	}
	return out, nil
}

// want is what the cloud must hold for one Ingress: a load balancer at its address, one target group per
// backend with the health check path asked for, one security group, and a rule for each path.
type want struct {
	host   string
	tgs    int
	hcPath string
	paths  []string
}

// problems compares the cloud with the stacks wanted, keyed by stack, and describes every difference: a stack
// without its resources, and anything else the cloud holds.
func problems(st cloudState, wants map[string]want) []string {
	var out []string
	for _, s := range st.strays {
		out = append(out, "stray "+s)
	}
	// One shared backend security group while any load balancer is left, none once the last has gone.
	if n := min(len(wants), 1); len(st.backendSGs) != n {
		out = append(out, fmt.Sprintf("%d backend security groups %v, want %d", len(st.backendSGs), st.backendSGs, n))
	}
	for stack, got := range st.stacks {
		w, ok := wants[stack]
		if !ok {
			out = append(out, fmt.Sprintf("orphans of %s: %d load balancers, %d target groups, %d security groups",
				stack, len(got.lbs), len(got.tgs), len(got.sgs)))
			continue
		}
		out = append(out, stackProblems(stack, got, w)...)
	}
	for stack := range wants {
		if st.stacks[stack] == nil {
			out = append(out, stack+": nothing in the cloud")
		}
	}
	sort.Strings(out)
	return out
}

func stackProblems(stack string, got *stackCloud, w want) []string {
	var out []string
	if w.host == "" {
		out = append(out, stack+": no address in the Ingress's status")
	}
	if len(got.lbs) != 1 {
		return append(out, fmt.Sprintf("%s: %d load balancers, want 1", stack, len(got.lbs)))
	}
	lb := got.lbs[0]
	if w.host != "" && lb.dns != w.host {
		out = append(out, fmt.Sprintf("%s: the Ingress's address is %s, the load balancer's %s", stack, w.host, lb.dns))
	}
	if len(got.tgs) != w.tgs {
		out = append(out, fmt.Sprintf("%s: %d target groups, want %d", stack, len(got.tgs), w.tgs))
	}
	for _, tg := range got.tgs {
		if tg.hcPath != w.hcPath {
			out = append(out, fmt.Sprintf("%s: target group %s checks health at %s, want %s", stack, tg.arn, tg.hcPath, w.hcPath))
		}
		if !slices.Contains(tg.lbs, lb.arn) {
			out = append(out, fmt.Sprintf("%s: target group %s serves no rule of the load balancer", stack, tg.arn))
		}
	}
	if len(got.sgs) != 1 {
		out = append(out, fmt.Sprintf("%s: %d security groups, want 1", stack, len(got.sgs)))
	}
	for _, p := range w.paths {
		if !slices.Contains(got.paths, p) {
			out = append(out, fmt.Sprintf("%s: no rule for path %s (rules: %v)", stack, p, got.paths))
		}
	}
	return out
}
