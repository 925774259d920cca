package ingress

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
)

// LBC's finalizers name a group: `group.ingress.k8s.aws/<group>` an explicit one, `ingress.k8s.aws/resources` the
// Ingress's own implicit group. LBC adds a group's finalizer to its members and removes it, in that group's
// reconcile, from Ingresses that carry it but are no longer members ("inactive members"), once that group's
// stack converged without them, deleted when no member is left. An Ingress that changed group while LBC was
// stopped keeps the finalizer of the group it left. cloudlb does the same, in the reconcile of the stack the
// finalizer names, under that stack's lock: each LBC finalizer is removed only by the stack it names. As cloudlb's
// own moves (moving.go), that is make before break: while the Ingress is not yet served by the stack it went to,
// applied there and Ready for MoveGrace, the stack it left is held as LBC left it.

// indexLBCStack indexes Ingresses by the stacks their LBC finalizers name.
const indexLBCStack = "cloudlb.io/lbc-stack"

func indexByLBCStack(o client.Object) []string {
	return lbcStacks(o.(*networkingv1.Ingress))
}

// lbcStacks returns the stacks that ing's LBC finalizers name.
func lbcStacks(ing *networkingv1.Ingress) []string {
	var out []string
	for _, f := range ing.Finalizers {
		switch {
		case f == lbcImplicitFinalizer:
			out = append(out, ing.Namespace+"/"+ing.Name)
		case strings.HasPrefix(f, lbcGroupFinalizerPrefix) && len(f) > len(lbcGroupFinalizerPrefix):
			out = append(out, strings.TrimPrefix(f, lbcGroupFinalizerPrefix))
		}
	}
	return out
}

// lbcFinalizerFor returns the LBC finalizer of ing that names stack; "" when none does.
func lbcFinalizerFor(ing *networkingv1.Ingress, stack string) string {
	switch {
	case strings.Contains(stack, "/"):
		if stack == ing.Namespace+"/"+ing.Name && slices.Contains(ing.Finalizers, lbcImplicitFinalizer) {
			return lbcImplicitFinalizer
		}
	case slices.Contains(ing.Finalizers, lbcGroupFinalizerPrefix+stack):
		return lbcGroupFinalizerPrefix + stack
	}
	return ""
}

// lbcStackRequests are the stacks that ing's LBC finalizers name, to reconcile with its own in the takeover mode.
func (r *Reconciler) lbcStackRequests(ing *networkingv1.Ingress) []reconcile.Request {
	if !r.AdoptLBC {
		return nil
	}
	var out []reconcile.Request
	for _, s := range lbcStacks(ing) {
		out = append(out, stackRequest(s))
	}
	return out
}

// staleLBC finds, in the takeover mode, the Ingresses that carry LBC's finalizer of stack but are not among its
// members (classified): they were deleted, another controller's class claims them, or they left the group and
// are served where they went (stale); or they left it and are not served there yet (waiting). kept says some
// Ingress with that finalizer is still in the group on its annotation although cloudlb cannot serve it now (its
// class is missing, say), or that the stack is an explicit group's with --watch-namespace: cloudlb then never
// deletes the group's stack.
func (r *Reconciler) staleLBC(ctx context.Context, stack string, classified ...[]*networkingv1.Ingress) (stale, waiting []*networkingv1.Ingress,
	kept bool, err error) {
	if !r.AdoptLBC {
		return nil, nil, false, nil
	}
	var list networkingv1.IngressList
	if err := r.List(ctx, &list, client.MatchingFields{indexLBCStack: stack}); err != nil || len(list.Items) == 0 {
		return nil, nil, false, err
	}
	members := map[types.NamespacedName]bool{}
	for _, l := range classified {
		for _, ing := range l {
			members[client.ObjectKeyFromObject(ing)] = true
		}
	}
	view, err := newGroupView(ctx, r.Client, r.served())
	if err != nil {
		return nil, nil, false, err
	}
	for i := range list.Items {
		ing := &list.Items[i]
		if members[client.ObjectKeyFromObject(ing)] || lbcFinalizerFor(ing, stack) == "" {
			continue
		}
		in, err := view.in(ctx, ing, stack)
		if err != nil {
			return nil, nil, false, err
		}
		owner, _ := ownerOf(ing, view.classes, view.served)
		switch {
		case !ing.DeletionTimestamp.IsZero() || owner == claimed:
			stale = append(stale, ing)
		case in:
			kept = true
		default:
			served, err := r.servedWhereItWent(ctx, view, ing)
			if err != nil {
				return nil, nil, false, err
			}
			if served {
				stale = append(stale, ing)
			} else {
				waiting = append(waiting, ing)
			}
		}
	}
	// With --watch-namespace an explicit group's members in other namespaces are out of sight, and LBC's were
	// never applied by cloudlb (unseenMembers holds only those): its load balancer may still serve them.
	if r.WatchNamespace != "" && !strings.Contains(stack, "/") {
		kept = true
	}
	return stale, waiting, kept, nil
}

