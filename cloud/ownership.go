package cloud

// This file is permanent API. Tag keys and finalizer names outlive any release that writes them: a later
// version must still recognise every key here, or it will orphan (leak) or fail to protect cloud resources
// made by an earlier one. Add keys; never rename or remove them.
//
// The ownership rule: a provider modifies or deletes a cloud resource only when it carries TagCluster equal to
// this controller's cluster name AND TagStack equal to the stack being reconciled. A resource without both tags,
// or with other values, is never touched, not even on delete.
const (
	// TagCluster holds the name of the cluster (the --cluster-name flag) whose controller owns the resource.
	TagCluster = "cloudlb.io/cluster"
	// TagStack holds the stack key: "namespace/name" of an Ingress, or the name of an Ingress group.
	TagStack = "cloudlb.io/stack"
	// TagResource holds the resource's ID within its stack (a target group ID, "listener/443", ...), so that
	// a re-created controller finds each resource without relying on names.
	TagResource = "cloudlb.io/resource"

	// Finalizer is set on every Ingress whose cloud resources the controller has or may have created, and is
	// removed only after Provider.Delete succeeded for the Ingress's stack (or the Ingress left it).
	Finalizer = "cloudlb.io/load-balancer"
)
