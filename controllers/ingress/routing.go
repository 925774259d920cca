package ingress

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/cloudlb/cloudlb/cloud"
)

// The per-backend annotation families of the AWS Load Balancer Controller: actions.${name} (the action of a
// backend whose port is use-annotation), conditions.${name} and transforms.${name} (added to every rule whose
// backend is ${name}), and use-regex-path-match. Their JSON is LBC's, read with encoding/json, which matches
// field names case-insensitively as LBC does ("type" and "Type").
const (
	annActionsPrefix     = albPrefix + "actions."
	annConditionsPrefix  = albPrefix + "conditions."
	annTransformsPrefix  = albPrefix + "transforms."
	annUseRegexPathMatch = albPrefix + "use-regex-path-match"

	// useAnnotation as a backend's port name says its action is in actions.${service name}.
	useAnnotation = "use-annotation"
)

// flexString reads a JSON string or number, as LBC's ports and status codes come either way.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number, got %s", b)
	}
	*f = flexString(n.String())
	return nil
}

type lbcAction struct {
	Type                string            `json:"type"`
	TargetGroupARN      *string           `json:"targetGroupARN"`
	TargetGroupName     *string           `json:"targetGroupName"`
	FixedResponseConfig *lbcFixedResponse `json:"fixedResponseConfig"`
	RedirectConfig      *lbcRedirect      `json:"redirectConfig"`
	ForwardConfig       *lbcForwardConfig `json:"forwardConfig"`
}

type lbcFixedResponse struct {
	ContentType *string    `json:"contentType"`
	MessageBody *string    `json:"messageBody"`
	StatusCode  flexString `json:"statusCode"`
}

type lbcRedirect struct {
	Host       *string     `json:"host"`
	Path       *string     `json:"path"`
	Port       *flexString `json:"port"`
	Protocol   *string     `json:"protocol"`
	Query      *string     `json:"query"`
	StatusCode string      `json:"statusCode"`
}

type lbcForwardConfig struct {
	TargetGroups                []lbcTargetGroup `json:"targetGroups"`
	TargetGroupStickinessConfig *struct {
		Enabled         *bool       `json:"enabled"`
		DurationSeconds *flexString `json:"durationSeconds"`
	} `json:"targetGroupStickinessConfig"`
}

type lbcTargetGroup struct {
	TargetGroupARN  *string     `json:"targetGroupARN"`
	TargetGroupName *string     `json:"targetGroupName"`
	ServiceName     *string     `json:"serviceName"`
	ServicePort     *flexString `json:"servicePort"`
	Weight          *flexString `json:"weight"`
}

type lbcValues struct {
	Values      []string `json:"values"`
	RegexValues []string `json:"regexValues"`
}

type lbcCondition struct {
	Field            string     `json:"field"`
	HostHeaderConfig *lbcValues `json:"hostHeaderConfig"`
	HTTPHeaderConfig *struct {
		HTTPHeaderName string `json:"httpHeaderName"`
		lbcValues
	} `json:"httpHeaderConfig"`
	HTTPRequestMethodConfig *lbcValues `json:"httpRequestMethodConfig"`
	PathPatternConfig       *lbcValues `json:"pathPatternConfig"`
	QueryStringConfig       *struct {
		Values []struct {
			Key   *string `json:"key"`
			Value string  `json:"value"`
		} `json:"values"`
	} `json:"queryStringConfig"`
	SourceIPConfig *lbcValues `json:"sourceIPConfig"`
}

type lbcRewrites struct {
	Rewrites []struct {
		Regex   string `json:"regex"`
		Replace string `json:"replace"`
	} `json:"rewrites"`
}

type lbcTransform struct {
	Type                    string       `json:"type"`
	HostHeaderRewriteConfig *lbcRewrites `json:"hostHeaderRewriteConfig"`
	URLRewriteConfig        *lbcRewrites `json:"urlRewriteConfig"`
}

// routes builds the rules of one member: the backends' actions, the Ingress's host and path, and the extra
// conditions and transforms of the annotations. It records which annotations a rule used, so that one that
// applies to nothing (a misspelt backend name) is refused rather than silently dropped.
type routes struct {
	a        annotations
	backends *backendResolver
	useRegex bool
	used     map[string]bool
}

