// Package ingress reconciles Ingress stacks into cloud load balancers: it resolves the members of a stack,
// translates them into the provider-neutral model, has the provider converge the cloud, and writes status.
package ingress

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// Reconciler converges one stack per request.
type Reconciler struct {
	client.Client
	// APIReader reads around the cache, to confirm that the cloud really needs a call before making one.
	APIReader   client.Reader
	Provider    cloud.Provider
	Recorder    recorder.EventRecorder
	ClusterName string
	// LegacyClass is the kubernetes.io/ingress.class annotation value that cloudlb serves.
	LegacyClass string
	// ControllerNames are the IngressClass spec.controller values served; empty means ControllerName.
	ControllerNames []string
	// AdoptLBC serves the AWS Load Balancer Controller's classes and takes its finalizers over (takeover.go).
	AdoptLBC bool
	// LBCLease is the AWS Load Balancer Controller's leader election Lease: while it is held, the takeover waits
	// (lbclease.go). Empty means DefaultLBCLease.
	LBCLease types.NamespacedName
	// DriftCheckInterval is how often an unchanged stack is re-ensured to repair changes made outside cloudlb;
	// zero disables drift checks.
	DriftCheckInterval time.Duration
	// Suspects are stacks to ensure at once although their model is the one last applied (startcheck.go).
	Suspects *Suspects
	// Timeout bounds one reconcile, so that a hung cloud call cannot hold a stack (and its lock) forever; zero
	// means no deadline.
	Timeout time.Duration
	// Locks is shared with the garbage collector; nil serialises nothing beyond the work queue.
	Locks *StackLocks
	// ExternalManagedTags and DisableGroupNameAnnotation are passed to Translate (see Input).
	ExternalManagedTags        []string
	DisableGroupNameAnnotation bool
	// WatchNamespace, when set, is the only namespace the cache sees: applied members of other namespaces are
	// held as they were applied, never taken for gone.
	WatchNamespace string
	// DefaultTargetType is the target type of backends without a target-type annotation; empty means instance.
	DefaultTargetType cloud.TargetType
	// DefaultBackendRules is passed to Translate (see Input).
	DefaultBackendRules bool

	// MoveGrace is how long a member that moved to another stack stays served by the one it left once the new
	// one serves it (see moving.go).
	MoveGrace time.Duration

	waits backoff
	moves backoff
	plans planMemo
	// secretReads are the OIDC Secrets read, kept while the Secret watch shows them unchanged.
	secretReads secretMemo
	// movedAt is when a moving member was first seen served by its new stack; guarded by moves.mu.
	movedAt  map[string]time.Time
	lbcLease lbcLeaseMemo
}

// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingressclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=cloudlb.io,resources=loadbalancers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=cloudlb.io,resources=loadbalancers/status,verbs=get;update;patch

// SetupWithManager registers the indexes and watches. Every watch maps to stack requests, so the work queue is
// keyed by stack and one stack is never reconciled twice at once.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, maxConcurrent int) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &networkingv1.Ingress{}, indexStack, indexByStack); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &networkingv1.Ingress{}, indexService, indexByService); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &networkingv1.Ingress{}, indexClass, indexByClass); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &networkingv1.Ingress{}, indexLBCStack, indexByLBCStack); err != nil {
		return err
	}
	if err := registerEventIndexes(ctx, idx); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("ingress").
		// Status and finalizer writes, our own included, change nothing that translation reads. On an update the
		// map function sees the old and the new Ingress, so a changed group.name enqueues both groups: the old one
		// drops the member's rules, the new one adds them.
		Watches(&networkingv1.Ingress{}, handler.EnqueueRequestsFromMapFunc(r.stackOfIngress), builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&networkingv1.IngressClass{}, handler.EnqueueRequestsFromMapFunc(r.stacksOfClass)).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.stacksOfService)).
		// Metadata only: a change to a Secret that an OIDC configuration names reconciles its Ingresses, which
		// read it by name from the API server when it changed (secretcache.go). Secret data is never listed.
		WatchesMetadata(secretMetadata(), handler.EnqueueRequestsFromMapFunc(r.stacksOfSecret))
	b = r.watchClassParams(mgr, b)
	if r.Suspects != nil {
		b = b.WatchesRawSource(r.Suspects.Source())
	}
	return b.WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrent}).Complete(r)
}

