package targets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// syncDigest is what a target group's entry in TargetsSynced must hold for its targets to count as synced: the
// targets and the cloud ID of the group they were registered in. An apply that makes the group anew gives it
// another cloud ID, so its targets are synced again; an apply that keeps the group changes nothing here. With
// no cloud ID recorded (a record from before cloud IDs, or a provider that reports none), the last apply
// stands in for it, so that any apply re-syncs the group, as it always did.
func syncDigest(b binding, targets []cloud.Target) string {
	id := b.CloudID
	if id == "" {
		if b.record.Status.AppliedHash == "" && b.record.Status.LastAppliedTime == nil {
			return digestOf(targets)
		}
		id = "applied:" + b.record.Status.AppliedHash
		if t := b.record.Status.LastAppliedTime; t != nil {
			id += "@" + t.UTC().Format(time.RFC3339)
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s", id, digestOf(targets))
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// syncedAlready says whether the record's digest for b matches targets. A digest of the targets alone is also
// accepted for a group without a cloud ID: only a cloudlb from before cloud IDs wrote those, under an optimistic
// lock that failed if an apply came between, so an upgrade does not re-sync every target group.
func syncedAlready(b binding, targets []cloud.Target, digest string) bool {
	have := b.record.Status.TargetsSynced[b.ID]
	return have != "" && (have == digest || b.CloudID == "" && have == digestOf(targets))
}

// recordSynced writes the digest of one target group's synced targets on its record, as a JSON merge patch of
// that one entry and without a resource version. Nothing else writes that entry but an apply, which may drop
// it: so there is no lost update to guard against, and no optimistic lock to fail. The syncs of a record's
// other target groups and the Ingress reconciler's writes never conflict with it. A digest written after an
// apply that made the group anew does not match the group's new cloud ID, so a stale write costs one more
// sync, never a skipped one.
func (r *Reconciler) recordSynced(ctx context.Context, record *v1alpha1.LoadBalancer, id, digest string) error {
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"targetsSynced": map[string]string{id: digest}}})
	if err != nil {
		return err
	}
	target := &v1alpha1.LoadBalancer{}
	target.Name = record.Name
	for attempt := 0; ; attempt++ {
		err := r.Status().Patch(ctx, target, client.RawPatch(types.MergePatchType, patch))
		// The API server answers a conflict to a patch without a resource version only when its own retries
		// against concurrent writers ran out; try again at once, since no backoff makes this write more likely
		// to pass.
		if !apierrors.IsConflict(err) || attempt == 4 {
			return client.IgnoreNotFound(err)
		}
	}
}