func newRoutes(a annotations, backends *backendResolver) (*routes, error) {
	r := &routes{a: a, backends: backends, used: map[string]bool{}}
	if v, ok := a[annUseRegexPathMatch]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return nil, a.fail(annUseRegexPathMatch, "must be true or false")
		}
		r.useRegex = b
	}
	return r, nil
}

// action is what a backend does: forward to its Service, or the action of actions.${name} when its port is
// use-annotation.
func (r *routes) action(be *networkingv1.IngressBackend) (cloud.Action, error) {
	if be.Service == nil || be.Service.Port.Name != useAnnotation {
		return r.backends.forward(be)
	}
	key := annActionsPrefix + be.Service.Name
	raw, ok := r.a[key]
	if !ok {
		return cloud.Action{}, &AnnotationError{Key: key, Reason: fmt.Sprintf(
			"backend %s has port use-annotation but the annotation is missing", be.Service.Name)}
	}
	r.used[key] = true
	var act lbcAction
	if err := decodeStrict(raw, &act); err != nil {
		return cloud.Action{}, r.a.fail(key, "not an action: %v", err)
	}
	out, err := r.convertAction(act)
	var missing *ServiceError
	if errors.As(err, &missing) {
		// A missing Service is reported as for any backend, and the Ingress is tried again when it appears.
		return cloud.Action{}, missing
	}
	if err != nil {
		return cloud.Action{}, r.a.fail(key, "%v", err)
	}
	// Fail closed: the Ingress's authentication goes before every action it asks for, as in LBC, not only
	// before forwards to its Services.
	if out.Authenticate == nil {
		if out.Authenticate, err = authFor(r.backends.in, r.backends.ing, nil); err != nil {
			return cloud.Action{}, err
		}
	}
	return out, nil
}

// actionServices names the Services that the forward of actions.${name} routes to, so that they are read and
// watched like backends; an action that does not parse names none, and translation reports it.
func actionServices(ann map[string]string, name string) []string {
	var act lbcAction
	if decodeStrict(ann[annActionsPrefix+name], &act) != nil || act.ForwardConfig == nil {
		return nil
	}
	var out []string
	for _, tg := range act.ForwardConfig.TargetGroups {
		if tg.ServiceName != nil {
			out = append(out, *tg.ServiceName)
		}
	}
	return out
}

// decodeStrict reads one JSON value and refuses trailing data.
func decodeStrict(raw string, v any) error {
	d := json.NewDecoder(bytes.NewReader([]byte(raw)))
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("unexpected data after the JSON value")
	}
	return nil
}

var (
	fixedStatusRE  = regexp.MustCompile(`^[245]\d\d$`)
	fixedTypes     = []string{"text/plain", "text/css", "text/html", "application/javascript", "application/json"}
	redirectStatus = map[string]int32{"HTTP_301": 301, "HTTP_302": 302}
)

func (r *routes) convertAction(act lbcAction) (cloud.Action, error) {
	switch act.Type {
	case string(cloud.ActionFixedResponse):
		f := act.FixedResponseConfig
		if f == nil {
			return cloud.Action{}, fmt.Errorf("fixed-response needs fixedResponseConfig")
		}
		if !fixedStatusRE.MatchString(string(f.StatusCode)) {
			return cloud.Action{}, fmt.Errorf("fixedResponseConfig.statusCode %q must be a 2XX, 4XX or 5XX code", f.StatusCode)
		}
		code, _ := strconv.Atoi(string(f.StatusCode))
		out := &cloud.FixedResponse{StatusCode: int32(code)}
		if f.ContentType != nil {
			if !slices.Contains(fixedTypes, *f.ContentType) {
				return cloud.Action{}, fmt.Errorf("fixedResponseConfig.contentType %q must be one of %s", *f.ContentType, strings.Join(fixedTypes, ", "))
			}
			out.ContentType = *f.ContentType
		}
		if f.MessageBody != nil {
			if len(*f.MessageBody) > 1024 {
				return cloud.Action{}, fmt.Errorf("fixedResponseConfig.messageBody has %d characters, more than the 1024 AWS allows", len(*f.MessageBody))
			}
			out.Body = *f.MessageBody
		}
		return cloud.Action{Type: cloud.ActionFixedResponse, FixedResponse: out}, nil
	case string(cloud.ActionRedirect):
		return convertRedirect(act.RedirectConfig)
	case string(cloud.ActionForward):
		return r.convertForward(act)
	}
	return cloud.Action{}, fmt.Errorf("type %q must be forward, redirect or fixed-response", act.Type)
}

