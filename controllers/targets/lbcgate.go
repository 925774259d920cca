package targets

import (
	"context"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

const (
	// LBCGatePrefix prefixes the pod condition type of the AWS Load Balancer Controller's readiness gates,
	// followed by the name of its TargetGroupBinding (for an Ingress, its target group's name).
	LBCGatePrefix = "target-health.elbv2.k8s.aws/"
	// LBCGateNamespaceLabel is LBC's namespace opt-in to readiness gate injection; the chart's webhook honours
	// it with adoptLBCResources.
	LBCGateNamespaceLabel = "elbv2.k8s.aws/pod-readiness-gate-inject"
	// lbcGateRetry is how often a namespace is looked at again while a pod with a pending LBC gate has
	// containers that are not ready yet: such pods are not cached, so no event announces the change.
	lbcGateRetry = 10 * time.Second
)

// LBCGates frees the readiness gates that the AWS Load Balancer Controller (LBC) injected into pods created while
// it ran, during a takeover (--adopt-lbc-resources). LBC no longer runs to turn them true, so a pod created
// shortly before the switch would never turn ready and its rollout would stall. Once cloudlb serves a Ready load
// balancer with an IP target group of a Service that selects the pod, and the pod's containers are ready, each
// pending LBC gate is set true; the pod then turns ready and is registered as any ready endpoint. Pods created
// after the switch get cloudlb's own gates from its webhook, which wait for target health.
type LBCGates struct {
	// Client reads the cached records and Services, and patches pod status.
	Client client.Client
	// APIReader lists a namespace's pods: only pods with cloudlb's gate label are cached.
	APIReader client.Reader
}

// SetupWithManager reconciles, by namespace, when a record's IP target groups or readiness change.
func (g *LBCGates) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("lbc-gates").
		Watches(&v1alpha1.LoadBalancer{}, handler.EnqueueRequestsFromMapFunc(ipNamespaces), builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(e event.UpdateEvent) bool {
				o, n := e.ObjectOld.(*v1alpha1.LoadBalancer), e.ObjectNew.(*v1alpha1.LoadBalancer)
				return meta.IsStatusConditionTrue(o.Status.Conditions, "Ready") != meta.IsStatusConditionTrue(n.Status.Conditions, "Ready") ||
					!apiequality.Semantic.DeepEqual(o.Status.TargetGroups, n.Status.TargetGroups)
			},
		})).
		Complete(g)
}

// ipNamespaces maps a record to the namespaces of its IP target groups' Services.
func ipNamespaces(_ context.Context, o client.Object) []reconcile.Request {
	var out []reconcile.Request
	for _, b := range o.(*v1alpha1.LoadBalancer).Status.TargetGroups {
		req := reconcile.Request{NamespacedName: types.NamespacedName{Name: b.ServiceNamespace}}
		if b.TargetType == string(cloud.TargetTypeIP) && !slices.Contains(out, req) {
			out = append(out, req)
		}
	}
	return out
}

// Reconcile frees the pending LBC gates of the namespace req.Name whose pods are ready to be served.
func (g *LBCGates) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	namespace := req.Name
	var records v1alpha1.LoadBalancerList
	if err := g.Client.List(ctx, &records); err != nil {
		return ctrl.Result{}, err
	}
	var selectors []labels.Selector
	seen := map[string]bool{}
	for _, rec := range records.Items {
		if !meta.IsStatusConditionTrue(rec.Status.Conditions, "Ready") {
			continue
		}
		for _, b := range rec.Status.TargetGroups {
			if b.ServiceNamespace != namespace || b.TargetType != string(cloud.TargetTypeIP) || seen[b.ServiceName] {
				continue
			}
			seen[b.ServiceName] = true
			svc := &corev1.Service{}
			if err := g.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: b.ServiceName}, svc); err != nil {
				if client.IgnoreNotFound(err) != nil {
					return ctrl.Result{}, err
				}
				continue
			}
			if len(svc.Spec.Selector) > 0 {
				selectors = append(selectors, labels.SelectorFromSet(svc.Spec.Selector))
			}
		}
	}
	if len(selectors) == 0 {
		return ctrl.Result{}, nil
	}
	waiting := false
	freed := map[string]bool{}
	for _, sel := range selectors {
		// The API server filters by the Service's selector: this read repeats every lbcGateRetry while a pod
		// starts, and a namespace's other pods need not cross the wire each time.
		var pods corev1.PodList
		if err := g.APIReader.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return ctrl.Result{}, err
		}
		for i := range pods.Items {
			pod := &pods.Items[i]
			pending := pendingLBCGates(pod)
			if len(pending) == 0 || !pod.DeletionTimestamp.IsZero() || freed[pod.Name] {
				continue
			}
			if podCondition(pod, corev1.ContainersReady) != corev1.ConditionTrue {
				waiting = true
				continue
			}
			if err := g.free(ctx, pod, pending); err != nil {
				return ctrl.Result{}, err
			}
			freed[pod.Name] = true
		}
	}
	if waiting {
		return ctrl.Result{RequeueAfter: lbcGateRetry}, nil
	}
	return ctrl.Result{}, nil
}

// pendingLBCGates are the pod's LBC readiness gates that are not true.
func pendingLBCGates(pod *corev1.Pod) []corev1.PodConditionType {
	var out []corev1.PodConditionType
	for _, rg := range pod.Spec.ReadinessGates {
		if strings.HasPrefix(string(rg.ConditionType), LBCGatePrefix) && podCondition(pod, rg.ConditionType) != corev1.ConditionTrue {
			out = append(out, rg.ConditionType)
		}
	}
	return out
}

// free sets the pod's pending LBC gates true in one status patch.
func (g *LBCGates) free(ctx context.Context, pod *corev1.Pod, gates []corev1.PodConditionType) error {
	base := pod.DeepCopy()
	now := metav1.Now()
	for _, gate := range gates {
		cond := corev1.PodCondition{Type: gate, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: "TakenOverByCloudlb",
			Message: "the AWS Load Balancer Controller no longer serves this gate; cloudlb serves the pod's target group and registers it once ready"}
		if i := slices.IndexFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == gate }); i >= 0 {
			pod.Status.Conditions[i] = cond
		} else {
			pod.Status.Conditions = append(pod.Status.Conditions, cond)
		}
	}
	// A strategic merge patch merges conditions by type, so the kubelet's own conditions are never overwritten.
	return client.IgnoreNotFound(g.Client.Status().Patch(ctx, pod, client.StrategicMergeFrom(base)))
}
