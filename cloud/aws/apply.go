package aws

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/shield"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"

	"github.com/cloudlb/cloudlb/cloud"
)

// apply carries out a plan in dependency order: security group, target groups, load balancer, listeners with
// certificates, rules, WAF and Shield; then deletes in reverse. New rules are created before old ones are
// deleted, so that no path is ever without a matching rule.
func (p *Provider) apply(ctx context.Context, d *desired, pl *plan) (cloud.Status, map[string]string, error) {
	stack := d.lb.Stack
	sgIDs := d.userSGs
	if sgIDs != nil {
		sgIDs = append(slices.Clone(sgIDs), d.backendSGs...)
	}
	if pl.sg != nil {
		id, err := p.applySecurityGroup(ctx, d, pl.sg)
		if err != nil {
			return cloud.Status{}, nil, fmt.Errorf("security group: %w", err)
		}
		sgIDs = append([]string{id}, d.backendSGs...)
	}

	tgARN := maps.Clone(pl.keepTGs)
	for _, tg := range pl.createTGs {
		arn, err := p.createTargetGroup(ctx, d, tg)
		if err != nil {
			return cloud.Status{}, nil, fmt.Errorf("target group %s: %w", tg.ID, err)
		}
		tgARN[tg.ID] = arn
		if old, ok := pl.copyTargets[tg.ID]; ok {
			// A replacement must not take traffic empty: it starts with the targets of the group it replaces.
			if err := p.copyTargets(ctx, old, arn); err != nil {
				return cloud.Status{}, nil, fmt.Errorf("target group %s: copying targets: %w", tg.ID, err)
			}
		}
	}
	for _, id := range sortedKeys(pl.copyTargets) {
		if arn, kept := pl.keepTGs[id]; kept {
			if err := p.copyTargets(ctx, pl.copyTargets[id], arn); err != nil {
				return cloud.Status{}, nil, fmt.Errorf("target group %s: copying targets: %w", id, err)
			}
		}
	}
	for _, m := range pl.modifyTGs {
		hc := m.want.HealthCheck
		if _, err := p.c.ELBV2.ModifyTargetGroup(ctx, &elbv2.ModifyTargetGroupInput{
			TargetGroupArn:             ptr(m.arn),
			HealthCheckProtocol:        elbv2types.ProtocolEnum(hc.Protocol),
			HealthCheckPort:            ptr(hc.Port),
			HealthCheckPath:            ptr(hc.Path),
			HealthCheckIntervalSeconds: ptr(hc.IntervalSeconds),
			HealthCheckTimeoutSeconds:  ptr(hc.TimeoutSeconds),
			HealthyThresholdCount:      ptr(hc.HealthyThresholdCount),
			UnhealthyThresholdCount:    ptr(hc.UnhealthyThresholdCount),
			Matcher:                    matcher(hc),
		}); err != nil {
			return cloud.Status{}, nil, fmt.Errorf("modifying target group %s: %w", m.want.ID, classify(err))
		}
	}
	for _, t := range pl.tgTags {
		if err := p.retag(ctx, t); err != nil {
			return cloud.Status{}, nil, err
		}
	}
	for _, id := range sortedKeys(pl.tgAttrs) {
		if _, err := p.c.ELBV2.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{
			TargetGroupArn: ptr(tgARN[id]), Attributes: tgAttributes(pl.tgAttrs[id])}); err != nil {
			return cloud.Status{}, nil, fmt.Errorf("target group %s attributes: %w", id, classify(err))
		}
	}

	// Listeners and rules before the load balancer, whose tags say whether theirs must be read again.
	for _, t := range pl.childTags {
		if err := p.retag(ctx, t); err != nil {
			return cloud.Status{}, nil, err
		}
	}
	lb, err := p.applyLoadBalancer(ctx, d, pl, sgIDs)
	if err != nil {
		return cloud.Status{}, nil, err
	}
	lbARN := deref(lb.LoadBalancerArn)
	if len(pl.lb.attrs) > 0 {
		if _, err := p.c.ELBV2.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{
			LoadBalancerArn: ptr(lbARN), Attributes: lbAttributes(pl.lb.attrs)}); err != nil {
			return cloud.Status{}, nil, fmt.Errorf("load balancer attributes: %w", classify(err))
		}
	}
	if err := p.applyCapacity(ctx, pl, lb.LoadBalancerArn); err != nil {
		return cloud.Status{}, nil, err
	}
	// While a replacement target group has no healthy target, rules and default actions send the traffic to the
	// group it replaces and weight 0 to it, so that it is health-checked; target syncs go to the new one (tgARN).
	ref := func(id string) string {
		if old, ok := pl.tgServing[id]; ok {
			return waitingRef(old, tgARN[id])
		}
		return tgARN[id]
	}
	// WAF before traffic: a load balancer whose model has a web ACL gets no listener until it is associated.
	if err := p.applyWAF(ctx, lbARN, d.wafACL); err != nil {
		return cloud.Status{}, nil, err
	}
	if err := p.applyListeners(ctx, stack, d.lb.Tags, lbARN, pl, ref); err != nil {
		return cloud.Status{}, nil, err
	}
	if err := p.applyShield(ctx, lb, d.lb.ShieldAdvanced); err != nil {
		return cloud.Status{}, nil, err
	}

	for _, arn := range pl.deleteListeners {
		if _, err := p.c.ELBV2.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: ptr(arn)}); err != nil && !hasCode(err, "ListenerNotFound") {
			return cloud.Status{}, nil, fmt.Errorf("deleting listener: %w", classify(err))
		}
	}
	// Only now that the new state serves are the resources it replaces retired, starting their grace period.
	for _, arn := range pl.retire {
		if _, err := p.c.ELBV2.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{arn}, Tags: []elbv2types.Tag{
			{Key: ptr(cloud.TagRetiredAt), Value: ptr(d.now.UTC().Format(time.RFC3339))}}}); err != nil {
			return cloud.Status{}, nil, fmt.Errorf("retiring %s: %w", arn, classify(err))
		}
	}
	st := cloud.Status{DNSName: deref(lb.DNSName), ID: lbARN, Warnings: pl.warnings, Pending: pl.pending}
	if s := pl.lb.serving; s != nil {
		st.DNSName, st.ID = deref(s.lb.DNSName), deref(s.lb.LoadBalancerArn)
	}
	if err := p.deleteAll(ctx, pl.deleteLBs, pl.deleteTGs, pl.deleteSGs); err != nil {
		if !cloud.IsPending(err) {
			return cloud.Status{}, nil, err
		}
		// The new state serves traffic; only the clean-up of what it replaced waits on AWS.
		st.Pending = true
	}
	return st, tgARN, nil
}

