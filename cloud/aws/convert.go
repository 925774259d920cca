package aws

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// This file converts model conditions and actions to ELBv2 shapes, and both the desired and the observed
// shapes to canonical strings, so that the plan compares like with like whatever fields AWS (or an emulator)
// chooses to fill in.

// albConditions turns model conditions into ALB rule conditions.
func albConditions(conds []cloud.Condition) []elbv2types.RuleCondition {
	var out []elbv2types.RuleCondition
	for _, c := range conds {
		switch c.Type {
		case cloud.ConditionHost:
			out = append(out, elbv2types.RuleCondition{Field: ptr("host-header"),
				HostHeaderConfig: &elbv2types.HostHeaderConditionConfig{Values: slices.Clone(c.Values)}})
		case cloud.ConditionPath:
			var patterns []string
			for _, v := range c.Values {
				patterns = appendUnique(patterns, pathPatterns(c.PathMatch, v)...)
			}
			out = append(out, elbv2types.RuleCondition{Field: ptr("path-pattern"),
				PathPatternConfig: &elbv2types.PathPatternConditionConfig{Values: patterns}})
		case cloud.ConditionHeader:
			out = append(out, elbv2types.RuleCondition{Field: ptr("http-header"),
				HttpHeaderConfig: &elbv2types.HttpHeaderConditionConfig{HttpHeaderName: ptr(c.HeaderName), Values: slices.Clone(c.Values)}})
		case cloud.ConditionQuery:
			kvs := make([]elbv2types.QueryStringKeyValuePair, 0, len(c.Query))
			for _, q := range c.Query {
				kv := elbv2types.QueryStringKeyValuePair{Value: ptr(q.Value)}
				if q.Key != "" {
					kv.Key = ptr(q.Key)
				}
				kvs = append(kvs, kv)
			}
			out = append(out, elbv2types.RuleCondition{Field: ptr("query-string"),
				QueryStringConfig: &elbv2types.QueryStringConditionConfig{Values: kvs}})
		case cloud.ConditionMethod:
			out = append(out, elbv2types.RuleCondition{Field: ptr("http-request-method"),
				HttpRequestMethodConfig: &elbv2types.HttpRequestMethodConditionConfig{Values: slices.Clone(c.Values)}})
		case cloud.ConditionSourceIP:
			out = append(out, elbv2types.RuleCondition{Field: ptr("source-ip"),
				SourceIpConfig: &elbv2types.SourceIpConditionConfig{Values: slices.Clone(c.Values)}})
		}
	}
	return out
}

// pathPatterns expresses a path match as ALB path patterns. A prefix matches itself and everything under it,
// element-wise as Ingress requires, so "/api" matches "/api" and "/api/x" but not "/apix".
func pathPatterns(match cloud.PathMatch, path string) []string {
	switch match {
	case cloud.PathExact, cloud.PathPattern:
		return []string{path}
	default:
		p := strings.TrimSuffix(path, "/")
		if p == "" {
			return []string{"/*"}
		}
		return []string{p, p + "/*"}
	}
}

// conditionsKey is the canonical form of a rule's conditions: the rule's identity on its listener.
func conditionsKey(conds []elbv2types.RuleCondition) string {
	parts := make([]string, 0, len(conds))
	for _, c := range conds {
		field := deref(c.Field)
		var name string
		var values []string
		switch {
		case c.HostHeaderConfig != nil:
			values = lowerAll(c.HostHeaderConfig.Values)
		case c.PathPatternConfig != nil:
			values = slices.Clone(c.PathPatternConfig.Values)
		case c.HttpHeaderConfig != nil:
			name = strings.ToLower(deref(c.HttpHeaderConfig.HttpHeaderName))
			values = slices.Clone(c.HttpHeaderConfig.Values)
		case c.QueryStringConfig != nil:
			for _, kv := range c.QueryStringConfig.Values {
				values = append(values, deref(kv.Key)+"="+deref(kv.Value))
			}
		case c.HttpRequestMethodConfig != nil:
			values = slices.Clone(c.HttpRequestMethodConfig.Values)
		case c.SourceIpConfig != nil:
			values = slices.Clone(c.SourceIpConfig.Values)
		default:
			values = slices.Clone(c.Values)
			if field == "host-header" {
				values = lowerAll(values)
			}
		}
		slices.Sort(values)
		parts = append(parts, fmt.Sprintf("%s[%s]=%q", field, name, values))
	}
	slices.Sort(parts)
	return strings.Join(parts, "&")
}

// waitingSep joins, in what a tgARN function returns, the ARN of a replaced target group that keeps serving and
// the ARN of its replacement that waits for a healthy target.
const waitingSep = "\x00"