func convertRedirect(c *lbcRedirect) (cloud.Action, error) {
	if c == nil {
		return cloud.Action{}, fmt.Errorf("redirect needs redirectConfig")
	}
	code, ok := redirectStatus[c.StatusCode]
	if !ok {
		return cloud.Action{}, fmt.Errorf("redirectConfig.statusCode %q must be HTTP_301 or HTTP_302", c.StatusCode)
	}
	out := &cloud.Redirect{StatusCode: code}
	get := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	out.Host, out.Path, out.Query, out.Protocol = get(c.Host), get(c.Path), get(c.Query), get(c.Protocol)
	if c.Port != nil {
		out.Port = string(*c.Port)
	}
	if p := out.Protocol; p != "" && p != "HTTP" && p != "HTTPS" && p != "#{protocol}" {
		return cloud.Action{}, fmt.Errorf("redirectConfig.protocol %q must be HTTP, HTTPS or #{protocol}", p)
	}
	if p := out.Port; p != "" && p != "#{port}" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return cloud.Action{}, fmt.Errorf("redirectConfig.port %q must be a port number or #{port}", p)
		}
	}
	if out.Path != "" && !strings.HasPrefix(out.Path, "/") {
		return cloud.Action{}, fmt.Errorf("redirectConfig.path %q must start with /", out.Path)
	}
	if strings.HasPrefix(out.Query, "?") {
		return cloud.Action{}, fmt.Errorf("redirectConfig.query %q must not start with ?", out.Query)
	}
	if len(out.Host) > 128 || len(out.Path) > 128 || len(out.Query) > 128 {
		return cloud.Action{}, fmt.Errorf("redirectConfig host, path and query are at most 128 characters each")
	}
	return cloud.Action{Type: cloud.ActionRedirect, Redirect: out}, nil
}

// stickinessMax is AWS's longest target group stickiness for a forward action: 7 days.
const stickinessMax = 604800

