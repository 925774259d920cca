package aws

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/shield"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	"github.com/aws/smithy-go/middleware"

	"github.com/cloudlb/cloudlb/cloud"
)

// Plan runs Ensure's resolve, observe and plan steps, and describes the plan instead of applying it. The few
// writes Ensure makes before it plans (adopting a legacy resource, requesting a certificate, making the shared
// backend group) are recorded as changes instead; and should anything else try to write, the SDK middleware
// refuses the call while a plan is being made (refuseWritesWhilePlanning).
func (p *Provider) Plan(ctx context.Context, lb *cloud.LoadBalancer, known cloud.Known) (cloud.Plan, error) {
	rec := &planRecorder{}
	ctx = context.WithValue(ctx, planKey{}, rec)
	p.backend.life.RLock()
	defer p.backend.life.RUnlock()
	pr, err := p.prepare(ctx, lb, known)
	if err != nil {
		return nil, err
	}
	if err := p.describePlan(ctx, pr, rec); err != nil {
		return nil, err
	}
	if !pr.certsPending {
		if _, err := p.deleteCertificates(ctx, lb.Stack, pr.a, pr.certsInUse); err != nil {
			return nil, err
		}
	}
	return cloud.SortChanges(rec.changes), nil
}

type planKey struct{}

// planRecorder collects the changes of a plan being made.
type planRecorder struct {
	mu      sync.Mutex
	changes []cloud.Change
}

func (r *planRecorder) add(c ...cloud.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c...)
}

// planning returns the recorder of the plan ctx is making, or nil when ctx is an Ensure's: code that writes
// before the plan is made records its change there instead.
func planning(ctx context.Context) *planRecorder {
	r, _ := ctx.Value(planKey{}).(*planRecorder)
	return r
}

