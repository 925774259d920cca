package ingress

import (
	"encoding/json"
	"slices"
	"strings"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/cloud"
)

// IngressClassParams subnets.tags: the class selects its load balancers' subnets by tag (each key present with
// one of its values), as the AWS Load Balancer Controller does; the provider resolves them, one per zone. No
// annotation says this, so the class value travels under keySubnetTags, which is not a valid annotation key: an
// Ingress cannot set it. In the group-wide settings it is the subnets setting, with a prefix that no list of
// subnets can produce (its items never contain a comma), so that members setting subnets otherwise conflict.
const (
	keySubnetTags    = "IngressClassParams:spec.subnets.tags"
	subnetTagsPrefix = ",tags="
)

// classSubnetTags puts a class's subnets.tags in place of the subnets annotation.
func classSubnetTags(sel *elbv2.SubnetSelector, set func(key, field, value string), fail func(field, reason, event string, args ...any) error) error {
	if len(sel.IDs) > 0 {
		return fail("subnets", "sets both ids and tags; set one of them", reasonParamsInvalid)
	}
	canonical := map[string][]string{}
	for k, values := range sel.Tags {
		if k == "" || len(values) == 0 {
			return fail("subnets.tags", "%q: a key must be non-empty with at least one value", reasonParamsInvalid, k)
		}
		v := slices.Clone(values)
		slices.Sort(v)
		canonical[k] = slices.Compact(v)
	}
	enc, err := json.Marshal(canonical)
	if err != nil {
		return err
	}
	set(annSubnets, "subnets.tags", "")
	set(keySubnetTags, "subnets.tags", string(enc))
	return nil
}

// subnetsSetting is the group-wide subnets setting of a member: its subnet list, or the class's tag selector.
func subnetsSetting(a annotations) string {
	if v, ok := a[keySubnetTags]; ok {
		return subnetTagsPrefix + v
	}
	return strings.Join(a.list(annSubnets), ",")
}

// applySubnets puts the subnets setting into the model.
func applySubnets(lb *cloud.LoadBalancer, setting string) {
	if enc, ok := strings.CutPrefix(setting, subnetTagsPrefix); ok {
		// subnetsSetting wrote it from JSON that classSubnetTags encoded, so it decodes.
		_ = json.Unmarshal([]byte(enc), &lb.SubnetTags)
		lb.Subnets = nil
	}
}
