package ingress

import (
	"context"
	"maps"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// refuseExternalTags refuses tags whose keys --external-managed-tags gives to someone else, as the AWS Load
// Balancer Controller does: cloudlb would otherwise fight the other owner of the key. A key that the Ingress's
// own annotation sets is blamed on the annotation, one that only its class's IngressClassParams sets on the class.
func refuseExternalTags(in Input, ing *networkingv1.Ingress, tags map[string]string) error {
	if len(in.ExternalManagedTags) == 0 {
		return nil
	}
	own := annotations(ing.Annotations)
	ownKeys := map[string]bool{}
	pairs, _ := KeyValues(own[annTags])
	for _, p := range pairs {
		ownKeys[p.Key] = true
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if !slices.Contains(in.ExternalManagedTags, k) {
			continue
		}
		const why = "tag key %q is managed outside cloudlb (--external-managed-tags): cloudlb never sets it"
		if ownKeys[k] {
			return own.fail(annTags, why, k)
		}
		c := in.Classes[types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}]
		if c != nil && c.Spec.Parameters != nil {
			return &ClassParamsError{Class: c.Name, Params: c.Spec.Parameters.Name, Field: "tags",
				Reason: strings.ReplaceAll(why, "%q", `"`+k+`"`), EventReason: reasonParamsInvalid}
		}
		return own.fail(annTags, why, k)
	}
	return nil
}

// refuseNewGroupName enforces --disable-ingress-group-name-annotation as the AWS Load Balancer Controller's
// admission webhook does: no new use of group.name. A member the group's last applied model included keeps its
// place, so that turning the flag on never takes a route away; any other Ingress naming a group is left out.
// IngressClassParams group.name is the way left to form groups.
func refuseNewGroupName(in Input, ing *networkingv1.Ingress) error {
	a := annotations(ing.Annotations)
	if _, set := a[annGroupName]; !set || !in.DisableGroupNameAnnotation {
		return nil
	}
	key := types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}
	if in.Applied[key] {
		return nil
	}
	// The class's group overrides the annotation (with a Warning), so the annotation forms no group.
	if c := in.Classes[key]; c != nil {
		if p := in.ClassParams[c.Name]; p != nil && p.Spec.Group != nil && p.Spec.Group.Name != "" {
			return nil
		}
	}
	return a.fail(annGroupName, "new use of this annotation is disabled by --disable-ingress-group-name-annotation")
}

// watched reports whether garbage collection may consider stack (a tag value). With --watch-namespace the cache
// holds no Ingress of another namespace, so every stack of one would look orphaned: only the watched namespace's
// own stacks ("namespace/name", which even a hashed tag value begins with) are considered, and never an explicit
// group's, whose members may live anywhere.
func (c *Collector) watched(stack string) bool {
	return c.WatchNamespace == "" || strings.HasPrefix(stack, c.WatchNamespace+"/")
}

// keptByRecords marks live the stacks whose record names a live Ingress (alive, by namespace/name) as an applied
// member. Such an Ingress moved away from the stack (a group.name added or changed) and is held there when its
// new stack refuses it (heldAway): collecting the stack would take away the load balancer it still serves through.
func keptByRecords(ctx context.Context, r client.Reader, alive, live map[string]bool) error {
	var records v1alpha1.LoadBalancerList
	if err := r.List(ctx, &records); err != nil {
		return err
	}
	for _, rec := range records.Items {
		for _, m := range rec.Status.Members {
			if m.Applied && alive[m.Name] {
				live[cloud.TagValue(rec.Spec.Stack)] = true
			}
		}
	}
	return nil
}

// unseenMembers are the stack's applied members that the reconciler cannot list but must not take for gone: with
// --watch-namespace, members of other namespaces (an explicit group spans namespaces), which the cache never
// shows; with --disable-ingress-group-name-annotation, members that moved to a group that refuses them. Each is
// held: its part of the load balancer stays as it was applied.
func (r *Reconciler) unseenMembers(ctx context.Context, stack string, record *v1alpha1.LoadBalancer, seen ...[]*networkingv1.Ingress) ([]*networkingv1.Ingress, error) {
	if r.WatchNamespace == "" && !r.DisableGroupNameAnnotation {
		return nil, nil
	}
	listed := map[types.NamespacedName]bool{}
	for _, list := range seen {
		for _, ing := range list {
			listed[client.ObjectKeyFromObject(ing)] = true
		}
	}
	var out []*networkingv1.Ingress
	for _, key := range slices.SortedFunc(maps.Keys(appliedMembers(record)), func(a, b types.NamespacedName) int {
		return strings.Compare(a.String(), b.String())
	}) {
		if listed[key] {
			continue
		}
		if r.WatchNamespace != "" && key.Namespace != r.WatchNamespace {
			out = append(out, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}})
			continue
		}
		if !r.DisableGroupNameAnnotation {
			continue
		}
		var ing networkingv1.Ingress
		if err := r.Get(ctx, key, &ing); err != nil {
			if client.IgnoreNotFound(err) != nil {
				return nil, err
			}
			continue
		}
		if heldAway(&ing, stack) {
			out = append(out, &ing)
		}
	}
	return out, nil
}

// heldAway reports whether ing, an applied member of stack, now names another group that refuses it under
// --disable-ingress-group-name-annotation: it is not in that group's record, so it is new there.
func heldAway(ing *networkingv1.Ingress, stack string) bool {
	_, named := ing.Annotations[annGroupName]
	return named && ing.DeletionTimestamp.IsZero() && controllerutil.ContainsFinalizer(ing, cloud.Finalizer) &&
		stackKey(stackOf(ing)) != stack
}
