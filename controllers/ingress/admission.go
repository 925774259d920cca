package ingress

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
)

// Admission checks: a validating webhook runs, at apply time, the reading and translation the reconciler runs,
// and refuses what the reconciler would leave out with a Warning Event, with that event's message. It reads the
// manager's cache only (and, like the reconciler, the labels of a namespace that a class's namespaceSelector
// judges) and never the cloud, so it answers within its timeout whatever AWS does. It refuses nothing that takes
// an Ingress away: deletions, Ingresses being deleted, other controllers' Ingresses, and updates that change
// neither the spec nor the annotations (a finalizer removed, a label, the status) always pass.

// +kubebuilder:webhook:path=/validate-networking-v1-ingress,mutating=false,failurePolicy=ignore,sideEffects=None,groups=networking.k8s.io,resources=ingresses,verbs=create;update,versions=v1,name=ingress.validate.cloudlb.io,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-elbv2-k8s-aws-v1beta1-ingressclassparams,mutating=false,failurePolicy=ignore,sideEffects=None,groups=elbv2.k8s.aws,resources=ingressclassparams,verbs=create;update,versions=v1beta1,name=ingressclassparams.validate.cloudlb.io,admissionReviewVersions=v1,timeoutSeconds=5

// Paths of the validating webhooks.
const (
	IngressWebhookPath = "/validate-networking-v1-ingress"
	ParamsWebhookPath  = "/validate-elbv2-k8s-aws-v1beta1-ingressclassparams"
)

// admissionTimeout is shorter than the webhook's timeoutSeconds (5), so that a check that cannot finish (a cache
// not yet synced) admits the object with a warning instead of leaving the API server to give up on the call.
const admissionTimeout = 3 * time.Second

// Validator serves the validating webhooks.
type Validator struct {
	// r reads as the reconciler does: the manager's cache, its options, no provider, no events.
	r       *Reconciler
	decoder admission.Decoder
}

// NewValidator returns a Validator that judges Ingresses as rec does, through rec's cache client.
func NewValidator(rec *Reconciler, scheme *runtime.Scheme) *Validator {
	return &Validator{decoder: admission.NewDecoder(scheme), r: &Reconciler{
		Client: rec.Client, APIReader: rec.APIReader, Recorder: discardEvents{}, ClusterName: rec.ClusterName,
		LegacyClass: rec.LegacyClass, ControllerNames: rec.ControllerNames, AdoptLBC: rec.AdoptLBC,
		ExternalManagedTags: rec.ExternalManagedTags, WatchNamespace: rec.WatchNamespace,
		DisableGroupNameAnnotation: rec.DisableGroupNameAnnotation, DefaultTargetType: rec.DefaultTargetType, DefaultBackendRules: rec.DefaultBackendRules,
	}}
}

// WarmCache starts, with the cache, the informers that admission reads, which otherwise start on the leader only
// (with its controllers): a replica that is not the leader then answers from a synced cache too, rather than
// syncing one within a request's deadline. A cluster without the IngressClassParams CRD has none to start.
func WarmCache(ctx context.Context, c cache.Informers) error {
	for _, o := range []client.Object{&networkingv1.IngressClass{}, &corev1.Service{}, &v1alpha1.LoadBalancer{}, &elbv2.IngressClassParams{}} {
		if _, err := c.GetInformer(ctx, o); err != nil && !meta.IsNoMatchError(err) {
			return err
		}
	}
	return nil
}

// IngressHandler validates Ingresses.
func (v *Validator) IngressHandler() admission.Handler {
	return admission.HandlerFunc(v.validateIngress)
}

// ParamsHandler validates IngressClassParams.
func (v *Validator) ParamsHandler() admission.Handler { return admission.HandlerFunc(v.validateParams) }

