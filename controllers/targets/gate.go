package targets

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

const (
	// GateNamespaceLabel opts a namespace in to readiness gate injection.
	GateNamespaceLabel = "cloudlb.io/pod-readiness-gate-inject"
	// gateConditionPrefix prefixes the pod condition type of each target group's readiness gate.
	gateConditionPrefix = "target-health.cloudlb.io/"
	// GatedPodLabel marks pods that carry a gate, so that the controller caches those pods and no others.
	GatedPodLabel = "cloudlb.io/readiness-gate"
	// GateWebhookPath is where the pod mutating webhook is served.
	GateWebhookPath = "/mutate-v1-pod"
)

// gateCondition is the pod condition type that reports a pod's health in one target group. The target group
// ID is hashed into a valid condition name (it holds "/" and ":").
func gateCondition(stack, tgID string) corev1.PodConditionType {
	_, rest, _ := strings.Cut(tgID, "/")
	return corev1.PodConditionType(gateConditionPrefix + cloud.Name(stack+"\x00"+tgID, strings.NewReplacer("/", "-", ":", "-").Replace(rest)))
}

// +kubebuilder:webhook:path=/mutate-v1-pod,mutating=true,failurePolicy=ignore,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=pod-readiness-gate.cloudlb.io,admissionReviewVersions=v1,timeoutSeconds=5

// GateInjector adds a readiness gate per IP-mode target group to new pods behind a cloudlb Ingress, so that a
// rolling update cannot take down more capacity than the load balancer sees. It only ever adds gates: its
// failure policy is Ignore, and a pod it does not recognise passes unchanged.
type GateInjector struct {
	Client  client.Reader
	Decoder admission.Decoder
}

// Handle implements admission.Handler.
func (g *GateInjector) Handle(ctx context.Context, req admission.Request) admission.Response {
	pod := &corev1.Pod{}
	if err := g.Decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	conds, err := g.gatesFor(ctx, req.Namespace, pod)
	if err != nil {
		// Never block pod creation over a lookup failure; the pod runs ungated.
		return admission.Allowed("readiness gate lookup failed: " + err.Error())
	}
	changed := false
	for _, c := range conds {
		if !slices.ContainsFunc(pod.Spec.ReadinessGates, func(g corev1.PodReadinessGate) bool { return g.ConditionType == c }) {
			pod.Spec.ReadinessGates = append(pod.Spec.ReadinessGates, corev1.PodReadinessGate{ConditionType: c})
			changed = true
		}
	}
	if !changed {
		return admission.Allowed("no cloudlb target group selects this pod")
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[GatedPodLabel] = "true"
	raw, err := json.Marshal(pod)
	if err != nil {
		return admission.Allowed("readiness gate not injected: " + err.Error())
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, raw)
}

// gatesFor lists the gate conditions of every IP-mode target group of a Ready load balancer whose Service
// selects the pod.
func (g *GateInjector) gatesFor(ctx context.Context, namespace string, pod *corev1.Pod) ([]corev1.PodConditionType, error) {
	var svcs corev1.ServiceList
	if err := g.Client.List(ctx, &svcs, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	var out []corev1.PodConditionType
	for _, svc := range svcs.Items {
		if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			continue
		}
		var records v1alpha1.LoadBalancerList
		if err := g.Client.List(ctx, &records, client.MatchingFields{indexBindingService: namespace + "/" + svc.Name}); err != nil {
			return nil, err
		}
		for _, b := range bindingsFor(records.Items, namespace, svc.Name) {
			// Only a load balancer that is Ready serves its listeners: a gate for one that is not could
			// keep the pod unready for as long as it stays so.
			if b.TargetType == string(cloud.TargetTypeIP) && meta.IsStatusConditionTrue(b.record.Status.Conditions, "Ready") {
				out = append(out, gateCondition(b.record.Spec.Stack, b.ID))
			}
		}
	}
	return out, nil
}
