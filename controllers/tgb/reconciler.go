// Package tgb serves the AWS Load Balancer Controller's TargetGroupBindings: it registers the endpoints of a
// Service into a target group made outside Kubernetes (Terraform, CloudFormation), named by ARN or name. This is
// the only place cloudlb registers into a target group it did not make, because a user bound it explicitly; the
// target group itself is never modified.
package tgb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/controllers/targets"
)

// Finalizer is the AWS Load Balancer Controller's own finalizer for TargetGroupBindings. cloudlb uses the same
// name because it gives it the same meaning (the binding's targets are deregistered before the object goes):
// bindings that controller made carry over without a rewrite, and a switch back to it needs none either.
const Finalizer = "elbv2.k8s.aws/resources"

// lbcIngressLabels are the label keys the AWS Load Balancer Controller puts on the bindings it makes for its
// Ingresses (its tracking provider's StackLabels with the ingress.k8s.aws prefix): an explicit group's, and an
// implicit group's. cloudlb serves those Ingresses' target groups itself, so such bindings are left alone.
var lbcIngressLabels = []string{"ingress.k8s.aws/stack", "ingress.k8s.aws/stack-namespace", "ingress.k8s.aws/stack-name"}

// AnnotationTargetGroupARN records on a binding the target group it registers into, written before the first
// registration: a binding pointed at another group first takes its targets out of this one, and a binding whose
// group name now resolves elsewhere is still released from the group that holds its targets.
const AnnotationTargetGroupARN = "cloudlb.io/target-group-arn"

const (
	// indexService indexes bindings by the Service they bind.
	indexService = "cloudlb.io/tgb-service"
	// ConditionReady is the binding's condition: True once its targets are registered.
	ConditionReady = "Ready"
	// retryMissing is the wait before looking again for a target group that does not exist (yet).
	retryMissing = time.Minute
)

// Reconciler keeps each binding's target group in step with its Service's endpoints.
type Reconciler struct {
	client.Client
	// APIReader reads what the cache does not hold: the multi-cluster ConfigMaps, and pods to verify the endpoints
	// of slices that the EndpointSlice controller did not write.
	APIReader client.Reader
	Provider  cloud.Provider
	Recorder  recorder.EventRecorder
	// BatchWindow delays a sync after the first change, as for the target groups of Ingresses.
	BatchWindow time.Duration
}

// +kubebuilder:rbac:groups=elbv2.k8s.aws,resources=targetgroupbindings,verbs=get;list;watch;patch;update
// +kubebuilder:rbac:groups=elbv2.k8s.aws,resources=targetgroupbindings/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=elbv2.k8s.aws,resources=targetgroupbindings/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;create;update;delete

// SetupWithManager registers the watches: bindings, and the Services, EndpointSlices and nodes they read. Without
// the CRD (installed by neither the chart nor the AWS Load Balancer Controller) there is nothing to serve, and the
// controller starts without it rather than failing to watch.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, maxConcurrent int) error {
	gvk := elbv2.GroupVersion.WithKind("TargetGroupBinding")
	if _, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
		mgr.GetLogger().Info("TargetGroupBindings are not served by this cluster: install the CRD and restart to serve them",
			"reason", err.Error())
		return nil
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &elbv2.TargetGroupBinding{}, indexService, func(o client.Object) []string {
		return []string{o.(*elbv2.TargetGroupBinding).Spec.ServiceRef.Name}
	}); err != nil {
		return err
	}
	byService := func(ctx context.Context, namespace, name string) []reconcile.Request {
		var list elbv2.TargetGroupBindingList
		if err := r.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{indexService: name}); err != nil {
			log.FromContext(ctx).Error(err, "listing TargetGroupBindings")
			return nil
		}
		var out []reconcile.Request
		for i := range list.Items {
			if Served(&list.Items[i]) {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
			}
		}
		return out
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("targetgroupbinding").
		For(&elbv2.TargetGroupBinding{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return Served(o.(*elbv2.TargetGroupBinding))
		}))).
		Watches(&corev1.Service{}, targets.Delayed(r.BatchWindow, func(ctx context.Context, o client.Object) []reconcile.Request {
			return byService(ctx, o.GetNamespace(), o.GetName())
		})).
		Watches(&discoveryv1.EndpointSlice{}, targets.Delayed(r.BatchWindow, func(ctx context.Context, o client.Object) []reconcile.Request {
			if name := o.GetLabels()[discoveryv1.LabelServiceName]; name != "" {
				return byService(ctx, o.GetNamespace(), name)
			}
			return nil
		})).
		Watches(&corev1.Node{}, targets.Delayed(r.BatchWindow, r.instanceBindings),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: targets.NodeSelectionChanged})).
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrent}).
		Complete(r)
}