// servedWhereItWent reports whether ing is applied and Ready in a stack it is now a member of, since MoveGrace.
func (r *Reconciler) servedWhereItWent(ctx context.Context, view *groupView, ing *networkingv1.Ingress) (bool, error) {
	there, err := r.readyWhereItWent(ctx, view, ing)
	if err != nil || there == "" {
		return false, err
	}
	return r.moveGraceOver(there, ing), nil
}

// dropLBCFinalizers removes LBC's finalizer of stack from the Ingresses that left it, after the stack converged
// without them or was deleted, or while other members keep it.
func (r *Reconciler) dropLBCFinalizers(ctx context.Context, stack string, stale []*networkingv1.Ingress, deleted bool) error {
	for _, ing := range stale {
		f := lbcFinalizerFor(ing, stack)
		if f == "" {
			continue
		}
		base := ing.DeepCopy()
		controllerutil.RemoveFinalizer(ing, f)
		if err := r.Patch(ctx, ing, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			if client.IgnoreNotFound(err) != nil {
				return err
			}
			continue
		}
		msg := "the AWS Load Balancer Controller's finalizer " + f + " of stack " + stack + ", which this Ingress left, is removed: "
		if deleted {
			msg += "no member is left, and the load balancer that controller made for it is deleted"
		} else {
			msg += "the stack's other members keep its load balancer"
		}
		r.Recorder.Eventf(ing, nil, corev1.EventTypeNormal, "LBCFinalizerRemoved", "Reconcile", "%s", msg)
	}
	return nil
}

// holdForMoves keeps a stack cloudlb never applied as LBC left it while Ingresses that left it with LBC's
// finalizer are not served where they went: applying it would take their rules off the load balancer that
// still serves them.
func (r *Reconciler) holdForMoves(ctx context.Context, record *v1alpha1.LoadBalancer, waiting []*networkingv1.Ingress) (bool, error) {
	if len(waiting) == 0 || record.Status.AppliedHash != "" {
		return false, nil
	}
	names := make([]string, 0, len(waiting))
	for _, ing := range waiting {
		names = append(names, client.ObjectKeyFromObject(ing).String())
	}
	return true, r.writeRecord(ctx, record, recordUpdate{ready: metav1.ConditionFalse, reason: "TakeoverHeld",
		message: fmt.Sprintf("the takeover is held until %s, which left the stack with the AWS Load Balancer Controller's finalizer, "+
			"is served by the stack it went to", strings.Join(names, ", "))})
}

// warnStale says, on each Ingress that left stack, why LBC's finalizer of stack stays on it.
func (r *Reconciler) warnStale(stack string, stale []*networkingv1.Ingress, reason string, err error) {
	for _, ing := range stale {
		r.Recorder.Eventf(ing, nil, corev1.EventTypeWarning, reason, "Delete",
			"the load balancer of stack %s, which this Ingress left and no member is left in, cannot be deleted yet: %s; "+
				"the AWS Load Balancer Controller's finalizer %s stays until it is", stack, err, lbcFinalizerFor(ing, stack))
	}
}
