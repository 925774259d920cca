package aws

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/cloudlb/cloudlb/cloud"
)

func TestPathPatterns(t *testing.T) {
	cases := []struct {
		match cloud.PathMatch
		path  string
		want  []string
	}{
		{cloud.PathPrefix, "/", []string{"/*"}},
		{cloud.PathPrefix, "", []string{"/*"}},
		{cloud.PathPrefix, "/api", []string{"/api", "/api/*"}},
		{cloud.PathPrefix, "/api/", []string{"/api", "/api/*"}},
		{cloud.PathPrefix, "/api/v1", []string{"/api/v1", "/api/v1/*"}},
		{"", "/api", []string{"/api", "/api/*"}}, // unset means prefix, as for ImplementationSpecific
		{cloud.PathExact, "/api", []string{"/api"}},
		{cloud.PathExact, "/api/", []string{"/api/"}},
		{cloud.PathExact, "/", []string{"/"}},
		{cloud.PathPattern, "/img/*.png", []string{"/img/*.png"}},
		{cloud.PathPattern, "/a?c", []string{"/a?c"}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %q", tc.match, tc.path), func(t *testing.T) {
			if got := pathPatterns(tc.match, tc.path); !slices.Equal(got, tc.want) {
				t.Errorf("pathPatterns(%s, %q) = %q, want %q", tc.match, tc.path, got, tc.want)
			}
		})
	}
}

func TestConvertConditions(t *testing.T) {
	got := albConditions([]cloud.Condition{
		{Type: cloud.ConditionHost, Values: []string{"a.example.com", "b.example.com"}},
		{Type: cloud.ConditionPath, PathMatch: cloud.PathPrefix, Values: []string{"/api", "/api/", "/"}},
		{Type: cloud.ConditionHeader, HeaderName: "X-Env", Values: []string{"canary"}},
		{Type: cloud.ConditionQuery, Query: []cloud.QueryMatch{{Key: "v", Value: "2"}, {Value: "debug"}}},
		{Type: cloud.ConditionMethod, Values: []string{"GET"}},
		{Type: cloud.ConditionSourceIP, Values: []string{"10.0.0.0/8"}},
	})
	if len(got) != 6 {
		t.Fatalf("got %d conditions, want 6", len(got))
	}
	fields := make([]string, len(got))
	for i, c := range got {
		fields[i] = deref(c.Field)
	}
	if want := []string{"host-header", "path-pattern", "http-header", "query-string", "http-request-method", "source-ip"}; !slices.Equal(fields, want) {
		t.Errorf("fields %v, want %v", fields, want)
	}
	if v := got[1].PathPatternConfig.Values; !slices.Equal(v, []string{"/api", "/api/*", "/*"}) {
		t.Errorf("path patterns %q: want the prefix patterns once each", v)
	}
	if h := got[2].HttpHeaderConfig; deref(h.HttpHeaderName) != "X-Env" || !slices.Equal(h.Values, []string{"canary"}) {
		t.Errorf("header config %+v", h)
	}
	q := got[3].QueryStringConfig.Values
	if len(q) != 2 || deref(q[0].Key) != "v" || deref(q[0].Value) != "2" || q[1].Key != nil || deref(q[1].Value) != "debug" {
		t.Errorf("query config: want v=2 and a key-less debug, got %+v", q)
	}
	// The legacy Values field is not sent: AWS refuses it next to a config.
	for _, c := range got {
		if len(c.Values) > 0 {
			t.Errorf("%s sends legacy Values %v", deref(c.Field), c.Values)
		}
	}
}

