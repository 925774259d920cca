package ingress

import (
	"slices"
	"strconv"
	"strings"

	"github.com/cloudlb/cloudlb/cloud"
)

// LBC's older HTTPS redirect is an actions.ssl-redirect redirect action on a "/*" path listed first, on an
// Ingress that listens on HTTP and HTTPS. LBC makes it work by dropping, per listener, a redirect rule that would
// redirect to the very listener it is on (a loop), and the rules that an earlier redirect rule overshadows. These
// functions do the same, for every redirect rule, as LBC does.

// leadingRedirect tells whether a rule is a redirect that matches every request on any host: listed first, it
// takes precedence over the member's other rules, as it does in LBC.
func leadingRedirect(r cloud.Rule) bool {
	if r.Action.Type != cloud.ActionRedirect {
		return false
	}
	for _, c := range r.Conditions {
		if c.Type != cloud.ConditionPath || c.Regex || !slices.ContainsFunc(c.Values, func(v string) bool {
			return slices.Contains(rulePatterns(c, v), "/*")
		}) {
			return false
		}
	}
	return true
}

// keepRule tells whether rule r belongs on listener l after the rules kept so far.
func keepRule(l *cloud.Listener, kept []cloud.Rule, r cloud.Rule) bool {
	if redirectsToItself(l, r) {
		return false
	}
	for _, k := range kept {
		if k.Action.Type == cloud.ActionRedirect && overshadows(k.Conditions, r.Conditions) {
			return false
		}
	}
	return true
}

// redirectsToItself tells whether r redirects a request to the same URL on the listener l.
func redirectsToItself(l *cloud.Listener, r cloud.Rule) bool {
	rd := r.Action.Redirect
	if r.Action.Type != cloud.ActionRedirect || rd == nil {
		return false
	}
	hosts, paths, ok := hostsAndPaths(r.Conditions)
	if !ok {
		return false
	}
	if h := rd.Host; h != "" && h != "#{host}" && !slices.Contains(hosts, strings.ToLower(h)) {
		return false
	}
	if p := rd.Path; p != "" && p != "/#{path}" && !slices.Contains(paths, p) {
		return false
	}
	if p := rd.Port; p != "" && p != "#{port}" && p != strconv.Itoa(int(l.Port)) {
		return false
	}
	if p := rd.Protocol; p != "" && p != "#{protocol}" && p != string(l.Protocol) {
		return false
	}
	return rd.Query == "" || rd.Query == "#{query}"
}

// overshadows tells whether a rule with conditions lhs matches every request a rule with conditions rhs matches,
// judged on hosts and paths only, as LBC judges it.
func overshadows(lhs, rhs []cloud.Condition) bool {
	if slices.ContainsFunc(lhs, func(c cloud.Condition) bool { return c.Type != cloud.ConditionHost && c.Type != cloud.ConditionPath }) {
		return false
	}
	lh, lp, _ := hostsAndPaths(lhs)
	rh, rp, _ := hostsAndPaths(rhs)
	superset := func(a, b []string) bool {
		return len(b) > 0 && !slices.ContainsFunc(b, func(v string) bool { return !slices.Contains(a, v) })
	}
	hostOK := len(lh) == 0 || superset(lh, rh)
	pathOK := len(lp) == 0 || slices.Contains(lp, "/*") || superset(lp, rp)
	return hostOK && pathOK
}

// hostsAndPaths lists the host values and the path patterns of conditions; ok is false when a path is a regex.
func hostsAndPaths(conds []cloud.Condition) (hosts, paths []string, ok bool) {
	ok = true
	for _, c := range conds {
		switch c.Type {
		case cloud.ConditionHost:
			hosts = append(hosts, lower(c.Values)...)
		case cloud.ConditionPath:
			if c.Regex {
				ok = false
			}
			for _, v := range c.Values {
				paths = append(paths, rulePatterns(c, v)...)
			}
		}
	}
	return hosts, paths, ok
}

// rulePatterns are the load balancer path patterns of one path value, as the provider writes them.
func rulePatterns(c cloud.Condition, v string) []string {
	if c.Regex || c.PathMatch != cloud.PathPrefix {
		return []string{v}
	}
	p := strings.TrimSuffix(v, "/")
	if p == "" {
		return []string{"/*"}
	}
	return []string{p, p + "/*"}
}