// forwardTargetGroupQuota is the most target groups one ALB forward action takes.
const forwardTargetGroupQuota = 5

// waitingRef is what a tgARN function returns for a target group whose replacement waits for a healthy target.
func waitingRef(serving, replacement string) string { return serving + waitingSep + replacement }

// albAction turns a model action into an ALB action; tgARN resolves target group IDs.
func albAction(a cloud.Action, tgARN func(id string) string) elbv2types.Action {
	switch a.Type {
	case cloud.ActionRedirect:
		r := a.Redirect
		return elbv2types.Action{Type: elbv2types.ActionTypeEnumRedirect, RedirectConfig: &elbv2types.RedirectActionConfig{
			Protocol:   ptr(orDefault(r.Protocol, "#{protocol}")),
			Host:       ptr(orDefault(r.Host, "#{host}")),
			Port:       ptr(orDefault(r.Port, "#{port}")),
			Path:       ptr(orDefault(r.Path, "/#{path}")),
			Query:      ptr(orDefault(r.Query, "#{query}")),
			StatusCode: elbv2types.RedirectActionStatusCodeEnum(fmt.Sprintf("HTTP_%d", r.StatusCode)),
		}}
	case cloud.ActionFixedResponse:
		f := a.FixedResponse
		cfg := &elbv2types.FixedResponseActionConfig{StatusCode: ptr(strconv.Itoa(int(f.StatusCode)))}
		if f.ContentType != "" {
			cfg.ContentType = ptr(f.ContentType)
		}
		if f.Body != "" {
			cfg.MessageBody = ptr(f.Body)
		}
		return elbv2types.Action{Type: elbv2types.ActionTypeEnumFixedResponse, FixedResponseConfig: cfg}
	default:
		tgs := make([]elbv2types.TargetGroupTuple, 0, len(a.Forward))
		var waiting []elbv2types.TargetGroupTuple
		for _, f := range a.Forward {
			arn := tgARN(f.TargetGroupID)
			// A replacement waiting for a healthy target (see waitingRef) takes weight 0 beside the group it
			// replaces: AWS health-checks only target groups a listener uses.
			if old, replacement, ok := strings.Cut(arn, waitingSep); ok {
				arn = old
				waiting = append(waiting, elbv2types.TargetGroupTuple{TargetGroupArn: ptr(replacement), Weight: ptr(int32(0))})
			}
			tgs = append(tgs, elbv2types.TargetGroupTuple{TargetGroupArn: ptr(arn), Weight: ptr(f.Weight)})
		}
		// Past the quota, waiting replacements go without health checks until the wait is over.
		tgs = append(tgs, waiting[:min(len(waiting), max(0, forwardTargetGroupQuota-len(tgs)))]...)
		return elbv2types.Action{Type: elbv2types.ActionTypeEnumForward, ForwardConfig: &elbv2types.ForwardActionConfig{TargetGroups: tgs}}
	}
}

// actionsKey is the canonical form of a list of ALB actions.
func actionsKey(actions []elbv2types.Action) string {
	parts := make([]string, 0, len(actions))
	for _, a := range byOrder(actions) {
		switch {
		case a.AuthenticateOidcConfig != nil || a.AuthenticateCognitoConfig != nil || a.JwtValidationConfig != nil:
			parts = append(parts, authKey(a))
		case a.Type == elbv2types.ActionTypeEnumForward:
			var tgs []string
			if a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) > 0 {
				for _, t := range a.ForwardConfig.TargetGroups {
					w := int32(1)
					if t.Weight != nil {
						w = *t.Weight
					}
					tgs = append(tgs, fmt.Sprintf("%s*%d", deref(t.TargetGroupArn), w))
				}
			} else {
				tgs = append(tgs, deref(a.TargetGroupArn)+"*1")
			}
			slices.Sort(tgs)
			parts = append(parts, "forward:"+strings.Join(tgs, ","))
		case a.Type == elbv2types.ActionTypeEnumRedirect && a.RedirectConfig != nil:
			r := a.RedirectConfig
			parts = append(parts, fmt.Sprintf("redirect:%s|%s|%s|%s|%s|%s", deref(r.Protocol), deref(r.Host), deref(r.Port),
				deref(r.Path), deref(r.Query), r.StatusCode))
		case a.Type == elbv2types.ActionTypeEnumFixedResponse && a.FixedResponseConfig != nil:
			f := a.FixedResponseConfig
			parts = append(parts, fmt.Sprintf("fixed:%s|%s|%s", deref(f.StatusCode), deref(f.ContentType), deref(f.MessageBody)))
		default:
			parts = append(parts, "other:"+string(a.Type))
		}
	}
	return strings.Join(parts, ";")
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func lowerAll(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.ToLower(s)
	}
	return out
}

func appendUnique(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}
