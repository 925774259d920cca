// Package targets keeps every target group in step with its Service's endpoints. It is separate from the
// Ingress reconciler because endpoints churn and load balancer configuration does not: a rollout here never
// re-diffs listeners or rules, it only registers and deregisters targets.
package targets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

var targetGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "cloudlb_target_group_targets",
	Help: "Targets of a target group by state: registered, healthy, unhealthy.",
}, []string{"stack", "target_group", "state"})

func init() { metrics.Registry.MustRegister(targetGauge) }

const (
	indexBindingService = "cloudlb.io/binding-service"
	// indexBindingGate indexes records by the readiness gate condition of each of their IP target groups.
	indexBindingGate = "cloudlb.io/binding-gate"
)

// Reconciler syncs the target groups fed by one Service per request.
type Reconciler struct {
	client.Client
	// APIReader reads pods that the cache does not hold, to verify the endpoints of slices that the
	// EndpointSlice controller did not write.
	APIReader client.Reader
	Provider  cloud.Provider
	Recorder  recorder.EventRecorder
	// BatchWindow delays a sync after the first change, so that the changes of a rollout that arrive within
	// it become one RegisterTargets and one DeregisterTargets per target group.
	BatchWindow time.Duration
	// ServiceDeletionGrace keeps the targets of a Service that disappeared registered this long, so that a
	// Service deleted and re-created under the same name (kubectl replace --force, helm upgrade --force) is
	// not an outage. The grace also covers a re-created Service whose endpoints have not been written yet.
	ServiceDeletionGrace time.Duration
	// Clock reads the time for the grace; nil is the real clock.
	Clock clock.PassiveClock
	// AdoptLBC serves the readiness gates of the AWS Load Balancer Controller on pods made while it ran
	// (lbcgate.go); the manager then caches every pod, those without a gate as a name only.
	AdoptLBC bool

	mu sync.Mutex
	// held maps a Service that was seen missing or replaced to when that was first seen. It is kept in memory:
	// a restart only restarts the grace, which delays a drain and never hastens one.
	held map[types.NamespacedName]time.Time
	// uids are the Service UIDs last seen, to notice a Service replaced between two reconciles.
	uids map[types.NamespacedName]types.UID
	// settling holds target groups whose last read had targets still in their initial health check: they
	// are read again until they settle, so that health metrics and readiness gates follow.
	settling map[string]bool
	// reported holds the gauge series each Service's target groups reported, to delete them when unbound.
	reported map[types.NamespacedName][]binding
	// missing counts the syncs in a row that found a target group not to exist, to back off: a refused
	// Ingress keeps its bindings, and their groups may never be created.
	missing map[string]int
}

// The retry of a missing target group starts at missingRetryMin and doubles up to missingRetryMax. A
// successful apply of the record enqueues the Service again at once, so the backoff never delays a group that
// has just been created.
const (
	missingRetryMin = 5 * time.Second
	missingRetryMax = 5 * time.Minute
)

// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods/status,verbs=patch