// Reconcile converges one stack under a deadline, holding the stack's lock.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	stack := stackKey(req)
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	if r.Locks != nil {
		unlock, err := r.Locks.Lock(ctx, cloud.TagValue(stack))
		if err != nil {
			return ctrl.Result{}, err
		}
		defer unlock()
	}
	return r.reconcile(ctx, stack)
}

// reconcile converges one stack: fetch members, finalizers, translate, ensure, status.
func (r *Reconciler) reconcile(ctx context.Context, stack string) (ctrl.Result, error) {
	record, err := r.record(ctx, stack)
	if err != nil {
		return ctrl.Result{}, err
	}
	active, leaving, held, moving, err := r.members(ctx, stack, record)
	if err != nil {
		return ctrl.Result{}, err
	}
	// A member moving to another stack stays here as it was applied, like a held one, until it is served there.
	held = append(held, moving...)
	unseen, err := r.unseenMembers(ctx, stack, record, active, leaving, held)
	if err != nil {
		return ctrl.Result{}, err
	}
	held = append(held, unseen...)
	stale, waiting, kept, err := r.staleLBC(ctx, stack, active, leaving, held)
	if err != nil {
		return ctrl.Result{}, err
	}
	// Any stack, not only those with LBC's finalizers: in the takeover mode the provider claims LBC's resources of
	// whatever stack its tags name.
	if wait, err := r.holdWhileLBCRuns(ctx, record, slices.Concat(active, leaving)); wait > 0 || err != nil {
		return ctrl.Result{RequeueAfter: wait}, err
	}
	if len(active) == 0 {
		if len(held)+len(waiting) > 0 || kept {
			// A class that reappears enqueues every stack again; a move is looked at until it is done.
			return ctrl.Result{RequeueAfter: r.moveWait(stack, slices.Concat(moving, waiting))}, r.dropLBCFinalizers(ctx, stack, stale, false)
		}
		return r.release(ctx, stack, record, leaving, stale)
	}
	if held, err := r.holdForMoves(ctx, record, waiting); held || err != nil {
		return ctrl.Result{RequeueAfter: r.moveWait(stack, waiting)}, err
	}
	dry := isDryRun(active)
	// A dry-run stack has nothing in the cloud for a finalizer to clean up (dryrun.go).
	for _, ing := range active {
		if dry {
			break
		}
		if r.AdoptLBC && lbcFinalizerFor(ing, stack) != "" {
			// LBC's finalizer holds the Ingress until takeOver swaps it for ours.
			continue
		}
		if err := r.addFinalizer(ctx, ing); err != nil {
			return ctrl.Result{}, err
		}
	}
	in, err := r.input(ctx, stack, record, active, held, true)
	if err != nil {
		return ctrl.Result{}, err
	}
	out := Translate(in)
	heldKeys := in.Held
	served := slices.DeleteFunc(slices.Clone(out.Members), func(ing *networkingv1.Ingress) bool { return heldKeys[client.ObjectKeyFromObject(ing)] })
	for _, ing := range active {
		if err := out.Errors[client.ObjectKeyFromObject(ing)]; err != nil {
			r.Recorder.Eventf(ing, nil, corev1.EventTypeWarning, reasonFor(err), "Translate", "%s; the load balancer is left as it is", err)
		}
		// On every reconcile, not only on an apply: an ignored key changes nothing in the model.
		if n := out.Notices[client.ObjectKeyFromObject(ing)]; n != "" {
			r.Recorder.Eventf(ing, nil, corev1.EventTypeWarning, "UnknownAnnotation", "Translate", "%s", n)
		}
	}
	if out.LoadBalancer == nil {
		return ctrl.Result{}, r.writeRecord(ctx, record, recordUpdate{left: out.Errors, ready: metav1.ConditionFalse, reason: "InvalidSpec",
			message: "no member of the stack is valid"})
	}
	if held, err := r.holdTakeover(ctx, record, active, out.Errors); held || err != nil {
		return ctrl.Result{RequeueAfter: invalidSpecRequeue}, err
	}
	if taken := nameTaken(ctx, r.Client, record, out.LoadBalancer.Name); taken != nil {
		return r.refuseTakenName(ctx, record, active, out.Errors, taken)
	}
	if done, res, err := r.dryRunGate(ctx, record, out.LoadBalancer, active, served); done || err != nil {
		return res, err
	}

	// A drift check of a model already applied is routine: it repairs quietly, without a Normal event per hour.
	hash := appliedHash(out.LoadBalancer, out.Members)
	routine := record.Status.AppliedHash == hash && meta.IsStatusConditionTrue(record.Status.Conditions, "Ready")
	ensureCtx := ctx
	if routine {
		// A drift check: nobody waits for it, so its cloud calls use only what others leave of the API rate.
		ensureCtx = cloud.Background(ctx)
	}
	status, applied, err := r.ensure(ensureCtx, record, out.LoadBalancer, hash)
	// The error reaches Events, logs and the record.
	err = cloud.RedactSecrets(err, out.LoadBalancer.ClientSecrets)
	if cloud.IsNotFound(err) {
		// The cloud does not list yet what it just created: look again, ever more patiently, without alarm.
		log.FromContext(ctx).Info("waiting for the cloud to list a resource", "stack", stack, "reason", err.Error())
		return ctrl.Result{RequeueAfter: r.waits.next(stack)}, r.writeRecord(ctx, record, recordUpdate{members: out.Members, left: out.Errors,
			bindings: out.Bindings, ready: metav1.ConditionFalse, reason: "NotFoundYet", message: err.Error()})
	}
	if err != nil {
		for _, ing := range served {
			r.Recorder.Eventf(ing, nil, corev1.EventTypeWarning, "EnsureFailed", "Ensure", "%s", err)
		}
		// The bindings stay: the target groups that exist keep following their endpoints while this fails.
		if werr := r.writeRecord(ctx, record, recordUpdate{members: out.Members, left: out.Errors, bindings: out.Bindings, ready: metav1.ConditionFalse,
			reason: "EnsureFailed", message: err.Error()}); werr != nil {
			return ctrl.Result{}, errors.Join(err, werr)
		}
		if cloud.IsInvalidSpec(err) {
			// A quick retry cannot help, but outside state it depends on (subnet tags, quotas) may change.
			return ctrl.Result{RequeueAfter: invalidSpecRequeue}, nil
		}
		return ctrl.Result{}, err
	}
	if applied {
		for _, ing := range served {
			// One event per reason with all its warnings: the recorder folds events of the same reason into a count,
			// which would hide every message but the first.
			byReason := map[string][]string{}
			for _, w := range append(slices.Clone(out.Warnings[client.ObjectKeyFromObject(ing)]), status.Warnings...) {
				byReason[warningReason(w)] = append(byReason[warningReason(w)], w)
			}
			for _, reason := range slices.Sorted(maps.Keys(byReason)) {
				r.Recorder.Eventf(ing, nil, corev1.EventTypeWarning, reason, "Ensure", "%s", strings.Join(byReason[reason], "; "))
			}
			if !routine {
				r.Recorder.Eventf(ing, nil, corev1.EventTypeNormal, "Ensured", "Ensure", "load balancer %s is in sync", status.DNSName)
			}
			if len(status.Adopted) > 0 {
				// A takeover says what it claimed and what it changed in place, once, when it does it.
				r.Recorder.Eventf(ing, nil, corev1.EventTypeNormal, "Adopted", "Ensure", "%s", strings.Join(status.Adopted, "; "))
			}
			for _, msg := range certificateEvents(record.Status.Certificates, status.Certificates) {
				r.Recorder.Eventf(ing, nil, corev1.EventTypeNormal, "CertificatePendingValidation", "Ensure", "%s", msg)
			}
		}
	}
	update := recordUpdate{members: out.Members, left: out.Errors, converged: true, models: out.Models, bindings: out.Bindings,
		ready: metav1.ConditionTrue, reason: "Ensured"}
	if left := leftOut(active, out.Errors); len(left) > 0 {
		// The load balancer serves the last valid model; say, where kubectl shows it, that it is not the latest.
		update.reason, update.message = "MembersLeftOut", "left out as last applied: "+strings.Join(left, ", ")
	}
	if applied {
		update.observed, update.scheme = &status, string(out.LoadBalancer.Scheme)
	}
	result := ctrl.Result{RequeueAfter: driftAfter(stack, r.DriftCheckInterval)}
	if w := r.moveWait(stack, moving); w > 0 && (result.RequeueAfter == 0 || w < result.RequeueAfter) {
		result.RequeueAfter = w
	}
	if !status.Pending {
		r.waits.reset(stack)
	}
	switch {
	case !applied:
	case status.Pending:
		// Not recorded as converged, so that the next pass calls Ensure again and finishes the clean-up.
		result.RequeueAfter = r.waits.next(stack)
		if msg := pendingCertificates(status.Certificates); msg != "" {
			// Like Degraded: the load balancer serves what it can; its HTTPS listeners wait for their certificate.
			update.reason, update.message = "CertificatePendingValidation", msg
		}
	case len(status.Warnings) > 0:
		// Discovery came up short (a certificate not yet issued): look again sooner than the drift check.
		update.reason, update.message = "Degraded", strings.Join(status.Warnings, "; ")
		result.RequeueAfter = invalidSpecRequeue
	default:
		update.hash = hash
	}
	if err := r.writeRecord(ctx, record, update); err != nil {
		return ctrl.Result{}, err
	}
	for _, ing := range served {
		if err := r.writeIngressStatus(ctx, ing, status.DNSName); err != nil {
			return ctrl.Result{}, err
		}
		if err := r.takeOver(ctx, stack, ing); err != nil {
			return ctrl.Result{}, err
		}
	}
	// Members that left the stack are no longer in the model the provider just applied.
	for _, ing := range leaving {
		if err := r.removeFinalizer(ctx, stack, ing); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.dropLBCFinalizers(ctx, stack, stale, false); err != nil {
		return ctrl.Result{}, err
	}
	return result, nil
}

// members splits the Ingresses of a stack into those cloudlb serves, those it must let go of (deleted, or claimed
// by another controller's IngressClass, but still holding the finalizer), and those held: carrying the finalizer
// but no longer ours on any other evidence, so neither served nor released, with a Warning Event; and those
// moving to another stack (moving.go).
func (r *Reconciler) members(ctx context.Context, stack string, record *v1alpha1.LoadBalancer) (active, leaving, held, moving []*networkingv1.Ingress, err error) {
	view, err := newGroupView(ctx, r.Client, r.served())
	if err != nil {
		return nil, nil, nil, nil, err
	}
	list, err := r.candidates(ctx, view, stack, record)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	classes := networkingv1.IngressClassList{Items: view.classes}
	for _, ing := range list {
		in, err := view.in(ctx, ing, stack)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		if !in {
			if m, err := r.moving(ctx, view, ing, record); err != nil {
				return nil, nil, nil, nil, err
			} else if m {
				moving = append(moving, ing)
			}
			continue
		}
		// An Ingress cloudlb applied while taking it over keeps LBC's finalizer until the swap: it counts as ours.
		finalized := controllerutil.ContainsFinalizer(ing, cloud.Finalizer) || lbcFinalizerFor(ing, stack) != "" && appliedIn(record, ing)
		switch owner, why := ownerOf(ing, classes.Items, view.served); {
		case !ing.DeletionTimestamp.IsZero():
			// Deleted during a takeover, before cloudlb's finalizer replaced LBC's: cloudlb cleans up.
			if finalized || view.served.adopt && owner == ours && lbcFinalizerFor(ing, stack) != "" {
				leaving = append(leaving, ing)
			}
		case owner == ours:
			active = append(active, ing)
		case owner == notOurs && finalized:
			held = append(held, ing)
			r.Recorder.Eventf(ing, nil, corev1.EventTypeWarning, "LoadBalancerHeld", "Reconcile",
				"cloudlb no longer serves this Ingress: %s. Its load balancer is left as it is; deleting the Ingress deletes it, "+
					"and naming an IngressClass of another controller releases it", why)
		case finalized:
			leaving = append(leaving, ing)
		}
	}
	return active, leaving, held, moving, nil
}

// ensure calls the provider unless the model is the one last applied and no drift check is due.
func (r *Reconciler) ensure(ctx context.Context, record *v1alpha1.LoadBalancer, lb *cloud.LoadBalancer, hash string) (cloud.Status, bool, error) {
	upToDate := func(st v1alpha1.LoadBalancerStatus) bool {
		driftDue := r.DriftCheckInterval > 0 && (st.LastAppliedTime == nil || time.Since(st.LastAppliedTime.Time) >= driftAfter(lb.Stack, r.DriftCheckInterval))
		return meta.IsStatusConditionTrue(st.Conditions, "Ready") && st.DNSName != "" && st.AppliedHash == hash && !driftDue &&
			!r.Suspects.Has(lb.Stack)
	}
	if upToDate(record.Status) {
		return cloud.Status{DNSName: record.Status.DNSName}, false, nil
	}
	// The cache may not have seen the record this controller wrote a moment ago; one read of the API server
	// is cheaper than a cloud call.
	if r.APIReader != nil && !record.CreationTimestamp.IsZero() {
		fresh := &v1alpha1.LoadBalancer{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(record), fresh); err == nil {
			*record = *fresh
			if upToDate(record.Status) {
				return cloud.Status{DNSName: record.Status.DNSName}, false, nil
			}
		}
	}
	// Record the name before the first create, so that a delete after a crash between the create and the record
	// of its ID still finds the load balancer by name.
	if record.Status.Name != lb.Name {
		if err := r.patchRecordStatus(ctx, record, func(st *v1alpha1.LoadBalancerStatus) { st.Name = lb.Name }); err != nil {
			return cloud.Status{}, false, err
		}
	}
	log.FromContext(ctx).V(1).Info("ensuring load balancer", "name", lb.Name)
	status, err := r.Provider.Ensure(ctx, lb, cloud.Known{ID: record.Status.ID, Name: record.Status.Name})
	if err == nil {
		r.Suspects.done(lb.Stack)
	}
	return status, err == nil, err
}

// release deletes the stack's cloud resources, then lets go of the Ingresses and the record.
func (r *Reconciler) release(ctx context.Context, stack string, record *v1alpha1.LoadBalancer, leaving, stale []*networkingv1.Ingress) (ctrl.Result, error) {
	if len(leaving)+len(stale) == 0 && record.CreationTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	if err := r.Provider.Delete(ctx, stack, cloud.Known{ID: record.Status.ID, Name: record.Status.Name}); err != nil {
		switch {
		case cloud.IsPending(err), cloud.IsNotFound(err):
			// AWS releases a deleted load balancer's network interfaces and target groups over minutes.
			log.FromContext(ctx).Info("waiting for the cloud to finish deleting", "stack", stack, "reason", err.Error())
			return ctrl.Result{RequeueAfter: r.waits.next(stack)}, nil
		case cloud.IsBlocked(err):
			// Only a change outside cloudlb's ownership unblocks this: say what blocks it, and look again ever
			// less often rather than every few seconds.
			for _, ing := range leaving {
				r.Recorder.Eventf(ing, nil, corev1.EventTypeWarning, "DeleteBlocked", "Delete",
					"the load balancer cannot be deleted yet: %s", err)
			}
			r.warnStale(stack, stale, "DeleteBlocked", err)
			werr := r.patchRecordStatus(ctx, record, func(st *v1alpha1.LoadBalancerStatus) {
				meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: conditionDeletionBlocked,
					Status: metav1.ConditionTrue, Reason: "Blocked", Message: err.Error()})
			})
			return ctrl.Result{RequeueAfter: r.waits.next(stack)}, werr
		}
		for _, ing := range leaving {
			r.Recorder.Eventf(ing, nil, corev1.EventTypeWarning, "DeleteFailed", "Delete", "deleting the load balancer: %s", err)
		}
		r.warnStale(stack, stale, "DeleteFailed", err)
		return ctrl.Result{}, err
	}
	r.waits.reset(stack)
	for _, ing := range leaving {
		r.Recorder.Eventf(ing, nil, corev1.EventTypeNormal, "Deleted", "Delete", "load balancer deleted")
		// Moved to another class: clear the address we wrote, unless the new controller already wrote its own.
		if ing.DeletionTimestamp.IsZero() && hostnameOf(ing) != "" && hostnameOf(ing) == record.Status.DNSName {
			if err := r.writeIngressStatus(ctx, ing, ""); err != nil {
				return ctrl.Result{}, err
			}
		}
		if err := r.removeFinalizer(ctx, stack, ing); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.dropLBCFinalizers(ctx, stack, stale, true); err != nil {
		return ctrl.Result{}, err
	}
	if !record.CreationTimestamp.IsZero() {
		return ctrl.Result{}, client.IgnoreNotFound(r.Delete(ctx, record))
	}
	return ctrl.Result{}, nil
}

