package ingress

import (
	"context"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cloudlb/cloudlb/cloud"
)

// SetClock makes the collector read the time from now.
func (c *Collector) SetClock(now func() time.Time) { c.now = now }

// SeedOrphan makes the collector remember stack as orphaned since since, as if an earlier pass had found it so.
func (c *Collector) SeedOrphan(stack string, since time.Time) {
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	c.seen[stack] = since
}

// Holders counts who holds or waits for key's lock.
func (l *StackLocks) Holders(key string) int { return l.holders(key) }

// AppliedHash is the hash a record holds once lb, built from members, is applied.
func AppliedHash(lb *cloud.LoadBalancer, members ...*networkingv1.Ingress) string {
	return appliedHash(lb, members)
}

// StacksOfIngress are the stacks an event on ing enqueues.
func (r *Reconciler) StacksOfIngress(ctx context.Context, ing *networkingv1.Ingress) []reconcile.Request {
	return r.stackOfIngress(ctx, ing)
}
