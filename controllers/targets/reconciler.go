// Package targets keeps every target group in step with its Service's endpoints. It is separate from the
// Ingress reconciler because endpoints churn and load balancer configuration does not: a rollout here never
// re-diffs listeners or rules, it only registers and deregisters targets.
package targets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

var targetGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "cloudlb_target_group_targets",
	Help: "Targets of a target group by state: registered, healthy, unhealthy.",
}, []string{"stack", "target_group", "state"})

func init() { metrics.Registry.MustRegister(targetGauge) }

const indexBindingService = "cloudlb.io/binding-service"

// Reconciler syncs the target groups fed by one Service per request.
type Reconciler struct {
	client.Client
	Provider cloud.Provider
	Recorder recorder.EventRecorder
	// BatchWindow delays a sync after the first change, so that the changes of a rollout that arrive within
	// it become one RegisterTargets and one DeregisterTargets per target group.
	BatchWindow time.Duration
}

// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch

// SetupWithManager registers the watches. Every event maps to the Service it concerns, delayed by the batch
// window; the work queue holds a key once, so the events of one window coalesce.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, maxConcurrent int) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.LoadBalancer{}, indexBindingService, func(o client.Object) []string {
		var out []string
		for _, b := range o.(*v1alpha1.LoadBalancer).Status.TargetGroups {
			out = append(out, b.ServiceNamespace+"/"+b.ServiceName)
		}
		return out
	}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("targets").
		Watches(&discoveryv1.EndpointSlice{}, r.delayed(func(_ context.Context, o client.Object) []reconcile.Request {
			name := o.GetLabels()[discoveryv1.LabelServiceName]
			if name == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
		})).
		Watches(&corev1.Service{}, r.delayed(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(o)}}
		})).
		Watches(&v1alpha1.LoadBalancer{}, r.delayed(func(_ context.Context, o client.Object) []reconcile.Request {
			return servicesOf([]v1alpha1.LoadBalancer{*o.(*v1alpha1.LoadBalancer)}, "")
		})).
		Watches(&corev1.Node{}, r.delayed(r.instanceServices)).
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrent}).
		Complete(r)
}

// delayed enqueues the mapped requests after the batch window instead of at once.
func (r *Reconciler) delayed(fn handler.MapFunc) handler.EventHandler {
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
	bindings := bindingsFor(records.Items, req.Namespace, req.Name)
	if len(bindings) == 0 {
		return ctrl.Result{}, nil
	}
	svc := &corev1.Service{}
	if err := r.Get(ctx, req.NamespacedName, svc); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		// The Service is gone: its target groups must drain rather than keep stale targets.
		svc = &corev1.Service{}
	}
	in, err := r.inputs(ctx, req, bindings)
	if err != nil {
		return ctrl.Result{}, err
	}
	var retry bool
	for _, b := range bindings {
		targets, err := in.targets(svc, b)
		if err != nil {
			if svc.Name != "" {
				r.Recorder.Eventf(svc, nil, corev1.EventTypeWarning, "TargetsUnavailable", "SyncTargets", "target group %s: %s", b.ID, err)
			}
			continue
		}
		synced, err := r.sync(ctx, b, targets)
		if err != nil {
			return ctrl.Result{}, err
		}
		retry = retry || !synced
	}
	if retry {
		// A target group that does not exist yet is being created by the Ingress reconciler.
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
	}
	return ctrl.Result{}, nil
}

// inputs reads the endpoint slices and nodes that the bindings need, once per reconcile.
type inputs struct {
	slices, nodes  bool
	endpointSlices []discoveryv1.EndpointSlice
	nodeList       []corev1.Node
}

func (r *Reconciler) inputs(ctx context.Context, req reconcile.Request, bindings []binding) (*inputs, error) {
	in := &inputs{}
	for _, b := range bindings {
		switch {
		case b.TargetType == string(cloud.TargetTypeIP) && !in.slices:
			var list discoveryv1.EndpointSliceList
			if err := r.List(ctx, &list, client.InNamespace(req.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: req.Name}); err != nil {
				return nil, err
			}
			in.slices, in.endpointSlices = true, list.Items
		case b.TargetType == string(cloud.TargetTypeInstance) && !in.nodes:
			var list corev1.NodeList
			if err := r.List(ctx, &list); err != nil {
				return nil, err
			}
			in.nodes, in.nodeList = true, list.Items
		}
	}
	return in, nil
}

func (in *inputs) targets(svc *corev1.Service, b binding) ([]cloud.Target, error) {
	if svc.Name == "" {
		return nil, nil
	}
	if b.TargetType == string(cloud.TargetTypeIP) {
		return ipTargets(svc, b.ServicePort, in.endpointSlices)
	}
	return instanceTargets(svc, b.ServicePort, b.NodeSelector, in.nodeList)
}

// sync registers targets in one target group unless the record says they were already synced. It reports
// false when the target group does not exist yet.
func (r *Reconciler) sync(ctx context.Context, b binding, targets []cloud.Target) (bool, error) {
	digest := digestOf(targets)
	if b.record.Status.TargetsSynced[b.ID] == digest {
		return true, nil
	}
	stack := b.record.Spec.Stack
	health, err := r.Provider.SyncTargets(ctx, stack, b.ID, targets)
	if cloud.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("target group %s: %w", b.ID, err)
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

	base := b.record.DeepCopy()
	if b.record.Status.TargetsSynced == nil {
		b.record.Status.TargetsSynced = map[string]string{}
	}
	b.record.Status.TargetsSynced[b.ID] = digest
	return true, client.IgnoreNotFound(r.Status().Patch(ctx, b.record, client.MergeFrom(base)))
}

func digestOf(targets []cloud.Target) string {
	h := sha256.New()
	for _, t := range targets {
		fmt.Fprintf(h, "%s:%d,", t.ID, t.Port)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
