package ingress

import (
	"slices"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// withCloudIDs returns bindings with the cloud ID of each target group: as an Ensure just observed it, or, when
// no Ensure ran, as last recorded. The targets controller's digests cover it, so that only a group made anew is
// synced again after an apply.
func withCloudIDs(bindings, recorded []v1alpha1.TargetGroupBinding, observed *cloud.Status) []v1alpha1.TargetGroupBinding {
	out := slices.Clone(bindings)
	for i := range out {
		if observed != nil {
			out[i].CloudID = observed.TargetGroups[out[i].ID]
			continue
		}
		if j := slices.IndexFunc(recorded, func(b v1alpha1.TargetGroupBinding) bool { return b.ID == out[i].ID }); j >= 0 {
			out[i].CloudID = recorded[j].CloudID
		}
	}
	return out
}

// keptDigests are the target digests that stay valid after an apply of hash, on a status whose bindings are
// already the applied ones. A new model keeps the digest of every group that has a cloud ID: one made anew has
// another, which its digest no longer matches. The same model applied again (a drift check, or a retry after a
// failure) drops them all, so that targets changed outside cloudlb are repaired with everything else.
func keptDigests(st *v1alpha1.LoadBalancerStatus, hash string) map[string]string {
	if hash == st.AppliedHash || len(st.TargetsSynced) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, b := range st.TargetGroups {
		if d, ok := st.TargetsSynced[b.ID]; ok && b.CloudID != "" {
			out[b.ID] = d
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