func TestConditionsKey(t *testing.T) {
	host := func(values ...string) elbv2types.RuleCondition {
		return elbv2types.RuleCondition{Field: ptr("host-header"), HostHeaderConfig: &elbv2types.HostHeaderConditionConfig{Values: values}}
	}
	legacyHost := func(values ...string) elbv2types.RuleCondition {
		return elbv2types.RuleCondition{Field: ptr("host-header"), Values: values}
	}
	path := func(values ...string) elbv2types.RuleCondition {
		return elbv2types.RuleCondition{Field: ptr("path-pattern"), PathPatternConfig: &elbv2types.PathPatternConditionConfig{Values: values}}
	}
	legacyPath := func(values ...string) elbv2types.RuleCondition {
		return elbv2types.RuleCondition{Field: ptr("path-pattern"), Values: values}
	}
	both := func(c elbv2types.RuleCondition, values ...string) elbv2types.RuleCondition {
		c.Values = values
		return c
	}
	header := func(name string, values ...string) elbv2types.RuleCondition {
		return elbv2types.RuleCondition{Field: ptr("http-header"),
			HttpHeaderConfig: &elbv2types.HttpHeaderConditionConfig{HttpHeaderName: ptr(name), Values: values}}
	}
	query := func(kvs ...[2]string) elbv2types.RuleCondition {
		c := elbv2types.RuleCondition{Field: ptr("query-string"), QueryStringConfig: &elbv2types.QueryStringConditionConfig{}}
		for _, kv := range kvs {
			p := elbv2types.QueryStringKeyValuePair{Value: ptr(kv[1])}
			if kv[0] != "" {
				p.Key = ptr(kv[0])
			}
			c.QueryStringConfig.Values = append(c.QueryStringConfig.Values, p)
		}
		return c
	}
	conds := func(c ...elbv2types.RuleCondition) []elbv2types.RuleCondition { return c }

	same := []struct {
		name string
		a, b []elbv2types.RuleCondition
	}{
		{"legacy path Values vs PathPatternConfig", conds(legacyPath("/api", "/api/*")), conds(path("/api", "/api/*"))},
		{"legacy host Values vs HostHeaderConfig", conds(legacyHost("a.example.com")), conds(host("a.example.com"))},
		{"both filled in, as AWS returns", conds(both(host("a.example.com"), "a.example.com"), both(path("/x"), "/x")),
			conds(host("a.example.com"), path("/x"))},
		{"host case-insensitive", conds(host("A.Example.COM")), conds(host("a.example.com"))},
		{"legacy host case-insensitive", conds(legacyHost("A.EXAMPLE.com")), conds(host("a.example.com"))},
		{"value order", conds(host("b.example.com", "a.example.com")), conds(host("a.example.com", "b.example.com"))},
		{"path value order", conds(path("/b", "/a")), conds(legacyPath("/a", "/b"))},
		{"condition order", conds(path("/x"), host("a.example.com")), conds(host("a.example.com"), path("/x"))},
		{"header name case-insensitive", conds(header("X-Env", "canary")), conds(header("x-env", "canary"))},
		{"query pair order", conds(query([2]string{"a", "1"}, [2]string{"b", "2"})), conds(query([2]string{"b", "2"}, [2]string{"a", "1"}))},
		{"model conversion matches AWS shape", albConditions([]cloud.Condition{
			{Type: cloud.ConditionHost, Values: []string{"WWW.example.com"}},
			{Type: cloud.ConditionPath, PathMatch: cloud.PathPrefix, Values: []string{"/api/"}}}),
			conds(both(host("www.example.com"), "www.example.com"), both(path("/api/*", "/api"), "/api/*", "/api"))},
	}
	for _, tc := range same {
		t.Run("same/"+tc.name, func(t *testing.T) {
			if ka, kb := conditionsKey(tc.a), conditionsKey(tc.b); ka != kb {
				t.Errorf("keys differ:\n%s\n%s", ka, kb)
			}
		})
	}
	different := []struct {
		name string
		a, b []elbv2types.RuleCondition
	}{
		{"path case-sensitive", conds(path("/API")), conds(path("/api"))},
		{"other path", conds(path("/a")), conds(path("/b"))},
		{"subset of values", conds(path("/a")), conds(path("/a", "/b"))},
		{"host vs path with the same value", conds(host("/x")), conds(path("/x"))},
		{"extra condition", conds(host("a.example.com")), conds(host("a.example.com"), path("/*"))},
		{"host split across conditions", conds(host("a.example.com", "b.example.com")), conds(host("a.example.com"), host("b.example.com"))},
		{"header name", conds(header("X-A", "1")), conds(header("X-B", "1"))},
		{"header value", conds(header("X-A", "1")), conds(header("X-A", "2"))},
		{"query key", conds(query([2]string{"a", "1"})), conds(query([2]string{"b", "1"}))},
		{"query key-less", conds(query([2]string{"", "1"})), conds(query([2]string{"a", "1"}))},
	}
	for _, tc := range different {
		t.Run("different/"+tc.name, func(t *testing.T) {
			if ka, kb := conditionsKey(tc.a), conditionsKey(tc.b); ka == kb {
				t.Errorf("keys equal: %s", ka)
			}
		})
	}
}

