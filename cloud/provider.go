package cloud

import "context"

// Provider converges a cloud to the model. Every method is idempotent and safe to call again after a crash at
// any point. A provider finds its resources by ownership tags, and never modifies or deletes a resource that is
// not tagged for this cluster's identity and the stack in hand (see ownership.go).
type Provider interface {
	// Ensure converges the cloud to lb and returns what it observed. Calling it again with the same lb makes
	// no mutating call. known is what this cluster last recorded of the stack.
	Ensure(ctx context.Context, lb *LoadBalancer, known Known) (Status, error)
	// Plan observes the cloud and returns what Ensure with the same lb and known would change, without any
	// mutating call: what Ensure would write before it plans (adopting a resource, requesting a certificate,
	// making a shared group) is a planned change too.
	Plan(ctx context.Context, lb *LoadBalancer, known Known) (Plan, error)
	// Delete removes every resource owned by stack. Nothing left, including nothing there to begin with, is
	// success. known is what this cluster last recorded of the stack.
	Delete(ctx context.Context, stack string, known Known) error
	// SyncTargets makes target group targetGroupID of stack hold exactly targets, and reports the health of
	// the targets it holds now; targets just registered report TargetInitial.
	SyncTargets(ctx context.Context, stack, targetGroupID string, targets []Target) ([]TargetHealth, error)
	// BoundTargetGroup describes a target group that cloudlb does not own, named by ARN or else by name, for a
	// TargetGroupBinding. A group that does not exist is KindNotFound; one outside the cluster's VPC is
	// KindInvalidSpec.
	BoundTargetGroup(ctx context.Context, arn, name string) (BoundTargetGroup, error)
	// SyncBoundTargets makes a bound target group hold the binding's targets, deregistering what s says is the
	// binding's to deregister, and reports the health of the targets it holds now. It never modifies the group.
	SyncBoundTargets(ctx context.Context, s BoundSync) ([]TargetHealth, error)
	// Stacks lists the stacks that own any resource carrying this cluster's identity, for garbage collection.
	Stacks(ctx context.Context) ([]string, error)
}

// Known is this cluster's own record of a stack (kept in the Kubernetes API, not in the cloud). It is the proof
// of ownership for resources made before cluster identity tags existed, and it finds resources that the cloud's
// tag index does not list yet (the AWS tagging API is eventually consistent).
type Known struct {
	// ID is the load balancer's cloud ID (an ARN on AWS) as last recorded; empty when none was.
	ID string
	// Name is the load balancer's name as last recorded or as the model names it; empty when unknown.
	Name string
}