// instanceBindings are the bindings that may register nodes: instance mode, or a type still to be learned.
func (r *Reconciler) instanceBindings(ctx context.Context, _ client.Object) []reconcile.Request {
	var list elbv2.TargetGroupBindingList
	if err := r.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "listing TargetGroupBindings")
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		b := &list.Items[i]
		if Served(b) && (b.Spec.TargetType == nil || *b.Spec.TargetType == elbv2.TargetTypeInstance) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(b)})
		}
	}
	return out
}

// Served reports whether cloudlb serves a binding: every binding but those the AWS Load Balancer Controller made
// for its own Ingresses, whose target groups cloudlb's Ingress reconciler serves.
func Served(b *elbv2.TargetGroupBinding) bool {
	return !slices.ContainsFunc(lbcIngressLabels, func(k string) bool { _, ok := b.Labels[k]; return ok })
}

// specError is a binding that cannot be served as written: a Warning Event and the Ready condition say why, and
// nothing is retried until the binding (or what it names) changes.
type specError struct{ reason, msg string }

func (e *specError) Error() string { return e.msg }

func specErrorf(reason, format string, args ...any) error {
	return &specError{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// Reconcile registers the binding's targets, or deregisters them when the binding is being deleted.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	b := &elbv2.TargetGroupBinding{}
	if err := r.Get(ctx, req.NamespacedName, b); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !Served(b) {
		return reconcile.Result{}, nil
	}
	// Every call on the binding's target group goes through the role of the group's account, when it names one.
	ctx = cloud.WithRole(ctx, cloud.Role{ARN: b.Spec.IamRoleArnToAssume, ExternalID: b.Spec.AssumeRoleExternalId})
	if !b.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, r.release(ctx, b)
	}
	if !controllerutil.ContainsFinalizer(b, Finalizer) {
		base := b.DeepCopy()
		controllerutil.AddFinalizer(b, Finalizer)
		if err := r.Patch(ctx, b, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, err
		}
	}
	registered, waiting, err := r.sync(ctx, b)
	var se *specError
	switch {
	case errors.As(err, &se):
		r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, se.reason, "Sync", "%s", se.msg)
		if err := r.setReady(ctx, b, metav1.ConditionFalse, se.reason, se.msg); err != nil {
			return reconcile.Result{}, err
		}
		if se.reason == "TargetGroupNotFound" || se.reason == "TargetGroupInUse" {
			// Terraform may create it later, the binding holding it may go: no watch of this binding would say so.
			return reconcile.Result{RequeueAfter: retryMissing}, nil
		}
		return reconcile.Result{}, nil
	case err != nil:
		r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, "SyncFailed", "Sync", "%s", err)
		if serr := r.setReady(ctx, b, metav1.ConditionFalse, "SyncFailed", err.Error()); serr != nil {
			log.FromContext(ctx).Error(serr, "writing the binding's status")
		}
		return reconcile.Result{}, err
	}
	if err := r.setReady(ctx, b, metav1.ConditionTrue, "Synced", fmt.Sprintf("%d targets registered", registered)); err != nil {
		return reconcile.Result{}, err
	}
	if waiting {
		return reconcile.Result{RequeueAfter: gateRetry}, nil
	}
	return reconcile.Result{}, nil
}

// resolved is a binding checked against its target group.
type resolved struct {
	group      cloud.BoundTargetGroup
	targetType cloud.TargetType
}

