package ingress

import (
	"encoding/json"
	"errors"
	"maps"
	"net"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/cloudlb/cloudlb/cloud"
)

// annotated is an Ingress whose one rule (host, /path Exact) goes to backend name with port use-annotation, or
// to web:80 when name is "web".
func annotated(ann map[string]string, host, name string) *networkingv1.Ingress {
	be := backend(name, useAnnotation)
	if name == "web" {
		be = backend("web", 80)
	}
	return ingress("app", ann, rule(host, httpPath("/path", networkingv1.PathTypeExact, be)))
}

// onlyRule translates ing and returns its one rule on port 80.
func onlyRule(g Gomega, ing *networkingv1.Ingress) (cloud.Rule, Output) {
	out := Translate(input(ing))
	g.Expect(out.Errors).To(BeEmpty())
	rules := listener(out.LoadBalancer, 80).Rules
	g.Expect(rules).To(HaveLen(1))
	return rules[0], out
}

func TestActions(t *testing.T) {
	const web, api = "ns/app/web:80", "ns/app/api:9000"
	for _, tc := range []struct {
		name, json string
		want       cloud.Action
	}{
		{"fixed-response", `{"type":"fixed-response","fixedResponseConfig":{"contentType":"text/plain","statusCode":"503","messageBody":"503 error text"}}`,
			cloud.Action{Type: cloud.ActionFixedResponse, FixedResponse: &cloud.FixedResponse{StatusCode: 503, ContentType: "text/plain", Body: "503 error text"}}},
		{"fixed-response with a numeric status and capitalised fields", `{"Type":"fixed-response","FixedResponseConfig":{"StatusCode":404}}`,
			cloud.Action{Type: cloud.ActionFixedResponse, FixedResponse: &cloud.FixedResponse{StatusCode: 404}}},
		{"redirect", `{"type":"redirect","redirectConfig":{"host":"aws.amazon.com","path":"/eks/","port":"443","protocol":"HTTPS","query":"k=v","statusCode":"HTTP_302"}}`,
			cloud.Action{Type: cloud.ActionRedirect, Redirect: &cloud.Redirect{Host: "aws.amazon.com", Path: "/eks/", Port: "443", Protocol: "HTTPS", Query: "k=v", StatusCode: 302}}},
		{"redirect with a numeric port", `{"type":"redirect","redirectConfig":{"protocol":"HTTPS","port":443,"statusCode":"HTTP_301"}}`,
			cloud.Action{Type: cloud.ActionRedirect, Redirect: &cloud.Redirect{Protocol: "HTTPS", Port: "443", StatusCode: 301}}},
		{"forward to a target group ARN", `{"type":"forward","targetGroupARN":"arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/legacy/abc"}`,
			cloud.Action{Type: cloud.ActionForward, Forward: []cloud.WeightedTargetGroup{{External: "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/legacy/abc", Weight: 1}}}},
		{"forward to a target group name", `{"type":"forward","targetGroupName":"legacy-tg"}`,
			cloud.Action{Type: cloud.ActionForward, Forward: []cloud.WeightedTargetGroup{{External: "legacy-tg", Weight: 1}}}},
		{"weighted forward with stickiness", `{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"web","servicePort":"80","weight":20},` +
			`{"serviceName":"api","servicePort":"grpc","weight":80},{"targetGroupName":"legacy","weight":0}],` +
			`"TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":200}}}`,
			cloud.Action{Type: cloud.ActionForward, Stickiness: 200, Forward: []cloud.WeightedTargetGroup{
				{TargetGroupID: web, Weight: 20}, {TargetGroupID: api, Weight: 80}, {External: "legacy", Weight: 0}}}},
		{"forward to a Service port by number", `{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"web","servicePort":80}],"targetGroupStickinessConfig":{"enabled":false}}}`,
			cloud.Action{Type: cloud.ActionForward, Forward: []cloud.WeightedTargetGroup{{TargetGroupID: web, Weight: 1}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			r, out := onlyRule(g, annotated(map[string]string{annActionsPrefix + "act": tc.json}, "", "act"))
			g.Expect(r.Action).To(Equal(tc.want))
			// Services named in a forward get target groups and bindings like any backend.
			var ids []string
			for _, f := range tc.want.Forward {
				if f.TargetGroupID != "" {
					ids = append(ids, f.TargetGroupID)
				}
			}
			var tgs, bound []string
			for _, tg := range out.LoadBalancer.TargetGroups {
				tgs = append(tgs, tg.ID)
			}
			for _, b := range out.Bindings {
				bound = append(bound, b.ID)
			}
			g.Expect(tgs).To(ConsistOf(ids))
			g.Expect(bound).To(ConsistOf(ids))
		})
	}
}

func TestActionsInvalid(t *testing.T) {
	for name, json := range map[string]string{
		"not JSON":                      `{"type":`,
		"unknown type":                  `{"type":"authenticate-oidc"}`,
		"fixed-response without config": `{"type":"fixed-response"}`,
		"fixed-response bad status":     `{"type":"fixed-response","fixedResponseConfig":{"statusCode":"302"}}`,
		"fixed-response bad type":       `{"type":"fixed-response","fixedResponseConfig":{"statusCode":"200","contentType":"image/png"}}`,
		"redirect bad status":           `{"type":"redirect","redirectConfig":{"statusCode":"301"}}`,
		"redirect bad protocol":         `{"type":"redirect","redirectConfig":{"protocol":"FTP","statusCode":"HTTP_301"}}`,
		"redirect bad port":             `{"type":"redirect","redirectConfig":{"port":"70000","statusCode":"HTTP_301"}}`,
		"redirect relative path":        `{"type":"redirect","redirectConfig":{"path":"x","statusCode":"HTTP_301"}}`,
		"forward without target":        `{"type":"forward"}`,
		"forward ARN and config":        `{"type":"forward","targetGroupARN":"arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/a/b","forwardConfig":{"targetGroups":[]}}`,
		"forward bad ARN":               `{"type":"forward","targetGroupARN":"legacy"}`,
		"forward bad name":              `{"type":"forward","targetGroupName":"-bad-"}`,
		"weights missing":               `{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"web","servicePort":80},{"serviceName":"api","servicePort":9000}]}}`,
		"weight out of range":           `{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"web","servicePort":80,"weight":1000}]}}`,
		"service and target group":      `{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"web","servicePort":80,"targetGroupName":"x"}]}}`,
		"service without port":          `{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"web"}]}}`,
		"repeated target group":         `{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"web","servicePort":80,"weight":1},{"serviceName":"web","servicePort":"http","weight":1}]}}`,
		"six target groups": `{"type":"forward","forwardConfig":{"targetGroups":[{"targetGroupName":"a","weight":1},{"targetGroupName":"b","weight":1},` +
			`{"targetGroupName":"c","weight":1},{"targetGroupName":"d","weight":1},{"targetGroupName":"e","weight":1},{"targetGroupName":"f","weight":1}]}}`,
		"stickiness without duration": `{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"web","servicePort":80}],"targetGroupStickinessConfig":{"enabled":true}}}`,
		"stickiness too long":         `{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"web","servicePort":80}],"targetGroupStickinessConfig":{"enabled":true,"durationSeconds":604801}}}`,
		"trailing data":               `{"type":"fixed-response","fixedResponseConfig":{"statusCode":"200"}} x`,
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(input(annotated(map[string]string{annActionsPrefix + "act": json}, "", "act"), webIngress("good", nil)))
			expectAnnotationError(g, out.Errors[key("app")], annActionsPrefix+"act")
			g.Expect(out.Members).To(HaveLen(1), "the other member is still served")
		})
	}
}