func (p *Provider) applySecurityGroup(ctx context.Context, d *desired, sp *sgPlan) (string, error) {
	id := sp.id
	if id == "" {
		out, err := p.c.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName:         ptr(d.sgName),
			Description:       ptr("[cloudlb] frontend of load balancer " + d.lb.Name),
			VpcId:             ptr(p.opts.VPCID),
			TagSpecifications: d.sgTags.ec2(ec2types.ResourceTypeSecurityGroup),
		})
		if err != nil {
			return "", classify(err)
		}
		id = deref(out.GroupId)
	}
	if len(sp.authorize) > 0 {
		if _, err := p.c.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: ptr(id), IpPermissions: sp.authorize}); err != nil &&
			!hasCode(err, "InvalidPermission.Duplicate") {
			return "", classify(err)
		}
	}
	if len(sp.revoke) > 0 {
		if _, err := p.c.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: ptr(id), IpPermissions: sp.revoke}); err != nil &&
			!hasCode(err, "InvalidPermission.NotFound") {
			return "", classify(err)
		}
	}
	return id, p.applySGTags(ctx, id, sp)
}

func (p *Provider) createTargetGroup(ctx context.Context, d *desired, tg cloud.TargetGroup) (string, error) {
	hc := tg.HealthCheck
	in := &elbv2.CreateTargetGroupInput{
		Name:                       ptr(d.tgNames[tg.ID]),
		Protocol:                   elbv2types.ProtocolEnum(tg.Protocol),
		Port:                       ptr(tg.Port),
		VpcId:                      ptr(p.opts.VPCID),
		TargetType:                 elbv2types.TargetTypeEnum(tg.TargetType),
		HealthCheckEnabled:         ptr(true),
		HealthCheckProtocol:        elbv2types.ProtocolEnum(hc.Protocol),
		HealthCheckPort:            ptr(hc.Port),
		HealthCheckPath:            ptr(hc.Path),
		HealthCheckIntervalSeconds: ptr(hc.IntervalSeconds),
		HealthCheckTimeoutSeconds:  ptr(hc.TimeoutSeconds),
		HealthyThresholdCount:      ptr(hc.HealthyThresholdCount),
		UnhealthyThresholdCount:    ptr(hc.UnhealthyThresholdCount),
		Matcher:                    matcher(hc),
		Tags:                       tgTags(d, tg).elbv2(),
	}
	// Left out at their defaults (HTTP1, ipv4), so that a group is created exactly as before these existed.
	if tg.ProtocolVersion != "" {
		in.ProtocolVersion = ptr(tg.ProtocolVersion)
	}
	if tg.IPAddressType != "" {
		in.IpAddressType = elbv2types.TargetGroupIpAddressTypeEnum(tg.IPAddressType)
	}
	out, err := p.c.ELBV2.CreateTargetGroup(ctx, in)
	if err != nil {
		return "", classify(err)
	}
	p.created.add(d.lb.Stack, deref(out.TargetGroups[0].TargetGroupArn))
	return deref(out.TargetGroups[0].TargetGroupArn), nil
}