// resolve finds the binding's target group and checks that the binding fits it.
func (r *Reconciler) resolve(ctx context.Context, b *elbv2.TargetGroupBinding) (resolved, error) {
	s := b.Spec
	if s.TargetGroupARN == "" && s.TargetGroupName == "" {
		return resolved{}, specErrorf("InvalidSpec", "neither spec.targetGroupARN nor spec.targetGroupName names a target group")
	}
	g, err := r.Provider.BoundTargetGroup(ctx, s.TargetGroupARN, s.TargetGroupName)
	switch {
	case cloud.IsNotFound(err):
		return resolved{}, specErrorf("TargetGroupNotFound", "%s", err)
	case cloud.IsInvalidSpec(err):
		return resolved{}, specErrorf("InvalidTargetGroup", "%s", err)
	case err != nil:
		return resolved{}, err
	}
	if s.VpcID != "" && g.VPCID != s.VpcID {
		return resolved{}, specErrorf("InvalidTargetGroup", "target group %s is in VPC %s, not in spec.vpcID %s", g.ARN, g.VPCID, s.VpcID)
	}
	if g.TargetType != cloud.TargetTypeIP && g.TargetType != cloud.TargetTypeInstance {
		return resolved{}, specErrorf("InvalidTargetGroup", "target group %s has target type %s: only ip and instance can be bound", g.ARN, g.TargetType)
	}
	if s.IamRoleArnToAssume != "" && g.TargetType != cloud.TargetTypeIP {
		return resolved{}, specErrorf("InvalidTargetGroup", "target group %s has target type %s: with spec.iamRoleArnToAssume (another account's "+
			"group) only ip targets can be registered", g.ARN, g.TargetType)
	}
	if s.TargetType != nil && string(*s.TargetType) != string(g.TargetType) {
		return resolved{}, specErrorf("InvalidTargetGroup", "spec.targetType is %s but target group %s has target type %s", *s.TargetType, g.ARN, g.TargetType)
	}
	family := elbv2.TargetGroupIPAddressTypeIPv4
	if g.IPAddressType == cloud.TargetIPv6 {
		family = elbv2.TargetGroupIPAddressTypeIPv6
	}
	if s.IPAddressType != nil && *s.IPAddressType != family {
		return resolved{}, specErrorf("InvalidTargetGroup", "spec.ipAddressType is %s but target group %s is %s", *s.IPAddressType, g.ARN, family)
	}
	return resolved{group: g, targetType: g.TargetType}, nil
}

// sync registers the binding's targets and returns how many there are, and whether a pod's readiness gate still
// waits (see gate.go).
func (r *Reconciler) sync(ctx context.Context, b *elbv2.TargetGroupBinding) (int, bool, error) {
	n, g, health, err := r.register(ctx, b)
	if err != nil {
		return 0, false, err
	}
	waiting, err := r.turnGates(ctx, g.gates, g.slices, health)
	return n, waiting, err
}

// gateInputs are what a sync read that the pods' readiness gates need.
type gateInputs struct {
	gates  *gates
	slices []discoveryv1.EndpointSlice
}

// register registers the binding's targets and returns how many there are, with their health.
func (r *Reconciler) register(ctx context.Context, b *elbv2.TargetGroupBinding) (int, gateInputs, []cloud.TargetHealth, error) {
	var g gateInputs
	res, err := r.resolve(ctx, b)
	if err != nil {
		return 0, g, nil, err
	}
	if err := r.heldElsewhere(ctx, b, res.group.ARN); err != nil {
		return 0, g, nil, err
	}
	if err := r.bindTo(ctx, b, res.group.ARN); err != nil {
		return 0, g, nil, err
	}
	svc := &corev1.Service{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.ServiceRef.Name}, svc); err != nil {
		if apierrors.IsNotFound(err) {
			// The targets stay: a Service deleted and re-created (helm upgrade --force) must not be an outage.
			return 0, g, nil, specErrorf("ServiceNotFound", "service %s/%s does not exist; the registered targets are left as they are",
				b.Namespace, b.Spec.ServiceRef.Name)
		}
		return 0, g, nil, err
	}
	port, err := servicePort(svc, b.Spec.ServiceRef.Port)
	if err != nil {
		return 0, g, nil, err
	}
	want, err := r.targets(ctx, b, res, svc, port, &g)
	if err != nil {
		return 0, g, nil, err
	}
	ingress, err := permissions(b, res.targetType, svc, port, want)
	if err != nil {
		return 0, g, nil, err
	}
	sync := cloud.BoundSync{ARN: res.group.ARN, Targets: want, Ingress: ingress}
	if err := r.bindingRules(ctx, b, &sync); err != nil {
		return 0, g, nil, err
	}
	if !b.Spec.MultiClusterTargetGroup {
		health, err := r.Provider.SyncBoundTargets(ctx, sync)
		return len(want), g, health, err
	}
	// Shared with other clusters: record every target before it is registered, so that a crash between the two
	// never leaves a target of ours that the record does not name; shrink the record once the deregistrations
	// are done.
	owned, record, err := r.tracked(ctx, b)
	if err != nil {
		return 0, g, nil, err
	}
	if record, err = r.track(ctx, b, record, union(owned, want)); err != nil {
		return 0, g, nil, err
	}
	sync.Shared, sync.Owned = true, union(owned, want)
	health, err := r.Provider.SyncBoundTargets(ctx, sync)
	if err != nil {
		return 0, g, nil, err
	}
	_, err = r.track(ctx, b, record, want)
	return len(want), g, health, err
}