func TestActionsMissingOrUnused(t *testing.T) {
	g := NewWithT(t)
	// A use-annotation backend without its action.
	out := Translate(input(annotated(nil, "", "act")))
	expectAnnotationError(g, out.Errors[key("app")], annActionsPrefix+"act")
	// An action, conditions or transforms that no rule uses: most likely a misspelt backend name.
	for _, k := range []string{annActionsPrefix + "other", annConditionsPrefix + "other", annTransformsPrefix + "other"} {
		out := Translate(input(annotated(map[string]string{k: "[]"}, "", "web")))
		expectAnnotationError(g, out.Errors[key("app")], k)
	}
	// A Service port in a forward that does not exist is a missing backend, as for any rule.
	out = Translate(input(annotated(map[string]string{annActionsPrefix + "act": `{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"web","servicePort":81}]}}`}, "", "act")))
	g.Expect(out.Errors[key("app")]).To(BeAssignableToTypeOf(&ServiceError{}))
}

func TestActionOnTheDefaultBackend(t *testing.T) {
	g := NewWithT(t)
	ing := webIngress("app", map[string]string{annActionsPrefix + "teapot": `{"type":"fixed-response","fixedResponseConfig":{"statusCode":"418"}}`})
	ing.Spec.DefaultBackend = new(backend("teapot", useAnnotation))
	out := Translate(input(ing))
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(listener(out.LoadBalancer, 80).DefaultAction).To(Equal(cloud.Action{Type: cloud.ActionFixedResponse, FixedResponse: &cloud.FixedResponse{StatusCode: 418}}))
}

