package ingress

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// Dry-run: a stack any of whose served members carries AnnDryRun "true" is planned and not applied. The plan goes on
// the stack's record (status.plan, condition DryRun) and into one Normal Event per plan. Nothing is created for
// it meanwhile: no cloud resource, no finalizer, no target group binding. Removing the annotation applies the
// plan recorded, and only that plan: when the cloud or the stack changed since, the new plan is recorded instead,
// with a Warning Event, and waits for the annotation to be set and removed again.

// AnnDryRun makes a stack dry-run while any of its members carries it with a true value.
const AnnDryRun = cloudlbPrefix + "dry-run"

// conditionDryRun on a record says the stack is planned, not applied: True while the annotation is set, False
// (reason PlanChanged) while a plan changed since it was reviewed waits to be reviewed again.
const conditionDryRun = "DryRun"

const (
	reasonPlanned     = "Planned"
	reasonPlanChanged = "PlanChanged"
)

// maxEventPlanLines bounds the changes an Event lists: Event messages are cut at 1 KiB; the record holds all.
const maxEventPlanLines = 8

// dryRunOf says whether the stack of members is dry-run, and which members carry a value that is not a boolean.
// A value that does not parse counts as true: a dry-run asked for with a typo must not apply.
func dryRunOf(members []*networkingv1.Ingress) (bool, map[*networkingv1.Ingress]error) {
	dry := false
	bad := map[*networkingv1.Ingress]error{}
	for _, ing := range members {
		v, ok := ing.Annotations[AnnDryRun]
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "false":
		case "true":
			dry = true
		default:
			bad[ing] = &AnnotationError{Key: AnnDryRun, Value: v, Reason: `want "true" or "false"; the stack is planned, not applied, until it is fixed`}
			dry = true
		}
	}
	return dry, bad
}

// planOnly plans the stack and records the plan, instead of applying it.
func (r *Reconciler) planOnly(ctx context.Context, record *v1alpha1.LoadBalancer, lb *cloud.LoadBalancer, served []*networkingv1.Ingress, reason string) (ctrl.Result, error) {
	if due, wait := r.plans.due(lb.Stack, planBasis(record, lb, reason), time.Now(), r.DriftCheckInterval, r.Suspects.Has(lb.Stack)); !due {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	r.plans.forget(lb.Stack)
	pl, err := r.Provider.Plan(ctx, lb, cloud.Known{ID: record.Status.ID, Name: record.Status.Name})
	err = cloud.RedactSecrets(err, lb.ClientSecrets)
	if err != nil {
		for _, ing := range served {
			r.Recorder.Eventf(ing, nil, corev1.EventTypeWarning, "PlanFailed", "Plan", "planning the load balancer: %s", err)
		}
		werr := r.patchRecordStatus(ctx, record, func(st *v1alpha1.LoadBalancerStatus) {
			meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: conditionDryRun, Status: metav1.ConditionTrue, Reason: "PlanFailed",
				Message: err.Error()})
		})
		if werr != nil {
			return ctrl.Result{}, werr
		}
		if cloud.IsInvalidSpec(err) {
			return ctrl.Result{RequeueAfter: invalidSpecRequeue}, nil
		}
		return ctrl.Result{}, err
	}
	lines := pl.Lines()
	was := meta.FindStatusCondition(record.Status.Conditions, conditionDryRun)
	changed := was == nil || was.Reason != reason || !slices.Equal(record.Status.Plan, lines)
	status := metav1.ConditionTrue
	msg := fmt.Sprintf("%d changes planned: remove %s from the stack's Ingresses to apply them", len(lines), AnnDryRun)
	if reason == reasonPlanChanged {
		status = metav1.ConditionFalse
		msg = fmt.Sprintf("the plan changed since it was reviewed (%d changes now) and is not applied: review status.plan, then set and "+
			"remove %s again to apply it", len(lines), AnnDryRun)
	}
	if len(lines) == 0 {
		msg = "nothing to change"
	}
	if err := r.patchRecordStatus(ctx, record, func(st *v1alpha1.LoadBalancerStatus) {
		st.Plan = lines
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: conditionDryRun, Status: status, Reason: reason, Message: msg})
	}); err != nil {
		return ctrl.Result{}, err
	}
	r.plans.remember(lb.Stack, planBasis(record, lb, reason), time.Now())
	r.Suspects.done(lb.Stack)
	if changed {
		eventType, eventReason := corev1.EventTypeNormal, "DryRun"
		if reason == reasonPlanChanged {
			eventType, eventReason = corev1.EventTypeWarning, reasonPlanChanged
		}
		for _, ing := range served {
			r.Recorder.Eventf(ing, nil, eventType, eventReason, "Plan", "%s (LoadBalancer %s)%s", msg, record.Name, eventLines(lines))
		}
	}
	return ctrl.Result{RequeueAfter: driftAfter(lb.Stack, r.DriftCheckInterval)}, nil
}