// SetupWithManager registers the watches. Every event maps to the Service it concerns, delayed by the batch
// window; the work queue holds a key once, so the events of one window coalesce.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, maxConcurrent int) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.LoadBalancer{}, indexBindingService, bindingServices); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.LoadBalancer{}, indexBindingGate, bindingGates); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.LoadBalancer{}, indexBindingTGName, bindingTGNames); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, indexLBCGated, lbcGatedIndex); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("targets").
		Watches(&discoveryv1.EndpointSlice{}, r.delayed(func(_ context.Context, o client.Object) []reconcile.Request {
			name := o.GetLabels()[discoveryv1.LabelServiceName]
			if name == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
		}, false)).
		Watches(&corev1.Service{}, r.delayed(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(o)}}
		}, false)).
		// Services that lost a binding are enqueued too, so that the gates of its target group are released.
		Watches(&v1alpha1.LoadBalancer{}, r.delayed(func(_ context.Context, o client.Object) []reconcile.Request {
			return servicesOf([]v1alpha1.LoadBalancer{*o.(*v1alpha1.LoadBalancer)}, "")
		}, true), builder.WithPredicates(predicate.Funcs{UpdateFunc: bindingsOrDigestsDropped})).
		// Nodes update their status all the time; only what target selection reads matters.
		Watches(&corev1.Node{}, r.delayed(r.instanceServices, false), builder.WithPredicates(predicate.Funcs{UpdateFunc: nodeSelectionChanged})).
		Watches(&corev1.Pod{}, r.delayed(r.servicesSelecting, false), builder.WithPredicates(predicate.NewPredicateFuncs(GatedPod))).
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrent})
	if r.AdoptLBC {
		// LBC turns the gates of a deleted binding true; its binding of an Ingress also names the Service port
		// that a gate falls back on.
		gvk := elbv2.GroupVersion.WithKind("TargetGroupBinding")
		if _, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err == nil {
			b = b.Watches(&elbv2.TargetGroupBinding{}, r.delayed(func(_ context.Context, o client.Object) []reconcile.Request {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(),
					Name: o.(*elbv2.TargetGroupBinding).Spec.ServiceRef.Name}}}
			}, false))
		}
	}
	return b.Complete(r)
}

// bindingServices indexes a record by the Services ("namespace/name") that feed its target groups.
func bindingServices(o client.Object) []string {
	var out []string
	for _, b := range o.(*v1alpha1.LoadBalancer).Status.TargetGroups {
		out = append(out, b.ServiceNamespace+"/"+b.ServiceName)
	}
	return out
}

// bindingGates indexes a record by the readiness gate conditions of its IP target groups.
func bindingGates(o client.Object) []string {
	rec := o.(*v1alpha1.LoadBalancer)
	var out []string
	for _, b := range rec.Status.TargetGroups {
		if b.TargetType == string(cloud.TargetTypeIP) {
			out = append(out, string(gateCondition(rec.Spec.Stack, b.ID)))
		}
	}
	return out
}

// bindingsOrDigestsDropped passes record updates that concern target syncs: new or changed bindings, an
// apply, or digests cleared by one. The digests this reconciler writes itself only add or change entries.
func bindingsOrDigestsDropped(e event.UpdateEvent) bool {
	old, cur := e.ObjectOld.(*v1alpha1.LoadBalancer), e.ObjectNew.(*v1alpha1.LoadBalancer)
	// A new apply may have created a target group that a sync found missing and is backing off from.
	if !apiequality.Semantic.DeepEqual(old.Status.TargetGroups, cur.Status.TargetGroups) || old.Status.AppliedHash != cur.Status.AppliedHash ||
		!old.Status.LastAppliedTime.Equal(cur.Status.LastAppliedTime) {
		return true
	}
	for id := range old.Status.TargetsSynced {
		if _, ok := cur.Status.TargetsSynced[id]; !ok {
			return true
		}
	}
	return false
}

// nodeSelectionChanged passes node updates that can change which nodes are targets.
func nodeSelectionChanged(e event.UpdateEvent) bool {
	old, cur := e.ObjectOld.(*corev1.Node), e.ObjectNew.(*corev1.Node)
	return leaving(old) != leaving(cur) || old.Spec.ProviderID != cur.Spec.ProviderID || !maps.Equal(old.Labels, cur.Labels)
}

// delayed enqueues the mapped requests after the batch window instead of at once; withOld maps the old
// object of an update too.
func (r *Reconciler) delayed(fn handler.MapFunc, withOld bool) handler.EventHandler {
	add := func(ctx context.Context, o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		for _, req := range fn(ctx, o) {
			q.AddAfter(req, r.BatchWindow)
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, e.Object, q)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, e.ObjectNew, q)
			if withOld {
				add(ctx, e.ObjectOld, q)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, e.Object, q)
		},
	}
}

// instanceServices maps a node change to every Service that feeds instance targets.
func (r *Reconciler) instanceServices(ctx context.Context, _ client.Object) []reconcile.Request {
	var list v1alpha1.LoadBalancerList
	if err := r.List(ctx, &list); err != nil {
		return nil
	}
	return servicesOf(list.Items, string(cloud.TargetTypeInstance))
}