func TestConditions(t *testing.T) {
	exactPath := cloud.Condition{Type: cloud.ConditionPath, PathMatch: cloud.PathExact, Values: []string{"/path"}}
	host := func(v ...string) cloud.Condition { return cloud.Condition{Type: cloud.ConditionHost, Values: v} }
	for _, tc := range []struct {
		name, host, json string
		want             []cloud.Condition
	}{
		{"host-header values join the rule's host", "www.example.com", `[{"field":"host-header","hostHeaderConfig":{"values":["anno.example.com"]}}]`,
			[]cloud.Condition{host("www.example.com", "anno.example.com"), exactPath}},
		{"host-header without a rule host", "", `[{"field":"host-header","hostHeaderConfig":{"values":["Anno.example.com"]}}]`,
			[]cloud.Condition{exactPath, host("anno.example.com")}},
		{"host-header regex", "", `[{"field":"host-header","hostHeaderConfig":{"regexValues":["^(.+)\\.example\\.com$"]}}]`,
			[]cloud.Condition{exactPath, {Type: cloud.ConditionHost, Values: []string{`^(.+)\.example\.com$`}, Regex: true}}},
		{"path-pattern values join the rule's path", "", `[{"field":"path-pattern","pathPatternConfig":{"values":["/anno/path2"]}}]`,
			[]cloud.Condition{exactPath, {Type: cloud.ConditionPath, PathMatch: cloud.PathPattern, Values: []string{"/anno/path2"}}}},
		{"http-header", "", `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"HeaderName","values":["HeaderValue1","HeaderValue2"]}}]`,
			[]cloud.Condition{exactPath, {Type: cloud.ConditionHeader, HeaderName: "HeaderName", Values: []string{"HeaderValue1", "HeaderValue2"}}}},
		{"http-header regex", "", `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"User-Agent","regexValues":[".+Chrome.+"]}}]`,
			[]cloud.Condition{exactPath, {Type: cloud.ConditionHeader, HeaderName: "User-Agent", Values: []string{".+Chrome.+"}, Regex: true}}},
		{"http-request-method, capitalised", "", `[{"Field":"http-request-method","HttpRequestMethodConfig":{"Values":["GET","HEAD"]}}]`,
			[]cloud.Condition{exactPath, {Type: cloud.ConditionMethod, Values: []string{"GET", "HEAD"}}}},
		{"query-string", "", `[{"field":"query-string","queryStringConfig":{"values":[{"key":"paramA","value":"valueA1"},{"value":"alone"}]}}]`,
			[]cloud.Condition{exactPath, {Type: cloud.ConditionQuery, Query: []cloud.QueryMatch{{Key: "paramA", Value: "valueA1"}, {Value: "alone"}}}}},
		{"source-ip", "", `[{"field":"source-ip","sourceIpConfig":{"values":["192.168.0.0/16","2001:db8::/32"]}}]`,
			[]cloud.Condition{exactPath, {Type: cloud.ConditionSourceIP, Values: []string{"192.168.0.0/16", "2001:db8::/32"}}}},
		{"several", "", `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"H","values":["v"]}},` +
			`{"field":"query-string","queryStringConfig":{"values":[{"key":"a","value":"1"}]}},{"field":"query-string","queryStringConfig":{"values":[{"key":"b","value":"2"}]}}]`,
			[]cloud.Condition{exactPath, {Type: cloud.ConditionHeader, HeaderName: "H", Values: []string{"v"}},
				{Type: cloud.ConditionQuery, Query: []cloud.QueryMatch{{Key: "a", Value: "1"}}}, {Type: cloud.ConditionQuery, Query: []cloud.QueryMatch{{Key: "b", Value: "2"}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			// On a Service backend and on an action alike.
			for _, name := range []string{"web", "act"} {
				ann := map[string]string{annConditionsPrefix + name: tc.json,
					annActionsPrefix + "act": `{"type":"fixed-response","fixedResponseConfig":{"statusCode":"200"}}`}
				if name == "web" {
					delete(ann, annActionsPrefix+"act")
				}
				r, _ := onlyRule(g, annotated(ann, tc.host, name))
				g.Expect(r.Conditions).To(Equal(tc.want), name)
			}
		})
	}
}

func TestConditionsInvalid(t *testing.T) {
	for name, tc := range map[string]struct{ host, json string }{
		"not a list":                    {"", `{"field":"source-ip"}`},
		"unknown field":                 {"", `[{"field":"cookie","values":["x"]}]`},
		"missing config":                {"", `[{"field":"source-ip"}]`},
		"source-ip not a CIDR":          {"", `[{"field":"source-ip","sourceIpConfig":{"values":["10.0.0.300/8"]}}]`},
		"source-ip empty":               {"", `[{"field":"source-ip","sourceIpConfig":{"values":[]}}]`},
		"source-ip twice":               {"", `[{"field":"source-ip","sourceIpConfig":{"values":["10.0.0.0/8"]}},{"field":"source-ip","sourceIpConfig":{"values":["10.1.0.0/16"]}}]`},
		"source-ip regex":               {"", `[{"field":"source-ip","sourceIpConfig":{"regexValues":["10\\..*"]}}]`},
		"values and regexValues":        {"", `[{"field":"host-header","hostHeaderConfig":{"values":["a.com"],"regexValues":["a"]}}]`},
		"host regex with a rule host":   {"www.example.com", `[{"field":"host-header","hostHeaderConfig":{"regexValues":["^a$"]}}]`},
		"path regex without regex path": {"", `[{"field":"path-pattern","pathPatternConfig":{"regexValues":["^/a$"]}}]`},
		"bad method":                    {"", `[{"field":"http-request-method","httpRequestMethodConfig":{"values":["GET POST"]}}]`},
		"bad header name":               {"", `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"a b","values":["x"]}}]`},
		"empty query value":             {"", `[{"field":"query-string","queryStringConfig":{"values":[{"key":"a","value":""}]}}]`},
		"too many values":               {"www.example.com", `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"H","values":["1","2","3","4"]}}]`},
		"too many wildcards":            {"", `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"H","values":["***","***"]}}]`},
		"null":                          {"", `null`},
		"no condition":                  {"", `[]`},
		"host-header twice":             {"", `[{"field":"host-header","hostHeaderConfig":{"values":["a.com"]}},{"field":"host-header","hostHeaderConfig":{"values":["b.com"]}}]`},
		"path-pattern twice":            {"", `[{"field":"path-pattern","pathPatternConfig":{"values":["/a"]}},{"field":"path-pattern","pathPatternConfig":{"values":["/b"]}}]`},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(input(annotated(map[string]string{annConditionsPrefix + "web": tc.json}, tc.host, "web"), webIngress("good", nil)))
			expectAnnotationError(g, out.Errors[key("app")], annConditionsPrefix+"web")
			g.Expect(out.Members).To(HaveLen(1))
		})
	}
}

