package aws

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// mrule is a rule of hosts (none: any host) and a prefix path to target group tg.
func mrule(hosts []string, prefix, tg string) cloud.Rule {
	r := cloud.Rule{Action: forwardTo(tg),
		Conditions: []cloud.Condition{{Type: cloud.ConditionPath, PathMatch: cloud.PathPrefix, Values: []string{prefix}}}}
	if len(hosts) > 0 {
		r.Conditions = append([]cloud.Condition{{Type: cloud.ConditionHost, Values: hosts}}, r.Conditions...)
	}
	return r
}

// describe renders rules as "hosts path>tg".
func describe(rules []cloud.Rule) []string {
	var out []string
	for _, r := range rules {
		var hosts, paths []string
		for _, c := range r.Conditions {
			switch c.Type {
			case cloud.ConditionHost:
				hosts = append(hosts, c.Values...)
			case cloud.ConditionPath:
				paths = append(paths, c.Values...)
			default:
				paths = append(paths, string(c.Type)+"="+strings.Join(c.Values, ","))
			}
		}
		out = append(out, fmt.Sprintf("%s %s>%s", strings.Join(hosts, ","), strings.Join(paths, ","), r.Action.Forward[0].TargetGroupID))
	}
	return out
}

func TestMergeHosts(t *testing.T) {
	a, b, c, d := []string{"a.example.com"}, []string{"b.example.com"}, []string{"c.example.com"}, []string{"d.example.com"}
	header := func(r cloud.Rule) cloud.Rule {
		r.Conditions = append(r.Conditions, cloud.Condition{Type: cloud.ConditionHeader, HeaderName: "x-beta", Values: []string{"1"}})
		return r
	}
	exact := func(r cloud.Rule) cloud.Rule {
		r.Conditions[len(r.Conditions)-1].PathMatch = cloud.PathExact
		return r
	}
	cases := []struct {
		name  string
		rules []cloud.Rule
		want  []string
	}{
		{name: "2 hosts x 3 paths: one rule per path, at the place of its first host",
			rules: []cloud.Rule{mrule(a, "/p0", "0"), mrule(a, "/p1", "1"), mrule(a, "/p2", "2"),
				mrule(b, "/p0", "0"), mrule(b, "/p1", "1"), mrule(b, "/p2", "2")},
			want: []string{"a.example.com,b.example.com /p0>0", "a.example.com,b.example.com /p1>1", "a.example.com,b.example.com /p2>2"}},
		{name: "another action: apart",
			rules: []cloud.Rule{mrule(a, "/p0", "0"), mrule(b, "/p0", "1")},
			want:  []string{"a.example.com /p0>0", "b.example.com /p0>1"}},
		{name: "other transforms: apart",
			rules: []cloud.Rule{mrule(a, "/p0", "0"), func() cloud.Rule {
				r := mrule(b, "/p0", "0")
				r.Transforms = []cloud.Transform{{Type: cloud.TransformURL, Rewrites: []cloud.Rewrite{{Regex: "^/p0(.*)$", Replace: "$1"}}}}
				return r
			}()},
			want: []string{"a.example.com /p0>0", "b.example.com /p0>0"}},
		{name: "a wildcard host in between could take b's requests: apart",
			rules: []cloud.Rule{mrule(a, "/p0", "0"), mrule([]string{"*.example.com"}, "/p0", "9"), mrule(b, "/p0", "0")},
			want:  []string{"a.example.com /p0>0", "*.example.com /p0>9", "b.example.com /p0>0"}},
		{name: "a rule of any host in between: apart",
			rules: []cloud.Rule{mrule(a, "/p0", "0"), mrule(nil, "/", "9"), mrule(b, "/p0", "0")},
			want:  []string{"a.example.com /p0>0", " />9", "b.example.com /p0>0"}},
		{name: "a rule of b's host in between, even on another path: apart (conservative)",
			rules: []cloud.Rule{mrule(a, "/p0", "0"), mrule(b, "/p1", "1"), mrule(b, "/p0", "0")},
			want:  []string{"a.example.com /p0>0", "b.example.com /p1>1", "b.example.com /p0>0"}},
		{name: "host names compare without case",
			rules: []cloud.Rule{mrule(a, "/p0", "0"), mrule([]string{"B.example.com"}, "/p1", "1"), mrule(b, "/p0", "0")},
			want:  []string{"a.example.com /p0>0", "B.example.com /p1>1", "b.example.com /p0>0"}},
		{name: "a later rule with a wildcard host does not join",
			rules: []cloud.Rule{mrule(a, "/p0", "0"), mrule([]string{"*.b.example.com"}, "/p0", "0")},
			want:  []string{"a.example.com /p0>0", "*.b.example.com /p0>0"}},
		{name: "the first rule may have a wildcard: later exact hosts join it",
			rules: []cloud.Rule{mrule([]string{"*.a.example.com"}, "/p0", "0"), mrule(b, "/p0", "0")},
			want:  []string{"*.a.example.com,b.example.com /p0>0"}},
		{name: "a regular expression host does not merge",
			rules: []cloud.Rule{mrule(a, "/p0", "0"), func() cloud.Rule {
				r := mrule(b, "/p0", "0")
				r.Conditions[0].Regex = true
				return r
			}()},
			want: []string{"a.example.com /p0>0", "b.example.com /p0>0"}},
		{name: "rules without a host do not merge",
			rules: []cloud.Rule{mrule(nil, "/p0", "0"), mrule(nil, "/p1", "0")},
			want:  []string{" /p0>0", " /p1>0"}},
		{name: "3 values per condition: a fourth exact-path host starts another rule",
			rules: []cloud.Rule{exact(mrule(a, "/p0", "0")), exact(mrule(b, "/p0", "0")), exact(mrule(c, "/p0", "0")), exact(mrule(d, "/p0", "0"))},
			want:  []string{"a.example.com,b.example.com,c.example.com /p0>0", "d.example.com /p0>0"}},
		{name: "5 values per rule: a prefix counts twice, so 3 hosts",
			rules: []cloud.Rule{mrule(a, "/p0", "0"), mrule(b, "/p0", "0"), mrule(c, "/p0", "0"), mrule(d, "/p0", "0")},
			want:  []string{"a.example.com,b.example.com,c.example.com /p0>0", "d.example.com /p0>0"}},
		{name: "5 values per rule: with a header and a prefix, 2 hosts",
			rules: []cloud.Rule{header(mrule(a, "/p0", "0")), header(mrule(b, "/p0", "0")), header(mrule(c, "/p0", "0")), header(mrule(d, "/p0", "0"))},
			want:  []string{"a.example.com,b.example.com /p0,header=1>0", "c.example.com,d.example.com /p0,header=1>0"}},
		{name: "a rule that repeats the merged rule's conditions later is never reached: dropped",
			rules: []cloud.Rule{mrule(a, "/p0", "0"), mrule(b, "/p0", "0"), mrule([]string{"a.example.com", "b.example.com"}, "/p0", "1")},
			want:  []string{"a.example.com,b.example.com /p0>0"}},
	}
	t.Run("a group kept apart stays in between: a group that needed it moved up is not merged", func(t *testing.T) {
		rules := []cloud.Rule{mrule(a, "/", "0"), mrule(c, "/p1", "1"), mrule(b, "/", "0"), mrule(b, "/p1", "1")}
		if got := describe(mergeHosts(rules, nil)); !slices.Equal(got, []string{"a.example.com,b.example.com />0", "c.example.com,b.example.com /p1>1"}) {
			t.Errorf("merged %q", got)
		}
		keepRoot := func(_ []cloud.Rule, m cloud.Rule) bool {
			return strings.HasSuffix(describe([]cloud.Rule{m})[0], " />0")
		}
		// b.example.com/p1 goes to b.example.com/ first: merged with c.example.com/p1 above it, it would not.
		if got := describe(mergeHosts(rules, keepRoot)); !slices.Equal(got, describe(rules)) {
			t.Errorf("merged %q, want the rules as they are", got)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := describe(mergeHosts(tc.rules, nil))
			if !slices.Equal(got, tc.want) {
				t.Errorf("merged\n  %q\nwant\n  %q", got, tc.want)
			}
		})
	}
}

