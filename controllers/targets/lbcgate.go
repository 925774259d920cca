package targets

import (
	"context"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// During a takeover (--adopt-lbc-resources), pods created while the AWS Load Balancer Controller (LBC) ran carry
// its readiness gates, which LBC no longer turns true. They keep LBC's meaning: a gate turns true only once the
// pod's target is healthy in the target group it names, so that a rolling update still waits for the load
// balancer. The targets reconciler serves them as it serves its own gates: it registers the pod once its
// containers are ready, reads the target's health with the sync, and retries while it is not healthy. LBC's
// gates come with no label, so in this mode every pod is watched (those without a gate are cached as a name).

const (
	// LBCGatePrefix prefixes the pod condition type of LBC's readiness gates, followed by the name of its
	// TargetGroupBinding; LBC names the binding of an Ingress's target group as the target group.
	LBCGatePrefix = "target-health.elbv2.k8s.aws/"
	// LBCGateNamespaceLabel is LBC's namespace opt-in to readiness gate injection; the chart's webhook honours
	// it with adoptLBCResources.
	LBCGateNamespaceLabel = "elbv2.k8s.aws/pod-readiness-gate-inject"

	// indexLBCGated indexes pods that carry an LBC gate.
	indexLBCGated = "cloudlb.io/lbc-gated"
	// indexBindingTGName indexes records by "namespace/name" of each IP target group's cloud name.
	indexBindingTGName = "cloudlb.io/binding-tg-name"
	// lbcGateWaiting is the reason of an LBC gate that cloudlb holds false: it marks a gate cloudlb has served,
	// so that the gate is let go once no target group serves it any more, even after a restart.
	lbcGateWaiting = "WaitingForTargetHealth"
)

// lbcIngressLabels are the label keys LBC puts on the bindings it makes for its Ingresses (as controllers/tgb
// reads them): cloudlb serves those Ingresses' target groups itself, and their gates here.
var lbcIngressLabels = []string{"ingress.k8s.aws/stack", "ingress.k8s.aws/stack-namespace", "ingress.k8s.aws/stack-name"}

// GatedPod reports a pod that carries a readiness gate served here: cloudlb's (by its label) or LBC's.
func GatedPod(o client.Object) bool {
	pod, ok := o.(*corev1.Pod)
	return o.GetLabels()[GatedPodLabel] == "true" || ok && hasLBCGate(pod)
}

func hasLBCGate(pod *corev1.Pod) bool {
	return slices.ContainsFunc(pod.Spec.ReadinessGates, func(g corev1.PodReadinessGate) bool {
		return strings.HasPrefix(string(g.ConditionType), LBCGatePrefix)
	})
}

// lbcGatedIndex indexes the pods that still wait on an LBC gate.
func lbcGatedIndex(o client.Object) []string {
	if pod, ok := o.(*corev1.Pod); ok && len(pendingLBCGates(pod)) > 0 {
		return []string{"true"}
	}
	return nil
}

// bindingTGNames indexes a record by the cloud names of its IP target groups, in their Service's namespace.
func bindingTGNames(o client.Object) []string {
	var out []string
	for _, b := range o.(*v1alpha1.LoadBalancer).Status.TargetGroups {
		if name := targetGroupName(b.CloudID); name != "" && b.TargetType == string(cloud.TargetTypeIP) {
			out = append(out, b.ServiceNamespace+"/"+name)
		}
	}
	return out
}

// targetGroupName is the name in an AWS target group ARN (arn:...:targetgroup/NAME/ID), "" for another cloud ID.
// A group that cloudlb adopted from LBC keeps its ARN, and so the name LBC's gate carries.
func targetGroupName(cloudID string) string {
	_, rest, ok := strings.Cut(cloudID, ":targetgroup/")
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return name
}

// pendingLBCGates are the pod's LBC readiness gates that are not true.
func pendingLBCGates(pod *corev1.Pod) []corev1.PodConditionType {
	var out []corev1.PodConditionType
	for _, rg := range pod.Spec.ReadinessGates {
		if strings.HasPrefix(string(rg.ConditionType), LBCGatePrefix) && PodCondition(pod, rg.ConditionType) != corev1.ConditionTrue {
			out = append(out, rg.ConditionType)
		}
	}
	return out
}

// lbcRef is what an LBC gate refers to now.
type lbcRef struct {
	// known is false when nothing says what the gate waits for (a binding that cloudlb's TargetGroupBinding
	// reconciler serves, or no TargetGroupBinding CRD): the gate is left as it is.
	known bool
	// stack and id name the record's target group that holds the gate's target group (adopted from LBC).
	stack, id string
	// service and port are the Service port that LBC's binding of an Ingress names, when no record holds its
	// target group any more (cloudlb made another for the same backend).
	service string
	port    intstr.IntOrString
	// gone is a gate whose binding no longer exists: LBC turns the gates of a deleted binding true.
	gone bool
}

// lbcResolver resolves the LBC gates of one namespace, each once per reconcile.
type lbcResolver struct {
	c    client.Reader
	ns   string
	refs map[corev1.PodConditionType]lbcRef
}

func newLBCResolver(c client.Reader, ns string) *lbcResolver {
	return &lbcResolver{c: c, ns: ns, refs: map[corev1.PodConditionType]lbcRef{}}
}

func (l *lbcResolver) resolve(ctx context.Context, gate corev1.PodConditionType) (lbcRef, error) {
	if ref, ok := l.refs[gate]; ok {
		return ref, nil
	}
	name := strings.TrimPrefix(string(gate), LBCGatePrefix)
	var records v1alpha1.LoadBalancerList
	if err := l.c.List(ctx, &records, client.MatchingFields{indexBindingTGName: l.ns + "/" + name}, client.UnsafeDisableDeepCopy); err != nil {
		return lbcRef{}, err
	}
	var ref lbcRef
	for _, rec := range records.Items {
		for _, b := range rec.Status.TargetGroups {
			if b.ServiceNamespace == l.ns && b.TargetType == string(cloud.TargetTypeIP) && targetGroupName(b.CloudID) == name {
				ref = lbcRef{known: true, stack: rec.Spec.Stack, id: b.ID}
			}
		}
	}
	if !ref.known {
		tgb := &elbv2.TargetGroupBinding{}
		err := l.c.Get(ctx, types.NamespacedName{Namespace: l.ns, Name: name}, tgb)
		switch {
		case apierrors.IsNotFound(err):
			ref = lbcRef{known: true, gone: true}
		case meta.IsNoMatchError(err):
		case err != nil:
			return lbcRef{}, err
		case slices.ContainsFunc(lbcIngressLabels, func(k string) bool { _, ok := tgb.Labels[k]; return ok }):
			ref = lbcRef{known: true, service: tgb.Spec.ServiceRef.Name, port: tgb.Spec.ServiceRef.Port}
		}
	}
	l.refs[gate] = ref
	return ref, nil
}

// serves reports whether binding b, of Service svc, serves the gate ref resolved to.
func (ref lbcRef) serves(b binding, svc *corev1.Service) bool {
	if b.TargetType != string(cloud.TargetTypeIP) {
		return false
	}
	if ref.id != "" {
		return b.record.Spec.Stack == ref.stack && b.ID == ref.id
	}
	if ref.service == "" || b.ServiceName != ref.service {
		return false
	}
	if ref.port.Type == intstr.Int {
		return b.ServicePort == ref.port.IntVal
	}
	// A named port needs the Service: without it, any of its target groups may be the one.
	return svc == nil || svc.Name == "" || slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
		return p.Name == ref.port.StrVal && p.Port == b.ServicePort
	})
}