func TestUseRegexPathMatch(t *testing.T) {
	g := NewWithT(t)
	pattern, exact := networkingv1.PathTypeImplementationSpecific, networkingv1.PathTypeExact
	ing := ingress("app", map[string]string{annUseRegexPathMatch: "true",
		annConditionsPrefix + "api": `[{"field":"path-pattern","pathPatternConfig":{"regexValues":["^/v2/.*$"]}}]`},
		rule("", httpPath("/^/api/(.+)$", pattern, backend("api", 9000)), httpPath("/exact", exact, backend("web", 80))))
	out := Translate(input(ing))
	g.Expect(out.Errors).To(BeEmpty())
	rules := listener(out.LoadBalancer, 80).Rules
	g.Expect(rules).To(HaveLen(2))
	// Exact paths are not regexes, and come first.
	g.Expect(rules[0].Conditions).To(Equal([]cloud.Condition{{Type: cloud.ConditionPath, PathMatch: cloud.PathExact, Values: []string{"/exact"}}}))
	g.Expect(rules[1].Conditions).To(Equal([]cloud.Condition{
		{Type: cloud.ConditionPath, PathMatch: cloud.PathPattern, Values: []string{"^/api/(.+)$"}, Regex: true},
		{Type: cloud.ConditionPath, PathMatch: cloud.PathPattern, Values: []string{"^/v2/.*$"}, Regex: true}}))

	// Wildcard values cannot join a regex path; and the annotation must be a boolean.
	bad := ingress("app", map[string]string{annUseRegexPathMatch: "true",
		annConditionsPrefix + "api": `[{"field":"path-pattern","pathPatternConfig":{"values":["/v2/*"]}}]`},
		rule("", httpPath("/^/api$", pattern, backend("api", 9000))))
	expectAnnotationError(g, Translate(input(bad)).Errors[key("app")], annConditionsPrefix+"api")
	expectAnnotationError(g, Translate(input(webIngress("app", map[string]string{annUseRegexPathMatch: "yes"}))).Errors[key("app")], annUseRegexPathMatch)
	// "false" leaves ImplementationSpecific paths as wildcard patterns.
	r, _ := onlyRule(g, ingress("app", map[string]string{annUseRegexPathMatch: "false"}, rule("", httpPath("/api/*", pattern, backend("web", 80)))))
	g.Expect(r.Conditions).To(Equal([]cloud.Condition{{Type: cloud.ConditionPath, PathMatch: cloud.PathPattern, Values: []string{"/api/*"}}}))
}