// servicesSelecting maps a gated pod to the Services that select it: its containers turning ready is what lets
// its target be registered.
func (r *Reconciler) servicesSelecting(ctx context.Context, o client.Object) []reconcile.Request {
	var svcs corev1.ServiceList
	if err := r.List(ctx, &svcs, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, svc := range svcs.Items {
		if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(o.GetLabels())) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&svc)})
		}
	}
	return out
}

func servicesOf(records []v1alpha1.LoadBalancer, targetType string) []reconcile.Request {
	seen := map[types.NamespacedName]bool{}
	var out []reconcile.Request
	for _, rec := range records {
		for _, b := range rec.Status.TargetGroups {
			key := types.NamespacedName{Namespace: b.ServiceNamespace, Name: b.ServiceName}
			if (targetType == "" || b.TargetType == targetType) && !seen[key] {
				seen[key] = true
				out = append(out, reconcile.Request{NamespacedName: key})
			}
		}
	}
	return out
}

// Reconcile syncs every target group fed by the Service in req.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	var records v1alpha1.LoadBalancerList
	if err := r.List(ctx, &records, client.MatchingFields{indexBindingService: req.String()}); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.releaseUnboundGates(ctx, req.Namespace); err != nil {
		return ctrl.Result{}, err
	}
	if r.AdoptLBC {
		if err := r.releaseUnboundLBCGates(ctx, req.Namespace); err != nil {
			return ctrl.Result{}, err
		}
	}
	bindings := bindingsFor(records.Items, req.Namespace, req.Name)
	r.forgetUnbound(req.NamespacedName, bindings)
	if len(bindings) == 0 {
		return ctrl.Result{}, nil
	}
	svc := &corev1.Service{}
	if err := r.Get(ctx, req.NamespacedName, svc); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	// A Service that is gone drains its target groups, but only once the grace has passed; within it, a
	// Service re-created under the same name keeps its targets until its own endpoints are known.
	grace := r.graceLeft(req.NamespacedName, svc.UID)
	if svc.Name == "" && grace > 0 {
		log.FromContext(ctx).Info("service gone; its targets drain after the grace", "left", grace)
		return ctrl.Result{RequeueAfter: grace}, nil
	}
	in, err := r.inputs(ctx, req, bindings, svc)
	if err != nil {
		return ctrl.Result{}, err
	}
	var retry, holding bool
	var after time.Duration
	var lbc lbcVerdicts
	for _, b := range bindings {
		targets, err := in.targets(svc, b)
		if err != nil || len(targets) == 0 && grace > 0 {
			// An LBC gate that another target group also serves must not turn true on that group's health alone.
			notRegistered(&lbc, b, nil, in.gated(b))
		}
		if err != nil {
			if svc.Name != "" {
				r.Recorder.Eventf(svc, nil, corev1.EventTypeWarning, "TargetsUnavailable", "SyncTargets", "target group %s: %s", b.ID, err)
			}
			continue
		}
		if len(targets) == 0 && grace > 0 {
			holding = true
			continue
		}
		gated := in.gated(b)
		notRegistered(&lbc, b, targets, gated)
		synced, backoff, err := r.sync(ctx, b, targets, gated, &lbc)
		if err != nil {
			return ctrl.Result{}, err
		}
		retry = retry || !synced
		if backoff > 0 && (after == 0 || backoff < after) {
			after = backoff
		}
	}
	if err := lbc.apply(ctx, r.Client); err != nil {
		return ctrl.Result{}, err
	}
	if !holding && svc.Name != "" {
		r.release(req.NamespacedName)
	}
	var res ctrl.Result
	if retry {
		// Targets are still in their first health check, whose end no Kubernetes event announces.
		res.RequeueAfter = missingRetryMin
	}
	if after > 0 && !retry {
		// A target group that does not exist yet may be being created by the Ingress reconciler.
		res.RequeueAfter = after
	}
	if holding && (res.RequeueAfter == 0 || grace < res.RequeueAfter) {
		res.RequeueAfter = grace
	}
	return res, nil
}

