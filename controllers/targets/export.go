package targets

import (
	"context"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	"github.com/cloudlb/cloudlb/cloud"
)

// What TargetGroupBindings (controllers/tgb) share with the target groups of Ingresses: the same choice of
// targets and the same batching of events, so that both register the same pods and nodes the same way.

// IPTargets are the ready pod addresses behind the Service port (a Service port number) of the given family. An
// endpoint of a slice that the EndpointSlice controller did not write counts only if reader, read uncached, shows
// its pod holding the address. A not-ready endpoint counts too when admit (nil: none) admits it: a pod held
// unready only by a readiness gate that waits for this very registration.
func IPTargets(ctx context.Context, reader client.Reader, svc *corev1.Service, port int32, family discoveryv1.AddressType,
	slices []discoveryv1.EndpointSlice, admit func(discoveryv1.Endpoint) bool) ([]cloud.Target, error) {
	if admit == nil {
		admit = func(discoveryv1.Endpoint) bool { return false }
	}
	in := &inputs{endpointSlices: slices}
	if err := (&Reconciler{APIReader: reader}).readUnmanagedPods(ctx, in); err != nil {
		return nil, err
	}
	return ipTargets(svc, port, family, slices, admit, in.verified)
}

// InstanceTargets are the instances of the nodes that sel selects and that may receive traffic, on the Service
// port's NodePort.
func InstanceTargets(svc *corev1.Service, port int32, sel labels.Selector, nodes []corev1.Node) ([]cloud.Target, error) {
	return instanceTargetsMatching(svc, port, sel, nodes)
}

// NodeSelectionChanged reports a node update that can change which nodes are targets.
func NodeSelectionChanged(e event.UpdateEvent) bool { return nodeSelectionChanged(e) }

// Delayed enqueues the requests fn maps an event to after window, so that the events of one window coalesce.
func Delayed(window time.Duration, fn handler.MapFunc) handler.EventHandler {
	return (&Reconciler{BatchWindow: window}).delayed(fn, false)
}

// SetGate writes the condition of pod's readiness gate, unless it already has that status and reason; its
// LastTransitionTime moves only when its status does.
func SetGate(ctx context.Context, c client.Client, pod *corev1.Pod, gate corev1.PodConditionType, status corev1.ConditionStatus,
	reason, message string) error {
	i := slices.IndexFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == gate })
	if i >= 0 && pod.Status.Conditions[i].Status == status && pod.Status.Conditions[i].Reason == reason {
		return nil
	}
	base := pod.DeepCopy()
	cond := corev1.PodCondition{Type: gate, Status: status, LastTransitionTime: metav1.Now(), Reason: reason, Message: message}
	if i < 0 {
		pod.Status.Conditions = append(pod.Status.Conditions, cond)
	} else {
		if pod.Status.Conditions[i].Status == status {
			cond.LastTransitionTime = pod.Status.Conditions[i].LastTransitionTime
		}
		pod.Status.Conditions[i] = cond
	}
	// A strategic merge patch merges conditions by type, so the kubelet's own conditions are never overwritten.
	return client.IgnoreNotFound(c.Status().Patch(ctx, pod, client.StrategicMergeFrom(base)))
}
