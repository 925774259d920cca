package cloud

import "context"

// Inventory is implemented by a provider that can tell, from the one read that Stacks makes, what each stack
// owns: the start-up check compares it with the records to find stacks changed while the controller was down.
type Inventory interface {
	// Inventory returns what Stacks lists, by stack tag value, with each stack's resources. Resources being
	// retired (a replaced load balancer or target group in its grace) are left out.
	Inventory(ctx context.Context) (map[string]StackResources, error)
}

// StackResources are the resources one stack owns in the cloud.
type StackResources struct {
	// LoadBalancers are the cloud IDs of the stack's load balancers.
	LoadBalancers []string
	// TargetGroups maps the tag value of each target group's ID in the stack to the cloud IDs that carry it.
	TargetGroups map[string][]string
}
