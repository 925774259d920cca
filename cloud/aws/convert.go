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

// albConditions turns model conditions into ALB rule conditions. Host and path conditions of the same kind
// (wildcard or regex) share one ALB condition, which ORs their values: AWS takes at most one of each per rule.
func albConditions(conds []cloud.Condition) []elbv2types.RuleCondition {
	var out []elbv2types.RuleCondition
	merged := map[string]int{}
	mergeable := func(key string, add func(i int)) bool {
		i, ok := merged[key]
		if ok {
			add(i)
		} else {
			merged[key] = len(out)
		}
		return ok
	}
	for _, c := range conds {
		switch c.Type {
		case cloud.ConditionHost:
			values := slices.Clone(c.Values)
			if mergeable(fmt.Sprintf("host/%t", c.Regex), func(i int) {
				h := out[i].HostHeaderConfig
				if c.Regex {
					h.RegexValues = appendUnique(h.RegexValues, values...)
				} else {
					h.Values = appendUnique(h.Values, values...)
				}
			}) {
				continue
			}
			cfg := &elbv2types.HostHeaderConditionConfig{Values: values}
			if c.Regex {
				cfg = &elbv2types.HostHeaderConditionConfig{RegexValues: values}
			}
			out = append(out, elbv2types.RuleCondition{Field: ptr("host-header"), HostHeaderConfig: cfg})
		case cloud.ConditionPath:
			var patterns []string
			for _, v := range c.Values {
				if c.Regex {
					patterns = appendUnique(patterns, v)
				} else {
					patterns = appendUnique(patterns, pathPatterns(c.PathMatch, v)...)
				}
			}
			if mergeable(fmt.Sprintf("path/%t", c.Regex), func(i int) {
				p := out[i].PathPatternConfig
				if c.Regex {
					p.RegexValues = appendUnique(p.RegexValues, patterns...)
				} else {
					p.Values = appendUnique(p.Values, patterns...)
				}
			}) {
				continue
			}
			cfg := &elbv2types.PathPatternConditionConfig{Values: patterns}
			if c.Regex {
				cfg = &elbv2types.PathPatternConditionConfig{RegexValues: patterns}
			}
			out = append(out, elbv2types.RuleCondition{Field: ptr("path-pattern"), PathPatternConfig: cfg})
		case cloud.ConditionHeader:
			cfg := &elbv2types.HttpHeaderConditionConfig{HttpHeaderName: ptr(c.HeaderName), Values: slices.Clone(c.Values)}
			if c.Regex {
				cfg = &elbv2types.HttpHeaderConditionConfig{HttpHeaderName: ptr(c.HeaderName), RegexValues: slices.Clone(c.Values)}
			}
			out = append(out, elbv2types.RuleCondition{Field: ptr("http-header"), HttpHeaderConfig: cfg})
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
		var values, regex []string
		switch {
		case c.HostHeaderConfig != nil:
			values = lowerAll(c.HostHeaderConfig.Values)
			regex = c.HostHeaderConfig.RegexValues
		case c.PathPatternConfig != nil:
			values = slices.Clone(c.PathPatternConfig.Values)
			regex = c.PathPatternConfig.RegexValues
		case c.HttpHeaderConfig != nil:
			name = strings.ToLower(deref(c.HttpHeaderConfig.HttpHeaderName))
			values = slices.Clone(c.HttpHeaderConfig.Values)
			regex = c.HttpHeaderConfig.RegexValues
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
		if len(regex) > 0 {
			// Regular expressions are case-sensitive as written, and never equal a wildcard condition.
			regex = slices.Clone(regex)
			slices.Sort(regex)
			parts = append(parts, fmt.Sprintf("%s[%s]~%q", field, name, regex))
			if len(values) == 0 {
				continue
			}
		}
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
			if f.External != "" {
				// Resolved to an ARN by the provider before any plan is made.
				tgs = append(tgs, elbv2types.TargetGroupTuple{TargetGroupArn: ptr(f.External), Weight: ptr(f.Weight)})
				continue
			}
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
		fc := &elbv2types.ForwardActionConfig{TargetGroups: tgs}
		if a.Stickiness > 0 {
			fc.TargetGroupStickinessConfig = &elbv2types.TargetGroupStickinessConfig{Enabled: ptr(true), DurationSeconds: ptr(a.Stickiness)}
		}
		return elbv2types.Action{Type: elbv2types.ActionTypeEnumForward, ForwardConfig: fc}
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
			key := "forward:" + strings.Join(tgs, ",")
			if a.ForwardConfig != nil && a.ForwardConfig.TargetGroupStickinessConfig != nil && deref(a.ForwardConfig.TargetGroupStickinessConfig.Enabled) {
				key += fmt.Sprintf("|sticky:%d", deref(a.ForwardConfig.TargetGroupStickinessConfig.DurationSeconds))
			}
			parts = append(parts, key)
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

// albTransforms turns model transforms into ALB rule transforms.
func albTransforms(ts []cloud.Transform) []elbv2types.RuleTransform {
	var out []elbv2types.RuleTransform
	for _, t := range ts {
		rewrites := make([]elbv2types.RewriteConfig, 0, len(t.Rewrites))
		for _, r := range t.Rewrites {
			rewrites = append(rewrites, elbv2types.RewriteConfig{Regex: ptr(r.Regex), Replace: ptr(r.Replace)})
		}
		rt := elbv2types.RuleTransform{Type: elbv2types.TransformTypeEnum(t.Type)}
		if t.Type == cloud.TransformHostHeader {
			rt.HostHeaderRewriteConfig = &elbv2types.HostHeaderRewriteConfig{Rewrites: rewrites}
		} else {
			rt.UrlRewriteConfig = &elbv2types.UrlRewriteConfig{Rewrites: rewrites}
		}
		out = append(out, rt)
	}
	return out
}

// transformsKey is the canonical form of a rule's transforms; AWS applies them in order, so order counts.
func transformsKey(ts []elbv2types.RuleTransform) string {
	var b strings.Builder
	for _, t := range ts {
		var rewrites []elbv2types.RewriteConfig
		switch {
		case t.HostHeaderRewriteConfig != nil:
			rewrites = t.HostHeaderRewriteConfig.Rewrites
		case t.UrlRewriteConfig != nil:
			rewrites = t.UrlRewriteConfig.Rewrites
		}
		fmt.Fprintf(&b, "%s:", t.Type)
		for _, r := range rewrites {
			fmt.Fprintf(&b, "%q>%q,", deref(r.Regex), deref(r.Replace))
		}
		b.WriteString(";")
	}
	return b.String()
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