// matcher is a health check's success codes: gRPC codes for a GRPC group, HTTP codes otherwise.
func matcher(hc cloud.HealthCheck) *elbv2types.Matcher {
	if hc.GRPCCodes != "" {
		return &elbv2types.Matcher{GrpcCode: ptr(hc.GRPCCodes)}
	}
	return &elbv2types.Matcher{HttpCode: ptr(hc.SuccessCodes)}
}

func (p *Provider) applyLoadBalancer(ctx context.Context, d *desired, pl *plan, sgIDs []string) (elbv2types.LoadBalancer, error) {
	if pl.lb.existing == nil {
		out, err := p.c.ELBV2.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
			Name:           ptr(d.lb.Name),
			Type:           elbv2types.LoadBalancerTypeEnumApplication,
			Scheme:         elbv2types.LoadBalancerSchemeEnum(d.lb.Scheme),
			IpAddressType:  elbv2types.IpAddressType(d.lb.IPAddressType),
			Subnets:        d.subnets,
			SecurityGroups: sgIDs,
			Tags:           d.tags.elbv2(),

			CustomerOwnedIpv4Pool: customerOwnedPool(d.lb),
			IpamPools:             ipamPools(d.lb),
		})
		if err != nil {
			return elbv2types.LoadBalancer{}, fmt.Errorf("creating load balancer %s: %w", d.lb.Name, classify(err))
		}
		created := out.LoadBalancers[0]
		// AWS answers a create with the settings of an existing load balancer by returning that one.
		if err := p.checkCreated(ctx, d.lb.Stack, created); err != nil {
			return elbv2types.LoadBalancer{}, err
		}
		return created, nil
	}
	lb := pl.lb.existing.lb
	arn := lb.LoadBalancerArn
	if pl.lb.setSubnets {
		if _, err := p.c.ELBV2.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: arn, Subnets: d.subnets}); err != nil {
			return lb, fmt.Errorf("setting subnets: %w", classify(err))
		}
	}
	if pl.lb.setSGs || pl.sg != nil && pl.sg.id == "" {
		if _, err := p.c.ELBV2.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: arn, SecurityGroups: sgIDs}); err != nil {
			return lb, fmt.Errorf("setting security groups: %w", classify(err))
		}
	}
	if err := p.removeIPAM(ctx, d, pl, arn); err != nil {
		return lb, err
	}
	if pl.lb.setIPType {
		if _, err := p.c.ELBV2.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: arn,
			IpAddressType: elbv2types.IpAddressType(d.lb.IPAddressType)}); err != nil {
			return lb, fmt.Errorf("setting IP address type: %w", classify(err))
		}
	}
	if err := p.setIPAM(ctx, d, pl, arn); err != nil {
		return lb, err
	}
	if pl.lb.tags != nil {
		if err := p.retag(ctx, *pl.lb.tags); err != nil {
			return lb, err
		}
	}
	return lb, nil
}

