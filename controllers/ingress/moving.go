package ingress

import (
	"context"
	"slices"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// Moves between stacks are make before break. A member that joins another stack (a changed group.name, or its
// class's) keeps its rules in the stack it leaves, as a held member does, until the record of its new stack
// says it is applied there and Ready, and then for MoveGrace more, so that DNS (external-dns follows the status)
// and the new load balancer's target health can catch up; only then does the old stack drop its rules, or delete
// its load balancer if it was the last member. A member that its new stack refuses keeps being served where it was.

// firstMoveWait is how soon a stack looks again whether its moving members are served where they went.
const firstMoveWait = 2 * time.Second

// moving reports whether ing, which is not a member of stack, is still to be served by it: stack's record has it
// applied, and the record of no stack it is now a member of does.
func (r *Reconciler) moving(ctx context.Context, view *groupView, ing *networkingv1.Ingress, record *v1alpha1.LoadBalancer) (bool, error) {
	if !ing.DeletionTimestamp.IsZero() || !controllerutil.ContainsFinalizer(ing, cloud.Finalizer) || !appliedIn(record, ing) {
		return false, nil
	}
	there, err := r.readyWhereItWent(ctx, view, ing)
	if err != nil || there == "" {
		return there == "" && err == nil, err
	}
	return !r.moveGraceOver(there, ing), nil
}

// readyWhereItWent returns the key of a stack ing is now a member of whose record has it applied and Ready, or "".
func (r *Reconciler) readyWhereItWent(ctx context.Context, view *groupView, ing *networkingv1.Ingress) (string, error) {
	stacks, err := view.stacks(ctx, ing)
	if err != nil {
		return "", err
	}
	for _, s := range stacks {
		there := &v1alpha1.LoadBalancer{}
		switch err := r.Get(ctx, types.NamespacedName{Name: recordName(stackKey(s))}, there); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return "", err
		case appliedIn(there, ing) && meta.IsStatusConditionTrue(there.Status.Conditions, "Ready"):
			return stackKey(s), nil
		}
	}
	return "", nil
}

// moveGraceOver reports whether MoveGrace has passed since this process first saw ing served by its new stack.
// The time is kept in memory only: after a restart the grace starts again, which only delays the clean-up.
func (r *Reconciler) moveGraceOver(newStack string, ing *networkingv1.Ingress) bool {
	if r.MoveGrace <= 0 {
		return true
	}
	key := newStack + "\x00" + string(ing.UID)
	now := time.Now()
	r.moves.mu.Lock()
	defer r.moves.mu.Unlock()
	if r.movedAt == nil {
		r.movedAt = map[string]time.Time{}
	}
	first, ok := r.movedAt[key]
	if !ok {
		r.movedAt[key], first = now, now
	}
	if now.Sub(first) < r.MoveGrace {
		return false
	}
	delete(r.movedAt, key)
	return true
}

func appliedIn(record *v1alpha1.LoadBalancer, ing *networkingv1.Ingress) bool {
	key := client.ObjectKeyFromObject(ing).String()
	return slices.ContainsFunc(record.Status.Members, func(m v1alpha1.MemberStatus) bool { return m.Name == key && m.Applied })
}

// moveWait is when a stack with moving members looks again; zero without any.
func (r *Reconciler) moveWait(stack string, moving []*networkingv1.Ingress) time.Duration {
	if len(moving) == 0 {
		r.moves.reset(stack)
		return 0
	}
	r.moves.mu.Lock()
	if r.moves.base <= 0 {
		r.moves.base, r.moves.max = firstMoveWait, maxWait
	}
	r.moves.mu.Unlock()
	return r.moves.next(stack)
}