// eventLines lists the first changes of a plan for an Event.
func eventLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	shown := lines[:min(len(lines), maxEventPlanLines)]
	s := ": " + strings.Join(shown, "; ")
	if more := len(lines) - len(shown); more > 0 {
		s += fmt.Sprintf("; and %d more", more)
	}
	return s
}

// leaveDryRun runs before the first apply of a stack that was dry-run: it applies only the plan reviewed. It
// returns true when the stack must stay planned, not applied, because its plan changed or was never reviewed.
func (r *Reconciler) leaveDryRun(ctx context.Context, record *v1alpha1.LoadBalancer, lb *cloud.LoadBalancer) (bool, error) {
	was := meta.FindStatusCondition(record.Status.Conditions, conditionDryRun)
	if was == nil {
		return false, nil
	}
	if was.Reason != reasonPlanned {
		// A plan that changed since it was reviewed, or that could not be made, is approved only by setting and
		// removing the annotation again.
		return true, nil
	}
	pl, err := r.Provider.Plan(ctx, lb, cloud.Known{ID: record.Status.ID, Name: record.Status.Name})
	if err != nil {
		return false, cloud.RedactSecrets(err, lb.ClientSecrets)
	}
	if !slices.Equal(pl.Lines(), record.Status.Plan) {
		return true, nil
	}
	r.plans.forget(lb.Stack)
	// Cleared before the apply: an apply that fails halfway is retried as any other, not compared with a plan it
	// already carried out in part. A plan with changes is applied even when the model is the one last applied (the
	// cloud changed since): the applied hash is forgotten.
	return false, r.patchRecordStatus(ctx, record, func(st *v1alpha1.LoadBalancerStatus) {
		if len(st.Plan) > 0 {
			st.AppliedHash = ""
		}
		st.Plan = nil
		meta.RemoveStatusCondition(&st.Conditions, conditionDryRun)
	})
}

// dryRunGate is the reconciler's one call into dry-run, between translation and apply. It returns done when the
// stack was planned instead of applied, with the result to return.
func (r *Reconciler) dryRunGate(ctx context.Context, record *v1alpha1.LoadBalancer, lb *cloud.LoadBalancer, active, served []*networkingv1.Ingress) (bool, ctrl.Result, error) {
	dry, bad := dryRunOf(active)
	for ing, err := range bad {
		r.Recorder.Eventf(ing, nil, corev1.EventTypeWarning, "InvalidAnnotation", "Plan", "%s", err)
	}
	if dry {
		res, err := r.planOnly(ctx, record, lb, served, reasonPlanned)
		return true, res, err
	}
	hold, err := r.leaveDryRun(ctx, record, lb)
	if err != nil || !hold {
		return false, ctrl.Result{}, err
	}
	res, err := r.planOnly(ctx, record, lb, served, reasonPlanChanged)
	return true, res, err
}

// isDryRun says whether members make their stack dry-run; the reconciler adds no finalizer then.
func isDryRun(members []*networkingv1.Ingress) bool {
	dry, _ := dryRunOf(members)
	return dry
}