// checkCreated makes sure the load balancer CreateLoadBalancer returned is the stack's, and remembers it.
func (p *Provider) checkCreated(ctx context.Context, stack string, lb elbv2types.LoadBalancer) error {
	arn := deref(lb.LoadBalancerArn)
	tags, err := p.describeTags(ctx, []string{arn})
	if err != nil {
		return fmt.Errorf("reading tags of new load balancer %s: %w", arn, err)
	}
	if _, ok := tags[arn]; !ok {
		// Read-after-create lag: AWS may not find a load balancer it has just returned for a while.
		return cloud.Errorf(cloud.KindPending, "new load balancer %s cannot be read yet", arn)
	}
	if !p.owns(tags[arn], stack) {
		return cloud.Errorf(cloud.KindConflict, "load balancer name %s is taken by %s, which belongs to %s",
			deref(lb.LoadBalancerName), arn, ownerOf(tags[arn]))
	}
	p.created.add(stack, arn)
	return nil
}

// retag removes before it adds, so that renaming a key on a resource at the limit of 50 tags works.
func (p *Provider) retag(ctx context.Context, t tagChange) error {
	if len(t.remove) > 0 {
		if _, err := p.c.ELBV2.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{t.arn}, TagKeys: t.remove}); err != nil {
			return fmt.Errorf("untagging %s: %w", t.arn, classify(err))
		}
	}
	if len(t.set) > 0 {
		if _, err := p.c.ELBV2.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{t.arn}, Tags: t.set.elbv2()}); err != nil {
			return fmt.Errorf("tagging %s: %w", t.arn, classify(err))
		}
	}
	return nil
}

// applyListeners converges the listeners and their rules in an order that never drops traffic: new listeners,
// certificates added and rules reordered first; then every new rule, deleting rules going away only where the
// rule quota needs the room (ruleSteps); then rules modified and only then each listener's own settings and
// default action, since the rules that take over part of its traffic now exist; then certificates removed and
// the rules no longer wanted.
func (p *Provider) applyListeners(ctx context.Context, stack string, userTags map[string]string, lbARN string, pl *plan, tgARN func(string) string) error {
	arns := map[int32]string{}
	actions := func(a cloud.Action) []elbv2types.Action { return albActions(a, tgARN, pl.secrets) }
	for _, lp := range pl.listeners {
		arn, err := p.prepareListener(ctx, stack, userTags, lbARN, lp, actions)
		if err != nil {
			return fmt.Errorf("listener %d: %w", lp.want.Port, err)
		}
		arns[lp.want.Port] = arn
	}
	deleted := map[string]bool{}
	for _, s := range pl.ruleSteps {
		if s.del != "" {
			if err := p.deleteRule(ctx, s.del); err != nil {
				return err
			}
			deleted[s.del] = true
			continue
		}
		if _, err := p.c.ELBV2.CreateRule(ctx, &elbv2.CreateRuleInput{
			ListenerArn: ptr(arns[s.port]),
			Priority:    ptr(s.create.priority),
			Conditions:  albConditions(s.create.rule.Conditions),
			Actions:     actions(s.create.rule.Action),
			Transforms:  albTransforms(s.create.rule.Transforms),
			Tags:        p.tagsFor(userTags, stack, fmt.Sprintf("rule/%d", s.port)).elbv2(),
		}); err != nil {
			return fmt.Errorf("listener %d: creating rule at priority %d: %w", s.port, s.create.priority, classify(err))
		}
	}
	for _, lp := range pl.listeners {
		if err := p.finishListener(ctx, arns[lp.want.Port], lp, actions, deleted); err != nil {
			return fmt.Errorf("listener %d: %w", lp.want.Port, err)
		}
	}
	return nil
}