// appliedHash identifies what an apply converges: the model, and the members it is built from, by UID. An Ingress
// deleted and re-created under the same name then never matches a record left from its predecessor (a crash
// between the finalizer's removal and the record's deletion, or a cache that has not seen that deletion yet), so
// its load balancer is ensured rather than assumed.
func appliedHash(lb *cloud.LoadBalancer, members []*networkingv1.Ingress) string {
	uids := make([]string, len(members))
	for i, ing := range members {
		uids[i] = string(ing.UID)
	}
	slices.Sort(uids)
	h := sha256.New()
	h.Write([]byte(lb.Hash()))
	for _, uid := range uids {
		h.Write([]byte{0})
		h.Write([]byte(uid))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// driftAfter spreads drift checks over a tenth of the interval, by stack, so that stacks applied together
// (all of them, after a restart that outlived the interval) are not all re-checked in the same minute.
func driftAfter(stack string, interval time.Duration) time.Duration {
	sum := sha256.Sum256([]byte(stack))
	return interval + time.Duration(uint64(interval/10)*uint64(sum[0])/255)
}

// invalidSpecRequeue is how soon a stack that cannot be applied as it is, or applied with warnings, is tried
// again without any change to its Ingresses.
const invalidSpecRequeue = 5 * time.Minute

// The first and the longest wait before a stack is looked at again while the cloud finishes a deletion, lists
// what it just created, or waits for a blocker outside cloudlb to go; waits double in between.
const (
	firstWait = 20 * time.Second
	maxWait   = 10 * time.Minute
)

// conditionDeletionBlocked on a LoadBalancer record names what keeps its deletion from finishing.
const conditionDeletionBlocked = "DeletionBlocked"

func hostnameOf(ing *networkingv1.Ingress) string {
	if lbs := ing.Status.LoadBalancer.Ingress; len(lbs) > 0 {
		return lbs[0].Hostname
	}
	return ""
}

func (r *Reconciler) addFinalizer(ctx context.Context, ing *networkingv1.Ingress) error {
	if controllerutil.ContainsFinalizer(ing, cloud.Finalizer) {
		return nil
	}
	base := ing.DeepCopy()
	controllerutil.AddFinalizer(ing, cloud.Finalizer)
	return r.Patch(ctx, ing, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

// removeFinalizer removes cloudlb's finalizer and, in the takeover mode, LBC's finalizer of stack: LBC's
// finalizers of other stacks are those stacks' to remove (lbcstale.go).
func (r *Reconciler) removeFinalizer(ctx context.Context, stack string, ing *networkingv1.Ingress) error {
	base := ing.DeepCopy()
	removed := controllerutil.RemoveFinalizer(ing, cloud.Finalizer)
	if f := lbcFinalizerFor(ing, stack); r.AdoptLBC && f != "" && controllerutil.RemoveFinalizer(ing, f) {
		removed = true
	}
	if !removed {
		return nil
	}
	return client.IgnoreNotFound(r.Patch(ctx, ing, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
}

// writeIngressStatus patches the Ingress's address, only when it changed.
func (r *Reconciler) writeIngressStatus(ctx context.Context, ing *networkingv1.Ingress, dnsName string) error {
	var want []networkingv1.IngressLoadBalancerIngress
	if dnsName != "" {
		want = []networkingv1.IngressLoadBalancerIngress{{Hostname: strings.ToLower(dnsName)}}
	}
	if slices.EqualFunc(ing.Status.LoadBalancer.Ingress, want, func(a, b networkingv1.IngressLoadBalancerIngress) bool {
		return a.Hostname == b.Hostname && a.IP == b.IP && len(a.Ports) == 0
	}) {
		return nil
	}
	base := ing.DeepCopy()
	ing.Status.LoadBalancer.Ingress = want
	return client.IgnoreNotFound(r.Status().Patch(ctx, ing, client.MergeFrom(base)))
}

// record returns the stack's LoadBalancer record; a record not yet created has a zero CreationTimestamp.
func (r *Reconciler) record(ctx context.Context, stack string) (*v1alpha1.LoadBalancer, error) {
	record := &v1alpha1.LoadBalancer{}
	err := r.Get(ctx, types.NamespacedName{Name: recordName(stack)}, record)
	if apierrors.IsNotFound(err) {
		record = &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: recordName(stack)}, Spec: v1alpha1.LoadBalancerSpec{Stack: stack}}
		return record, nil
	}
	return record, err
}

// recordUpdate is what one reconcile learned about a stack. An empty hash keeps the last applied hash and
// time, so that a failed or skipped apply does not pretend to have converged.
type recordUpdate struct {
	members []*networkingv1.Ingress
	// left are the members left out of the model, and why.
	left map[types.NamespacedName]error
	// converged says the cloud now serves members: they are recorded as applied, with their models.
	converged bool
	models    map[types.NamespacedName]string
	bindings  []v1alpha1.TargetGroupBinding
	hash      string
	// observed is what an Ensure just returned, with the scheme it applied.
	observed *cloud.Status
	scheme   string
	ready    metav1.ConditionStatus
	reason   string
	message  string
}

// writeRecord creates the record if needed and patches its status when it changed.
func (r *Reconciler) writeRecord(ctx context.Context, record *v1alpha1.LoadBalancer, u recordUpdate) error {
	return r.patchRecordStatus(ctx, record, func(st *v1alpha1.LoadBalancerStatus) { u.apply(record.Spec.Stack, st) })
}

// patchRecordStatus creates the record if needed, applies mutate to its status and patches what changed.
func (r *Reconciler) patchRecordStatus(ctx context.Context, record *v1alpha1.LoadBalancer, mutate func(*v1alpha1.LoadBalancerStatus)) error {
	base := record.DeepCopy()
	if record.CreationTimestamp.IsZero() {
		want := record.Status
		if err := r.Create(ctx, record); err != nil {
			return err
		}
		// Create drops status: diff against the empty status the server holds, so the patch carries all of it.
		base = record.DeepCopy()
		record.Status = want
	}
	mutate(&record.Status)
	if apiequality.Semantic.DeepEqual(base.Status, record.Status) {
		return nil
	}
	return r.Status().Patch(ctx, record, client.MergeFrom(base))
}

func (u recordUpdate) apply(stack string, st *v1alpha1.LoadBalancerStatus) {
	if u.observed != nil {
		st.DNSName, st.ID, st.Scheme = strings.ToLower(u.observed.DNSName), u.observed.ID, u.scheme
		st.Certificates = certificateRecords(u.observed.Certificates)
	}
	if u.members != nil {
		st.Ingresses = make([]string, len(u.members))
		for i, ing := range u.members {
			st.Ingresses[i] = client.ObjectKeyFromObject(ing).String()
		}
	}
	if u.members != nil {
		st.TargetGroups = withCloudIDs(u.bindings, st.TargetGroups, u.observed)
	}
	if u.members != nil || len(u.left) > 0 {
		// Until an apply succeeds, a member keeps its Applied mark and kept model: what the cloud serves did not
		// change. A member left out, or served as it was (it has a kept model and an error), says why.
		was := map[string]v1alpha1.MemberStatus{}
		for _, m := range st.Members {
			was[m.Name] = m
		}
		st.Members = nil
		for _, ing := range u.members {
			k := client.ObjectKeyFromObject(ing)
			m := v1alpha1.MemberStatus{Name: k.String(), Applied: was[k.String()].Applied, Model: was[k.String()].Model}
			if u.converged {
				m.Applied, m.Model = true, u.models[k]
			}
			if err := u.left[k]; err != nil {
				m.Message = "served as last applied: " + err.Error()
			}
			st.Members = append(st.Members, m)
		}
		for k, err := range u.left {
			if !slices.ContainsFunc(st.Members, func(m v1alpha1.MemberStatus) bool { return m.Name == k.String() }) {
				m := v1alpha1.MemberStatus{Name: k.String(), Message: err.Error()}
				if !u.converged {
					m.Applied, m.Model = was[k.String()].Applied, was[k.String()].Model
				}
				st.Members = append(st.Members, m)
			}
		}
		slices.SortFunc(st.Members, func(a, b v1alpha1.MemberStatus) int { return strings.Compare(a.Name, b.Name) })
	}
	if u.hash != "" {
		st.TargetsSynced = keptDigests(st, u.hash)
		st.AppliedHash = u.hash
		now := metav1.Now()
		st.LastAppliedTime = &now
	}
	if u.message == "" {
		u.message = fmt.Sprintf("stack %s is in sync", stack)
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: "Ready", Status: u.ready, Reason: u.reason, Message: u.message})
	// Only a stack being deleted can be blocked; one served again is not.
	meta.RemoveStatusCondition(&st.Conditions, conditionDeletionBlocked)
}

// leftOut names the served members that translation left out.
func leftOut(active []*networkingv1.Ingress, errs map[types.NamespacedName]error) []string {
	var out []string
	for _, ing := range active {
		if errs[client.ObjectKeyFromObject(ing)] != nil {
			out = append(out, client.ObjectKeyFromObject(ing).String())
		}
	}
	slices.Sort(out)
	return out
}

// appliedMembers are the members the record says the cloud serves: they win conflicts over group-wide settings.
func appliedMembers(record *v1alpha1.LoadBalancer) map[types.NamespacedName]bool {
	out := map[types.NamespacedName]bool{}
	for _, m := range record.Status.Members {
		if ns, n, ok := strings.Cut(m.Name, "/"); ok && m.Applied {
			out[types.NamespacedName{Namespace: ns, Name: n}] = true
		}
	}
	return out
}

// keptModels are the applied members' contributions to the last applied model, from the record.
func keptModels(record *v1alpha1.LoadBalancer) map[types.NamespacedName]string {
	out := map[types.NamespacedName]string{}
	for _, m := range record.Status.Members {
		if ns, n, ok := strings.Cut(m.Name, "/"); ok && m.Applied && m.Model != "" {
			out[types.NamespacedName{Namespace: ns, Name: n}] = m.Model
		}
	}
	return out
}

// recordName maps a stack key to a cluster-scoped object name: readable, and hashed when it would pass the
// 253 characters an object name may have. An implicit group's name always has a dot (namespace.name); an
// explicit group's never does, so that a group named like "team.web" cannot take the record of Ingress "web" in
// namespace "team": a group name with dots has them replaced and a hash of the name appended.
func recordName(stack string) string {
	if !strings.Contains(stack, "/") {
		if !strings.Contains(stack, ".") {
			return stack
		}
		sum := sha256.Sum256([]byte(stack))
		return strings.ReplaceAll(stack, ".", "-") + "-" + hex.EncodeToString(sum[:])[:8]
	}
	name := strings.ReplaceAll(stack, "/", ".")
	if len(name) <= 253 {
		return name
	}
	sum := sha256.Sum256([]byte(stack))
	return strings.TrimRight(name[:240], ".-") + "." + hex.EncodeToString(sum[:])[:12]
}

// reasonFor names the Warning Event reason for a member that was left out.
func reasonFor(err error) string {
	var ae *AnnotationError
	var se *ServiceError
	var ue *UnsupportedAnnotationError
	var ce *ClassParametersError
	var cpe *ClassParamsError
	var sec *SecretError
	switch {
	case errors.As(err, &sec):
		return "SecretNotFound"
	case errors.As(err, &cpe):
		return cpe.EventReason
	case errors.As(err, &ae):
		return "InvalidAnnotation"
	case errors.As(err, &ue):
		return "UnsupportedAnnotation"
	case errors.As(err, &ce):
		return "UnsupportedIngressClassParameters"
	case errors.As(err, &se):
		return "ServiceNotFound"
	default:
		return "InvalidSpec"
	}
}