// targets are the binding's targets now.
// In IP mode it also reads, into g, the pods that carry the binding's readiness gate.
func (r *Reconciler) targets(ctx context.Context, b *elbv2.TargetGroupBinding, res resolved, svc *corev1.Service, port int32, g *gateInputs) ([]cloud.Target, error) {
	if res.targetType == cloud.TargetTypeIP {
		var list discoveryv1.EndpointSliceList
		if err := r.List(ctx, &list, client.InNamespace(b.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: svc.Name}); err != nil {
			return nil, err
		}
		family := discoveryv1.AddressTypeIPv4
		if res.group.IPAddressType == cloud.TargetIPv6 {
			family = discoveryv1.AddressTypeIPv6
		}
		gated, err := r.gatedPods(ctx, b, svc, list.Items)
		if err != nil {
			return nil, err
		}
		g.gates, g.slices = gated, list.Items
		return targets.IPTargets(ctx, r.APIReader, svc, port, family, list.Items, gated.admit)
	}
	sel, err := nodeSelector(b.Spec.NodeSelector)
	if err != nil {
		return nil, err
	}
	var nodes corev1.NodeList
	if err := r.List(ctx, &nodes); err != nil {
		return nil, err
	}
	out, err := targets.InstanceTargets(svc, port, sel, nodes.Items)
	if err != nil {
		return nil, specErrorf("InvalidSpec", "%s", err)
	}
	return out, nil
}

// nodeSelector is the binding's node selector merged with the AWS Load Balancer Controller's defaults: no
// control-plane node, none excluded from load balancers, no Fargate node (the exclusion label and nodes on their
// way out are left out by targets.InstanceTargets).
func nodeSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	sel := labels.Everything()
	if s != nil {
		var err error
		if sel, err = metav1.LabelSelectorAsSelector(s); err != nil {
			return nil, specErrorf("InvalidSpec", "spec.nodeSelector: %s", err)
		}
	}
	for _, k := range []string{"node-role.kubernetes.io/master", "alpha.service-controller.kubernetes.io/exclude-balancer"} {
		req, err := labels.NewRequirement(k, selection.DoesNotExist, nil)
		if err != nil {
			return nil, err
		}
		sel = sel.Add(*req)
	}
	req, err := labels.NewRequirement("eks.amazonaws.com/compute-type", selection.NotIn, []string{"fargate"})
	if err != nil {
		return nil, err
	}
	return sel.Add(*req), nil
}

// servicePort returns the Service port number that ref names, by number or by name.
func servicePort(svc *corev1.Service, ref intstr.IntOrString) (int32, error) {
	for _, p := range svc.Spec.Ports {
		if ref.Type == intstr.Int && p.Port == ref.IntVal || ref.Type == intstr.String && p.Name == ref.StrVal {
			return p.Port, nil
		}
	}
	return 0, specErrorf("InvalidSpec", "service %s/%s has no port %s (spec.serviceRef.port)", svc.Namespace, svc.Name, ref.String())
}

// permissions turns spec.networking into the rules to add to the targets' security groups.
func permissions(b *elbv2.TargetGroupBinding, targetType cloud.TargetType, svc *corev1.Service, port int32, want []cloud.Target) ([]cloud.IngressPermission, error) {
	if b.Spec.Networking == nil {
		return nil, nil
	}
	var out []cloud.IngressPermission
	for i, rule := range b.Spec.Networking.Ingress {
		if len(rule.From) == 0 {
			return nil, specErrorf("InvalidSpec", "spec.networking.ingress[%d] has no peer in from", i)
		}
		ports := rule.Ports
		if len(ports) == 0 {
			ports = []elbv2.NetworkingPort{{}}
		}
		for j, peer := range rule.From {
			var base cloud.IngressPermission
			switch {
			case peer.IPBlock != nil && peer.SecurityGroup == nil && peer.IPBlock.CIDR != "":
				base.CIDR = peer.IPBlock.CIDR
			case peer.SecurityGroup != nil && peer.IPBlock == nil && peer.SecurityGroup.GroupID != "":
				base.SecurityGroup = peer.SecurityGroup.GroupID
			default:
				return nil, specErrorf("InvalidSpec", "spec.networking.ingress[%d].from[%d] must set exactly one of ipBlock.cidr and securityGroup.groupID", i, j)
			}
			for _, p := range ports {
				perm := base
				perm.Protocol = "tcp"
				if p.Protocol != nil && *p.Protocol == elbv2.NetworkingProtocolUDP {
					perm.Protocol = "udp"
				}
				nums, err := portNumbers(p.Port, targetType, svc, port, want)
				if err != nil {
					return nil, specErrorf("InvalidSpec", "spec.networking.ingress[%d].ports: %s", i, err)
				}
				for _, n := range nums {
					perm.Port = n
					if !slices.Contains(out, perm) {
						out = append(out, perm)
					}
				}
			}
		}
	}
	return out, nil
}