var globs sync.Map

// glob matches ALB wildcard patterns: * any run of characters, ? one.
func glob(pattern, s string, fold bool) bool {
	key := fmt.Sprint(fold, pattern)
	c, ok := globs.Load(key)
	if !ok {
		re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
		if fold {
			re = "(?i)" + re
		}
		c, _ = globs.LoadOrStore(key, regexp.MustCompile(re))
	}
	return c.(*regexp.Regexp).MatchString(s)
}

// firstMatch is the target group of the first rule a request matches, as the ALB evaluates the rules' ALB
// conditions; "default" when none does.
func firstMatch(rules []cloud.Rule, host, path string) string {
	return firstMatchALB(rules, alb(rules), host, path)
}

func alb(rules []cloud.Rule) [][]elbv2types.RuleCondition {
	out := make([][]elbv2types.RuleCondition, len(rules))
	for i, r := range rules {
		out[i] = albConditions(r.Conditions)
	}
	return out
}

func firstMatchALB(rules []cloud.Rule, conds [][]elbv2types.RuleCondition, host, path string) string {
	for i, r := range rules {
		ok := true
		for _, c := range conds[i] {
			switch {
			case c.HostHeaderConfig != nil:
				ok = ok && slices.ContainsFunc(c.HostHeaderConfig.Values, func(v string) bool { return glob(v, host, true) })
			case c.PathPatternConfig != nil:
				ok = ok && slices.ContainsFunc(c.PathPatternConfig.Values, func(v string) bool { return glob(v, path, false) })
			}
		}
		if ok {
			return r.Action.Forward[0].TargetGroupID
		}
	}
	return "default"
}

