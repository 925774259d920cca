package ingress

import (
	"context"
	"fmt"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// UnsupportedAnnotationError says that an Ingress asks, through its own annotations or those of a backend
// Service, for something the AWS Load Balancer Controller implements and cloudlb does not yet. Building the load
// balancer without it would fail open (no authentication, no redirect, no restriction), so the Ingress is left
// out of its stack instead.
type UnsupportedAnnotationError struct {
	Keys []string
	// Service is the backend Service that carries the keys; empty for the Ingress's own annotations.
	Service string
}

func (e *UnsupportedAnnotationError) Error() string {
	noun := "annotation"
	if len(e.Keys) > 1 {
		noun += "s"
	}
	if e.Service != "" {
		return fmt.Sprintf("backend Service %s has %s %s, which cloudlb does not implement on a Service yet",
			e.Service, noun, strings.Join(e.Keys, ", "))
	}
	return fmt.Sprintf("cloudlb does not implement %s %s yet", noun, strings.Join(e.Keys, ", "))
}

// ClassParametersError says that the IngressClass serving an Ingress has spec.parameters of a kind other than the
// AWS Load Balancer Controller's cluster-scoped IngressClassParams (classparams.go). cloudlb cannot know what they
// demand, so it does not serve the Ingress as if they were not there.
type ClassParametersError struct {
	Class      string
	Parameters networkingv1.IngressClassParametersReference
}

func (e *ClassParametersError) Error() string {
	p := e.Parameters
	ref := p.Kind + " " + p.Name
	if p.APIGroup != nil && *p.APIGroup != "" {
		ref = p.Kind + "." + *p.APIGroup + " " + p.Name
	}
	return fmt.Sprintf("IngressClass %s has spec.parameters (%s), which cloudlb does not implement yet", e.Class, ref)
}

// unsupported returns why cloudlb cannot yet give ing what it asks for, or nil: refused annotations on the
// Ingress, then refused ones on a backend Service (where LBC reads overrides such as auth-*). Its class's
// parameters are judged by classAnnotations.
func unsupported(in Input, ing *networkingv1.Ingress) error {
	if keys := refusedKeys(ing.Annotations); len(keys) > 0 {
		return &UnsupportedAnnotationError{Keys: keys}
	}
	var seen []types.NamespacedName
	for _, s := range backendServices(ing) {
		svc, ok := in.Services[s]
		if !ok || slices.Contains(seen, s) {
			continue
		}
		seen = append(seen, s)
		// A refused key's no-op value is still what cloudlb does. Keys nothing reads from a Service are noticed
		// (serviceNotice), as LBC ignores them.
		if keys := refusedKeys(svc.Annotations); len(keys) > 0 {
			return &UnsupportedAnnotationError{Keys: keys, Service: s.String()}
		}
	}
	return nil
}

// classOf returns the IngressClass that serves ing, as ownerOf decides it: none for the legacy annotation, the
// named class, or else a default class of ours.
func classOf(ing *networkingv1.Ingress, classes []networkingv1.IngressClass, s served) *networkingv1.IngressClass {
	if _, ok := ing.Annotations[legacyClassAnnotation]; ok {
		return nil
	}
	for i := range classes {
		c := &classes[i]
		if ing.Spec.IngressClassName != nil {
			if c.Name == *ing.Spec.IngressClassName {
				return c
			}
		} else if c.Annotations[defaultClassAnnotation] == "true" && s.ours(c.Spec.Controller) {
			return c
		}
	}
	return nil
}

// classes maps each Ingress to the IngressClass that serves it, for translation.
func (r *Reconciler) classes(ctx context.Context, ings []*networkingv1.Ingress) (map[types.NamespacedName]*networkingv1.IngressClass, error) {
	var list networkingv1.IngressClassList
	if err := r.List(ctx, &list); err != nil {
		return nil, err
	}
	out := map[types.NamespacedName]*networkingv1.IngressClass{}
	for _, ing := range ings {
		if c := classOf(ing, list.Items, r.served()); c != nil {
			out[client.ObjectKeyFromObject(ing)] = c
		}
	}
	return out, nil
}
