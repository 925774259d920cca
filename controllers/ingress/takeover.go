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

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// Takeover from the AWS Load Balancer Controller (LBC). With AdoptLBC, cloudlb serves LBC's IngressClasses and
// legacy class, and takes LBC's finalizers over from the Ingresses it serves: LBC's finalizer is swapped for
// cloudlb's in one update, only once the stack reconciled, so that some controller's finalizer guarantees the
// clean-up at every moment; an Ingress deleted before the swap is cleaned up by cloudlb, which then removes
// LBC's finalizer. Without AdoptLBC nothing LBC wrote is touched.

const (
	// LBCControllerName is the spec.controller value of LBC's IngressClasses.
	LBCControllerName = "ingress.k8s.aws/alb"
	// LBCLegacyClass is the kubernetes.io/ingress.class value that LBC serves by default (its --ingress-class).
	LBCLegacyClass = "alb"
	// lbcImplicitFinalizer is LBC's finalizer on an Ingress of an implicit group (its own stack).
	lbcImplicitFinalizer = "ingress.k8s.aws/resources"
	// lbcGroupFinalizerPrefix prefixes LBC's finalizer on a member of an explicit group, followed by the group name.
	lbcGroupFinalizerPrefix = "group.ingress.k8s.aws/"
)

// served says which IngressClass controllers and legacy class annotation values cloudlb serves.
type served struct {
	controllers []string
	legacy      []string
	adopt       bool
}

// newServed returns what a controller with these settings serves: the named controllers (ControllerName when
// none are named) and legacy class, and with adopt LBC's controller and legacy class as well.
func newServed(controllers []string, legacyClass string, adopt bool) served {
	s := served{controllers: slices.Clone(controllers), legacy: []string{legacyClass}, adopt: adopt}
	if len(s.controllers) == 0 {
		s.controllers = []string{ControllerName}
	}
	if adopt {
		if !slices.Contains(s.controllers, LBCControllerName) {
			s.controllers = append(s.controllers, LBCControllerName)
		}
		if legacyClass != LBCLegacyClass {
			s.legacy = append(s.legacy, LBCLegacyClass)
		}
	}
	return s
}

// ours reports whether an IngressClass of controller is served.
func (s served) ours(controller string) bool { return slices.Contains(s.controllers, controller) }

// legacyOurs reports whether the legacy class annotation value v is served.
func (s served) legacyOurs(v string) bool { return slices.Contains(s.legacy, v) }

// legacyFlag names the served legacy classes for a message.
func (s served) legacyFlag() string {
	out := fmt.Sprintf("--ingress-class=%q", s.legacy[0])
	if len(s.legacy) > 1 {
		out += fmt.Sprintf(", and %q with --adopt-lbc-resources", s.legacy[1])
	}
	return out
}

func (r *Reconciler) served() served {
	return newServed(r.ControllerNames, r.LegacyClass, r.AdoptLBC)
}

// takeOver swaps LBC's finalizer of stack on ing for cloudlb's in one update, after the stack reconciled: from now
// on cloudlb alone cleans up. A stale finalizer of a group the Ingress left stays, for that group's stack to
// remove once it no longer serves the Ingress (lbcstale.go).
func (r *Reconciler) takeOver(ctx context.Context, stack string, ing *networkingv1.Ingress) error {
	f := lbcFinalizerFor(ing, stack)
	if !r.AdoptLBC || f == "" || !ing.DeletionTimestamp.IsZero() {
		return nil
	}
	base := ing.DeepCopy()
	controllerutil.RemoveFinalizer(ing, f)
	controllerutil.AddFinalizer(ing, cloud.Finalizer)
	if err := r.Patch(ctx, ing, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(err)
	}
	r.Recorder.Eventf(ing, nil, corev1.EventTypeNormal, "TakenOver", "Reconcile",
		"cloudlb serves this Ingress in place of the AWS Load Balancer Controller and replaced its finalizer")
	return nil
}

// holdTakeover keeps a stack as LBC left it while a member that LBC still serves (its finalizer is still there:
// cloudlb never applied it) cannot be translated. The plan would have no rules for that member, which has no
// last applied model either, so applying would take its live rules off the load balancer.
func (r *Reconciler) holdTakeover(ctx context.Context, record *v1alpha1.LoadBalancer, active []*networkingv1.Ingress,
	left map[types.NamespacedName]error) (bool, error) {
	if !r.AdoptLBC {
		return false, nil
	}
	if held, err := r.holdUnseenGroup(ctx, record, active, left); held || err != nil {
		return held, err
	}
	var blocked []string
	for _, ing := range active {
		if left[client.ObjectKeyFromObject(ing)] != nil && lbcFinalizerFor(ing, record.Spec.Stack) != "" {
			blocked = append(blocked, ing.Namespace+"/"+ing.Name)
		}
	}
	if len(blocked) == 0 {
		return false, nil
	}
	msg := fmt.Sprintf("the takeover is held: %s, still served by the AWS Load Balancer Controller's rules, cannot be "+
		"translated, and applying without it would remove its rules; fix it and the stack is taken over", strings.Join(blocked, ", "))
	for _, ing := range active {
		r.Recorder.Eventf(ing, nil, corev1.EventTypeWarning, "TakeoverHeld", "Translate", "%s", msg)
	}
	return true, r.writeRecord(ctx, record, recordUpdate{left: left, ready: metav1.ConditionFalse, reason: "TakeoverHeld", message: msg})
}

// holdUnseenGroup keeps an explicit group as LBC left it under --watch-namespace while cloudlb never applied it and
// an Ingress in sight carries LBC's finalizer of it. LBC served the group in every namespace; its members in
// the others are out of the cache and have no applied model in the record (unseenMembers holds only those), and
// LBC's rules do not name their Ingresses, so applying would take their rules off the load balancer.
func (r *Reconciler) holdUnseenGroup(ctx context.Context, record *v1alpha1.LoadBalancer, active []*networkingv1.Ingress,
	left map[types.NamespacedName]error) (bool, error) {
	stack := record.Spec.Stack
	if r.WatchNamespace == "" || strings.Contains(stack, "/") || record.Status.AppliedHash != "" || len(appliedMembers(record)) > 0 {
		return false, nil
	}
	var list networkingv1.IngressList
	if err := r.List(ctx, &list, client.MatchingFields{indexLBCStack: stack}); err != nil || len(list.Items) == 0 {
		return false, err
	}
	msg := fmt.Sprintf("the takeover is held: group %s was served by the AWS Load Balancer Controller, and with "+
		"--watch-namespace=%s its members in other namespaces are out of sight, so applying it would remove their rules; "+
		"run cloudlb without --watch-namespace for the takeover", stack, r.WatchNamespace)
	for _, ing := range active {
		r.Recorder.Eventf(ing, nil, corev1.EventTypeWarning, "TakeoverHeld", "Translate", "%s", msg)
	}
	return true, r.writeRecord(ctx, record, recordUpdate{left: left, ready: metav1.ConditionFalse, reason: "TakeoverHeld", message: msg})
}
