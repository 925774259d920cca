package ingress

import (
	networkingv1 "k8s.io/api/networking/v1"
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
	// theirs: the Ingress names another controller's class, or another legacy class.
	theirs
	// unknown: the class the Ingress depends on does not exist (deleted, renamed, not yet created). Deleting
	// load balancers on that evidence would let an uninstall or a typo take down production, so the Ingress is
	// left as it is until its class is known.
	unknown
)

// ownerOf decides whether cloudlb serves ing: through the legacy annotation (matched against legacyClass),
// through spec.ingressClassName naming one of our classes, or, when neither is set, through a default class.
func ownerOf(ing *networkingv1.Ingress, classes []networkingv1.IngressClass, legacyClass string) ownership {
	if v, ok := ing.Annotations[legacyClassAnnotation]; ok {
		if v == legacyClass {
			return ours
		}
		return theirs
	}
	if ing.Spec.IngressClassName != nil {
		for _, c := range classes {
			if c.Name == *ing.Spec.IngressClassName {
				if c.Spec.Controller == ControllerName {
					return ours
				}
				return theirs
			}
		}
		return unknown
	}
	owner := unknown
	for _, c := range classes {
		if c.Annotations[defaultClassAnnotation] != "true" {
			continue
		}
		if c.Spec.Controller == ControllerName {
			return ours
		}
		owner = theirs
	}
	return owner
}

// isOurs reports whether cloudlb serves ing.
func isOurs(ing *networkingv1.Ingress, classes []networkingv1.IngressClass, legacyClass string) bool {
	return ownerOf(ing, classes, legacyClass) == ours
}