// prepareListener creates a new listener with its certificates, or reorders an existing one's rules.
func (p *Provider) prepareListener(ctx context.Context, stack string, userTags map[string]string, lbARN string, lp listenerPlan, actions func(cloud.Action) []elbv2types.Action) (string, error) {
	want := lp.want
	if lp.existing != nil {
		arn := deref(lp.existing.l.ListenerArn)
		// Moves target priorities no rule holds, so they never swap and need no temporary slots.
		if len(lp.rules.moves) > 0 {
			in := &elbv2.SetRulePrioritiesInput{}
			for _, m := range lp.rules.moves {
				in.RulePriorities = append(in.RulePriorities, elbv2types.RulePriorityPair{RuleArn: ptr(m.arn), Priority: ptr(m.priority)})
			}
			if _, err := p.c.ELBV2.SetRulePriorities(ctx, in); err != nil {
				return "", fmt.Errorf("reordering rules: %w", classify(err))
			}
		}
		return arn, nil
	}
	out, err := p.c.ELBV2.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: ptr(lbARN),
		Port:            ptr(want.Port),
		Protocol:        elbv2types.ProtocolEnum(want.Protocol),
		SslPolicy:       sslPolicy(want),
		Certificates:    defaultCertificate(want),
		DefaultActions:  actions(want.DefaultAction),
		Tags:            p.tagsFor(userTags, stack, fmt.Sprintf("listener/%d", want.Port)).elbv2(),
		// Only when the model sets it, so that a listener made without it is made as before.
		MutualAuthentication: albMutualAuthentication(want),
	})
	if err != nil {
		return "", certificateError(err, want.certs)
	}
	arn := deref(out.Listeners[0].ListenerArn)
	if err := p.setListenerAttributes(ctx, arn, lp.attrs); err != nil {
		return "", err
	}
	return arn, p.addCertificates(ctx, arn, lp.addCerts)
}