func (v *Validator) validateIngress(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	ing := &networkingv1.Ingress{}
	if err := v.decoder.DecodeRaw(req.Object, ing); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if !ing.DeletionTimestamp.IsZero() {
		return admission.Allowed("being deleted")
	}
	if req.Operation == admissionv1.Update {
		old := &networkingv1.Ingress{}
		if err := v.decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		if apiequality.Semantic.DeepEqual(old.Spec, ing.Spec) && maps.Equal(old.Annotations, ing.Annotations) {
			return admission.Allowed("neither the spec nor the annotations changed")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, admissionTimeout)
	defer cancel()
	refusal, err := v.checkIngress(ctx, ing)
	return respond(refusal, err)
}

func (v *Validator) validateParams(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	p := &elbv2.IngressClassParams{}
	if err := v.decoder.DecodeRaw(req.Object, p); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if !p.DeletionTimestamp.IsZero() {
		return admission.Allowed("being deleted")
	}
	if req.Operation == admissionv1.Update {
		old := &elbv2.IngressClassParams{}
		if err := v.decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		if apiequality.Semantic.DeepEqual(old.Spec, p.Spec) {
			return admission.Allowed("the spec did not change")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, admissionTimeout)
	defer cancel()
	refusal, err := v.checkParams(ctx, p)
	return respond(refusal, err)
}

// respond refuses with the check's message. A check that could not run admits: the reconciler reports what is
// wrong later, and the webhook's own trouble must never block an apply (failurePolicy decides only when the
// webhook cannot be reached).
func respond(refusal string, err error) admission.Response {
	switch {
	case err != nil:
		return admission.Allowed("").WithWarnings("cloudlb could not check this object: " + err.Error())
	case refusal != "":
		return admission.Denied(refusal)
	}
	return admission.Allowed("")
}

// checkIngress translates ing's stack with ing as it would be stored, and returns why the reconciler would
// leave ing out, or "" when it would serve it (or it is not cloudlb's).
func (v *Validator) checkIngress(ctx context.Context, ing *networkingv1.Ingress) (string, error) {
	r := v.r
	if r.WatchNamespace != "" && ing.Namespace != r.WatchNamespace {
		// Not served by this controller, and not in its cache.
		return "", nil
	}
	view, err := newGroupView(ctx, r.Client, r.served())
	if err != nil {
		return "", err
	}
	if owner, _ := ownerOf(ing, view.classes, r.served()); owner != ours {
		return "", nil
	}
	stacks, err := view.stacks(ctx, ing)
	if err != nil || len(stacks) == 0 {
		return "", err
	}
	stack := stackKey(stacks[0])
	record, err := r.record(ctx, stack)
	if err != nil {
		return "", err
	}
	active, _, held, moving, err := r.members(ctx, stack, record)
	if err != nil {
		return "", err
	}
	key := client.ObjectKeyFromObject(ing)
	other := func(i *networkingv1.Ingress) bool { return client.ObjectKeyFromObject(i) == key }
	active = append(slices.DeleteFunc(active, other), ing)
	held = slices.DeleteFunc(append(held, moving...), other)
	unseen, err := r.unseenMembers(ctx, stack, record, active, held)
	if err != nil {
		return "", err
	}
	in, err := r.input(ctx, stack, record, active, append(held, unseen...), false)
	if err != nil {
		return "", err
	}
	out := Translate(in)
	if err := out.Errors[key]; err != nil {
		if refuses(err) {
			return err.Error(), nil
		}
		return "", nil
	}
	if n := unknownAnnotations(ing.Annotations); n != "" {
		return n, nil
	}
	if out.LoadBalancer == nil {
		return "", nil
	}
	// Only the member that asks for the name is refused: the others of its group are not at fault.
	if a, _, err := classAnnotations(in, ing); err == nil {
		if name, _ := a.loadBalancerName(); name != "" {
			var taken *NameTakenError
			if err := nameTaken(ctx, r.Client, record, out.LoadBalancer.Name); errors.As(err, &taken) {
				return taken.Error(), nil
			} else if err != nil {
				return "", err
			}
		}
	}
	return "", nil
}

// refuses says whether a member left out for err is refused at apply time. What an Ingress refers to but that
// may be created after it (its Services, an OIDC Secret, its class's params object) is not: manifests applied
// together arrive in any order.
func refuses(err error) bool {
	var se *ServiceError
	var sec *SecretError
	var cpe *ClassParamsError
	switch {
	case errors.Is(err, errHeld), errors.As(err, &se), errors.As(err, &sec):
		return false
	case errors.As(err, &cpe):
		return cpe.EventReason != reasonParamsNotFound
	}
	return true
}

// checkParams checks an IngressClassParams as translation checks a class's values, naming the first class of
// cloudlb's that refers to it, as the Warning Event would.
func (v *Validator) checkParams(ctx context.Context, p *elbv2.IngressClassParams) (string, error) {
	var classes networkingv1.IngressClassList
	if err := v.r.List(ctx, &classes); err != nil {
		return "", err
	}
	class := ""
	for _, c := range classes.Items {
		ref := c.Spec.Parameters
		if c.Spec.Controller == ControllerName && ref != nil && ref.APIGroup != nil && *ref.APIGroup == elbv2.GroupVersion.Group &&
			ref.Kind == "IngressClassParams" && ref.Name == p.Name && (class == "" || c.Name < class) {
			class = c.Name
		}
	}
	fail := func(field, reason, event string, args ...any) error {
		return &ClassParamsError{Class: class, Params: p.Name, Field: field, Reason: fmt.Sprintf(reason, args...), EventReason: event}
	}
	if sel := p.Spec.NamespaceSelector; sel != nil {
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			return fail("namespaceSelector", "%v", reasonParamsInvalid, err).Error(), nil
		}
	}
	if _, err := classValues(&p.Spec, annotations{}, fail); err != nil {
		return err.Error(), nil
	}
	return "", nil
}

// input gathers what translation reads for a stack's members: the reconciler's and the webhook's one way to
// build it. Secrets are read from the API server (never listed), so only the reconciler reads them; without
// them an OIDC member fails with a SecretError, which the webhook does not refuse.
func (r *Reconciler) input(ctx context.Context, stack string, record *v1alpha1.LoadBalancer, active, held []*networkingv1.Ingress,
	readSecrets bool) (Input, error) {
	services, err := r.services(ctx, active)
	if err != nil {
		return Input{}, err
	}
	classes, err := r.classes(ctx, active)
	if err != nil {
		return Input{}, err
	}
	params, nsLabels, err := r.classParams(ctx, classes)
	if err != nil {
		return Input{}, err
	}
	var secrets map[types.NamespacedName]*corev1.Secret
	if readSecrets {
		if secrets, err = r.secrets(ctx, active, services); err != nil {
			return Input{}, err
		}
	}
	// Held members are passed along so that their part of a group's load balancer stays as it was applied:
	// holding an Ingress must not take its rules off a load balancer that other members keep up to date.
	heldKeys := map[types.NamespacedName]bool{}
	for _, ing := range held {
		heldKeys[client.ObjectKeyFromObject(ing)] = true
	}
	return Input{ClusterName: r.ClusterName, Stack: stack, Ingresses: append(slices.Clone(active), held...), Services: services,
		Classes: classes, ClassParams: params, NamespaceLabels: nsLabels, Applied: appliedMembers(record), Kept: keptModels(record), Held: heldKeys,
		ExternalManagedTags: r.ExternalManagedTags, DisableGroupNameAnnotation: r.DisableGroupNameAnnotation,
		DefaultTargetType: r.DefaultTargetType, DefaultBackendRules: r.DefaultBackendRules, Secrets: secrets}, nil
}

// discardEvents drops the events that the reconciler's reads emit (a held member's), which an admission check
// must not.
type discardEvents struct{}

func (discardEvents) Eventf(runtime.Object, runtime.Object, string, string, string, string, ...any) {}

func (discardEvents) AnnotatedEventf(runtime.Object, runtime.Object, map[string]string, string, string, string, string, ...any) {
}