func (r *routes) convertForward(act lbcAction) (cloud.Action, error) {
	fc := act.ForwardConfig
	if act.TargetGroupARN != nil || act.TargetGroupName != nil {
		if fc != nil {
			return cloud.Action{}, fmt.Errorf("set either forwardConfig or targetGroupARN/targetGroupName, not both")
		}
		fc = &lbcForwardConfig{TargetGroups: []lbcTargetGroup{{TargetGroupARN: act.TargetGroupARN, TargetGroupName: act.TargetGroupName}}}
	}
	if fc == nil || len(fc.TargetGroups) == 0 {
		return cloud.Action{}, fmt.Errorf("forward needs forwardConfig.targetGroups or targetGroupARN/targetGroupName")
	}
	if n := len(fc.TargetGroups); n > 5 {
		return cloud.Action{}, fmt.Errorf("forward has %d target groups; AWS takes at most 5", n)
	}
	out := cloud.Action{Type: cloud.ActionForward}
	servicesSeen := 0
	for i, tg := range fc.TargetGroups {
		wtg := cloud.WeightedTargetGroup{Weight: 1}
		switch {
		case tg.Weight != nil:
			w, err := strconv.Atoi(string(*tg.Weight))
			if err != nil || w < 0 || w > 999 {
				return cloud.Action{}, fmt.Errorf("targetGroups[%d].weight %q must be an integer from 0 to 999", i, *tg.Weight)
			}
			wtg.Weight = int32(w)
		case len(fc.TargetGroups) > 1:
			return cloud.Action{}, fmt.Errorf("targetGroups[%d] has no weight, which forwarding to several target groups needs", i)
		}
		external := tg.TargetGroupARN != nil || tg.TargetGroupName != nil
		switch {
		case external && tg.ServiceName != nil:
			return cloud.Action{}, fmt.Errorf("targetGroups[%d] sets both serviceName and a target group", i)
		case tg.TargetGroupARN != nil && tg.TargetGroupName != nil:
			return cloud.Action{}, fmt.Errorf("targetGroups[%d] sets both targetGroupARN and targetGroupName", i)
		case tg.TargetGroupARN != nil:
			if !strings.HasPrefix(*tg.TargetGroupARN, "arn:") || !strings.Contains(*tg.TargetGroupARN, ":targetgroup/") {
				return cloud.Action{}, fmt.Errorf("targetGroups[%d].targetGroupARN %q is not a target group ARN", i, *tg.TargetGroupARN)
			}
			wtg.External = *tg.TargetGroupARN
		case tg.TargetGroupName != nil:
			if !tgNameRE.MatchString(*tg.TargetGroupName) {
				return cloud.Action{}, fmt.Errorf("targetGroups[%d].targetGroupName %q is not a target group name", i, *tg.TargetGroupName)
			}
			wtg.External = *tg.TargetGroupName
		case tg.ServiceName != nil:
			if tg.ServicePort == nil {
				return cloud.Action{}, fmt.Errorf("targetGroups[%d] has serviceName but no servicePort", i)
			}
			be := &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: *tg.ServiceName}}
			// A numeric string is a port number, as LBC reads it.
			if n, err := strconv.Atoi(string(*tg.ServicePort)); err == nil {
				be.Service.Port.Number = int32(n)
			} else {
				be.Service.Port.Name = string(*tg.ServicePort)
			}
			if be.Service.Port.Name == useAnnotation {
				return cloud.Action{}, fmt.Errorf("targetGroups[%d].servicePort cannot be use-annotation", i)
			}
			fwd, err := r.backends.forward(be)
			if err != nil {
				return cloud.Action{}, err
			}
			// One rule authenticates one way: the Services of a forward must agree on it (their auth-*
			// annotations over the Ingress's), and the action takes it.
			if servicesSeen > 0 && !reflect.DeepEqual(out.Authenticate, fwd.Authenticate) {
				return cloud.Action{}, fmt.Errorf("targetGroups[%d]: Service %s asks for another authentication than the other Services of this forward", i, *tg.ServiceName)
			}
			out.Authenticate = fwd.Authenticate
			servicesSeen++
			wtg.TargetGroupID = fwd.Forward[0].TargetGroupID
		default:
			return cloud.Action{}, fmt.Errorf("targetGroups[%d] needs serviceName and servicePort, targetGroupARN or targetGroupName", i)
		}
		if slices.ContainsFunc(out.Forward, func(o cloud.WeightedTargetGroup) bool {
			return o.TargetGroupID == wtg.TargetGroupID && o.External == wtg.External
		}) {
			return cloud.Action{}, fmt.Errorf("targetGroups[%d] repeats a target group", i)
		}
		out.Forward = append(out.Forward, wtg)
	}
	if s := fc.TargetGroupStickinessConfig; s != nil && s.Enabled != nil && *s.Enabled {
		if s.DurationSeconds == nil {
			return cloud.Action{}, fmt.Errorf("targetGroupStickinessConfig.durationSeconds is needed when stickiness is enabled")
		}
		d, err := strconv.Atoi(string(*s.DurationSeconds))
		if err != nil || d < 1 || d > stickinessMax {
			return cloud.Action{}, fmt.Errorf("targetGroupStickinessConfig.durationSeconds %q must be from 1 to %d", *s.DurationSeconds, stickinessMax)
		}
		out.Stickiness = int32(d)
	}
	return out, nil
}

var tgNameRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$`)

// extras are what a conditions.${name} annotation adds to a rule.
type extras struct {
	hosts, hostRegex, paths, pathRegex []string
	others                             []cloud.Condition
}

var (
	methodRE     = regexp.MustCompile(`^[A-Za-z_-]{1,40}$`)
	headerNameRE = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_` + "`" + `|~-]{1,40}$`)
)

