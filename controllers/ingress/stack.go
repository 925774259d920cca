package ingress

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Field indexes on the Ingress cache.
const (
	indexStack   = "cloudlb.io/stack"
	indexService = "cloudlb.io/service"
)

// stackOf is the one place that says which stack an Ingress belongs to. Today every Ingress is its own stack;
// Ingress groups change only this function and the request it maps to.
func stackOf(ing *networkingv1.Ingress) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}}
}

// stackKey is the string form of a stack, used as the cloud ownership tag and the field index value.
func stackKey(req reconcile.Request) string {
	if req.Namespace == "" {
		return req.Name
	}
	return req.Namespace + "/" + req.Name
}

func indexByStack(o client.Object) []string {
	return []string{stackKey(stackOf(o.(*networkingv1.Ingress)))}
}

// indexByService lists "namespace/name" of every Service an Ingress routes to.
func indexByService(o client.Object) []string {
	ing := o.(*networkingv1.Ingress)
	var out []string
	for _, svc := range backendServices(ing) {
		if key := svc.String(); !slices.Contains(out, key) {
			out = append(out, key)
		}
	}
	return out
}

func backendServices(ing *networkingv1.Ingress) []types.NamespacedName {
	var out []types.NamespacedName
	add := func(be *networkingv1.IngressBackend) {
		if be != nil && be.Service != nil {
			out = append(out, types.NamespacedName{Namespace: ing.Namespace, Name: be.Service.Name})
		}
	}
	add(ing.Spec.DefaultBackend)
	for _, r := range ing.Spec.Rules {
		if r.HTTP != nil {
			for i := range r.HTTP.Paths {
				add(&r.HTTP.Paths[i].Backend)
			}
		}
	}
	return out
}

func (r *Reconciler) stackOfIngress(_ context.Context, o client.Object) []reconcile.Request {
	return []reconcile.Request{stackOf(o.(*networkingv1.Ingress))}
}

func (r *Reconciler) stacksOfService(ctx context.Context, o client.Object) []reconcile.Request {
	var list networkingv1.IngressList
	if err := r.List(ctx, &list, client.MatchingFields{indexService: client.ObjectKeyFromObject(o).String()}); err != nil {
		return nil
	}
	return stacksOf(list.Items)
}

// allStacks re-evaluates every Ingress when an IngressClass changes, since class membership may have moved.
func (r *Reconciler) allStacks(ctx context.Context, _ client.Object) []reconcile.Request {
	var list networkingv1.IngressList
	if err := r.List(ctx, &list); err != nil {
		return nil
	}
	return stacksOf(list.Items)
}

func stacksOf(ings []networkingv1.Ingress) []reconcile.Request {
	var out []reconcile.Request
	for i := range ings {
		if req := stackOf(&ings[i]); !slices.Contains(out, req) {
			out = append(out, req)
		}
	}
	return out
}

// services reads the Services that members route to; a missing one is simply absent, and translation reports it.
func (r *Reconciler) services(ctx context.Context, ings []*networkingv1.Ingress) (map[types.NamespacedName]*corev1.Service, error) {
	out := map[types.NamespacedName]*corev1.Service{}
	for _, ing := range ings {
		for _, key := range backendServices(ing) {
			if _, done := out[key]; done {
				continue
			}
			var svc corev1.Service
			if err := r.Get(ctx, key, &svc); err != nil {
				if client.IgnoreNotFound(err) != nil {
					return nil, err
				}
				continue
			}
			out[key] = &svc
		}
	}
	return out, nil
}