func TestConvertActionsKey(t *testing.T) {
	const arnA, arnB = "arn:tg/a", "arn:tg/b"
	legacy := func(arn string) elbv2types.Action {
		return elbv2types.Action{Type: elbv2types.ActionTypeEnumForward, TargetGroupArn: ptr(arn)}
	}
	weighted := func(pairs ...any) elbv2types.Action {
		cfg := &elbv2types.ForwardActionConfig{}
		for i := 0; i < len(pairs); i += 2 {
			tt := elbv2types.TargetGroupTuple{TargetGroupArn: ptr(pairs[i].(string))}
			if w, ok := pairs[i+1].(int); ok {
				tt.Weight = ptr(int32(w))
			}
			cfg.TargetGroups = append(cfg.TargetGroups, tt)
		}
		return elbv2types.Action{Type: elbv2types.ActionTypeEnumForward, ForwardConfig: cfg}
	}
	ref := func(id string) string { return "arn:tg/" + id }
	model := func(a cloud.Action) elbv2types.Action { return albAction(a, ref) }
	redirect := &cloud.Redirect{Protocol: "HTTPS", Port: "443", StatusCode: 301}
	awsRedirect := elbv2types.Action{Type: elbv2types.ActionTypeEnumRedirect, Order: ptr(int32(1)),
		RedirectConfig: &elbv2types.RedirectActionConfig{Protocol: ptr("HTTPS"), Port: ptr("443"), Host: ptr("#{host}"),
			Path: ptr("/#{path}"), Query: ptr("#{query}"), StatusCode: elbv2types.RedirectActionStatusCodeEnumHttp301}}
	fixed := func(code, ctype, body string) elbv2types.Action {
		cfg := &elbv2types.FixedResponseActionConfig{StatusCode: ptr(code)}
		if ctype != "" {
			cfg.ContentType = ptr(ctype)
		}
		if body != "" {
			cfg.MessageBody = ptr(body)
		}
		return elbv2types.Action{Type: elbv2types.ActionTypeEnumFixedResponse, FixedResponseConfig: cfg}
	}

	same := []struct {
		name string
		a, b elbv2types.Action
	}{
		{"TargetGroupArn only vs ForwardConfig weight 1", legacy(arnA), weighted(arnA, 1)},
		{"weight unset means 1", weighted(arnA, nil), weighted(arnA, 1)},
		{"AWS fills both", awsForward(arnA), weighted(arnA, 1)},
		{"model forward matches AWS", model(forwardTo("a")), awsForward(arnA)},
		{"target group order", weighted(arnA, 80, arnB, 20), weighted(arnB, 20, arnA, 80)},
		{"model redirect defaults match AWS placeholders", model(cloud.Action{Type: cloud.ActionRedirect, Redirect: redirect}), awsRedirect},
		{"model fixed response matches AWS", model(cloud.Action{Type: cloud.ActionFixedResponse,
			FixedResponse: &cloud.FixedResponse{StatusCode: 503, ContentType: "text/plain", Body: "down"}}), fixed("503", "text/plain", "down")},
	}
	for _, tc := range same {
		t.Run("same/"+tc.name, func(t *testing.T) {
			if ka, kb := actionsKey([]elbv2types.Action{tc.a}), actionsKey([]elbv2types.Action{tc.b}); ka != kb {
				t.Errorf("keys differ:\n%s\n%s", ka, kb)
			}
		})
	}
	different := []struct {
		name string
		a, b elbv2types.Action
	}{
		{"different weights", weighted(arnA, 80, arnB, 20), weighted(arnA, 50, arnB, 50)},
		{"weight 1 vs 2", legacy(arnA), weighted(arnA, 2)},
		{"different target group", legacy(arnA), legacy(arnB)},
		{"one vs two groups", weighted(arnA, 1), weighted(arnA, 1, arnB, 1)},
		{"redirect status", awsRedirect, model(cloud.Action{Type: cloud.ActionRedirect,
			Redirect: &cloud.Redirect{Protocol: "HTTPS", Port: "443", StatusCode: 302}})},
		{"redirect host", awsRedirect, model(cloud.Action{Type: cloud.ActionRedirect,
			Redirect: &cloud.Redirect{Protocol: "HTTPS", Port: "443", Host: "example.com", StatusCode: 301}})},
		{"fixed status", fixed("503", "", ""), fixed("404", "", "")},
		{"fixed content type", fixed("503", "text/plain", ""), fixed("503", "application/json", "")},
		{"fixed body", fixed("503", "", "a"), fixed("503", "", "b")},
		{"forward vs fixed", legacy(arnA), fixed("200", "", "")},
	}
	for _, tc := range different {
		t.Run("different/"+tc.name, func(t *testing.T) {
			if ka, kb := actionsKey([]elbv2types.Action{tc.a}), actionsKey([]elbv2types.Action{tc.b}); ka == kb {
				t.Errorf("keys equal: %s", ka)
			}
		})
	}
}