// conditions reads conditions.${name}.
func (r *routes) conditions(name string) (extras, error) {
	var ex extras
	key := annConditionsPrefix + name
	raw, ok := r.a[key]
	if !ok {
		return ex, nil
	}
	r.used[key] = true
	var conds []lbcCondition
	if err := decodeStrict(raw, &conds); err != nil {
		return ex, r.a.fail(key, "not a list of conditions: %v", err)
	}
	// Fail closed: an empty list (a template that rendered nothing) would serve the rule unrestricted.
	if len(conds) == 0 {
		return ex, r.a.fail(key, "names no condition")
	}
	fail := func(i int, reason string, args ...any) error {
		return r.a.fail(key, "condition %d: %s", i, fmt.Sprintf(reason, args...))
	}
	one := map[string]bool{}
	// values checks a values/regexValues pair: exactly one of them, each value within AWS's 128 characters.
	values := func(i int, v *lbcValues, cfg string, regexOK bool) ([]string, bool, error) {
		if v == nil {
			return nil, false, fail(i, "%s is missing", cfg)
		}
		if len(v.RegexValues) > 0 && !regexOK {
			return nil, false, fail(i, "%s takes no regexValues", cfg)
		}
		if (len(v.Values) == 0) == (len(v.RegexValues) == 0) {
			return nil, false, fail(i, "%s needs either values or regexValues", cfg)
		}
		all := append(slices.Clone(v.Values), v.RegexValues...)
		for _, s := range all {
			if s == "" || len(s) > 128 {
				return nil, false, fail(i, "%s value %q must be 1 to 128 characters", cfg, s)
			}
		}
		return all, len(v.RegexValues) > 0, nil
	}
	for i, c := range conds {
		// AWS takes one condition of each of these fields per rule; joining two would match either, where the
		// manifest asks for both.
		if (c.Field == "host-header" || c.Field == "path-pattern") && one[c.Field] {
			return ex, fail(i, "a second %s condition: a rule takes one, list its values in one condition", c.Field)
		}
		if c.Field == "host-header" || c.Field == "path-pattern" {
			one[c.Field] = true
		}
		switch c.Field {
		case "host-header":
			vs, regex, err := values(i, c.HostHeaderConfig, "hostHeaderConfig", true)
			if err != nil {
				return ex, err
			}
			if regex {
				ex.hostRegex = append(ex.hostRegex, vs...)
			} else {
				ex.hosts = append(ex.hosts, lower(vs)...)
			}
		case "path-pattern":
			vs, regex, err := values(i, c.PathPatternConfig, "pathPatternConfig", true)
			if err != nil {
				return ex, err
			}
			if regex {
				ex.pathRegex = append(ex.pathRegex, vs...)
			} else {
				for _, p := range vs {
					if !albPathRE.MatchString(p) {
						return ex, fail(i, "path %q has characters a load balancer path pattern cannot have", p)
					}
				}
				ex.paths = append(ex.paths, vs...)
			}
		case "http-header":
			h := c.HTTPHeaderConfig
			if h == nil {
				return ex, fail(i, "httpHeaderConfig is missing")
			}
			if !headerNameRE.MatchString(h.HTTPHeaderName) {
				return ex, fail(i, "httpHeaderName %q must be 1 to 40 characters of a header name", h.HTTPHeaderName)
			}
			vs, regex, err := values(i, &h.lbcValues, "httpHeaderConfig", true)
			if err != nil {
				return ex, err
			}
			ex.others = append(ex.others, cloud.Condition{Type: cloud.ConditionHeader, HeaderName: h.HTTPHeaderName, Values: vs, Regex: regex})
		case "http-request-method":
			vs, _, err := values(i, c.HTTPRequestMethodConfig, "httpRequestMethodConfig", false)
			if err != nil {
				return ex, err
			}
			for _, m := range vs {
				if !methodRE.MatchString(m) {
					return ex, fail(i, "method %q must be 1 to 40 of A-Z, - and _", m)
				}
			}
			ex.others = append(ex.others, cloud.Condition{Type: cloud.ConditionMethod, Values: vs})
		case "query-string":
			q := c.QueryStringConfig
			if q == nil || len(q.Values) == 0 {
				return ex, fail(i, "queryStringConfig needs values")
			}
			cond := cloud.Condition{Type: cloud.ConditionQuery}
			for _, kv := range q.Values {
				k := ""
				if kv.Key != nil {
					k = *kv.Key
				}
				if kv.Value == "" || len(kv.Value) > 128 || len(k) > 128 {
					return ex, fail(i, "query string value %q must be 1 to 128 characters, and its key at most 128", kv.Value)
				}
				cond.Query = append(cond.Query, cloud.QueryMatch{Key: k, Value: kv.Value})
			}
			ex.others = append(ex.others, cond)
		case "source-ip":
			vs, _, err := values(i, c.SourceIPConfig, "sourceIPConfig", false)
			if err != nil {
				return ex, err
			}
			for _, v := range vs {
				// A source-ip condition that does not parse must never become a rule without it.
				if _, _, err := net.ParseCIDR(v); err != nil {
					return ex, fail(i, "source IP %q is not a CIDR block", v)
				}
			}
			ex.others = append(ex.others, cloud.Condition{Type: cloud.ConditionSourceIP, Values: vs})
		default:
			return ex, fail(i, "field %q must be host-header, path-pattern, http-header, http-request-method, query-string or source-ip", c.Field)
		}
		// AWS takes at most one of these per rule; the host and path values are merged with the Ingress's.
		if c.Field == "http-request-method" || c.Field == "source-ip" {
			if one[c.Field] {
				return ex, fail(i, "a rule takes one %s condition; put the values in one", c.Field)
			}
			one[c.Field] = true
		}
	}
	return ex, nil
}