// graceLeft returns how much of the deletion grace is left for a Service that is gone (uid empty), or that
// was re-created since the last reconcile or within the grace, and zero for one that is simply there.
func (r *Reconciler) graceLeft(svc types.NamespacedName, uid types.UID) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if r.held == nil {
		r.held, r.uids = map[types.NamespacedName]time.Time{}, map[types.NamespacedName]types.UID{}
	}
	prev, known := r.uids[svc]
	if uid != "" {
		r.uids[svc] = uid
	}
	if _, ok := r.held[svc]; !ok && (uid == "" || known && prev != uid) {
		r.held[svc] = now
	}
	since, ok := r.held[svc]
	if !ok {
		return 0
	}
	left := since.Add(r.ServiceDeletionGrace).Sub(now)
	if left <= 0 && uid != "" {
		delete(r.held, svc)
	}
	return max(left, 0)
}

// release ends the grace of a Service that is back with endpoints.
func (r *Reconciler) release(svc types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.held, svc)
}

func (r *Reconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// inputs reads the endpoint slices and nodes that the bindings need, once per reconcile.
type inputs struct {
	slices, nodes  bool
	endpointSlices []discoveryv1.EndpointSlice
	nodeList       []corev1.Node
	// gatedPods are the namespace's pods that carry a cloudlb readiness gate, or wait on an LBC gate, by name.
	gatedPods map[string]*corev1.Pod
	// svc is the Service of the reconcile; lbc resolves the LBC gates of gatedPods (nil without AdoptLBC).
	svc *corev1.Service
	lbc *lbcResolver
	// podIPs are the addresses of the pods named by slices that the EndpointSlice controller did not write.
	podIPs map[string][]string
}

func (r *Reconciler) inputs(ctx context.Context, req reconcile.Request, bindings []binding, svc *corev1.Service) (*inputs, error) {
	in := &inputs{svc: svc}
	for _, b := range bindings {
		switch {
		case b.TargetType == string(cloud.TargetTypeIP) && !in.slices:
			var list discoveryv1.EndpointSliceList
			// Read-only: skipping the cache's deep copy saves copying every endpoint on every pass.
			if err := r.List(ctx, &list, client.InNamespace(req.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: req.Name},
				client.UnsafeDisableDeepCopy); err != nil {
				return nil, err
			}
			in.slices, in.endpointSlices = true, list.Items
			if err := r.readUnmanagedPods(ctx, in); err != nil {
				return nil, err
			}
			var pods corev1.PodList
			if err := r.List(ctx, &pods, client.InNamespace(req.Namespace), client.MatchingLabels{GatedPodLabel: "true"}); err != nil {
				return nil, err
			}
			in.gatedPods = map[string]*corev1.Pod{}
			for i := range pods.Items {
				in.gatedPods[pods.Items[i].Name] = &pods.Items[i]
			}
			if r.AdoptLBC {
				if err := r.lbcInputs(ctx, req.Namespace, in); err != nil {
					return nil, err
				}
			}
		case b.TargetType == string(cloud.TargetTypeInstance) && !in.nodes:
			var list corev1.NodeList
			if err := r.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
				return nil, err
			}
			in.nodes, in.nodeList = true, list.Items
		}
	}
	return in, nil
}

// readUnmanagedPods reads the pods behind slices that the EndpointSlice controller did not write (mirrored
// from Endpoints, or written by hand or by another controller), so that their addresses can be checked.
func (r *Reconciler) readUnmanagedPods(ctx context.Context, in *inputs) error {
	in.podIPs = map[string][]string{}
	for i := range in.endpointSlices {
		es := &in.endpointSlices[i]
		if es.Labels[discoveryv1.LabelManagedBy] == sliceController {
			continue
		}
		for _, ep := range es.Endpoints {
			if !podRef(es, ep) {
				continue
			}
			if _, seen := in.podIPs[ep.TargetRef.Name]; seen || r.APIReader == nil {
				continue
			}
			pod := &corev1.Pod{}
			err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: es.Namespace, Name: ep.TargetRef.Name}, pod)
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			ips := []string{}
			if err == nil {
				for _, ip := range pod.Status.PodIPs {
					ips = append(ips, ip.IP)
				}
			}
			in.podIPs[ep.TargetRef.Name] = ips
		}
	}
	return nil
}

