package tgb

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/controllers/targets"
)

// The AWS Load Balancer Controller (LBC) gives the pods of an IP-mode binding's Service a readiness gate,
// target-health.elbv2.k8s.aws/<binding name>, from its webhook; pods created while it ran still carry it once
// cloudlb serves the binding, and only the binding's controller ever turns it true. As LBC does, a gated pod is
// registered as soon as its containers are ready (the gate alone holds the pod unready), and its gate turns true
// once its target is healthy, or unused (the load balancer neither routes to nor health-checks it: waiting would
// hold the pod for good, as cloudlb's own gates treat it), and when the binding goes.
//
// This runs whether or not cloudlb took over from LBC: nothing but the binding's controller sets this gate, so a
// pod carrying it is held unready until cloudlb does, and a pod without it costs nothing but, on a sync that sees
// not-ready endpoints, one read of the Service's pods. Such pods are not cached (only pods with cloudlb's gate
// label are), so they are read from the API server and, while a gate waits, the binding is looked at again every
// gateRetry: a pod's containers turning ready changes no EndpointSlice, and target health changes no object.

// gateRetry is the wait before looking again at a binding whose pods' gates wait.
const gateRetry = 5 * time.Second

// lbcGate is the pod condition type of LBC's readiness gate for the binding.
func lbcGate(b *elbv2.TargetGroupBinding) corev1.PodConditionType {
	return corev1.PodConditionType(targets.LBCGatePrefix + b.Name)
}

// gates are the pods behind a binding's not-ready endpoints that carry its gate, by name.
type gates struct {
	gate corev1.PodConditionType
	pods map[string]*corev1.Pod
}

// admit admits the endpoint of a gated pod whose containers are ready.
func (g *gates) admit(ep discoveryv1.Endpoint) bool {
	if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
		return false
	}
	pod := g.pods[ep.TargetRef.Name]
	return pod != nil && targets.PodCondition(pod, corev1.ContainersReady) == corev1.ConditionTrue
}

// gatedPods reads the pods behind the slices' not-ready endpoints that carry the binding's gate; none, without a
// read, when every endpoint is ready.
func (r *Reconciler) gatedPods(ctx context.Context, b *elbv2.TargetGroupBinding, svc *corev1.Service, list []discoveryv1.EndpointSlice) (*gates, error) {
	g := &gates{gate: lbcGate(b), pods: map[string]*corev1.Pod{}}
	unready := false
	for _, es := range list {
		for _, ep := range es.Endpoints {
			if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" && ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				unready = true
			}
		}
	}
	if !unready {
		return g, nil
	}
	opts := []client.ListOption{client.InNamespace(b.Namespace)}
	if len(svc.Spec.Selector) > 0 {
		opts = append(opts, client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(svc.Spec.Selector)})
	}
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, opts...); err != nil {
		return nil, err
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.DeletionTimestamp.IsZero() && targets.HasGate(pod, g.gate) {
			g.pods[pod.Name] = pod
		}
	}
	return g, nil
}

// turnGates sets the gates of the pods behind the synced targets from their health, and reports whether a gate
// still waits: for its target's health, or for its pod's containers.
func (r *Reconciler) turnGates(ctx context.Context, g *gates, list []discoveryv1.EndpointSlice, health []cloud.TargetHealth) (bool, error) {
	if g == nil || len(g.pods) == 0 {
		return false, nil
	}
	byAddr := map[string]*corev1.Pod{}
	for _, es := range list {
		for _, ep := range es.Endpoints {
			if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
				continue
			}
			if pod := g.pods[ep.TargetRef.Name]; pod != nil {
				for _, a := range ep.Addresses {
					byAddr[a] = pod
				}
			}
		}
	}
	waiting := false
	for _, pod := range g.pods {
		if targets.PodCondition(pod, g.gate) != corev1.ConditionTrue && targets.PodCondition(pod, corev1.ContainersReady) != corev1.ConditionTrue {
			waiting = true
		}
	}
	for _, h := range health {
		pod := byAddr[h.Target.ID]
		if pod == nil || targets.PodCondition(pod, g.gate) == corev1.ConditionTrue {
			continue
		}
		var err error
		switch h.State {
		case cloud.TargetHealthy:
			err = r.setGate(ctx, pod, g.gate, corev1.ConditionTrue, "TargetHealthy", "the target is healthy in its load balancer target group")
		case cloud.TargetUnused:
			err = r.setGate(ctx, pod, g.gate, corev1.ConditionTrue, "TargetUnused",
				"the load balancer does not route to this target, for example in an Availability Zone it does not span; not gating")
		default:
			waiting = true
			err = r.setGate(ctx, pod, g.gate, corev1.ConditionFalse, "TargetNotHealthy",
				"the target is registered and "+string(h.State)+" in its load balancer target group")
		}
		if err != nil {
			return false, err
		}
	}
	return waiting, nil
}

// releaseGates turns true the pending gates of the binding's namespace's pods, as the binding goes: nothing
// would ever turn them true, and the pods would stay unready for good.
func (r *Reconciler) releaseGates(ctx context.Context, b *elbv2.TargetGroupBinding) error {
	gate := lbcGate(b)
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(b.Namespace)); err != nil {
		return err
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if !targets.HasGate(pod, gate) || targets.PodCondition(pod, gate) == corev1.ConditionTrue {
			continue
		}
		if err := r.setGate(ctx, pod, gate, corev1.ConditionTrue, "TargetGroupBindingDeleted",
			"the TargetGroupBinding of this gate was deleted; not gating"); err != nil {
			return err
		}
	}
	return nil
}

// setGate writes the pod's gate condition, when its status or reason changes.
func (r *Reconciler) setGate(ctx context.Context, pod *corev1.Pod, gate corev1.PodConditionType, status corev1.ConditionStatus, reason, msg string) error {
	return targets.SetGate(ctx, r.Client, pod, gate, status, reason, msg)
}