// transforms reads transforms.${name}.
func (r *routes) transforms(name string) ([]cloud.Transform, error) {
	key := annTransformsPrefix + name
	raw, ok := r.a[key]
	if !ok {
		return nil, nil
	}
	r.used[key] = true
	var ts []lbcTransform
	if err := decodeStrict(raw, &ts); err != nil {
		return nil, r.a.fail(key, "not a list of transforms: %v", err)
	}
	if len(ts) == 0 {
		return nil, r.a.fail(key, "names no transform")
	}
	var out []cloud.Transform
	for i, t := range ts {
		var cfg *lbcRewrites
		switch t.Type {
		case string(cloud.TransformHostHeader):
			cfg = t.HostHeaderRewriteConfig
		case string(cloud.TransformURL):
			cfg = t.URLRewriteConfig
		default:
			return nil, r.a.fail(key, "transform %d: type %q must be host-header-rewrite or url-rewrite", i, t.Type)
		}
		if cfg == nil || len(cfg.Rewrites) == 0 {
			return nil, r.a.fail(key, "transform %d: %s needs its config with rewrites", i, t.Type)
		}
		if slices.ContainsFunc(out, func(o cloud.Transform) bool { return string(o.Type) == t.Type }) {
			return nil, r.a.fail(key, "transform %d: a rule takes one %s transform", i, t.Type)
		}
		tr := cloud.Transform{Type: cloud.TransformType(t.Type)}
		for _, rw := range cfg.Rewrites {
			if rw.Regex == "" {
				return nil, r.a.fail(key, "transform %d: a rewrite needs a regex", i)
			}
			tr.Rewrites = append(tr.Rewrites, cloud.Rewrite{Regex: rw.Regex, Replace: rw.Replace})
		}
		out = append(out, tr)
	}
	return out, nil
}