func (in *inputs) verified(pod, addr string) bool {
	return slices.Contains(in.podIPs[pod], addr)
}

func (in *inputs) targets(svc *corev1.Service, b binding) ([]cloud.Target, error) {
	if svc.Name == "" {
		return nil, nil
	}
	if b.TargetType == string(cloud.TargetTypeIP) {
		gate := gateCondition(b.record.Spec.Stack, b.ID)
		return ipTargets(svc, b.ServicePort, addressFamily(b.TargetGroupBinding), in.endpointSlices, func(ep discoveryv1.Endpoint) bool {
			pod := in.podOf(ep)
			return pod != nil && (HasGate(pod, gate) || len(in.lbcGatesOf(pod, b)) > 0) &&
				PodCondition(pod, corev1.ContainersReady) == corev1.ConditionTrue
		}, in.verified)
	}
	return instanceTargets(svc, b.ServicePort, b.NodeSelector, in.nodeList)
}

// podOf returns the gated pod behind an endpoint, or nil.
func (in *inputs) podOf(ep discoveryv1.Endpoint) *corev1.Pod {
	if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
		return nil
	}
	return in.gatedPods[ep.TargetRef.Name]
}

// gated maps each target to the pod behind it that carries a gate of this target group.
func (in *inputs) gated(b binding) map[cloud.Target]gatedPod {
	if b.TargetType != string(cloud.TargetTypeIP) || len(in.gatedPods) == 0 {
		return nil
	}
	gate := gateCondition(b.record.Spec.Stack, b.ID)
	out := map[cloud.Target]gatedPod{}
	for _, es := range in.endpointSlices {
		for _, ep := range es.Endpoints {
			pod := in.podOf(ep)
			if pod == nil || !HasGate(pod, gate) && len(in.lbcGatesOf(pod, b)) == 0 {
				continue
			}
			for _, p := range es.Ports {
				for _, addr := range ep.Addresses {
					out[cloud.Target{ID: addr, Port: deref(p.Port)}] = gatedPod{pod: pod,
						own: HasGate(pod, gate) && PodCondition(pod, gate) != corev1.ConditionTrue, lbc: in.lbcGatesOf(pod, b)}
				}
			}
		}
	}
	return out
}

