package ingress

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
)

// NameTakenError says that the load balancer name a stack would newly use is the name another stack's record
// holds: AWS names load balancers uniquely per account and region, so that stack's load balancer has it.
type NameTakenError struct {
	Name   string
	Stack  string
	Record string
}

func (e *NameTakenError) Error() string {
	return fmt.Sprintf("load balancer name %q is held by the load balancer of stack %s (LoadBalancer %s); set another %s",
		e.Name, e.Stack, e.Record, annLoadBalancerName)
}

// nameTaken returns a *NameTakenError when name is held by another stack's record. A stack whose own record
// already holds name is not judged: it claimed the name first (or, before this check, at the same time), and
// the cloud's ownership tags decide as they always did.
func nameTaken(ctx context.Context, reader client.Reader, record *v1alpha1.LoadBalancer, name string) error {
	if name == "" || strings.EqualFold(record.Status.Name, name) {
		return nil
	}
	var list v1alpha1.LoadBalancerList
	if err := reader.List(ctx, &list); err != nil {
		return err
	}
	for _, other := range list.Items {
		if other.Spec.Stack != record.Spec.Stack && strings.EqualFold(other.Status.Name, name) {
			return &NameTakenError{Name: name, Stack: other.Spec.Stack, Record: other.Name}
		}
	}
	return nil
}

// refuseTakenName, given a *NameTakenError, leaves the stack as it is, without a cloud call: its members get
// the message the admission webhook gives at apply time. Any other error (reading the records) fails the
// reconcile, to be retried.
func (r *Reconciler) refuseTakenName(ctx context.Context, record *v1alpha1.LoadBalancer, active []*networkingv1.Ingress,
	left map[types.NamespacedName]error, taken error) (ctrl.Result, error) {
	if nt := (*NameTakenError)(nil); !errors.As(taken, &nt) {
		return ctrl.Result{}, taken
	}
	for _, ing := range active {
		if left[client.ObjectKeyFromObject(ing)] == nil {
			r.Recorder.Eventf(ing, nil, corev1.EventTypeWarning, "LoadBalancerNameTaken", "Translate", "%s", taken)
		}
	}
	return ctrl.Result{RequeueAfter: invalidSpecRequeue}, r.writeRecord(ctx, record, recordUpdate{left: left,
		ready: metav1.ConditionFalse, reason: "LoadBalancerNameTaken", message: taken.Error()})
}