// rule builds the rule of one Ingress path.
func (r *routes) rule(host string, path networkingv1.HTTPIngressPath) (orderedRule, error) {
	act, err := r.action(&path.Backend)
	if err != nil {
		return orderedRule{}, err
	}
	name := ""
	if path.Backend.Service != nil {
		name = path.Backend.Service.Name
	}
	ex, err := r.conditions(name)
	if err != nil {
		return orderedRule{}, err
	}
	transforms, err := r.transforms(name)
	if err != nil {
		return orderedRule{}, err
	}
	o, err := orderRule(host, path, act, r.useRegex)
	if err != nil {
		return orderedRule{}, err
	}
	key := annConditionsPrefix + name
	conds := o.rule.Conditions
	for i := range conds {
		c := &conds[i]
		switch {
		case c.Type == cloud.ConditionHost && len(ex.hostRegex) > 0:
			return orderedRule{}, r.a.fail(key, "regexValues for host-header cannot be combined with the rule's host %s; use values", host)
		case c.Type == cloud.ConditionHost:
			c.Values = appendNew(c.Values, ex.hosts...)
		case c.Type == cloud.ConditionPath && path.Path == "" && (len(ex.paths) > 0 || len(ex.pathRegex) > 0):
			// No path in the Ingress: the annotation's paths are the rule's only ones, as in LBC.
			c.Values = nil
		case c.Type == cloud.ConditionPath && c.Regex && len(ex.paths) > 0:
			return orderedRule{}, r.a.fail(key, "path-pattern values cannot be combined with regex path %s (use-regex-path-match); use regexValues", path.Path)
		case c.Type == cloud.ConditionPath && !c.Regex && len(ex.pathRegex) > 0:
			return orderedRule{}, r.a.fail(key, "path-pattern regexValues need the rule's path %s to be a regex too (use-regex-path-match)", path.Path)
		}
	}
	conds = slices.DeleteFunc(conds, func(c cloud.Condition) bool { return c.Type == cloud.ConditionPath && len(c.Values) == 0 })
	if host == "" && len(ex.hosts) > 0 {
		conds = append(conds, cloud.Condition{Type: cloud.ConditionHost, Values: ex.hosts})
	}
	if len(ex.hostRegex) > 0 {
		conds = append(conds, cloud.Condition{Type: cloud.ConditionHost, Values: ex.hostRegex, Regex: true})
	}
	if len(ex.paths) > 0 {
		conds = append(conds, cloud.Condition{Type: cloud.ConditionPath, PathMatch: cloud.PathPattern, Values: ex.paths})
	}
	if len(ex.pathRegex) > 0 {
		conds = append(conds, cloud.Condition{Type: cloud.ConditionPath, PathMatch: cloud.PathPattern, Values: ex.pathRegex, Regex: true})
	}
	o.rule.Conditions = append(conds, ex.others...)
	o.rule.Transforms = transforms
	if err := checkConditionQuota(o.rule.Conditions); err != nil {
		if _, ok := r.a[key]; ok {
			return orderedRule{}, r.a.fail(key, "%v", err)
		}
		return orderedRule{}, fmt.Errorf("host %q path %q: %w", host, path.Path, err)
	}
	return o, nil
}

// checkConditionQuota refuses a rule past AWS's 5 condition values per rule (a prefix path counts twice: the
// path and everything under it) and 5 wildcards, before any cloud call.
func checkConditionQuota(conds []cloud.Condition) error {
	values, wildcards := 0, 0
	for _, c := range conds {
		for _, v := range c.Values {
			n := 1
			if c.Type == cloud.ConditionPath && c.PathMatch == cloud.PathPrefix && strings.TrimSuffix(v, "/") != "" {
				n = 2
			}
			values += n
			if !c.Regex && (c.Type == cloud.ConditionHost || c.Type == cloud.ConditionPath || c.Type == cloud.ConditionHeader) {
				wildcards += strings.Count(v, "*") + strings.Count(v, "?")
				if c.Type == cloud.ConditionPath && c.PathMatch == cloud.PathPrefix {
					wildcards++
				}
			}
		}
		for _, q := range c.Query {
			values++
			wildcards += strings.Count(q.Key+q.Value, "*") + strings.Count(q.Key+q.Value, "?")
		}
	}
	if values > 5 {
		return fmt.Errorf("the rule has %d condition values with the Ingress's host and path; AWS takes at most 5", values)
	}
	if wildcards > 5 {
		return fmt.Errorf("the rule has %d wildcards with the Ingress's host and path; AWS takes at most 5", wildcards)
	}
	return nil
}

// unused refuses an actions., conditions. or transforms. annotation that no rule used: a misspelt backend name
// would otherwise drop a condition (fail open) without a word.
func (r *routes) unused() error {
	var keys []string
	for k := range r.a {
		if (strings.HasPrefix(k, annActionsPrefix) || strings.HasPrefix(k, annConditionsPrefix) ||
			strings.HasPrefix(k, annTransformsPrefix)) && !r.used[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	name := keys[0]
	for _, prefix := range []string{annActionsPrefix, annConditionsPrefix, annTransformsPrefix} {
		name = strings.TrimPrefix(name, prefix)
	}
	return r.a.fail(keys[0], "no rule of this Ingress has a backend named %s", name)
}
