package cloud

import "context"

// A TargetGroupBinding registers a Service's endpoints into a target group that cloudlb did not make (Terraform,
// CloudFormation, another controller). It is the only place cloudlb registers into a group it does not own, and
// only because a user bound it explicitly: the group itself (attributes, tags, health check) is never modified.

// BoundTargetGroup is what a binding needs to know of a target group it names.
type BoundTargetGroup struct {
	// ARN is the group's cloud ID.
	ARN string
	// TargetType is the group's target type as the cloud reports it.
	TargetType TargetType
	// IPAddressType is TargetIPv6 for an IPv6 group, "" for IPv4.
	IPAddressType string
	// VPCID is the group's VPC.
	VPCID string
	// HealthCheckPort is the group's health check port; 0 means the traffic port.
	HealthCheckPort int32
}

// BoundSync asks for the targets of a bound target group.
type BoundSync struct {
	// ARN names the group (as returned by BoundTargetGroup).
	ARN string
	// Targets are the targets the group must hold for this binding.
	Targets []Target
	// Shared leaves alone every registered target that is not in Owned: the group is shared with other clusters
	// or bindings, and only targets this binding registered before may be deregistered. Without it, the binding
	// owns the group's whole target list and anything else is deregistered.
	Shared bool
	// Owned are the targets this binding registered before, with Shared.
	Owned []Target
	// Ingress are rules to add to the targets' security groups before the targets are registered.
	Ingress []IngressPermission
	// Binding names the binding ("namespace/name") that Ingress is for; "" only adds rules. With it, the rules
	// cloudlb added for bindings that no binding in Networked needs are revoked once the targets are synced.
	Binding string
	// Networked names every binding that asks for rules now: nothing is revoked until each has said what it needs.
	Networked []string
}

// IngressPermission lets a peer (a CIDR or a security group) in on a port of the targets.
type IngressPermission struct {
	// CIDR or SecurityGroup is the peer; exactly one is set.
	CIDR          string
	SecurityGroup string
	// Protocol is "tcp" or "udp".
	Protocol string
	// Port is the port; 0 means every port.
	Port int32
}

// Role is an identity of another account that a binding's calls on its target group go through: the group is
// that account's (the AWS Load Balancer Controller's iamRoleArnToAssume and assumeRoleExternalId).
type Role struct {
	ARN        string
	ExternalID string
}

type roleKey struct{}

// WithRole makes BoundTargetGroup and SyncBoundTargets reach the target group as role; the targets' security
// groups are the cluster's, and stay reached as the cluster.
func WithRole(ctx context.Context, role Role) context.Context {
	if role.ARN == "" {
		return ctx
	}
	return context.WithValue(ctx, roleKey{}, role)
}

// RoleOf returns the role WithRole set, or the zero Role: the cluster's own identity.
func RoleOf(ctx context.Context) Role {
	r, _ := ctx.Value(roleKey{}).(Role)
	return r
}