// portNumbers resolves a networking port: a number, every port (0) when unset, or, in IP mode, the name of the
// Service port's target port, which is the pods' port the targets are registered on.
func portNumbers(p *intstr.IntOrString, targetType cloud.TargetType, svc *corev1.Service, port int32, want []cloud.Target) ([]int32, error) {
	switch {
	case p == nil:
		return []int32{0}, nil
	case p.Type == intstr.Int:
		if p.IntVal < 1 || p.IntVal > 65535 {
			return nil, fmt.Errorf("port %d is out of range", p.IntVal)
		}
		return []int32{p.IntVal}, nil
	case targetType == cloud.TargetTypeInstance:
		return nil, fmt.Errorf("port %q: instance targets need a port number", p.StrVal)
	}
	for _, sp := range svc.Spec.Ports {
		if sp.Port == port && sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal == p.StrVal {
			var out []int32
			for _, t := range want {
				if !slices.Contains(out, t.Port) {
					out = append(out, t.Port)
				}
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("port %q is not the name of the target port of service %s/%s port %d", p.StrVal, svc.Namespace, svc.Name, port)
}

// release deregisters the binding's targets, then lets the binding go.
func (r *Reconciler) release(ctx context.Context, b *elbv2.TargetGroupBinding) error {
	if !controllerutil.ContainsFinalizer(b, Finalizer) {
		return nil
	}
	if err := r.deregister(ctx, b); err != nil {
		r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, "DeregisterFailed", "Delete", "%s", err)
		return err
	}
	if err := r.releaseGates(ctx, b); err != nil {
		return err
	}
	base := b.DeepCopy()
	controllerutil.RemoveFinalizer(b, Finalizer)
	return client.IgnoreNotFound(r.Patch(ctx, b, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
}

// deregister takes the binding's targets out of its group: in a shared group the targets this cluster recorded
// registering, otherwise every target, since the binding owned the group's target list and any other target
// would have been deregistered by its next sync anyway. A group that is gone, or was never one this binding
// could register into, holds none of its targets.
func (r *Reconciler) deregister(ctx context.Context, b *elbv2.TargetGroupBinding) error {
	if arn := b.Annotations[AnnotationTargetGroupARN]; arn != "" {
		return r.leave(ctx, b, arn, true)
	}
	res, err := r.resolve(ctx, b)
	var se *specError
	if errors.As(err, &se) {
		log.FromContext(ctx).Info("nothing to deregister", "reason", se.msg)
		if err := r.releaseRules(ctx, b); err != nil {
			return err
		}
		return r.untrack(ctx, b)
	}
	if err != nil {
		return err
	}
	// Never bound by cloudlb (a binding refused because another holds the group): deregistering would take the
	// holder's targets out.
	if err := r.heldElsewhere(ctx, b, res.group.ARN); errors.As(err, &se) {
		log.FromContext(ctx).Info("nothing to deregister", "reason", se.msg)
		if err := r.releaseRules(ctx, b); err != nil {
			return err
		}
		return r.untrack(ctx, b)
	} else if err != nil {
		return err
	}
	return r.leave(ctx, b, res.group.ARN, true)
}

// heldElsewhere refuses a group that another binding recorded as its own (AnnotationTargetGroupARN), unless both
// share it as a multi-cluster group: a binding that does not share its group owns its whole target list, so two
// bindings would deregister each other's targets, and deleting either would empty the group. The binding that
// recorded the group first keeps it.
func (r *Reconciler) heldElsewhere(ctx context.Context, b *elbv2.TargetGroupBinding, arn string) error {
	var list elbv2.TargetGroupBindingList
	if err := r.List(ctx, &list); err != nil {
		return err
	}
	for i := range list.Items {
		o := &list.Items[i]
		// LBC's binding of an Ingress's group names the group of an Ingress that it, or cloudlb once it takes the
		// Ingress over, feeds.
		held := o.Annotations[AnnotationTargetGroupARN] == arn || !Served(o) && o.Spec.TargetGroupARN == arn
		if o.UID == b.UID || !held ||
			b.Spec.MultiClusterTargetGroup && o.Spec.MultiClusterTargetGroup {
			continue
		}
		return specErrorf("TargetGroupInUse", "target group %s is bound by TargetGroupBinding %s/%s: a target group that is not "+
			"shared (spec.multiClusterTargetGroup on both) has one binding only", arn, o.Namespace, o.Name)
	}
	return nil
}

// bindTo records arn as the binding's group, first taking the binding's targets out of the group it recorded
// before, if another: the binding's record names targets of one group only.
func (r *Reconciler) bindTo(ctx context.Context, b *elbv2.TargetGroupBinding, arn string) error {
	prev := b.Annotations[AnnotationTargetGroupARN]
	if prev == arn {
		return nil
	}
	if prev != "" {
		if err := r.leave(ctx, b, prev, false); err != nil {
			return err
		}
		r.Recorder.Eventf(b, nil, corev1.EventTypeNormal, "TargetGroupChanged", "Sync",
			"targets deregistered from target group %s, now registered into %s", prev, arn)
	}
	base := b.DeepCopy()
	if b.Annotations == nil {
		b.Annotations = map[string]string{}
	}
	b.Annotations[AnnotationTargetGroupARN] = arn
	return r.Patch(ctx, b, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

// leave takes the binding's targets out of target group arn and forgets its record; with release, the binding is
// going, and so do the rules it was the last to need.
func (r *Reconciler) leave(ctx context.Context, b *elbv2.TargetGroupBinding, arn string, release bool) error {
	sync := cloud.BoundSync{ARN: arn}
	if release && b.Spec.Networking != nil {
		if err := r.bindingRules(ctx, b, &sync); err != nil {
			return err
		}
	}
	if b.Spec.MultiClusterTargetGroup {
		owned, _, err := r.tracked(ctx, b)
		if err != nil {
			return err
		}
		sync.Shared, sync.Owned = true, owned
	}
	_, err := r.Provider.SyncBoundTargets(ctx, sync)
	switch {
	case cloud.IsInvalidSpec(err):
		// cloudlb manages the group for an Ingress now (a takeover claimed it): its targets reconciler owns the
		// target list, and keeps or drops these targets itself.
		log.FromContext(ctx).Info("not deregistering", "reason", err.Error())
	case err != nil && !cloud.IsNotFound(err):
		return err
	}
	if err != nil && release {
		if err := r.releaseRules(ctx, b); err != nil {
			return err
		}
	}
	return r.untrack(ctx, b)
}

// setReady writes the Ready condition and the observed generation, when they change.
func (r *Reconciler) setReady(ctx context.Context, b *elbv2.TargetGroupBinding, status metav1.ConditionStatus, reason, msg string) error {
	base := b.DeepCopy()
	gen := b.Generation
	b.Status.ObservedGeneration = &gen
	meta.SetStatusCondition(&b.Status.Conditions, metav1.Condition{Type: ConditionReady, Status: status, Reason: reason,
		Message: msg, ObservedGeneration: gen})
	if equalStatus(base.Status, b.Status) {
		return nil
	}
	return client.IgnoreNotFound(r.Status().Patch(ctx, b, client.MergeFrom(base)))
}

func equalStatus(a, b elbv2.TargetGroupBindingStatus) bool {
	if (a.ObservedGeneration == nil) != (b.ObservedGeneration == nil) || a.ObservedGeneration != nil && *a.ObservedGeneration != *b.ObservedGeneration {
		return false
	}
	return slices.EqualFunc(a.Conditions, b.Conditions, func(x, y metav1.Condition) bool {
		return x.Type == y.Type && x.Status == y.Status && x.Reason == y.Reason && x.Message == y.Message && x.ObservedGeneration == y.ObservedGeneration
	})
}

func union(a, b []cloud.Target) []cloud.Target {
	out := slices.Concat(a, b)
	slices.SortFunc(out, func(x, y cloud.Target) int {
		if c := strings.Compare(x.ID, y.ID); c != 0 {
			return c
		}
		return int(x.Port - y.Port)
	})
	return slices.Compact(out)
}