// lbcGatesOf are pod's pending LBC gates that binding b serves.
func (in *inputs) lbcGatesOf(pod *corev1.Pod, b binding) []corev1.PodConditionType {
	if in.lbc == nil {
		return nil
	}
	var out []corev1.PodConditionType
	for _, g := range pendingLBCGates(pod) {
		if in.lbc.refs[g].serves(b, in.svc) {
			out = append(out, g)
		}
	}
	return out
}

// lbcInputs adds the namespace's pods that wait on an LBC gate to in, and resolves their gates.
func (r *Reconciler) lbcInputs(ctx context.Context, namespace string, in *inputs) error {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(namespace), client.MatchingFields{indexLBCGated: "true"}); err != nil {
		return err
	}
	in.lbc = newLBCResolver(r.Client, namespace)
	for i := range pods.Items {
		pod := &pods.Items[i]
		if have, ok := in.gatedPods[pod.Name]; ok {
			pod = have
		} else {
			in.gatedPods[pod.Name] = pod
		}
		for _, g := range pendingLBCGates(pod) {
			if _, err := in.lbc.resolve(ctx, g); err != nil {
				return err
			}
		}
	}
	return nil
}

// lbcVerdicts gathers, over the target groups of one reconcile, whether each pending LBC gate may turn true:
// only when every target group that serves it reports the pod's target healthy (or unused). A gate that falls
// back on its Service port may be served by several.
type lbcVerdicts struct {
	pods  map[string]*corev1.Pod
	gates map[string]map[corev1.PodConditionType]*lbcVerdict
}

type lbcVerdict struct {
	ok              bool
	reason, message string
}

