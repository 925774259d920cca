package targets

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// excludeLabel keeps a node out of every load balancer, as for Service type LoadBalancer.
const excludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

// removalTaints mark a node that an autoscaler is about to remove: the Cluster Autoscaler's, Karpenter v1's
// and Karpenter v1beta1's. Its targets are deregistered ahead of the removal so the target group drains them.
var removalTaints = []string{"ToBeDeletedByClusterAutoscaler", "karpenter.sh/disrupted", "karpenter.sh/disruption"}

// sliceController is the managed-by value of the slices Kubernetes' EndpointSlice controller writes from a
// Service's selector: their endpoints are pods it has seen.
const sliceController = "endpointslice-controller.k8s.io"

// podRef reports an endpoint that names a Pod of the slice's namespace.
func podRef(es *discoveryv1.EndpointSlice, ep discoveryv1.Endpoint) bool {
	r := ep.TargetRef
	return r != nil && r.Kind == "Pod" && (r.APIVersion == "" || r.APIVersion == "v1") && r.Name != "" &&
		(r.Namespace == "" || r.Namespace == es.Namespace)
}

// ipTargets are the endpoints that should receive traffic: ready and not terminating. A terminating endpoint
// is left out, so that it is deregistered and the target group's deregistration delay drains it. admit lets in
// an endpoint that is not ready yet: a pod that carries this target group's readiness gate and whose containers
// are ready must be registered, or the gate could never turn true (as in LBC, other gates are not waited for).
//
// Only pods are registered: an endpoint without a Pod reference is skipped, and one in a slice that the
// EndpointSlice controller did not write counts only if verified says its pod holds the address. Anyone who
// may write EndpointSlices could otherwise put any address of the VPC behind a load balancer.
func ipTargets(svc *corev1.Service, port int32, family discoveryv1.AddressType, slices []discoveryv1.EndpointSlice,
	admit func(discoveryv1.Endpoint) bool, verified func(pod, addr string) bool) ([]cloud.Target, error) {
	sp := servicePort(svc, port)
	if sp == nil {
		return nil, fmt.Errorf("service %s/%s has no port %d", svc.Namespace, svc.Name, port)
	}
	var out []cloud.Target
	for i := range slices {
		es := &slices[i]
		// A target group takes one address family: an address of the other fails the whole registration batch.
		if es.AddressType != family {
			continue
		}
		// Slices are grouped by resolved port, so a named target port gets its number per slice.
		var num int32
		for _, p := range es.Ports {
			if p.Port != nil && deref(p.Name) == sp.Name {
				num = *p.Port
			}
		}
		if num == 0 {
			continue
		}
		managed := es.Labels[discoveryv1.LabelManagedBy] == sliceController
		for _, ep := range es.Endpoints {
			// A nil ready condition means ready: the API says to read an unknown state as ready.
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			if !podRef(es, ep) || deref(ep.Conditions.Terminating) || !ready && !admit(ep) {
				continue
			}
			for _, addr := range ep.Addresses {
				if managed || verified(ep.TargetRef.Name, addr) {
					out = append(out, cloud.Target{ID: addr, Port: num})
				}
			}
		}
	}
	return sortedUnique(out), nil
}

// addressFamily is the EndpointSlice address type of a binding's target group.
func addressFamily(b v1alpha1.TargetGroupBinding) discoveryv1.AddressType {
	if b.IPAddressType == cloud.TargetIPv6 {
		return discoveryv1.AddressTypeIPv6
	}
	return discoveryv1.AddressTypeIPv4
}

// instanceTargets are the EC2 instances of the nodes that may receive traffic, on the Service's NodePort. A
// node's Ready condition is not read: a control-plane blip can turn every node NotReady at once, and the load
// balancer's own health checks judge whether an instance serves. Only nodes on their way out, or excluded, are
// left out.
func instanceTargets(svc *corev1.Service, port int32, selector map[string]string, nodes []corev1.Node) ([]cloud.Target, error) {
	return instanceTargetsMatching(svc, port, labels.SelectorFromSet(selector), nodes)
}

func instanceTargetsMatching(svc *corev1.Service, port int32, sel labels.Selector, nodes []corev1.Node) ([]cloud.Target, error) {
	sp := servicePort(svc, port)
	if sp == nil {
		return nil, fmt.Errorf("service %s/%s has no port %d", svc.Namespace, svc.Name, port)
	}
	if sp.NodePort == 0 {
		return nil, fmt.Errorf("service %s/%s port %d has no NodePort, which target-type instance needs", svc.Namespace, svc.Name, port)
	}
	var out []cloud.Target
	for i := range nodes {
		n := &nodes[i]
		// The exclude label excludes by its presence, whatever its value, as for Services of type LoadBalancer.
		if _, excluded := n.Labels[excludeLabel]; excluded || leaving(n) || !sel.Matches(labels.Set(n.Labels)) {
			continue
		}
		id := instanceID(n.Spec.ProviderID)
		if id == "" {
			continue
		}
		out = append(out, cloud.Target{ID: id, Port: sp.NodePort})
	}
	return sortedUnique(out), nil
}

func servicePort(svc *corev1.Service, port int32) *corev1.ServicePort {
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == port {
			return &svc.Spec.Ports[i]
		}
	}
	return nil
}

// leaving reports a node being deleted or tainted for removal.
func leaving(n *corev1.Node) bool {
	return !n.DeletionTimestamp.IsZero() ||
		slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return slices.Contains(removalTaints, t.Key) })
}

// instanceID reads i-... from a providerID such as aws:///us-east-1a/i-0123456789abcdef0.
func instanceID(providerID string) string {
	if !strings.HasPrefix(providerID, "aws://") {
		return ""
	}
	id := providerID[strings.LastIndexByte(providerID, '/')+1:]
	if !strings.HasPrefix(id, "i-") {
		return ""
	}
	return id
}

func sortedUnique(ts []cloud.Target) []cloud.Target {
	slices.SortFunc(ts, func(a, b cloud.Target) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return int(a.Port - b.Port)
	})
	return slices.Compact(ts)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// bindingsFor returns the bindings of every record that route to the Service.
func bindingsFor(records []v1alpha1.LoadBalancer, namespace, name string) []binding {
	var out []binding
	for i := range records {
		r := &records[i]
		for _, b := range r.Status.TargetGroups {
			if b.ServiceNamespace == namespace && b.ServiceName == name {
				out = append(out, binding{record: r, TargetGroupBinding: b})
			}
		}
	}
	return out
}

type binding struct {
	record *v1alpha1.LoadBalancer
	v1alpha1.TargetGroupBinding
}