// finishListener modifies rules, then the listener itself, then removes what is no longer wanted.
func (p *Provider) finishListener(ctx context.Context, arn string, lp listenerPlan, actions func(cloud.Action) []elbv2types.Action, deleted map[string]bool) error {
	for _, m := range lp.rules.modify {
		in := &elbv2.ModifyRuleInput{
			RuleArn:    ptr(m.arn),
			Actions:    actions(m.rule.Action),
			Transforms: albTransforms(m.rule.Transforms),
		}
		if m.resetTransforms {
			in.ResetTransforms = ptr(true)
		}
		if _, err := p.c.ELBV2.ModifyRule(ctx, in); err != nil {
			return fmt.Errorf("modifying rule: %w", classify(err))
		}
	}
	if lp.existing != nil {
		if lp.modify {
			want := lp.want
			if _, err := p.c.ELBV2.ModifyListener(ctx, &elbv2.ModifyListenerInput{
				ListenerArn:    ptr(arn),
				Port:           ptr(want.Port),
				Protocol:       elbv2types.ProtocolEnum(want.Protocol),
				SslPolicy:      sslPolicy(want),
				Certificates:   defaultCertificate(want),
				DefaultActions: actions(want.DefaultAction),
				// nil when the model does not set it: AWS then leaves the listener's setting as it is.
				MutualAuthentication: albMutualAuthentication(want),
			}); err != nil {
				return certificateError(err, want.certs)
			}
		}
		if err := p.addCertificates(ctx, arn, lp.addCerts); err != nil {
			return err
		}
		if err := p.setListenerAttributes(ctx, arn, lp.attrs); err != nil {
			return err
		}
	}
	// AWS takes one certificate per RemoveListenerCertificates call.
	for _, c := range lp.delCerts {
		if _, err := p.c.ELBV2.RemoveListenerCertificates(ctx, &elbv2.RemoveListenerCertificatesInput{ListenerArn: ptr(arn),
			Certificates: []elbv2types.Certificate{{CertificateArn: ptr(c)}}}); err != nil {
			return classify(err)
		}
	}
	for _, r := range lp.rules.deletes {
		if !deleted[r] {
			if err := p.deleteRule(ctx, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// addCertificates adds certificates one by one: AWS takes one per AddListenerCertificates call.
func (p *Provider) addCertificates(ctx context.Context, listenerARN string, certs []string) error {
	for _, c := range certs {
		if _, err := p.c.ELBV2.AddListenerCertificates(ctx, &elbv2.AddListenerCertificatesInput{ListenerArn: ptr(listenerARN),
			Certificates: []elbv2types.Certificate{{CertificateArn: ptr(c)}}}); err != nil {
			return certificateError(err, []string{c})
		}
	}
	return nil
}

// certificateError names the certificates of a call AWS answered with certificate not found: they are the
// user's (annotation or ACM) and waiting will not bring them back.
func certificateError(err error, certs []string) error {
	if hasCode(err, certificateNotFound...) {
		return cloud.Errorf(cloud.KindInvalidSpec, "certificate not found among %s: fix the certificate-arn annotation or "+
			"re-issue the certificate in ACM (%v)", strings.Join(certs, ", "), err)
	}
	return classify(err)
}

func (p *Provider) deleteRule(ctx context.Context, arn string) error {
	if _, err := p.c.ELBV2.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: ptr(arn)}); err != nil && !hasCode(err, "RuleNotFound") {
		return fmt.Errorf("deleting rule: %w", classify(err))
	}
	return nil
}

func sslPolicy(l desiredListener) *string {
	if l.Protocol == cloud.ProtocolHTTPS {
		return ptr(l.SSLPolicy)
	}
	return nil
}

func defaultCertificate(l desiredListener) []elbv2types.Certificate {
	if len(l.certs) == 0 {
		return nil
	}
	return []elbv2types.Certificate{{CertificateArn: ptr(l.certs[0])}}
}

// copyTargets registers the targets of one target group in another.
func (p *Provider) copyTargets(ctx context.Context, from, to string) error {
	health, err := p.c.ELBV2.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: ptr(from)})
	if err != nil {
		return classify(err)
	}
	var targets []elbv2types.TargetDescription
	for _, h := range health.TargetHealthDescriptions {
		if h.Target != nil && (h.TargetHealth == nil || h.TargetHealth.State != elbv2types.TargetHealthStateEnumDraining) {
			targets = append(targets, elbv2types.TargetDescription{Id: h.Target.Id, Port: h.Target.Port})
		}
	}
	for _, batch := range chunks(targets, targetBatch) {
		if _, err := p.c.ELBV2.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: ptr(to), Targets: batch}); err != nil {
			return classify(err)
		}
	}
	return nil
}

func lbAttributes(m map[string]string) []elbv2types.LoadBalancerAttribute {
	out := make([]elbv2types.LoadBalancerAttribute, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, elbv2types.LoadBalancerAttribute{Key: ptr(k), Value: ptr(m[k])})
	}
	return out
}

func tgAttributes(m map[string]string) []elbv2types.TargetGroupAttribute {
	out := make([]elbv2types.TargetGroupAttribute, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, elbv2types.TargetGroupAttribute{Key: ptr(k), Value: ptr(m[k])})
	}
	return out
}