func TestTransforms(t *testing.T) {
	g := NewWithT(t)
	r, _ := onlyRule(g, annotated(map[string]string{annTransformsPrefix + "web": `[
		{"type":"url-rewrite","urlRewriteConfig":{"rewrites":[{"regex":"^\\/api\\/(.+)$","replace":"/$1"}]}},
		{"Type":"host-header-rewrite","HostHeaderRewriteConfig":{"Rewrites":[{"Regex":"^(.+)\\.example\\.com$","Replace":"$1.example.org"}]}}]`}, "", "web"))
	g.Expect(r.Transforms).To(Equal([]cloud.Transform{
		{Type: cloud.TransformURL, Rewrites: []cloud.Rewrite{{Regex: `^\/api\/(.+)$`, Replace: "/$1"}}},
		{Type: cloud.TransformHostHeader, Rewrites: []cloud.Rewrite{{Regex: `^(.+)\.example\.com$`, Replace: "$1.example.org"}}}}))

	for name, json := range map[string]string{
		"not a list":        `{"type":"url-rewrite"}`,
		"null":              `null`,
		"unknown type":      `[{"type":"path-rewrite","urlRewriteConfig":{"rewrites":[{"regex":"a","replace":"b"}]}}]`,
		"config of another": `[{"type":"url-rewrite","hostHeaderRewriteConfig":{"rewrites":[{"regex":"a","replace":"b"}]}}]`,
		"no rewrites":       `[{"type":"url-rewrite","urlRewriteConfig":{"rewrites":[]}}]`,
		"empty regex":       `[{"type":"url-rewrite","urlRewriteConfig":{"rewrites":[{"regex":"","replace":"b"}]}}]`,
		"two of a type": `[{"type":"url-rewrite","urlRewriteConfig":{"rewrites":[{"regex":"a","replace":"b"}]}},` +
			`{"type":"url-rewrite","urlRewriteConfig":{"rewrites":[{"regex":"c","replace":"d"}]}}]`,
	} {
		out := Translate(input(annotated(map[string]string{annTransformsPrefix + "web": json}, "", "web")))
		expectAnnotationError(g, out.Errors[key("app")], annTransformsPrefix+"web")
		g.Expect(out.LoadBalancer).To(BeNil(), name)
	}
}