func TestDiffTags(t *testing.T) {
	cases := []struct {
		name       string
		have, want tagSet
		set        tagSet
		remove     []string
	}{
		{"equal", tagSet{"a": "1", "b": "2"}, tagSet{"b": "2", "a": "1"}, tagSet{}, nil},
		{"both empty", nil, nil, tagSet{}, nil},
		{"added", tagSet{"a": "1"}, tagSet{"a": "1", "b": "2"}, tagSet{"b": "2"}, nil},
		{"changed", tagSet{"a": "1"}, tagSet{"a": "2"}, tagSet{"a": "2"}, nil},
		{"changed to empty value", tagSet{"a": "1"}, tagSet{"a": ""}, tagSet{"a": ""}, nil},
		{"empty value added", tagSet{}, tagSet{"a": ""}, tagSet{"a": ""}, nil},
		{"removed, sorted", tagSet{"z": "1", "a": "1", "m": "1"}, tagSet{"m": "1"}, tagSet{}, []string{"a", "z"}},
		{"mixed", tagSet{"keep": "1", "old": "1", "chg": "1"}, tagSet{"keep": "1", "chg": "2", "new": "3"},
			tagSet{"chg": "2", "new": "3"}, []string{"old"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set, remove := diffTags(tc.have, tc.want)
			if !maps.Equal(set, tc.set) || !slices.Equal(remove, tc.remove) {
				t.Errorf("diffTags = set %v remove %v, want set %v remove %v", set, remove, tc.set, tc.remove)
			}
			// Applying the diff gives want.
			got := tagSet{}
			maps.Copy(got, tc.have)
			maps.Copy(got, set)
			for _, k := range remove {
				delete(got, k)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("have + diff = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTagsForOwnershipWins(t *testing.T) {
	p := New(Clients{}, Options{ClusterName: "c1", ClusterID: "id1", DefaultTags: map[string]string{"env": "prod", "team": "default"}})
	got := p.tagsFor(map[string]string{"team": "web", cloud.TagCluster: "evil", cloud.TagClusterID: "evil", cloud.TagStack: "other", cloud.TagResource: "x"},
		"ns/a", "load-balancer")
	// --default-tags win over the annotation, as in the AWS Load Balancer Controller.
	want := tagSet{"env": "prod", "team": "default", cloud.TagCluster: "c1", cloud.TagClusterID: "id1", cloud.TagStack: "ns/a", cloud.TagResource: "load-balancer"}
	if !maps.Equal(got, want) {
		t.Errorf("tagsFor = %v, want %v", got, want)
	}
	if !p.owns(got, "ns/a") || p.owns(got, "ns/b") {
		t.Errorf("owns: the resource's own tags must own it for its stack only")
	}
	if p.owns(tagSet{cloud.TagStack: "ns/a"}, "ns/a") || p.owns(tagSet{cloud.TagCluster: "c1"}, "ns/a") {
		t.Errorf("owns without both tags")
	}
	if p.owns(tagSet{cloud.TagCluster: "c1", cloud.TagStack: "ns/a"}, "ns/a") ||
		p.owns(tagSet{cloud.TagCluster: "c1", cloud.TagClusterID: "id2", cloud.TagStack: "ns/a"}, "ns/a") {
		t.Errorf("owns without this cluster's identity")
	}
}

func TestClassify(t *testing.T) {
	apiErr := func(code string) error {
		return &smithy.GenericAPIError{Code: code, Message: "test", Fault: smithy.FaultClient}
	}
	cases := []struct {
		code string
		is   func(error) bool
	}{
		{"Throttling", cloud.IsThrottled},
		{"ThrottlingException", cloud.IsThrottled},
		{"RequestLimitExceeded", cloud.IsThrottled},
		{"TooManyRequestsException", cloud.IsThrottled},
		{"LoadBalancerNotFound", cloud.IsNotFound},
		{"TargetGroupNotFound", cloud.IsNotFound},
		{"ListenerNotFound", cloud.IsNotFound},
		{"RuleNotFound", cloud.IsNotFound},
		{"InvalidGroup.NotFound", cloud.IsNotFound},
		{"CertificateNotFound", cloud.IsInvalidSpec},
		{"CertificateNotFoundException", cloud.IsInvalidSpec},
		{"WAFNonexistentItemException", cloud.IsInvalidSpec},
		{"SubnetNotFound", cloud.IsInvalidSpec},
		{"DuplicateLoadBalancerName", cloud.IsConflict},
		{"DuplicateTargetGroupName", cloud.IsConflict},
		{"InvalidGroup.Duplicate", cloud.IsConflict},
		{"ValidationError", cloud.IsInvalidSpec},
		{"InvalidConfigurationRequest", cloud.IsInvalidSpec},
		{"TooManyRules", cloud.IsInvalidSpec},
	}
	kinds := map[string]func(error) bool{"throttled": cloud.IsThrottled, "not found": cloud.IsNotFound,
		"conflict": cloud.IsConflict, "invalid spec": cloud.IsInvalidSpec}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			for _, err := range []error{apiErr(tc.code), fmt.Errorf("operation X: %w", apiErr(tc.code))} {
				got := classify(err)
				if !tc.is(got) {
					t.Errorf("classify(%v) = %#v: not of the expected kind", err, got)
				}
				matches := 0
				for _, is := range kinds {
					if is(got) {
						matches++
					}
				}
				if matches != 1 {
					t.Errorf("classify(%v) is of %d kinds", err, matches)
				}
				// The API error stays reachable for code checks.
				if !hasCode(got, tc.code) {
					t.Errorf("hasCode(classify(%v), %s) = false", err, tc.code)
				}
			}
		})
	}
	t.Run("other errors pass through", func(t *testing.T) {
		if classify(nil) != nil {
			t.Error("classify(nil) != nil")
		}
		plain := errors.New("boom")
		if got := classify(plain); !errors.Is(got, plain) || cloud.IsThrottled(got) || cloud.IsNotFound(got) {
			t.Errorf("classify(plain) = %v", got)
		}
		unknown := apiErr("InternalFailure")
		got := classify(unknown)
		if !errors.Is(got, unknown) {
			t.Errorf("classify(unknown) = %v", got)
		}
		for name, is := range kinds {
			if is(got) {
				t.Errorf("unknown code classified as %s", name)
			}
		}
	})
}

func TestRulePriority(t *testing.T) {
	cases := []struct {
		p    *string
		want int32
	}{
		{ptr("10"), 10},
		{ptr("50000"), 50000},
		{ptr("1"), 1},
		{ptr("default"), 0},
		{ptr(""), 0},
		{ptr("1a"), 0},
		{nil, 0},
	}
	for _, tc := range cases {
		if got := rulePriority(elbv2types.Rule{Priority: tc.p}); got != tc.want {
			t.Errorf("rulePriority(%v) = %d, want %d", deref(tc.p), got, tc.want)
		}
	}
}

// TestWaitingReplacementsWithinTheForwardQuota checks that a replacement waiting for a healthy target is added
// at weight 0 to the forward actions using its group, but never past the 5 target groups AWS takes in one.
func TestWaitingReplacementsWithinTheForwardQuota(t *testing.T) {
	action := func(n int) cloud.Action {
		a := cloud.Action{Type: cloud.ActionForward}
		for i := range n {
			a.Forward = append(a.Forward, cloud.WeightedTargetGroup{TargetGroupID: fmt.Sprintf("tg%d", i), Weight: 1})
		}
		return a
	}
	ref := func(id string) string {
		if id == "tg0" {
			return waitingRef("arn:old0", "arn:new0")
		}
		return "arn:" + id
	}
	if got, want := actionsKey([]elbv2types.Action{albAction(action(2), ref)}), "forward:arn:new0*0,arn:old0*1,arn:tg1*1"; got != want {
		t.Errorf("two groups, one waiting: %s, want %s", got, want)
	}
	if got := albAction(action(5), ref).ForwardConfig.TargetGroups; len(got) != 5 || deref(got[0].TargetGroupArn) != "arn:old0" {
		t.Errorf("five groups, one waiting: %d groups, first %s; want the five serving ones only", len(got), deref(got[0].TargetGroupArn))
	}
}

func TestConvertRegexAndMergedConditions(t *testing.T) {
	got := albConditions([]cloud.Condition{
		{Type: cloud.ConditionHost, Values: []string{"a.example.com"}},
		{Type: cloud.ConditionPath, PathMatch: cloud.PathPrefix, Values: []string{"/api"}},
		// An annotation's extra host and path values join the Ingress's: AWS takes one of each per rule.
		{Type: cloud.ConditionHost, Values: []string{"b.example.com"}},
		{Type: cloud.ConditionPath, PathMatch: cloud.PathPattern, Values: []string{"/anno/*"}},
		{Type: cloud.ConditionHeader, HeaderName: "User-Agent", Values: []string{".+Chrome.+"}, Regex: true},
	})
	if len(got) != 3 {
		t.Fatalf("got %d conditions, want host, path and header", len(got))
	}
	if v := got[0].HostHeaderConfig.Values; !slices.Equal(v, []string{"a.example.com", "b.example.com"}) {
		t.Errorf("hosts %q", v)
	}
	if v := got[1].PathPatternConfig.Values; !slices.Equal(v, []string{"/api", "/api/*", "/anno/*"}) {
		t.Errorf("paths %q", v)
	}
	if h := got[2].HttpHeaderConfig; len(h.Values) != 0 || !slices.Equal(h.RegexValues, []string{".+Chrome.+"}) {
		t.Errorf("header %+v: want regexValues only", h)
	}

	regex := albConditions([]cloud.Condition{{Type: cloud.ConditionHost, Values: []string{"^A$"}, Regex: true},
		{Type: cloud.ConditionPath, PathMatch: cloud.PathPattern, Values: []string{"^/a$"}, Regex: true}})
	if h, p := regex[0].HostHeaderConfig, regex[1].PathPatternConfig; len(h.Values)+len(p.Values) != 0 ||
		!slices.Equal(h.RegexValues, []string{"^A$"}) || !slices.Equal(p.RegexValues, []string{"^/a$"}) {
		t.Errorf("regex host %+v path %+v", h, p)
	}
	// A regex never compares equal to the same text as a wildcard value, and keeps its case.
	wild := albConditions([]cloud.Condition{{Type: cloud.ConditionHost, Values: []string{"^A$"}},
		{Type: cloud.ConditionPath, PathMatch: cloud.PathPattern, Values: []string{"^/a$"}}})
	if conditionsKey(regex) == conditionsKey(wild) {
		t.Errorf("regex and wildcard conditions share the key %s", conditionsKey(regex))
	}
	lowered := albConditions([]cloud.Condition{{Type: cloud.ConditionHost, Values: []string{"^a$"}, Regex: true},
		{Type: cloud.ConditionPath, PathMatch: cloud.PathPattern, Values: []string{"^/a$"}, Regex: true}})
	if conditionsKey(regex) == conditionsKey(lowered) {
		t.Errorf("regexes differing in case share the key %s", conditionsKey(regex))
	}
}

func TestConvertStickinessExternalAndTransforms(t *testing.T) {
	ref := func(id string) string { return "arn:owned/" + id }
	fwd := cloud.Action{Type: cloud.ActionForward, Forward: []cloud.WeightedTargetGroup{
		{TargetGroupID: "a", Weight: 20}, {External: "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/legacy/x", Weight: 80}}}
	plain := albAction(fwd, ref)
	if tgs := plain.ForwardConfig.TargetGroups; deref(tgs[0].TargetGroupArn) != "arn:owned/a" ||
		deref(tgs[1].TargetGroupArn) != "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/legacy/x" || deref(tgs[1].Weight) != 80 {
		t.Errorf("forward %+v", tgs)
	}
	if plain.ForwardConfig.TargetGroupStickinessConfig != nil {
		t.Errorf("stickiness sent when off")
	}
	fwd.Stickiness = 120
	sticky := albAction(fwd, ref)
	if s := sticky.ForwardConfig.TargetGroupStickinessConfig; !deref(s.Enabled) || deref(s.DurationSeconds) != 120 {
		t.Errorf("stickiness %+v", s)
	}
	if actionsKey([]elbv2types.Action{plain}) == actionsKey([]elbv2types.Action{sticky}) {
		t.Errorf("stickiness does not change the key")
	}
	// AWS reports stickiness off explicitly: the same as not sending it.
	off := albAction(cloud.Action{Type: cloud.ActionForward, Forward: fwd.Forward}, ref)
	off.ForwardConfig.TargetGroupStickinessConfig = &elbv2types.TargetGroupStickinessConfig{Enabled: ptr(false)}
	if actionsKey([]elbv2types.Action{plain}) != actionsKey([]elbv2types.Action{off}) {
		t.Errorf("stickiness off reads as a change")
	}

	ts := []cloud.Transform{{Type: cloud.TransformURL, Rewrites: []cloud.Rewrite{{Regex: "^/api/(.+)$", Replace: "/$1"}}},
		{Type: cloud.TransformHostHeader, Rewrites: []cloud.Rewrite{{Regex: "a", Replace: "b"}}}}
	got := albTransforms(ts)
	if len(got) != 2 || got[0].UrlRewriteConfig == nil || deref(got[0].UrlRewriteConfig.Rewrites[0].Replace) != "/$1" ||
		got[1].HostHeaderRewriteConfig == nil || deref(got[1].HostHeaderRewriteConfig.Rewrites[0].Regex) != "a" {
		t.Errorf("transforms %+v", got)
	}
	changed := albTransforms([]cloud.Transform{{Type: cloud.TransformURL, Rewrites: []cloud.Rewrite{{Regex: "^/api/(.+)$", Replace: "/v2/$1"}}}, ts[1]})
	if transformsKey(got) == transformsKey(changed) || transformsKey(nil) != "" {
		t.Errorf("transforms keys do not tell the change")
	}
}
