package cloud

import (
	"crypto/sha256"
	"encoding/hex"
)

// This file is permanent API. Tag keys and finalizer names outlive any release that writes them: a later
// version must still recognise every key here, or it will orphan (leak) or fail to protect cloud resources
// made by an earlier one. Add keys; never rename or remove them.
//
// The ownership rule: a provider modifies or deletes a cloud resource only when it carries TagCluster equal to
// this controller's cluster name, TagClusterID equal to this cluster's identity, AND TagStack equal to the stack
// being reconciled. A resource without these tags, or with other values, is never touched, not even on delete.
//
// One exception adopts resources made before TagClusterID existed: a resource with matching TagCluster and
// TagStack but no TagClusterID at all is this cluster's only when this cluster's own record (cloud.Known, kept in
// the Kubernetes API) names it, or it is attached to a load balancer so named. It is then tagged with
// TagClusterID before anything else is done to it. Garbage collection never adopts.
const (
	// TagCluster holds the name of the cluster (the --cluster-name flag) whose controller owns the resource.
	TagCluster = "cloudlb.io/cluster"
	// TagClusterID holds the identity of the cluster (the UID of its kube-system namespace), which two clusters
	// cannot share even when they share a --cluster-name (a blue/green rebuild, a restored backup, a local run
	// with production credentials).
	TagClusterID = "cloudlb.io/cluster-id"
	// TagStack holds the stack key: "namespace/name" of an Ingress, or the name of an Ingress group.
	TagStack = "cloudlb.io/stack"
	// TagResource holds the resource's ID within its stack (a target group ID, "listener/443", ...), so that
	// a re-created controller finds each resource without relying on names.
	TagResource = "cloudlb.io/resource"
	// TagRetiredAt holds the time (RFC 3339, UTC) at which a load balancer or target group was superseded by a
	// replacement and began its grace period. It lives on the resource rather than in memory so that a
	// restarted controller keeps counting instead of starting the grace period over, or deleting at once.
	TagRetiredAt = "cloudlb.io/retired-at"

	// ResourceBackendSecurityGroup is the TagResource value of the cluster's shared backend security group. That
	// group belongs to the cluster, not to a stack: it carries TagCluster, TagClusterID and this TagResource and no
	// TagStack, so that garbage collection never sees it as a stack's; it is deleted only with all three tags.
	ResourceBackendSecurityGroup = "backend-security-group"

	// Finalizer is set on every Ingress whose cloud resources the controller has or may have created, and is
	// removed only after Provider.Delete succeeded for the Ingress's stack (or the Ingress left it).
	Finalizer = "cloudlb.io/load-balancer"
)

// MaxTagValueLength is the longest tag value AWS accepts.
const MaxTagValueLength = 256

// TagValue is the form in which a value is written to, and filtered on in, an ownership tag. Values that fit are
// used as they are; longer ones (a stack key of a long namespace and Ingress name) keep a readable prefix and end
// in a hash of the whole value, so that they stay unique and fit. TagValue(TagValue(v)) == TagValue(v).
func TagValue(v string) string {
	if len(v) <= MaxTagValueLength {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return v[:MaxTagValueLength-17] + "~" + hex.EncodeToString(sum[:8])
}
