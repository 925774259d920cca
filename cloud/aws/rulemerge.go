package aws

import (
	"encoding/json"
	"slices"
	"strings"

	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// Rules of one listener that differ only by host (an Ingress with several hosts over the same paths) share one
// ALB rule whose host condition lists all their hosts: fewer CreateRule calls, and less of the rule quota. The
// model keeps one rule per host; only the plan merges, so that the record and its digest do not change.

// conditionMatchQuota is the most values one ALB condition takes ("up to three match evaluations per condition").
const conditionMatchQuota = 3

// ruleHosts is what merging needs to know of a rule's host condition.
type ruleHosts struct {
	// ok: the rule has exactly one host condition, of wildcard patterns (no regular expression), so its values can
	// be joined with another rule's.
	ok bool
	// exact: ok, and no value has a wildcard, so that two rules' hosts overlap only if a value repeats.
	exact bool
	hosts []string // lower-cased, as ALB compares them
}

func hostsOf(r cloud.Rule) ruleHosts {
	var out ruleHosts
	for _, c := range r.Conditions {
		if c.Type != cloud.ConditionHost {
			continue
		}
		if c.Regex || len(c.Values) == 0 {
			return ruleHosts{}
		}
		out.hosts = appendUnique(out.hosts, lowerAll(c.Values)...)
	}
	if len(out.hosts) == 0 {
		return ruleHosts{}
	}
	out.ok, out.exact = true, !slices.ContainsFunc(out.hosts, func(h string) bool { return strings.ContainsAny(h, "*?") })
	return out
}

// mergeKey is what rules that may share one rule have in common: every condition but the host, the action and
// the transforms. "" for a rule that cannot be merged.
func mergeKey(r cloud.Rule) string {
	if !hostsOf(r).ok {
		return ""
	}
	var rest []cloud.Condition
	for _, c := range r.Conditions {
		if c.Type != cloud.ConditionHost {
			rest = append(rest, c)
		}
	}
	b, err := json.Marshal(struct {
		Rest       string
		Action     cloud.Action
		Transforms []cloud.Transform
	}{conditionsKey(albConditions(rest)), r.Action, r.Transforms})
	if err != nil {
		return ""
	}
	return string(b)
}

// withHosts is r with one host condition of hosts, where r's host conditions were.
func withHosts(r cloud.Rule, hosts []string) cloud.Rule {
	out := r
	out.Conditions = nil
	placed := false
	for _, c := range r.Conditions {
		if c.Type != cloud.ConditionHost {
			out.Conditions = append(out.Conditions, c)
		} else if !placed {
			out.Conditions = append(out.Conditions, cloud.Condition{Type: cloud.ConditionHost, Values: slices.Clone(hosts)})
			placed = true
		}
	}
	return out
}

// ruleCounts counts a rule's condition values and wildcards as AWS does against its per-rule quotas, and the
// values of its largest condition.
func ruleCounts(conds []elbv2types.RuleCondition) (values, wildcards, largest int) {
	for _, c := range conds {
		vs := conditionValues(c)
		for _, v := range vs {
			if c.SourceIpConfig == nil && c.HttpRequestMethodConfig == nil {
				wildcards += strings.Count(v, "*") + strings.Count(v, "?")
			}
		}
		// A regular expression is one value, and its * and ? are not wildcards.
		n := len(vs) + len(conditionRegexValues(c))
		values += n
		largest = max(largest, n)
	}
	return values, wildcards, largest
}

// mergeGroup is rules that share one merged rule.
type mergeGroup struct {
	head    int // the first rule, whose place the merged rule takes
	key     string
	members []int
	merged  cloud.Rule
}

// mergeHosts joins rules that differ only by host into one rule per group, at the place of the group's first
// rule, where that keeps what every request matches first. Moving rule j's requests up to its group's first rule
// i is safe when no rule that stays between them can match a request j matches: each one has a host condition of
// exact names that j's exact names do not repeat. A rule between them that its own group already moved up before
// i is not between them any more. (Proof: let m be the first rule a request matches; a group G placed before m's
// group with a member g that matches too has g after m, so m was between G's first rule and g when g joined, and
// had to have exact names that g's do not repeat: the request cannot match both.) A group stays within AWS's
// quotas: three values per condition, five per rule, five wildcards per rule.
//
// separate, when not nil, keeps a group's rules apart (merged is the rule they would become). Rules kept apart
// stay where the model has them, and the others are grouped again around them, until no group is kept apart.
// Rules must be deduplicated (dedupeRules); the result is too.
func mergeHosts(rules []cloud.Rule, separate func(members []cloud.Rule, merged cloud.Rule) bool) []cloud.Rule {
	info := make([]ruleHosts, len(rules))
	keys := make([]string, len(rules))
	for i, r := range rules {
		info[i], keys[i] = hostsOf(r), mergeKey(r)
	}
	for {
		owner := groupHosts(rules, info, keys)
		kept := false
		for i, g := range owner {
			if g != nil && g.head == i && len(g.members) > 1 && separate != nil && separate(pick(rules, g.members), g.merged) {
				for _, m := range g.members {
					keys[m] = ""
				}
				kept = true
			}
		}
		if kept {
			continue
		}
		out := make([]cloud.Rule, 0, len(rules))
		for i, r := range rules {
			switch g := owner[i]; {
			case g == nil:
				out = append(out, r)
			case g.head == i:
				out = append(out, g.merged)
			}
		}
		// A rule with the merged rule's very conditions is either before the group, and took all its requests
		// already, or after it, and never reached: the first one wins on the ALB anyway.
		return dedupeRules(out)
	}
}

// groupHosts puts each rule whose key is not "" in a group, the first group of its key that it can join; rules
// of key "" stay apart (nil).
func groupHosts(rules []cloud.Rule, info []ruleHosts, keys []string) []*mergeGroup {
	owner := make([]*mergeGroup, len(rules))
	var groups []*mergeGroup
	for j, r := range rules {
		if keys[j] == "" {
			continue
		}
		if info[j].exact {
			for _, g := range groups {
				if g.key != keys[j] || !clearBetween(info, owner, g, j) {
					continue
				}
				merged := withHosts(g.merged, appendUnique(slices.Clone(hostsOf(g.merged).hosts), info[j].hosts...))
				if values, wildcards, largest := ruleCounts(albConditions(merged.Conditions)); values > conditionValueQuota ||
					wildcards > wildcardQuota || largest > conditionMatchQuota {
					continue
				}
				g.members, g.merged, owner[j] = append(g.members, j), merged, g
				break
			}
		}
		if owner[j] == nil {
			owner[j] = &mergeGroup{head: j, key: keys[j], members: []int{j}, merged: r}
			groups = append(groups, owner[j])
		}
	}
	return owner
}

// clearBetween says that no rule that stays between g's first rule and rule j can match a request j matches: g's
// own rules and those whose group is placed before g do not stay there.
func clearBetween(info []ruleHosts, owner []*mergeGroup, g *mergeGroup, j int) bool {
	for k := g.head + 1; k < j; k++ {
		if owner[k] != nil && owner[k].head <= g.head {
			continue
		}
		if !info[k].exact || slices.ContainsFunc(info[k].hosts, func(h string) bool { return slices.Contains(info[j].hosts, h) }) {
			return false
		}
	}
	return true
}

func pick(rules []cloud.Rule, idx []int) []cloud.Rule {
	out := make([]cloud.Rule, 0, len(idx))
	for _, i := range idx {
		out = append(out, rules[i])
	}
	return out
}

// listenerRules are the rules a listener is given: the model's, deduplicated and merged by host, but for
// groups that, when keepServing, already serve as the model has them.
func listenerRules(want desiredListener, have *listenerState, tgRef func(string) string, keepServing bool) []cloud.Rule {
	var separate func([]cloud.Rule, cloud.Rule) bool
	if keepServing && have != nil {
		separate = servingApart(have.rules, tgRef, want.appliedSecrets, want.Rules)
	}
	return mergeHosts(dedupeRules(want.Rules), separate)
}

// servingApart says that a group's rules all exist on the listener as the model has them (actions and transforms
// included), and the rule they would merge into does not: rewriting rules that serve costs writes and gains only
// quota, so a load balancer made by an earlier version, or adopted from LBC, is left as it is. A merged rule
// that exists (a change stopped halfway) wins, so that a change is never undone; but not a rule of another model
// rule with the very same conditions (model): that one exists whether or not the group merged, and taking it for
// a merged rule would merge, on the next Ensure, a group this one kept apart.
func servingApart(have []elbv2types.Rule, tgRef func(string) string, applied map[string]bool, model []cloud.Rule) func([]cloud.Rule, cloud.Rule) bool {
	byKey := map[string]elbv2types.Rule{}
	for _, r := range have {
		if k := conditionsKey(r.Conditions); !hasKey(byKey, k) {
			byKey[k] = r
		}
	}
	modelKeys := map[string]bool{}
	for _, r := range model {
		modelKeys[conditionsKey(albConditions(r.Conditions))] = true
	}
	return func(members []cloud.Rule, merged cloud.Rule) bool {
		k := conditionsKey(albConditions(merged.Conditions))
		if hasKey(byKey, k) && (!modelKeys[k] || slices.ContainsFunc(members, func(m cloud.Rule) bool {
			return conditionsKey(albConditions(m.Conditions)) == k
		})) {
			return false
		}
		for _, m := range members {
			h, ok := byKey[conditionsKey(albConditions(m.Conditions))]
			if !ok || staleSecret(m.Action, applied) || actionsKey(h.Actions) != actionsKey(albActions(m.Action, tgRef, nil)) ||
				transformsKey(h.Transforms) != transformsKey(albTransforms(m.Transforms)) {
				return false
			}
		}
		return true
	}
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

// rulesAfter counts the rules of every listener once the plan is applied.
func rulesAfter(pl *plan, d *desired, existing []*listenerState) int {
	n := 0
	for _, lp := range pl.listeners {
		n += len(lp.rules.creates)
		if lp.existing != nil {
			n += len(lp.existing.rules) - len(lp.rules.deletes)
		}
	}
	for _, want := range d.listeners {
		for _, l := range existing {
			if want.hold && deref(l.l.Port) == want.Port {
				n += len(l.rules)
			}
		}
	}
	return n
}

// coveredBy says that rule c matches every request rule d matches, both given by their ALB conditions: the same
// conditions but the host, and each of d's host names among c's. Deleting d then leaves none of its requests
// without a rule.
func coveredBy(d, c []elbv2types.RuleCondition) bool {
	dHost, dRest := splitConditions(d)
	_, cRest := splitConditions(c)
	if dRest != cRest || dHost == "" {
		return false
	}
	hosts := func(conds []elbv2types.RuleCondition) ([]string, bool) {
		var out []string
		for _, x := range conds {
			switch {
			case x.HostHeaderConfig != nil:
				if len(x.HostHeaderConfig.RegexValues) > 0 {
					return nil, false
				}
				out = append(out, lowerAll(x.HostHeaderConfig.Values)...)
			case deref(x.Field) == "host-header":
				out = append(out, lowerAll(x.Values)...)
			}
		}
		return out, len(out) > 0
	}
	dh, ok := hosts(d)
	if !ok {
		return false
	}
	ch, _ := hosts(c)
	for _, h := range dh {
		if !slices.Contains(ch, h) {
			return false
		}
	}
	return true
}