func TestOldSSLRedirectPattern(t *testing.T) {
	g := NewWithT(t)
	pattern := networkingv1.PathTypeImplementationSpecific
	ing := ingress("app", map[string]string{
		annListenPorts:                    `[{"HTTP": 80}, {"HTTPS": 443}]`,
		annCertificateARN:                 "arn:aws:acm:us-east-1:1:certificate/x",
		annActionsPrefix + "ssl-redirect": `{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}`,
	},
		rule("", httpPath("/*", pattern, backend("ssl-redirect", useAnnotation))),
		rule("www.example.com", httpPath("/*", pattern, backend("web", 80))),
		rule("", httpPath("/api/*", pattern, backend("api", 9000))))
	out := Translate(input(ing))
	g.Expect(out.Errors).To(BeEmpty())
	// HTTP: the redirect first, as listed, and nothing after it that it overshadows.
	http := listener(out.LoadBalancer, 80).Rules
	g.Expect(http).To(HaveLen(1))
	g.Expect(http[0].Action.Type).To(Equal(cloud.ActionRedirect))
	// HTTPS: no redirect to itself; the other rules, in their usual order.
	g.Expect(viewRules(listener(out.LoadBalancer, 443))).To(Equal([]ruleView{
		{1, "www.example.com", cloud.PathPattern, "/*", "ns/app/web:80"},
		{2, "", cloud.PathPattern, "/api/*", "ns/app/api:9000"},
	}))

	// A redirect elsewhere overshadows nothing and stays on both listeners.
	ing.Annotations[annActionsPrefix+"ssl-redirect"] = `{"type":"redirect","redirectConfig":{"host":"example.org","statusCode":"HTTP_302"}}`
	out = Translate(input(ing))
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(listener(out.LoadBalancer, 443).Rules).To(HaveLen(1), "a catch-all redirect overshadows the rest")
	g.Expect(listener(out.LoadBalancer, 443).Rules[0].Action.Type).To(Equal(cloud.ActionRedirect))
}

