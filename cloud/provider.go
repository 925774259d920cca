package cloud

import "context"

// Provider converges a cloud to the model. Every method is idempotent and safe to call again after a crash at
// any point. A provider finds its resources by ownership tags, and never modifies or deletes a resource that is
// not tagged for this cluster and the stack in hand.
type Provider interface {
	// Ensure converges the cloud to lb and returns what it observed. Calling it again with the same lb makes
	// no mutating call.
	Ensure(ctx context.Context, lb *LoadBalancer) (Status, error)
	// Delete removes every resource owned by stack. Nothing left, including nothing there to begin with, is
	// success.
	Delete(ctx context.Context, stack string) error
	// SyncTargets makes target group targetGroupID of stack hold exactly targets, and reports the health of
	// the targets it holds now; targets just registered report TargetInitial.
	SyncTargets(ctx context.Context, stack, targetGroupID string, targets []Target) ([]TargetHealth, error)
	// Stacks lists the stacks that own any resource in this cluster, for garbage collection.
	Stacks(ctx context.Context) ([]string, error)
}
