package ingress

import (
	"context"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
)

// The takeover assumes LBC is stopped: running, it would undo what cloudlb claims and changes, and the two would
// fight over every load balancer. LBC elects its leader with a Lease (its --leader-election-id, by default
// aws-load-balancer-controller-leader, in its --leader-election-namespace, by default its pod's): while some
// holder renewed it within its leaseDurationSeconds, LBC may be running, and nothing of LBC's is claimed or changed.

// DefaultLBCLease is LBC's leader election Lease as its Helm chart installs it.
var DefaultLBCLease = types.NamespacedName{Namespace: "kube-system", Name: "aws-load-balancer-controller-leader"}

// lbcLeaseTTL is how long one read of LBC's Lease answers for every stack: at most one read per TTL, not per reconcile.
const lbcLeaseTTL = 10 * time.Second

// lbcLeaseMemo keeps the last read of LBC's Lease.
type lbcLeaseMemo struct {
	mu     sync.Mutex
	readAt time.Time
	// until is when the holder's last renewal lapses; zero when the Lease is absent, released or stale.
	until  time.Time
	holder string
}

// RBAC: get on LBC's Lease, in its namespace only, is granted by the chart (templates/lbc-lease-rbac.yaml) with
// adoptLBCResources: a kubebuilder marker would make a Role for kube-system alone, which hack/sync-chart.sh refuses.

// lbcLeaseKey is LBC's Lease: LBCLease, or DefaultLBCLease when unset.
func (r *Reconciler) lbcLeaseKey() types.NamespacedName {
	if r.LBCLease.Name == "" {
		return DefaultLBCLease
	}
	return r.LBCLease
}

// lbcRunning reports whether LBC's Lease says it may be running, with its holder and when its renewal lapses.
func (r *Reconciler) lbcRunning(ctx context.Context) (bool, string, time.Time, error) {
	m := &r.lbcLease
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	// A Lease live when read and lapsed since is read again: its holder may have renewed it meanwhile, and taking
	// the old read's lapse for LBC's stop would fail open.
	if m.readAt.IsZero() || now.Sub(m.readAt) >= lbcLeaseTTL || m.until.After(m.readAt) && !now.Before(m.until) {
		key := r.lbcLeaseKey()
		reader := r.APIReader
		if reader == nil {
			reader = r.Client
		}
		var lease coordinationv1.Lease
		m.until, m.holder = time.Time{}, ""
		switch err := reader.Get(ctx, key, &lease); {
		case apierrors.IsNotFound(err):
		case err != nil:
			// Fail closed: a Lease that cannot be read may be renewed.
			return false, "", time.Time{}, fmt.Errorf("reading the AWS Load Balancer Controller's Lease %s: %w", key, err)
		case lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "" && lease.Spec.RenewTime != nil:
			// A leader that stops releases the Lease (an empty holder); one that was killed leaves it to lapse.
			d := 15 * time.Second
			if lease.Spec.LeaseDurationSeconds != nil {
				d = time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second
			}
			m.until, m.holder = lease.Spec.RenewTime.Add(d), *lease.Spec.HolderIdentity
		}
		m.readAt = now
	}
	return now.Before(m.until), m.holder, m.until, nil
}

// holdWhileLBCRuns keeps the stack as it is, claiming and changing nothing, while LBC's Lease is held, and says
// so on the record and the stack's Ingresses; the stack is looked at again once the Lease would lapse.
func (r *Reconciler) holdWhileLBCRuns(ctx context.Context, record *v1alpha1.LoadBalancer, members []*networkingv1.Ingress) (time.Duration, error) {
	if !r.AdoptLBC {
		return 0, nil
	}
	running, holder, until, err := r.lbcRunning(ctx)
	if err != nil || !running {
		return 0, err
	}
	msg := fmt.Sprintf("the takeover is held: the AWS Load Balancer Controller's Lease %s is held by %s and renewed, so that "+
		"controller may be running and would fight cloudlb; stop it (scale it to zero) and the takeover resumes once the Lease "+
		"is released or lapses", r.lbcLeaseKey(), holder)
	for _, ing := range members {
		r.Recorder.Eventf(ing, nil, corev1.EventTypeWarning, "TakeoverHeld", "Reconcile", "%s", msg)
	}
	wait := max(time.Until(until), time.Second)
	if len(members) == 0 && record.CreationTimestamp.IsZero() {
		return wait, nil
	}
	return wait, r.patchRecordStatus(ctx, record, func(st *v1alpha1.LoadBalancerStatus) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "TakeoverHeld", Message: msg})
	})
}