// FuzzRouting holds the routing parsers to the fuzz contract, and to fail-closed: whatever it accepts keeps every
// condition it was given (a source-ip that does not parse never yields a rule without it) and fits AWS's quotas.
func FuzzRouting(f *testing.F) {
	f.Add(`{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"web","servicePort":"80","weight":20},{"targetGroupName":"x","weight":80}],"targetGroupStickinessConfig":{"enabled":true,"durationSeconds":60}}}`,
		`[{"field":"source-ip","sourceIpConfig":{"values":["10.0.0.0/8"]}}]`, `[{"type":"url-rewrite","urlRewriteConfig":{"rewrites":[{"regex":"^/a$","replace":"/b"}]}}]`)
	f.Add(`{"type":"redirect","redirectConfig":{"protocol":"HTTPS","port":443,"statusCode":"HTTP_301"}}`,
		`[{"field":"host-header","hostHeaderConfig":{"values":["*.example.com"]}},{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X","regexValues":["a.*"]}}]`, ``)
	f.Add(`{"type":"fixed-response","fixedResponseConfig":{"statusCode":503}}`, `[{"field":"source-ip","sourceIpConfig":{"values":["10.0.0.1"]}}]`, `[]`)
	f.Fuzz(func(t *testing.T, action, conditions, transforms string) {
		ann := map[string]string{annActionsPrefix + "act": action, annConditionsPrefix + "act": conditions, annTransformsPrefix + "web": transforms}
		ing := ingress("app", ann,
			rule("a.example.com", httpPath("/api", networkingv1.PathTypePrefix, backend("act", useAnnotation))),
			rule("", httpPath("/x/*", networkingv1.PathTypeImplementationSpecific, backend("web", 80))))
		out := Translate(input(ing))
		if err := out.Errors[key("app")]; err != nil {
			var se *ServiceError
			if !errors.As(err, &se) {
				requireAnnotationError(t, err, slices.Collect(maps.Keys(ann))...)
			}
			return
		}
		var given []lbcCondition
		if err := json.Unmarshal([]byte(conditions), &given); err != nil {
			t.Fatalf("accepted conditions that do not parse: %q", conditions)
		}
		for _, l := range out.LoadBalancer.Listeners {
			for _, r := range l.Rules {
				if err := checkConditionQuota(r.Conditions); err != nil {
					t.Fatalf("accepted a rule past the quota: %v", err)
				}
				if n := len(r.Action.Forward); r.Action.Type == cloud.ActionForward && (n < 1 || n > 5) {
					t.Fatalf("forward to %d target groups", n)
				}
				for _, c := range r.Conditions {
					for _, v := range c.Values {
						if _, _, err := net.ParseCIDR(v); c.Type == cloud.ConditionSourceIP && err != nil {
							t.Fatalf("source-ip %q accepted", v)
						}
					}
				}
			}
		}
		// Every source-ip given is on the rule of backend act.
		for _, c := range given {
			if c.Field != "source-ip" {
				continue
			}
			found := false
			for _, r := range listener(out.LoadBalancer, 80).Rules {
				found = found || slices.ContainsFunc(r.Conditions, func(rc cloud.Condition) bool {
					return rc.Type == cloud.ConditionSourceIP && slices.Equal(rc.Values, c.SourceIPConfig.Values)
				})
			}
			if !found {
				t.Fatalf("source-ip %v dropped", c.SourceIPConfig.Values)
			}
		}
		if again := Translate(input(ing)); again.LoadBalancer.Hash() != out.LoadBalancer.Hash() {
			t.Fatal("same input, different model")
		}
	})
}

func TestActionServicesAreReadAndWatched(t *testing.T) {
	g := NewWithT(t)
	ing := ingress("app", map[string]string{
		annActionsPrefix + "split": `{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"web","servicePort":80,"weight":90},` +
			`{"serviceName":"canary","servicePort":80,"weight":10},{"targetGroupName":"legacy","weight":0}]}}`,
		annActionsPrefix + "ssl-redirect": `{"type":"redirect","redirectConfig":{"protocol":"HTTPS","statusCode":"HTTP_301"}}`,
		annActionsPrefix + "broken":       `{`,
	}, rule("", httpPath("/*", networkingv1.PathTypeImplementationSpecific, backend("ssl-redirect", useAnnotation)),
		httpPath("/split", networkingv1.PathTypePrefix, backend("split", useAnnotation)),
		httpPath("/b", networkingv1.PathTypePrefix, backend("broken", useAnnotation)),
		httpPath("/api", networkingv1.PathTypePrefix, backend("api", 9000))))
	// The Services behind the action, never the action's own name.
	g.Expect(indexByService(ing)).To(Equal([]string{"ns/web", "ns/canary", "ns/api"}))
}
