package ingress

import (
	networkingv1 "k8s.io/api/networking/v1"
)

// ControllerName is the spec.controller value of IngressClasses that cloudlb serves.
const ControllerName = "cloudlb.io/alb"

// defaultClassAnnotation marks the IngressClass used by Ingresses that name none.
const defaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"

// isOurs reports whether cloudlb serves ing: through the legacy annotation (matched against legacyClass), through
// spec.ingressClassName naming one of our classes, or, when neither is set, through a default class of ours.
func isOurs(ing *networkingv1.Ingress, classes []networkingv1.IngressClass, legacyClass string) bool {
	if v, ok := ing.Annotations[legacyClassAnnotation]; ok {
		return v == legacyClass
	}
	for _, c := range classes {
		if c.Spec.Controller != ControllerName {
			continue
		}
		if ing.Spec.IngressClassName != nil {
			if c.Name == *ing.Spec.IngressClassName {
				return true
			}
		} else if c.Annotations[defaultClassAnnotation] == "true" {
			return true
		}
	}
	return false
}