// TestMergeHostsKeepsFirstMatch checks, over many random rule lists, that every request is served by the same
// action after merging as before, and that merged rules stay within AWS's quotas.
func TestMergeHostsKeepsFirstMatch(t *testing.T) {
	hosts := []string{"a.example.com", "b.example.com", "C.example.com", "*.example.com", "a?.example.com", "d.example.com"}
	paths := []string{"/p0", "/p1", "/", "/p0/x"}
	requests := [][2]string{}
	for _, h := range []string{"a.example.com", "b.example.com", "c.example.com", "d.example.com", "ax.example.com", "other.org"} {
		for _, p := range []string{"/p0", "/p0/x", "/p0/x/y", "/p1", "/q"} {
			requests = append(requests, [2]string{h, p})
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	merges := 0
	for range 3000 {
		var rules []cloud.Rule
		for range 1 + rng.IntN(9) {
			var hs []string
			if rng.IntN(6) > 0 {
				for range 1 + rng.IntN(2) {
					hs = appendUnique(hs, hosts[rng.IntN(len(hosts))])
				}
			}
			rules = append(rules, mrule(hs, paths[rng.IntN(len(paths))], fmt.Sprint(rng.IntN(2))))
		}
		rules = dedupeRules(rules)
		merged := mergeHosts(rules, nil)
		if len(merged) < len(rules) {
			merges++
		}
		// Groups kept apart at random: the others are grouped again around them.
		seed := rng.Uint64()
		partly := mergeHosts(rules, func(_ []cloud.Rule, m cloud.Rule) bool {
			h := fnv.New64a()
			fmt.Fprint(h, seed, describe([]cloud.Rule{m}))
			return h.Sum64()%2 == 0
		})
		for _, r := range merged {
			if values, wildcards, largest := ruleCounts(albConditions(r.Conditions)); values > conditionValueQuota ||
				wildcards > wildcardQuota || largest > conditionMatchQuota {
				t.Fatalf("merged rule %v is over AWS's quotas", describe([]cloud.Rule{r}))
			}
		}
		ruleConds, mergedConds, partlyConds := alb(rules), alb(merged), alb(partly)
		for _, req := range requests {
			before := firstMatchALB(rules, ruleConds, req[0], req[1])
			for k, m := range [][]cloud.Rule{merged, partly} {
				if after := firstMatchALB(m, [][][]elbv2types.RuleCondition{mergedConds, partlyConds}[k], req[0], req[1]); before != after {
					t.Fatalf("%s%s went to %s, after merging to %s\nrules  %q\nmerged %q", req[0], req[1], before, after,
						describe(rules), describe(m))
				}
			}
		}
	}
	if merges < 300 {
		t.Errorf("only %d of 3000 lists had rules merged: the property was hardly exercised", merges)
	}
}

// unmergedHave is 2 hosts x 3 paths as a listener holds them one rule per host and path, as made by an earlier
// version or by LBC, and the same as the model has them.
func unmergedHave(tgRef func(string) string) ([]cloud.Rule, []elbv2types.Rule) {
	var want []cloud.Rule
	var have []elbv2types.Rule
	for h, host := range []string{"a.example.com", "b.example.com"} {
		for i := range 3 {
			path := fmt.Sprintf("/p%d", i)
			want = append(want, mrule([]string{host}, path, fmt.Sprint(i)))
			have = append(have, awsRule(ruleARN(443, 3*h+i), int32(3*h+i+1), host, []string{path, path + "/*"}, tgRef(fmt.Sprint(i))))
		}
	}
	return want, have
}

func TestPlanKeepsRulesThatServe(t *testing.T) {
	tgRef := func(id string) string { return "arn:tg/" + id }
	listener := func(rules []cloud.Rule, have []elbv2types.Rule) (desiredListener, *listenerState, func(string) string) {
		return desiredListener{Listener: cloud.Listener{Port: 443, Protocol: cloud.ProtocolHTTP, Rules: rules}},
			&listenerState{l: elbv2types.Listener{ListenerArn: ptr(listenerARN(443)), Port: ptr(int32(443)), Protocol: elbv2types.ProtocolEnumHttp},
				rules: have}, tgRef
	}
	counts := func(rp rulePlan) [4]int {
		return [4]int{len(rp.moves), len(rp.creates), len(rp.modify), len(rp.deletes)}
	}

	t.Run("rules one per host that serve the model are kept: no write", func(t *testing.T) {
		want, have := unmergedHave(tgRef)
		lp, err := planListener(listener(want, have))
		if err != nil {
			t.Fatal(err)
		}
		if got := counts(lp.rules); got != [4]int{} {
			t.Errorf("moves/creates/modifies/deletes %v, want none", got)
		}
	})
	t.Run("a new listener gets the merged rules", func(t *testing.T) {
		want, _ := unmergedHave(tgRef)
		l, _, _ := listener(want, nil)
		lp, err := planListener(l, nil, tgRef)
		if err != nil {
			t.Fatal(err)
		}
		if len(lp.rules.creates) != 3 {
			t.Errorf("%d creates, want 3", len(lp.rules.creates))
		}
	})
	t.Run("a path whose backend changes is changed in place where the rules kept apart leave no room to merge", func(t *testing.T) {
		want, have := unmergedHave(tgRef)
		want[1].Action, want[4].Action = forwardTo("new"), forwardTo("new")
		lp, err := planListener(listener(want, have))
		if err != nil {
			t.Fatal(err)
		}
		// b.example.com/p0 stays between a.example.com/p1 and b.example.com/p1.
		if got := counts(lp.rules); got != [4]int{0, 0, 2, 0} {
			t.Fatalf("moves/creates/modifies/deletes %v, want 2 modifies", got)
		}
	})
	t.Run("a path whose backend changes is merged; the others are kept", func(t *testing.T) {
		want, have := unmergedHave(tgRef)
		// Path by path: a/p0 b/p0 a/p1 b/p1 a/p2 b/p2, as the listener holds them.
		want = []cloud.Rule{want[0], want[3], want[1], want[4], want[2], want[5]}
		have = []elbv2types.Rule{have[0], have[3], have[1], have[4], have[2], have[5]}
		for i := range have {
			have[i].Priority = ptr(fmt.Sprint(10 * (i + 1)))
		}
		want[2].Action, want[3].Action = forwardTo("new"), forwardTo("new")
		lp, err := planListener(listener(want, have))
		if err != nil {
			t.Fatal(err)
		}
		if got := counts(lp.rules); got != [4]int{0, 1, 0, 2} {
			t.Fatalf("moves/creates/modifies/deletes %v, want 1 create and 2 deletes", got)
		}
		if got := describe([]cloud.Rule{lp.rules.creates[0].rule}); got[0] != "a.example.com,b.example.com /p1>new" {
			t.Errorf("created %s", got[0])
		}
		if !slices.Equal(lp.rules.deletes, []string{ruleARN(443, 1), ruleARN(443, 4)}) {
			t.Errorf("deletes %v, want the two /p1 rules", lp.rules.deletes)
		}
		// Between the /p0 and /p2 rules that stay: first-match order holds.
		if p := lp.rules.creates[0].priority; p <= 20 || p >= 50 {
			t.Errorf("merged /p1 rule at priority %d, want between 20 and 50", p)
		}
		final := simulateRules(t, have, lp.rules, tgRef)
		for _, host := range []string{"a.example.com", "b.example.com", "c.example.com"} {
			for _, path := range []string{"/p0", "/p1", "/p1/x", "/p2"} {
				if got := firstMatchSim(final, host, path); got != firstMatch(want, host, path) {
					t.Errorf("%s%s goes to %s, want %s", host, path, got, firstMatch(want, host, path))
				}
			}
		}
	})
	t.Run("a merged rule left by a change cut short wins over the rules it replaces", func(t *testing.T) {
		want, have := unmergedHave(tgRef)
		merged := awsRule(ruleARN(443, 9), 100, "a.example.com", []string{"/p0", "/p0/*"}, tgRef("0"))
		merged.Conditions[0].HostHeaderConfig.Values = []string{"a.example.com", "b.example.com"}
		merged.Conditions[0].Values = merged.Conditions[0].HostHeaderConfig.Values
		have = append(have, merged)
		lp, err := planListener(listener(want, have))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(lp.rules.deletes, []string{ruleARN(443, 0), ruleARN(443, 3)}) || len(lp.rules.creates) != 0 {
			t.Errorf("creates %d, deletes %v: want the two /p0 rules the merged one replaces deleted", len(lp.rules.creates), lp.rules.deletes)
		}
	})
}

// firstMatchSim is firstMatch over simulated rules: the target group ARN's last element.
func firstMatchSim(rules []simRule, host, path string) string {
	for _, r := range rules {
		conds := strings.Split(r.conds, "&")
		ok := true
		for _, c := range conds {
			field, values, _ := strings.Cut(c, "[]=")
			var vs []string
			for _, v := range strings.Fields(strings.Trim(values, "[]")) {
				vs = append(vs, strings.Trim(v, `"`))
			}
			switch field {
			case "host-header":
				ok = ok && slices.ContainsFunc(vs, func(v string) bool { return glob(v, host, true) })
			case "path-pattern":
				ok = ok && slices.ContainsFunc(vs, func(v string) bool { return glob(v, path, false) })
			}
		}
		if ok {
			tg, _ := strings.CutPrefix(r.actions, "forward:arn:tg/")
			return strings.TrimSuffix(tg, "*1")
		}
	}
	return "default"
}

func TestMergedRulesWithinTheRuleQuota(t *testing.T) {
	t.Run("merged rules count against the quota", func(t *testing.T) {
		d := testDesired()
		for i := range 60 {
			for _, host := range []string{"a.example.com", "b.example.com"} {
				d.listeners[1].Rules = append(d.listeners[1].Rules, hostPathRule(host, fmt.Sprintf("/p%d", i), apiID))
			}
		}
		if err := checkQuotas(d); err != nil {
			t.Errorf("120 rules that merge into 60 refused: %v", err)
		}
	})
	// 49 paths of 2 hosts held one rule per host, 98 rules; 3 new paths do not fit beside them unmerged, so
	// every path is merged, through the quota: after the first create, each delete is of a rule a merged rule
	// already created covers.
	d, a := testDesired(), testActual()
	var have []elbv2types.Rule
	d.listeners[1].Rules = nil
	for i := range 52 {
		path := fmt.Sprintf("/p%d", i)
		for h, host := range []string{"a.example.com", "b.example.com"} {
			d.listeners[1].Rules = append(d.listeners[1].Rules, hostPathRule(host, path, apiID))
			if i < 49 {
				have = append(have, awsRule(ruleARN(443, 2*i+h), int32(10*(2*i+h+1)), host, []string{path, path + "/*"}, tgARNFor(apiName)))
			}
		}
	}
	a.lbs[0].listeners[1].rules = have
	if err := checkQuotas(d); err != nil {
		t.Fatal(err)
	}
	pl := mustPlan(t, d, a)
	lp := listenerPlanFor(t, pl, 443)
	if len(lp.rules.creates) != 52 || len(lp.rules.deletes) != 98 {
		t.Fatalf("%d creates and %d deletes, want every path merged: 52 and 98", len(lp.rules.creates), len(lp.rules.deletes))
	}
	conds := map[string][]elbv2types.RuleCondition{}
	present := map[string][]elbv2types.RuleCondition{}
	for _, r := range have {
		conds[deref(r.RuleArn)], present[deref(r.RuleArn)] = r.Conditions, r.Conditions
	}
	uncovered := 0
	for i, s := range pl.ruleSteps {
		if s.create != nil {
			present[fmt.Sprint("created-", i)] = albConditions(s.create.rule.Conditions)
			if len(present) > ruleQuota {
				t.Fatalf("step %d: %d rules", i, len(present))
			}
			continue
		}
		delete(present, s.del)
		covered := false
		for _, c := range present {
			covered = covered || coveredBy(conds[s.del], c)
		}
		if !covered {
			uncovered++
		}
	}
	if uncovered != 1 {
		t.Errorf("%d deletes left a path without a rule until its create, want 1 (the first)", uncovered)
	}
}

// servedAs is rules as a listener holds them once a plan made them.
func servedAs(rules []cloud.Rule, tgRef func(string) string) []elbv2types.Rule {
	var out []elbv2types.Rule
	for i, r := range rules {
		out = append(out, elbv2types.Rule{RuleArn: ptr(ruleARN(443, i)), Priority: ptr(fmt.Sprint(i + 1)),
			Conditions: albConditions(r.Conditions), Actions: albActions(r.Action, tgRef, nil), Transforms: albTransforms(r.Transforms)})
	}
	return out
}

func TestRulesKeptApartStayApart(t *testing.T) {
	tgRef := func(id string) string { return "arn:tg/" + id }
	listener := func(rules []cloud.Rule, have []elbv2types.Rule) (desiredListener, *listenerState) {
		return desiredListener{Listener: cloud.Listener{Port: 443, Protocol: cloud.ProtocolHTTP, Rules: rules}},
			&listenerState{l: elbv2types.Listener{ListenerArn: ptr(listenerARN(443)), Port: ptr(int32(443))}, rules: have}
	}
	// The rules of d and a to 1 would merge into the conditions of the rule before them: that rule is the
	// model's own, not a merge cut short, so the rules that serve are still kept.
	t.Run("a group whose merged rule repeats another model rule's conditions is kept: no write", func(t *testing.T) {
		want := []cloud.Rule{mrule([]string{"d.example.com", "a.example.com"}, "/p0", "0"),
			mrule([]string{"d.example.com"}, "/p0", "1"), mrule([]string{"a.example.com"}, "/p0", "1")}
		l, st := listener(want, servedAs(want, tgRef))
		lp, err := planListener(l, st, tgRef)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(lp.rules.creates) + len(lp.rules.modify) + len(lp.rules.deletes) + len(lp.rules.moves); n != 0 {
			t.Errorf("%d writes, want none: %+v", n, lp.rules)
		}
	})
	// Ensure after Ensure: once a listener holds what listenerRules gave, it gives the same again.
	t.Run("a listener that holds the plan's rules gets the same rules again", func(t *testing.T) {
		hosts := []string{"a.example.com", "b.example.com", "c.example.com", "*.example.com", "d.example.com"}
		paths := []string{"/p0", "/p1", "/", "/p0/x"}
		rng := rand.New(rand.NewPCG(3, 4))
		for range 5000 {
			var rules []cloud.Rule
			for range 1 + rng.IntN(9) {
				var hs []string
				for range 1 + rng.IntN(2) {
					hs = appendUnique(hs, hosts[rng.IntN(len(hosts))])
				}
				rules = append(rules, mrule(hs, paths[rng.IntN(len(paths))], fmt.Sprint(rng.IntN(2))))
			}
			rules = dedupeRules(rules)
			var have []cloud.Rule
			for _, r := range rules {
				if rng.IntN(3) > 0 {
					have = append(have, r)
				}
			}
			l, st := listener(rules, servedAs(have, tgRef))
			first := listenerRules(l, st, tgRef, true)
			l, st = listener(rules, servedAs(first, tgRef))
			if again := listenerRules(l, st, tgRef, true); !slices.Equal(describe(first), describe(again)) {
				t.Fatalf("rules %q\nheld  %q\nfirst %q\nagain %q", describe(rules), describe(have), describe(first), describe(again))
			}
		}
	})
}
