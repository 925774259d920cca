package ingress

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// ReadSecrets reads the OIDC Secrets ings name, as a reconcile of their stack does.
func (r *Reconciler) ReadSecrets(ctx context.Context, ings ...*networkingv1.Ingress) (map[types.NamespacedName]*corev1.Secret, error) {
	return r.secrets(ctx, ings, nil)
}

// The maps of Secret, IngressClass and IngressClassParams events to stacks.
func (r *Reconciler) StacksOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	return r.stacksOfSecret(ctx, o)
}

func (r *Reconciler) StacksOfClass(ctx context.Context, o client.Object) []reconcile.Request {
	return r.stacksOfClass(ctx, o)
}

func (r *Reconciler) StacksOfParams(ctx context.Context, o client.Object) []reconcile.Request {
	return r.stacksOfParams(ctx, o)
}
