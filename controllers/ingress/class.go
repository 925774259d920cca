package ingress

import (
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/cloudlb/cloudlb/cloud"
)

// ControllerName is the spec.controller value of IngressClasses that cloudlb serves.
const ControllerName = "cloudlb.io/alb"

// defaultClassAnnotation marks the IngressClass used by Ingresses that name none.
const defaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"

// ownership says whether cloudlb serves an Ingress.
type ownership int

const (
	// ours: the legacy annotation names our class, or the Ingress's class (named or default) is ours.
	ours ownership = iota
	// claimed: spec.ingressClassName names an existing IngressClass of another controller. This explicit claim
	// is the only class evidence on which cloudlb lets go of (deletes) a load balancer it serves.
	claimed
	// notOurs: every other case. A renamed --ingress-class, a deleted IngressClass or another default class
	// appearing (a helm uninstall deletes the IngressClass before the Deployment) all look like this; deleting
	// load balancers on that evidence would let an uninstall or a typo take down production, so an Ingress that
	// carries our finalizer is held: neither served nor released.
	notOurs
)

// ownerOf decides whether cloudlb serves ing: through the legacy annotation (matched against the served legacy
// classes), through spec.ingressClassName naming one of our classes, or, when neither is set, through a default
// class. why says, for notOurs, what makes the Ingress not ours.
func ownerOf(ing *networkingv1.Ingress, classes []networkingv1.IngressClass, s served) (owner ownership, why string) {
	byName := func(name string) *networkingv1.IngressClass {
		for i := range classes {
			if classes[i].Name == name {
				return &classes[i]
			}
		}
		return nil
	}
	named := ing.Spec.IngressClassName
	if named != nil {
		// LBC's class is never a claim: it was ours under --adopt-lbc-resources, and a restart without the
		// flag must not delete every load balancer taken over with it.
		if c := byName(*named); c != nil && !s.ours(c.Spec.Controller) && c.Spec.Controller != LBCControllerName {
			if v, ok := ing.Annotations[legacyClassAnnotation]; !ok || !s.legacyOurs(v) {
				return claimed, ""
			}
		}
	}
	if v, ok := ing.Annotations[legacyClassAnnotation]; ok {
		if s.legacyOurs(v) {
			return ours, ""
		}
		return notOurs, fmt.Sprintf("its %s annotation %q is not the class this controller serves (%s)",
			legacyClassAnnotation, v, s.legacyFlag())
	}
	if named != nil {
		c := byName(*named)
		switch {
		case c != nil && s.ours(c.Spec.Controller):
			return ours, ""
		case c != nil:
			return notOurs, fmt.Sprintf("its IngressClass %q is the AWS Load Balancer Controller's (%s), which this controller "+
				"serves only with --adopt-lbc-resources", *named, LBCControllerName)
		}
		return notOurs, fmt.Sprintf("its IngressClass %q does not exist", *named)
	}
	for _, c := range classes {
		if c.Annotations[defaultClassAnnotation] == "true" && s.ours(c.Spec.Controller) {
			return ours, ""
		}
	}
	return notOurs, "it names no IngressClass and no default IngressClass of this controller exists"
}

// isLive reports whether ing keeps its stack's cloud resources from garbage collection: it carries our finalizer
// (served, held, or being released by the reconciler, which deletes what it must), or it exists and no other
// controller has explicitly claimed it. Only an explicit claim, like in the reconciler, lets a stack go.
func isLive(ing *networkingv1.Ingress, classes []networkingv1.IngressClass, s served) bool {
	if controllerutil.ContainsFinalizer(ing, cloud.Finalizer) {
		return true
	}
	owner, _ := ownerOf(ing, classes, s)
	return ing.DeletionTimestamp.IsZero() && owner != claimed
}