// sync registers targets in one target group unless the record says they were already synced, and turns the
// readiness gates of pods whose targets are healthy true. It reports false when targets are still in their
// first health check, or when a gate still waits for its target to turn healthy. A target group that does not
// exist is retried after the backoff it returns instead.
func (r *Reconciler) sync(ctx context.Context, b binding, targets []cloud.Target, gated map[cloud.Target]gatedPod, lbc *lbcVerdicts) (bool, time.Duration, error) {
	digest := syncDigest(b, targets)
	pending := pendingGates(targets, gated)
	stack := b.record.Spec.Stack
	key := stack + "\x00" + b.ID
	if syncedAlready(b, targets, digest) && len(pending) == 0 && !r.isSettling(key) {
		return true, 0, nil
	}
	syncCtx := ctx
	if syncedAlready(b, targets, digest) && len(pending) == 0 {
		// Only polling the health of settling targets, which no readiness gate waits for: background work.
		syncCtx = cloud.Background(ctx)
	}
	health, err := r.Provider.SyncTargets(syncCtx, stack, b.ID, targets)
	if cloud.IsNotFound(err) {
		for _, p := range pending {
			lbc.note(p.pod, p.lbc, false, "", lbcWaitMessage(b))
		}
		return true, r.missingBackoff(key, true), nil
	}
	r.missingBackoff(key, false)
	if err != nil {
		return false, 0, fmt.Errorf("target group %s: %w", b.ID, err)
	}
	counts := map[cloud.TargetState]int{}
	for _, h := range health {
		counts[h.State]++
	}
	targetGauge.WithLabelValues(stack, b.ID, "registered").Set(float64(len(targets)))
	targetGauge.WithLabelValues(stack, b.ID, "healthy").Set(float64(counts[cloud.TargetHealthy]))
	targetGauge.WithLabelValues(stack, b.ID, "unhealthy").Set(float64(counts[cloud.TargetUnhealthy]))
	log.FromContext(ctx).Info("synced targets", "stack", stack, "targetGroup", b.ID, "registered", len(targets),
		"healthy", counts[cloud.TargetHealthy], "unhealthy", counts[cloud.TargetUnhealthy])
	r.setSettling(key, counts[cloud.TargetInitial] > 0)
	gate := gateCondition(stack, b.ID)
	waiting := counts[cloud.TargetInitial] > 0
	for _, h := range health {
		p, ok := pending[h.Target]
		if !ok {
			continue
		}
		if len(p.lbc) > 0 {
			switch h.State {
			case cloud.TargetHealthy:
				lbc.note(p.pod, p.lbc, true, "TargetHealthy", "the target is healthy in its load balancer target group")
			case cloud.TargetUnused:
				lbc.note(p.pod, p.lbc, true, "TargetUnused", "the load balancer does not route to this target; not gating")
			default:
				lbc.note(p.pod, p.lbc, false, "", lbcWaitMessage(b))
				waiting = true
			}
		}
		if !p.own {
			continue
		}
		pod := p.pod
		var err error
		switch h.State {
		case cloud.TargetHealthy:
			err = r.setGate(ctx, pod, gate, "TargetHealthy", "the target is healthy in its load balancer target group")
		case cloud.TargetUnused:
			// The load balancer neither routes to nor health-checks this target (an Availability Zone it does
			// not span, or a group no listener uses at all): waiting for health would hold the pod unready for
			// good. A replacement group waiting for its first healthy target is in use (weight 0), so its
			// targets report initial or unhealthy, and those keep gating.
			err = r.setGate(ctx, pod, gate, "TargetUnused",
				"the load balancer does not route to this target, for example in an Availability Zone it does not span; not gating")
		default:
			waiting = true
		}
		if err != nil {
			return false, 0, err
		}
	}

	if err := r.recordSynced(ctx, b.record, b.ID, digest); err != nil {
		return false, 0, err
	}
	return !waiting, 0, nil
}

// missingBackoff counts a sync that found the target group missing, or resets the count, and returns the wait
// before the next try.
func (r *Reconciler) missingBackoff(key string, missing bool) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !missing {
		delete(r.missing, key)
		return 0
	}
	if r.missing == nil {
		r.missing = map[string]int{}
	}
	n := r.missing[key]
	r.missing[key] = n + 1
	d := missingRetryMin
	for ; n > 0 && d < missingRetryMax; n-- {
		d *= 2
	}
	return min(d, missingRetryMax)
}

func (r *Reconciler) isSettling(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.settling[key]
}

func (r *Reconciler) setSettling(key string, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.settling == nil {
		r.settling = map[string]bool{}
	}
	if on {
		r.settling[key] = true
	} else {
		delete(r.settling, key)
	}
}

// forgetUnbound deletes the gauge series of target groups that the Service fed before and no longer does.
func (r *Reconciler) forgetUnbound(svc types.NamespacedName, now []binding) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reported == nil {
		r.reported = map[types.NamespacedName][]binding{}
	}
	for _, old := range r.reported[svc] {
		stack := old.record.Spec.Stack
		if !slices.ContainsFunc(now, func(b binding) bool { return b.ID == old.ID && b.record.Spec.Stack == stack }) {
			targetGauge.DeletePartialMatch(prometheus.Labels{"stack": stack, "target_group": old.ID})
			delete(r.settling, stack+"\x00"+old.ID)
			delete(r.missing, stack+"\x00"+old.ID)
		}
	}
	if len(now) == 0 {
		delete(r.reported, svc)
		delete(r.held, svc)
		delete(r.uids, svc)
	} else {
		r.reported[svc] = now
	}
}

