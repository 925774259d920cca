package tgb

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/cloud"
)

// bindingRules tells the provider which binding a sync is for and every binding that asks for security-group
// rules now (those being deleted included: their release says they need none), so that it revokes the rules it
// added that no binding needs, and none before each has said what it needs.
func (r *Reconciler) bindingRules(ctx context.Context, b *elbv2.TargetGroupBinding, s *cloud.BoundSync) error {
	var list elbv2.TargetGroupBindingList
	if err := r.List(ctx, &list); err != nil {
		return err
	}
	s.Binding, s.Networked = bindingName(b), nil
	for i := range list.Items {
		if o := &list.Items[i]; Served(o) && o.Spec.Networking != nil && len(o.Spec.Networking.Ingress) > 0 {
			s.Networked = append(s.Networked, bindingName(o))
		}
	}
	return nil
}

func bindingName(b *elbv2.TargetGroupBinding) string {
	return client.ObjectKeyFromObject(b).String()
}

// releaseRules revokes the rules a binding that is going without a target group to leave (never bound, or its
// group gone) was the last to need.
func (r *Reconciler) releaseRules(ctx context.Context, b *elbv2.TargetGroupBinding) error {
	if b.Spec.Networking == nil {
		return nil
	}
	var s cloud.BoundSync
	if err := r.bindingRules(ctx, b, &s); err != nil {
		return err
	}
	_, err := r.Provider.SyncBoundTargets(ctx, s)
	return err
}
