package cloud

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// ChangeAction says what a planned change does to a resource.
type ChangeAction string

// Change actions, as they appear in a plan's text.
const (
	ActionCreate ChangeAction = "create"
	ActionModify ChangeAction = "modify"
	ActionDelete ChangeAction = "delete"
	// ActionTag adds, changes or removes one tag of a resource, nothing else.
	ActionTag ChangeAction = "tag"
)

// Change is one planned change to one cloud resource: provider-neutral, so that a dry-run can show it and a
// review can read it without knowing the cloud's API.
type Change struct {
	Action ChangeAction
	// Kind is the resource's kind: load-balancer, listener, rule, target-group, security-group, certificate, ...
	Kind string
	// Resource names the resource: its name, or its ID, or where it hangs ("listener 443").
	Resource string
	// Field is what changes on a resource modified or tagged; empty for a create or a delete.
	Field string `json:",omitempty"`
	// Old and New are the field's values (for a create, New may describe the resource); "" is none.
	Old string `json:",omitempty"`
	New string `json:",omitempty"`
}

var changeSymbols = map[ChangeAction]string{ActionCreate: "+", ActionModify: "~", ActionDelete: "-", ActionTag: "~"}

// String is the change's one line of text: "+ create target-group k8s-web-a1b2 (HTTP:80 ip)",
// "~ modify listener 443 ssl-policy: ELBSecurityPolicy-2016-08 → ELBSecurityPolicy-TLS13-1-2-2021-06".
func (c Change) String() string {
	s := fmt.Sprintf("%s %s %s %s", cmp.Or(changeSymbols[c.Action], "?"), c.Action, c.Kind, c.Resource)
	switch {
	case c.Field != "":
		return s + " " + c.Field + ": " + orNone(c.Old) + " → " + orNone(c.New)
	case c.New != "" && c.Action == ActionCreate:
		return s + " (" + c.New + ")"
	case c.Old != "" && c.Action == ActionDelete:
		return s + " (" + c.Old + ")"
	}
	return s
}

func orNone(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

// Plan is the changes an Ensure would make, sorted; empty when the cloud already matches the model.
type Plan []Change

// SortChanges sorts changes by kind, resource, field and action, and drops exact repeats, so that the same plan
// always reads the same.
func SortChanges(changes []Change) Plan {
	out := slices.Clone(changes)
	slices.SortFunc(out, func(a, b Change) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Resource, b.Resource), strings.Compare(a.Field, b.Field),
			strings.Compare(string(a.Action), string(b.Action)), strings.Compare(a.Old, b.Old), strings.Compare(a.New, b.New))
	})
	return Plan(slices.Compact(out))
}

// Lines is the plan's text, one change a line, in its order.
func (p Plan) Lines() []string {
	out := make([]string, len(p))
	for i, c := range p {
		out[i] = c.String()
	}
	return out
}