// applyWAF converges the web ACL association; nil leaves whatever is there alone.
func (p *Provider) applyWAF(ctx context.Context, lbARN string, want *string) error {
	if want == nil {
		return nil
	}
	out, err := p.c.WAFv2.GetWebACLForResource(ctx, &wafv2.GetWebACLForResourceInput{ResourceArn: ptr(lbARN)})
	if err != nil && !hasCode(err, "WAFNonexistentItemException") {
		return fmt.Errorf("reading web ACL association: %w", classify(err))
	}
	have := ""
	if out != nil && out.WebACL != nil {
		have = deref(out.WebACL.ARN)
	}
	switch {
	case have == *want:
		return nil
	case *want == "":
		_, err = p.c.WAFv2.DisassociateWebACL(ctx, &wafv2.DisassociateWebACLInput{ResourceArn: ptr(lbARN)})
	default:
		_, err = p.c.WAFv2.AssociateWebACL(ctx, &wafv2.AssociateWebACLInput{ResourceArn: ptr(lbARN), WebACLArn: want})
		if hasCode(err, "WAFNonexistentItemException") {
			return cloud.Errorf(cloud.KindInvalidSpec, "web ACL %s not found: fix the wafv2-acl-arn annotation (%v)", *want, err)
		}
	}
	if err != nil {
		return fmt.Errorf("web ACL association: %w", classify(err))
	}
	return nil
}

// shieldProtectionPrefix names the protections cloudlb creates; it only ever deletes protections so named.
const shieldProtectionPrefix = "cloudlb-"

// applyShield converges Shield Advanced protection; nil leaves whatever is there alone.
func (p *Provider) applyShield(ctx context.Context, lb elbv2types.LoadBalancer, want *bool) error {
	if want == nil {
		return nil
	}
	out, err := p.c.Shield.DescribeProtection(ctx, &shield.DescribeProtectionInput{ResourceArn: lb.LoadBalancerArn})
	if err != nil && !hasCode(err, "ResourceNotFoundException") {
		return fmt.Errorf("reading Shield protection: %w", classify(err))
	}
	exists := err == nil && out.Protection != nil
	switch {
	case *want && !exists:
		_, err = p.c.Shield.CreateProtection(ctx, &shield.CreateProtectionInput{
			Name: ptr(shieldProtectionPrefix + deref(lb.LoadBalancerName)), ResourceArn: lb.LoadBalancerArn})
	case !*want && exists && strings.HasPrefix(deref(out.Protection.Name), shieldProtectionPrefix):
		_, err = p.c.Shield.DeleteProtection(ctx, &shield.DeleteProtectionInput{ProtectionId: out.Protection.Id})
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("Shield protection: %w", classify(err))
	}
	return nil
}

// dropShield deletes the Shield protection cloudlb made for a load balancer about to be deleted. It is best
// effort on reading: most accounts have no Shield Advanced, and a protection left behind is cheaper than a
// load balancer that cannot be deleted.
func (p *Provider) dropShield(ctx context.Context, lbARN string) error {
	out, err := p.c.Shield.DescribeProtection(ctx, &shield.DescribeProtectionInput{ResourceArn: ptr(lbARN)})
	if err != nil || out.Protection == nil || !strings.HasPrefix(deref(out.Protection.Name), shieldProtectionPrefix) {
		return nil
	}
	if _, err := p.c.Shield.DeleteProtection(ctx, &shield.DeleteProtectionInput{ProtectionId: out.Protection.Id}); err != nil &&
		!hasCode(err, "ResourceNotFoundException") {
		return fmt.Errorf("deleting Shield protection of %s: %w", lbARN, classify(err))
	}
	return nil
}

// deleteAll deletes owned resources in reverse dependency order. Callers pass only ARNs and IDs whose ownership
// tags they have just read. A resource AWS is still releasing (a target group behind a load balancer being
// deleted, a security group whose network interfaces are not yet released) is KindPending, and the next attempt
// finishes; one held by something cloudlb does not own is KindBlocked, naming the blocker.
func (p *Provider) deleteAll(ctx context.Context, lbs, tgs, sgs []string) error {
	for _, arn := range lbs {
		if err := p.deleteLoadBalancer(ctx, arn); err != nil {
			return err
		}
	}
	for _, arn := range tgs {
		if _, err := p.c.ELBV2.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: ptr(arn)}); err != nil &&
			!hasCode(err, "TargetGroupNotFound") {
			if hasCode(err, "ResourceInUse") {
				return p.targetGroupInUse(ctx, arn, lbs)
			}
			return fmt.Errorf("deleting target group %s: %w", arn, classify(err))
		}
		p.forgetTargetGroup(arn)
		p.created.forget(arn)
	}
	for _, id := range sgs {
		if _, err := p.c.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: ptr(id)}); err != nil &&
			!hasCode(err, "InvalidGroup.NotFound") {
			if hasCode(err, "DependencyViolation") {
				return p.securityGroupInUse(ctx, id)
			}
			return fmt.Errorf("deleting security group %s: %w", id, classify(err))
		}
	}
	return nil
}