// gatedPod is a pod behind a target with the gates of the target group that it waits on: cloudlb's (own) and
// LBC's that the group serves.
type gatedPod struct {
	pod *corev1.Pod
	own bool
	lbc []corev1.PodConditionType
}

// pendingGates are the gated pods among targets whose gates are not yet true.
func pendingGates(targets []cloud.Target, gated map[cloud.Target]gatedPod) map[cloud.Target]gatedPod {
	out := map[cloud.Target]gatedPod{}
	for _, t := range targets {
		if p, ok := gated[t]; ok && (p.own || len(p.lbc) > 0) {
			out[t] = p
		}
	}
	return out
}

// notRegistered notes the LBC gates of pods that target group b serves but that are not among its targets (their
// containers are not ready): they wait, and are marked as served by cloudlb.
func notRegistered(lbc *lbcVerdicts, b binding, targets []cloud.Target, gated map[cloud.Target]gatedPod) {
	registered := map[string]bool{}
	for _, t := range targets {
		if p, ok := gated[t]; ok {
			registered[p.pod.Name] = true
		}
	}
	for _, p := range gated {
		if len(p.lbc) > 0 && !registered[p.pod.Name] {
			lbc.note(p.pod, p.lbc, false, "", lbcWaitMessage(b))
		}
	}
}

func lbcWaitMessage(b binding) string {
	return fmt.Sprintf("cloudlb turns this gate true once the pod's target is healthy in target group %s of load balancer %s",
		b.ID, b.record.Spec.Stack)
}

// releaseUnboundGates turns true the pending gates, on the namespace's gated pods, of target groups that no
// record binds any more (the Ingress went, or its backend or target type changed): nothing would ever turn
// them true, and the pods would stay unready for good.
func (r *Reconciler) releaseUnboundGates(ctx context.Context, namespace string) error {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{GatedPodLabel: "true"},
		client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	bound := map[corev1.PodConditionType]bool{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		for _, g := range pod.Spec.ReadinessGates {
			if !strings.HasPrefix(string(g.ConditionType), gateConditionPrefix) || PodCondition(pod, g.ConditionType) == corev1.ConditionTrue {
				continue
			}
			b, seen := bound[g.ConditionType]
			if !seen {
				var records v1alpha1.LoadBalancerList
				if err := r.List(ctx, &records, client.MatchingFields{indexBindingGate: string(g.ConditionType)},
					client.UnsafeDisableDeepCopy); err != nil {
					return err
				}
				b = len(records.Items) > 0
				bound[g.ConditionType] = b
			}
			if b {
				continue
			}
			if err := r.setGate(ctx, pod.DeepCopy(), g.ConditionType, "TargetGroupUnbound",
				"no load balancer target group uses this gate any more; not gating"); err != nil {
				return err
			}
		}
	}
	return nil
}

// setGate marks the pod's readiness gate for one target group true.
func (r *Reconciler) setGate(ctx context.Context, pod *corev1.Pod, gate corev1.PodConditionType, reason, message string) error {
	return SetGate(ctx, r.Client, pod, gate, corev1.ConditionTrue, reason, message)
}

// HasGate reports whether pod waits on the readiness gate of that condition type.
func HasGate(pod *corev1.Pod, gate corev1.PodConditionType) bool {
	return slices.ContainsFunc(pod.Spec.ReadinessGates, func(g corev1.PodReadinessGate) bool { return g.ConditionType == gate })
}

// PodCondition returns the status of pod's condition of type t, Unknown when it has none.
func PodCondition(pod *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

func digestOf(targets []cloud.Target) string {
	h := sha256.New()
	for _, t := range targets {
		fmt.Fprintf(h, "%s:%d,", t.ID, t.Port)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