func (v *lbcVerdicts) note(pod *corev1.Pod, gates []corev1.PodConditionType, ok bool, reason, message string) {
	if v.pods == nil {
		v.pods, v.gates = map[string]*corev1.Pod{}, map[string]map[corev1.PodConditionType]*lbcVerdict{}
	}
	if _, seen := v.pods[pod.Name]; !seen {
		v.pods[pod.Name], v.gates[pod.Name] = pod, map[corev1.PodConditionType]*lbcVerdict{}
	}
	for _, g := range gates {
		cur, seen := v.gates[pod.Name][g]
		switch {
		case !seen:
			v.gates[pod.Name][g] = &lbcVerdict{ok: ok, reason: reason, message: message}
		case cur.ok && !ok:
			*cur = lbcVerdict{ok: ok, reason: reason, message: message}
		}
	}
}

// apply sets each noted gate: true when every target group serving it allowed it, otherwise false with
// lbcGateWaiting (written once, so that a gate polled while it waits costs no write).
func (v *lbcVerdicts) apply(ctx context.Context, c client.Client) error {
	for name, pod := range v.pods {
		base := pod.DeepCopy()
		now := metav1.Now()
		changed := false
		for gate, verdict := range v.gates[name] {
			cond := corev1.PodCondition{Type: gate, Status: corev1.ConditionTrue, Reason: verdict.reason, Message: verdict.message,
				LastTransitionTime: now}
			if !verdict.ok {
				cond = corev1.PodCondition{Type: gate, Status: corev1.ConditionFalse, Reason: lbcGateWaiting, Message: verdict.message,
					LastTransitionTime: now}
			}
			i := slices.IndexFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == gate })
			switch {
			case i < 0:
				pod.Status.Conditions = append(pod.Status.Conditions, cond)
			case pod.Status.Conditions[i].Status == cond.Status && pod.Status.Conditions[i].Reason == cond.Reason:
				continue
			default:
				pod.Status.Conditions[i] = cond
			}
			changed = true
		}
		if !changed {
			continue
		}
		// A strategic merge patch merges conditions by type, so the kubelet's own conditions are never overwritten.
		if err := client.IgnoreNotFound(c.Status().Patch(ctx, pod, client.StrategicMergeFrom(base))); err != nil {
			return err
		}
	}
	return nil
}

// releaseUnboundLBCGates turns true the pending LBC gates of the namespace's pods that no target group serves
// any more: as LBC does when the binding of a gate is deleted. A gate that cloudlb never served (its
// load balancer not applied yet since the takeover) is left waiting.
func (r *Reconciler) releaseUnboundLBCGates(ctx context.Context, namespace string) error {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(namespace), client.MatchingFields{indexLBCGated: "true"},
		client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	res := newLBCResolver(r.Client, namespace)
	// Whether a gate that falls back on its Service port is still served, read once per gate, not once per pod.
	served := map[corev1.PodConditionType]bool{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if !pod.DeletionTimestamp.IsZero() {
			continue
		}
		for _, g := range pendingLBCGates(pod) {
			ref, err := res.resolve(ctx, g)
			if err != nil {
				return err
			}
			message := ""
			switch {
			case ref.gone:
				message = "its TargetGroupBinding no longer exists; not gating"
			case ref.service != "" && !slices.ContainsFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool {
				return c.Type == g && c.Reason == lbcGateWaiting
			}):
				// Not served yet: the load balancer may not have been applied since the takeover.
			case ref.service != "":
				bound, seen := served[g]
				if !seen {
					if bound, err = r.servesLBCRef(ctx, namespace, ref); err != nil {
						return err
					}
					served[g] = bound
				}
				if !bound {
					message = "no load balancer target group serves this gate any more; not gating"
				}
			}
			if message == "" {
				continue
			}
			if err := r.setGate(ctx, pod.DeepCopy(), g, "TargetGroupUnbound", message); err != nil {
				return err
			}
		}
	}
	return nil
}

// servesLBCRef reports whether any record has an IP target group of the Service port ref names.
func (r *Reconciler) servesLBCRef(ctx context.Context, namespace string, ref lbcRef) (bool, error) {
	var records v1alpha1.LoadBalancerList
	if err := r.List(ctx, &records, client.MatchingFields{indexBindingService: namespace + "/" + ref.service}); err != nil {
		return false, err
	}
	svc := &corev1.Service{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.service}, svc); client.IgnoreNotFound(err) != nil {
		return false, err
	}
	return slices.ContainsFunc(bindingsFor(records.Items, namespace, ref.service), func(b binding) bool { return ref.serves(b, svc) }), nil
}