func (p *Provider) deleteLoadBalancer(ctx context.Context, arn string) error {
	if err := p.dropShield(ctx, arn); err != nil {
		return err
	}
	if _, err := p.c.ELBV2.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: ptr(arn)}); err != nil &&
		!hasCode(err, "LoadBalancerNotFound") {
		if hasCode(err, "OperationNotPermitted") {
			return cloud.Errorf(cloud.KindBlocked, "load balancer %s has deletion protection enabled (attribute "+
				"deletion_protection.enabled); cloudlb does not turn it off: disable it to let the load balancer be deleted", arn)
		}
		return fmt.Errorf("deleting load balancer %s: %w", arn, classify(err))
	}
	p.created.forget(arn)
	return nil
}

// targetGroupInUse explains a ResourceInUse on deleting a target group: pending while a load balancer being
// deleted still holds it, blocked when a load balancer cloudlb does not own for this cluster uses it.
func (p *Provider) targetGroupInUse(ctx context.Context, arn string, deleting []string) error {
	tgs, err := p.describeTGs(ctx, []string{arn})
	if err != nil {
		return err
	}
	var users []string
	for _, tg := range tgs {
		for _, lb := range tg.LoadBalancerArns {
			if !slices.Contains(deleting, lb) {
				users = append(users, lb)
			}
		}
	}
	if len(users) > 0 {
		tags, err := p.describeTags(ctx, users)
		if err != nil {
			return err
		}
		var foreign []string
		for _, lb := range users {
			if t, ok := tags[lb]; ok && (t[cloud.TagCluster] != p.opts.ClusterName || t[cloud.TagClusterID] != p.opts.ClusterID) {
				foreign = append(foreign, lb)
			}
		}
		if len(foreign) > 0 {
			return cloud.Errorf(cloud.KindBlocked, "target group %s is used by a listener or rule of load balancer %s, "+
				"which cloudlb does not own: remove that use to let the target group be deleted", arn, strings.Join(foreign, ", "))
		}
	}
	return cloud.Errorf(cloud.KindPending, "target group %s is still in use by a load balancer being deleted", arn)
}

// securityGroupInUse explains a DependencyViolation on deleting a security group: blocked while other groups'
// rules refer to it, pending while AWS releases the network interfaces of a deleted load balancer.
func (p *Provider) securityGroupInUse(ctx context.Context, id string) error {
	var refs []string
	for _, filter := range []string{"ip-permission.group-id", "egress.ip-permission.group-id"} {
		pages := ec2.NewDescribeSecurityGroupsPaginator(p.c.EC2, &ec2.DescribeSecurityGroupsInput{
			Filters: []ec2types.Filter{{Name: ptr(filter), Values: []string{id}}}})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return classify(err)
			}
			for _, sg := range page.SecurityGroups {
				if ref := deref(sg.GroupId); ref != id && !slices.Contains(refs, ref) {
					refs = append(refs, ref)
				}
			}
		}
	}
	if len(refs) > 0 {
		slices.Sort(refs)
		return cloud.Errorf(cloud.KindBlocked, "security group %s is referenced by the rules of security group %s: "+
			"remove those rules to let it be deleted", id, strings.Join(refs, ", "))
	}
	return cloud.Errorf(cloud.KindPending, "security group %s is still attached to network interfaces being released", id)
}
