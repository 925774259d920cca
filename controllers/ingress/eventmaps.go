package ingress

import (
	"context"
	"encoding/json"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
)

// A change to a Secret, an IngressClass or an IngressClassParams reconciles only the stacks of the Ingresses that
// name it, found through these indexes rather than by reading every Ingress of the cluster on each event.
const (
	// indexOIDCSecret indexes Ingresses, and Services, by the Secret their auth-idp-oidc annotation names.
	indexOIDCSecret = "cloudlb.io/oidc-secret"
	// indexClassRef indexes Ingresses by the IngressClass whose existence or settings decide whether they are
	// served: the class they name (with the legacy annotation too: a class of another controller claims them), or
	// noClassName for those that name none and carry no legacy annotation (a default class serves them).
	indexClassRef = "cloudlb.io/class-ref"
)

// registerEventIndexes registers the indexes the event maps below read.
func registerEventIndexes(ctx context.Context, idx client.FieldIndexer) error {
	if err := idx.IndexField(ctx, &networkingv1.Ingress{}, indexOIDCSecret, func(o client.Object) []string {
		return oidcSecretNames(o.GetAnnotations())
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &corev1.Service{}, indexOIDCSecret, func(o client.Object) []string {
		return oidcSecretNames(o.GetAnnotations())
	}); err != nil {
		return err
	}
	return idx.IndexField(ctx, &networkingv1.Ingress{}, indexClassRef, indexByClassRef)
}

// oidcSecretNames is the Secret an auth-idp-oidc annotation names, if any, whatever the auth-type.
func oidcSecretNames(ann map[string]string) []string {
	var idp oidcIDP
	if v, ok := ann[annAuthIDPOIDC]; ok && json.Unmarshal([]byte(v), &idp) == nil && idp.SecretName != "" {
		return []string{idp.SecretName}
	}
	return nil
}

func indexByClassRef(o client.Object) []string {
	ing := o.(*networkingv1.Ingress)
	if ing.Spec.IngressClassName != nil {
		return []string{*ing.Spec.IngressClassName}
	}
	return indexByClass(ing)
}

// stacksOfSecret maps a Secret to the stacks of the Ingresses that name it, on the Ingress or a backend Service.
func (r *Reconciler) stacksOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	key := types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}
	r.secretReads.forget(key)
	var users networkingv1.IngressList
	if err := r.List(ctx, &users, client.InNamespace(key.Namespace), client.MatchingFields{indexOIDCSecret: key.Name}); err != nil {
		return nil
	}
	var services corev1.ServiceList
	if err := r.List(ctx, &services, client.InNamespace(key.Namespace), client.MatchingFields{indexOIDCSecret: key.Name}); err != nil {
		return nil
	}
	for _, svc := range services.Items {
		var of networkingv1.IngressList
		if err := r.List(ctx, &of, client.MatchingFields{indexService: client.ObjectKeyFromObject(&svc).String()}); err != nil {
			return nil
		}
		users.Items = append(users.Items, of.Items...)
	}
	return r.stacksIn(ctx, nil, users.Items)
}

// stacksOfClass maps an IngressClass to the stacks of the Ingresses it may serve or claim: those naming it, and,
// for a default class, those naming none. The class of the event stands in for the cached one, so that its old
// and new versions each map to their stacks.
func (r *Reconciler) stacksOfClass(ctx context.Context, o client.Object) []reconcile.Request {
	c := o.(*networkingv1.IngressClass)
	ings, err := r.ingressesOfClass(ctx, indexClassRef, c)
	if err != nil {
		return nil
	}
	return r.stacksIn(ctx, func(v *groupView) error { return v.withClass(ctx, c) }, ings)
}

// ingressesOfClass lists, through index, the Ingresses that name class c, and those naming none when c is a default class.
func (r *Reconciler) ingressesOfClass(ctx context.Context, index string, c *networkingv1.IngressClass) ([]networkingv1.Ingress, error) {
	names := []string{c.Name}
	if c.Annotations[defaultClassAnnotation] == "true" {
		names = append(names, noClassName)
	}
	var out []networkingv1.Ingress
	for _, n := range names {
		var list networkingv1.IngressList
		if err := r.List(ctx, &list, client.MatchingFields{index: n}); err != nil {
			return nil, err
		}
		out = append(out, list.Items...)
	}
	return out, nil
}

// stacksOfParams maps an IngressClassParams to the stacks of the Ingresses whose class names it.
func (r *Reconciler) stacksOfParams(ctx context.Context, o client.Object) []reconcile.Request {
	var classes networkingv1.IngressClassList
	if err := r.List(ctx, &classes); err != nil {
		return nil
	}
	var members []networkingv1.Ingress
	for i := range classes.Items {
		ref := classes.Items[i].Spec.Parameters
		if ref == nil || ref.APIGroup == nil || *ref.APIGroup != elbv2.GroupVersion.Group || ref.Kind != "IngressClassParams" || ref.Name != o.GetName() {
			continue
		}
		ings, err := r.ingressesOfClass(ctx, indexClass, &classes.Items[i])
		if err != nil {
			return nil
		}
		for _, ing := range ings {
			// Of those naming no class, only the ones the default class serves (there may be several defaults).
			if classOf(&ing, classes.Items, r.served()) == &classes.Items[i] && !slices.ContainsFunc(members, func(m networkingv1.Ingress) bool {
				return m.Namespace == ing.Namespace && m.Name == ing.Name
			}) {
				members = append(members, ing)
			}
		}
	}
	// The event's object stands in for the cached one: a changed group.name maps to the old group and the new.
	return r.stacksIn(ctx, func(v *groupView) error { v.withParams(o.(*elbv2.IngressClassParams)); return nil }, members)
}