// refuseWritesWhilePlanning fails, before it is sent, any call but a Describe, Get or List made for a plan: a
// plan that would need to write to be made is a bug, and must fail rather than change the cloud.
func refuseWritesWhilePlanning(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("cloudlb/plan-read-only",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			op := awsmiddleware.GetOperationName(ctx)
			if planning(ctx) != nil && !readOnlyOperation(op) {
				return middleware.InitializeOutput{}, middleware.Metadata{}, fmt.Errorf("%s refused: a plan makes no change", op)
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

func readOnlyOperation(op string) bool {
	return strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "Get") || strings.HasPrefix(op, "List")
}

// Resource kinds as a plan names them.
const (
	kindLB            = "load-balancer"
	kindListener      = "listener"
	kindListenerCert  = "listener-certificate"
	kindRule          = "rule"
	kindTG            = "target-group"
	kindSG            = "security-group"
	kindSGRule        = "security-group-rule"
	kindCert          = "certificate"
	kindWAF           = "web-acl-association"
	kindShield        = "shield-protection"
	newBackendGroupID = "(new backend security group)"
)

// describePlan turns a plan into changes, in the order apply makes them. Names stand for ARNs wherever the plan
// knows them, so that a plan reads the same on every run.
func (p *Provider) describePlan(ctx context.Context, pr *prepared, rec *planRecorder) error {
	d, a, pl := pr.d, pr.a, pr.pl
	names := map[string]string{}
	for _, tg := range a.targetGroups {
		names[deref(tg.tg.TargetGroupArn)] = deref(tg.tg.TargetGroupName)
	}
	for id, name := range d.tgNames {
		names["new:"+id] = name
	}
	for _, lb := range a.lbs {
		names[deref(lb.lb.LoadBalancerArn)] = deref(lb.lb.LoadBalancerName)
	}
	sgNames := map[string]string{}
	for _, sg := range a.securityGroups {
		sgNames[deref(sg.GroupId)] = deref(sg.GroupName)
	}
	// Longest first, so that no ARN is replaced inside a longer one.
	nameKeys := slices.SortedFunc(maps.Keys(names), func(x, y string) int { return len(y) - len(x) })
	readable := func(s string) string {
		for _, k := range nameKeys {
			s = strings.ReplaceAll(s, k, names[k])
		}
		return strings.ReplaceAll(s, waitingSep, "+")
	}
	var out []cloud.Change
	add := func(c cloud.Change) { out = append(out, c) }
	tagChanges := func(kind, res string, have tagSet, set tagSet, remove []string) {
		for _, k := range sortedKeys(set) {
			add(cloud.Change{Action: cloud.ActionTag, Kind: kind, Resource: res, Field: "tag " + k, Old: have[k], New: set[k]})
		}
		for _, k := range remove {
			add(cloud.Change{Action: cloud.ActionTag, Kind: kind, Resource: res, Field: "tag " + k, Old: have[k]})
		}
	}
	attrChanges := func(kind, res string, have, set map[string]string) {
		for _, k := range sortedKeys(set) {
			add(cloud.Change{Action: cloud.ActionModify, Kind: kind, Resource: res, Field: "attribute " + k, Old: have[k], New: set[k]})
		}
	}

	// Security group.
	if sp := pl.sg; sp != nil {
		if sp.id == "" {
			add(cloud.Change{Action: cloud.ActionCreate, Kind: kindSG, Resource: d.sgName, New: "frontend of " + d.lb.Name})
		} else {
			var have tagSet
			for _, sg := range a.securityGroups {
				if deref(sg.GroupId) == sp.id {
					have = fromEC2(sg.Tags)
				}
			}
			tagChanges(kindSG, d.sgName, have, sp.setTags, sp.removeTags)
		}
		for _, perm := range sp.authorize {
			add(cloud.Change{Action: cloud.ActionCreate, Kind: kindSGRule, Resource: d.sgName + " inbound " + permissionKey(perm)})
		}
		for _, perm := range sp.revoke {
			add(cloud.Change{Action: cloud.ActionDelete, Kind: kindSGRule, Resource: d.sgName + " inbound " + permissionKey(perm)})
		}
	}
	for _, id := range pl.deleteSGs {
		add(cloud.Change{Action: cloud.ActionDelete, Kind: kindSG, Resource: sgNames[id], Old: id})
	}

	// Target groups.
	tgByARN := map[string]*tgState{}
	for _, tg := range a.targetGroups {
		tgByARN[deref(tg.tg.TargetGroupArn)] = tg
	}
	for _, tg := range pl.createTGs {
		what := fmt.Sprintf("%s:%d %s for %s", tg.Protocol, tg.Port, tg.TargetType, tg.ID)
		if tg.ProtocolVersion != "" {
			what += " " + tg.ProtocolVersion
		}
		if tg.IPAddressType != "" {
			what += " " + tg.IPAddressType
		}
		add(cloud.Change{Action: cloud.ActionCreate, Kind: kindTG, Resource: d.tgNames[tg.ID], New: what})
	}
	for _, id := range sortedKeys(pl.copyTargets) {
		name := d.tgNames[id]
		add(cloud.Change{Action: cloud.ActionModify, Kind: kindTG, Resource: name, Field: "targets",
			New: "copied from " + names[pl.copyTargets[id]]})
	}
	for _, m := range pl.modifyTGs {
		have := tgByARN[m.arn]
		if have == nil {
			continue
		}
		want := healthCheckFields(m.want.HealthCheck)
		old := actualHealthCheckFields(have.tg)
		for _, k := range sortedKeys(want) {
			if old[k] != want[k] {
				add(cloud.Change{Action: cloud.ActionModify, Kind: kindTG, Resource: names[m.arn], Field: k, Old: old[k], New: want[k]})
			}
		}
	}
	for _, t := range pl.tgTags {
		var have tagSet
		if tg := tgByARN[t.arn]; tg != nil {
			have = tg.tags
		}
		tagChanges(kindTG, names[t.arn], have, t.set, t.remove)
	}
	for _, id := range sortedKeys(pl.tgAttrs) {
		var have map[string]string
		if tg := tgByARN[pl.keepTGs[id]]; tg != nil {
			have = tg.attrs
		}
		attrChanges(kindTG, d.tgNames[id], have, pl.tgAttrs[id])
	}
	for _, arn := range pl.deleteTGs {
		add(cloud.Change{Action: cloud.ActionDelete, Kind: kindTG, Resource: names[arn]})
	}

	// Load balancer.
	lbName := d.lb.Name
	keep := pl.lb.existing
	sgs := slices.Clone(d.userSGs)
	if sgs == nil {
		managed := "(new) " + d.sgName
		if pl.sg != nil && pl.sg.id != "" {
			managed = pl.sg.id
		}
		sgs = []string{managed}
	}
	sgs = append(sgs, d.backendSGs...)
	if keep == nil {
		add(cloud.Change{Action: cloud.ActionCreate, Kind: kindLB, Resource: lbName, New: fmt.Sprintf("%s %s, subnets %s, security groups %s",
			d.lb.Scheme, d.lb.IPAddressType, strings.Join(sorted(d.subnets), ","), strings.Join(sgs, ","))})
		attrChanges(kindLB, lbName, nil, pl.lb.attrs)
	} else {
		l := keep.lb
		if pl.lb.setSubnets {
			var have []string
			for _, az := range l.AvailabilityZones {
				have = append(have, deref(az.SubnetId))
			}
			add(cloud.Change{Action: cloud.ActionModify, Kind: kindLB, Resource: lbName, Field: "subnets",
				Old: strings.Join(sorted(have), ","), New: strings.Join(sorted(d.subnets), ",")})
		}
		if pl.lb.setSGs || pl.sg != nil && pl.sg.id == "" {
			add(cloud.Change{Action: cloud.ActionModify, Kind: kindLB, Resource: lbName, Field: "security-groups",
				Old: strings.Join(sorted(l.SecurityGroups), ","), New: strings.Join(sorted(sgs), ",")})
		}
		if pl.lb.setIPType {
			add(cloud.Change{Action: cloud.ActionModify, Kind: kindLB, Resource: lbName, Field: "ip-address-type",
				Old: string(l.IpAddressType), New: string(d.lb.IPAddressType)})
		}
		if pl.lb.setIPAM {
			have := ""
			if l.IpamPools != nil {
				have = deref(l.IpamPools.Ipv4IpamPoolId)
			}
			add(cloud.Change{Action: cloud.ActionModify, Kind: kindLB, Resource: lbName, Field: "ipam-pool", Old: have, New: d.lb.IPAMIPv4Pool})
		}
		if t := pl.lb.tags; t != nil {
			tagChanges(kindLB, lbName, keep.tags, t.set, t.remove)
		}
		attrChanges(kindLB, lbName, keep.attrs, pl.lb.attrs)
	}
	if c := pl.lb.capacity; c != nil {
		old := ""
		if keep != nil && keep.capacity != nil {
			old = fmt.Sprint(*keep.capacity)
		}
		add(cloud.Change{Action: cloud.ActionModify, Kind: kindLB, Resource: lbName, Field: "capacity-units", Old: old, New: fmt.Sprint(*c)})
	}
	if err := p.describeLBOptions(ctx, d, keep, add); err != nil {
		return err
	}
	for _, arn := range pl.deleteLBs {
		add(cloud.Change{Action: cloud.ActionDelete, Kind: kindLB, Resource: names[arn]})
	}

	// Listeners and rules.
	tgRef := pl.tgRef
	actions := func(ac cloud.Action) string { return readable(actionsKey(albActions(ac, tgRef, nil))) }
	ruleName := map[string]string{}
	if keep != nil {
		for _, l := range keep.listeners {
			for _, r := range l.rules {
				ruleName[deref(r.RuleArn)] = fmt.Sprintf("%s:%d %s", lbName, deref(l.l.Port), readable(conditionsKey(r.Conditions)))
			}
		}
	}
	for _, lp := range pl.listeners {
		res := fmt.Sprintf("%s:%d", lbName, lp.want.Port)
		if lp.existing == nil {
			what := fmt.Sprintf("%s, default action %s", lp.want.Protocol, actions(lp.want.DefaultAction))
			if lp.want.Protocol == cloud.ProtocolHTTPS {
				what += fmt.Sprintf(", ssl policy %s, certificate %s", lp.want.SSLPolicy, first(lp.want.certs))
			}
			add(cloud.Change{Action: cloud.ActionCreate, Kind: kindListener, Resource: res, New: what})
			attrChanges(kindListener, res, nil, lp.attrs)
		} else {
			have := lp.existing.l
			field := func(name, old, new string) {
				if old != new {
					add(cloud.Change{Action: cloud.ActionModify, Kind: kindListener, Resource: res, Field: name, Old: old, New: new})
				}
			}
			if lp.modify {
				field("protocol", string(have.Protocol), string(lp.want.Protocol))
				if lp.want.Protocol == cloud.ProtocolHTTPS {
					field("ssl-policy", deref(have.SslPolicy), lp.want.SSLPolicy)
				}
				defaultCert := ""
				if len(have.Certificates) > 0 {
					defaultCert = deref(have.Certificates[0].CertificateArn)
				}
				field("default-certificate", defaultCert, first(lp.want.certs))
				field("default-action", readable(actionsKey(have.DefaultActions)), actions(lp.want.DefaultAction))
				if mutualAuthenticationDiffers(have.MutualAuthentication, lp.want) {
					field("mutual-authentication", mutualAuthenticationText(have.MutualAuthentication), mutualAuthenticationText(albMutualAuthentication(lp.want)))
				}
				if staleSecret(lp.want.DefaultAction, lp.want.appliedSecrets) {
					add(cloud.Change{Action: cloud.ActionModify, Kind: kindListener, Resource: res, Field: "default-action client-secret",
						Old: "(applied)", New: "(changed)"})
				}
			}
			attrChanges(kindListener, res, lp.existing.attrs, lp.attrs)
		}
		for _, c := range lp.addCerts {
			add(cloud.Change{Action: cloud.ActionCreate, Kind: kindListenerCert, Resource: res + " " + c})
		}
		for _, c := range lp.delCerts {
			add(cloud.Change{Action: cloud.ActionDelete, Kind: kindListenerCert, Resource: res + " " + c})
		}
		have := map[string]elbv2types.Rule{}
		if lp.existing != nil {
			for _, r := range lp.existing.rules {
				have[deref(r.RuleArn)] = r
			}
		}
		for _, m := range lp.rules.moves {
			add(cloud.Change{Action: cloud.ActionModify, Kind: kindRule, Resource: ruleName[m.arn], Field: "priority",
				Old: deref(have[m.arn].Priority), New: fmt.Sprint(m.priority)})
		}
		for _, c := range lp.rules.creates {
			what := fmt.Sprintf("priority %d, %s", c.priority, actions(c.rule.Action))
			if t := transformsKey(albTransforms(c.rule.Transforms)); t != "" {
				what += ", transforms " + t
			}
			add(cloud.Change{Action: cloud.ActionCreate, Kind: kindRule, Resource: res + " " + readable(conditionsKey(albConditions(c.rule.Conditions))), New: what})
		}
		for _, m := range lp.rules.modify {
			r := have[m.arn]
			if old, new := readable(actionsKey(r.Actions)), actions(m.rule.Action); old != new {
				add(cloud.Change{Action: cloud.ActionModify, Kind: kindRule, Resource: ruleName[m.arn], Field: "actions", Old: old, New: new})
			} else if staleSecret(m.rule.Action, lp.want.appliedSecrets) {
				add(cloud.Change{Action: cloud.ActionModify, Kind: kindRule, Resource: ruleName[m.arn], Field: "actions client-secret",
					Old: "(applied)", New: "(changed)"})
			}
			if old, new := transformsKey(r.Transforms), transformsKey(albTransforms(m.rule.Transforms)); old != new {
				add(cloud.Change{Action: cloud.ActionModify, Kind: kindRule, Resource: ruleName[m.arn], Field: "transforms", Old: old, New: new})
			}
		}
		for _, arn := range lp.rules.deletes {
			add(cloud.Change{Action: cloud.ActionDelete, Kind: kindRule, Resource: ruleName[arn]})
		}
	}
	if keep != nil {
		for _, l := range keep.listeners {
			if slices.Contains(pl.deleteListeners, deref(l.l.ListenerArn)) {
				add(cloud.Change{Action: cloud.ActionDelete, Kind: kindListener, Resource: fmt.Sprintf("%s:%d", lbName, deref(l.l.Port)),
					Old: fmt.Sprintf("%s, %d rules", l.l.Protocol, len(l.rules))})
			}
		}
	}
	// One read for every listener and rule retagged, as Ensure's own read of them.
	childARNs := make([]string, 0, len(pl.childTags))
	for _, t := range pl.childTags {
		childARNs = append(childARNs, t.arn)
	}
	childTags, err := p.describeTags(ctx, childARNs)
	if err != nil {
		return err
	}
	for _, t := range pl.childTags {
		kind := kindListener
		res := ruleName[t.arn]
		if res == "" {
			for _, l := range keep.listeners {
				if deref(l.l.ListenerArn) == t.arn {
					res = fmt.Sprintf("%s:%d", lbName, deref(l.l.Port))
				}
			}
		} else {
			kind = kindRule
		}
		tagChanges(kind, res, childTags[t.arn], t.set, t.remove)
	}
	for _, arn := range pl.retire {
		kind := kindTG
		if isLBARN(arn) {
			kind = kindLB
		}
		add(cloud.Change{Action: cloud.ActionTag, Kind: kind, Resource: names[arn], Field: "tag " + cloud.TagRetiredAt, New: "(now)"})
	}
	rec.add(out...)
	return nil
}

// describeLBOptions reads what apply reads before it changes the web ACL association and Shield protection.
func (p *Provider) describeLBOptions(ctx context.Context, d *desired, keep *lbState, add func(cloud.Change)) error {
	if want := d.wafACL; want != nil {
		have := ""
		if keep != nil {
			out, err := p.c.WAFv2.GetWebACLForResource(ctx, &wafv2.GetWebACLForResourceInput{ResourceArn: keep.lb.LoadBalancerArn})
			if err != nil && !hasCode(err, "WAFNonexistentItemException") {
				return fmt.Errorf("reading web ACL association: %w", classify(err))
			}
			if out != nil && out.WebACL != nil {
				have = deref(out.WebACL.ARN)
			}
		}
		if have != *want {
			add(cloud.Change{Action: cloud.ActionModify, Kind: kindWAF, Resource: d.lb.Name, Field: "web-acl", Old: have, New: *want})
		}
	}
	if want := d.lb.ShieldAdvanced; want != nil {
		exists := false
		if keep != nil {
			out, err := p.c.Shield.DescribeProtection(ctx, &shield.DescribeProtectionInput{ResourceArn: keep.lb.LoadBalancerArn})
			if err != nil && !hasCode(err, "ResourceNotFoundException") {
				return fmt.Errorf("reading Shield protection: %w", classify(err))
			}
			exists = err == nil && out.Protection != nil
			if !*want && exists && !strings.HasPrefix(deref(out.Protection.Name), shieldProtectionPrefix) {
				exists = false // not cloudlb's: left alone
			}
		}
		switch {
		case *want && !exists:
			add(cloud.Change{Action: cloud.ActionCreate, Kind: kindShield, Resource: shieldProtectionPrefix + d.lb.Name})
		case !*want && exists:
			add(cloud.Change{Action: cloud.ActionDelete, Kind: kindShield, Resource: shieldProtectionPrefix + d.lb.Name})
		}
	}
	return nil
}

func healthCheckFields(hc cloud.HealthCheck) map[string]string {
	m := matcher(hc)
	return map[string]string{
		"health-check protocol": string(hc.Protocol), "health-check port": hc.Port, "health-check path": hc.Path,
		"health-check interval": fmt.Sprint(hc.IntervalSeconds), "health-check timeout": fmt.Sprint(hc.TimeoutSeconds),
		"health-check healthy-threshold": fmt.Sprint(hc.HealthyThresholdCount), "health-check unhealthy-threshold": fmt.Sprint(hc.UnhealthyThresholdCount),
		"health-check matcher": deref(m.HttpCode) + deref(m.GrpcCode),
	}
}

func actualHealthCheckFields(tg elbv2types.TargetGroup) map[string]string {
	m := ""
	if tg.Matcher != nil {
		m = deref(tg.Matcher.HttpCode) + deref(tg.Matcher.GrpcCode)
	}
	return map[string]string{
		"health-check protocol": string(tg.HealthCheckProtocol), "health-check port": deref(tg.HealthCheckPort),
		"health-check path": deref(tg.HealthCheckPath), "health-check interval": fmt.Sprint(deref(tg.HealthCheckIntervalSeconds)),
		"health-check timeout": fmt.Sprint(deref(tg.HealthCheckTimeoutSeconds)), "health-check healthy-threshold": fmt.Sprint(deref(tg.HealthyThresholdCount)),
		"health-check unhealthy-threshold": fmt.Sprint(deref(tg.UnhealthyThresholdCount)), "health-check matcher": m,
	}
}

func mutualAuthenticationText(m *elbv2types.MutualAuthenticationAttributes) string {
	if m == nil {
		return ""
	}
	return fmt.Sprintf("%s %s", deref(m.Mode), deref(m.TrustStoreArn))
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func backendGroupName(o Options) string {
	return cloud.Name(o.ClusterName+"\x00"+o.ClusterID+"\x00backend", "k8s-traffic", o.ClusterName)
}

// kindOf names the kind of an ELBv2 resource by its ARN.
func kindOf(arn string) string {
	switch {
	case isLBARN(arn):
		return kindLB
	case isTGARN(arn):
		return kindTG
	case strings.Contains(arn, ":listener-rule/"):
		return kindRule
	case strings.Contains(arn, ":listener/"):
		return kindListener
	}
	return "resource"
}
