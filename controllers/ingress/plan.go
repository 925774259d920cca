package ingress

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// The plan command's side of the reconciler: the stacks a manifest touches are resolved and translated by the
// reconciler's own code, over an in-memory copy of the cluster's state with the manifest's objects in place of
// the live ones, and planned by the provider. Nothing is written: the live cluster is only read (a client.Reader),
// and the provider only plans.

// PlanConfig is what planning needs besides the cluster's state: the provider and the controller's settings,
// which change how Ingresses translate.
type PlanConfig struct {
	Provider                   cloud.Provider
	Scheme                     *runtime.Scheme
	ClusterName                string
	LegacyClass                string
	ControllerNames            []string
	AdoptLBC                   bool
	ExternalManagedTags        []string
	DisableGroupNameAnnotation bool
	WatchNamespace             string
	DefaultTargetType          cloud.TargetType
	DefaultBackendRules        bool
}

// StackPlan is the plan of one stack.
type StackPlan struct {
	Stack string
	// Record is the name of the stack's LoadBalancer record.
	Record  string
	Changes cloud.Plan
	// Released says the stack has no served member left: applying deletes its load balancer.
	Released bool
	// Held names the Ingresses that left the stack with LBC's finalizer and are not served where they went: until
	// they are, the stack is kept as LBC left it (lbcstale.go).
	Held []string
	// Errors are the members translation leaves out, and why, by "namespace/name".
	Errors map[string]string
}

// Plan plans the stacks of the manifest's Ingresses (their stacks as the manifest has them, and as the cluster
// has them, when they move), or with all every stack the cluster's Ingresses make. live is read, never written.
func Plan(ctx context.Context, c PlanConfig, live client.Reader, manifest []client.Object, all bool) ([]StackPlan, error) {
	mem, moved, err := snapshot(ctx, c, live, manifest)
	if err != nil {
		return nil, err
	}
	r := &Reconciler{Client: mem, APIReader: live, Provider: c.Provider, Recorder: discard{}, ClusterName: c.ClusterName,
		LegacyClass: c.LegacyClass, ControllerNames: c.ControllerNames, AdoptLBC: c.AdoptLBC, ExternalManagedTags: c.ExternalManagedTags, DisableGroupNameAnnotation: c.DisableGroupNameAnnotation,
		WatchNamespace: c.WatchNamespace, DefaultTargetType: c.DefaultTargetType, DefaultBackendRules: c.DefaultBackendRules}
	var ings []networkingv1.Ingress
	if all {
		var list networkingv1.IngressList
		if err := mem.List(ctx, &list); err != nil {
			return nil, err
		}
		ings = list.Items
	} else {
		for _, o := range manifest {
			if ing, ok := o.(*networkingv1.Ingress); ok {
				ings = append(ings, *ing)
			}
		}
		ings = append(ings, moved...)
	}
	var stacks []string
	for _, req := range r.stacksIn(ctx, nil, ings) {
		if s := stackKey(req); !slices.Contains(stacks, s) {
			stacks = append(stacks, s)
		}
	}
	slices.Sort(stacks)
	var out []StackPlan
	for _, s := range stacks {
		sp, ok, err := r.planStack(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("stack %s: %w", s, err)
		}
		if ok {
			out = append(out, sp)
		}
	}
	return out, nil
}

// planStack is reconcile up to the apply, with no write; ok is false for a stack cloudlb does not serve.
func (r *Reconciler) planStack(ctx context.Context, stack string) (StackPlan, bool, error) {
	record, err := r.record(ctx, stack)
	if err != nil {
		return StackPlan{}, false, err
	}
	sp := StackPlan{Stack: stack, Record: record.Name, Errors: map[string]string{}}
	active, leaving, held, moving, err := r.members(ctx, stack, record)
	if err != nil {
		return sp, false, err
	}
	held = append(held, moving...)
	unseen, err := r.unseenMembers(ctx, stack, record, active, leaving, held)
	if err != nil {
		return sp, false, err
	}
	held = append(held, unseen...)
	stale, waiting, kept, err := r.staleLBC(ctx, stack, active, leaving, held)
	if err != nil {
		return sp, false, err
	}
	if len(active) == 0 {
		sp.Released = len(held)+len(waiting) == 0 && !kept && (len(leaving)+len(stale) > 0 || !record.CreationTimestamp.IsZero())
		return sp, sp.Released, nil
	}
	if len(waiting) > 0 && record.Status.AppliedHash == "" {
		for _, ing := range waiting {
			sp.Held = append(sp.Held, client.ObjectKeyFromObject(ing).String())
		}
		return sp, true, nil
	}
	in, err := r.input(ctx, stack, record, active, held, true)
	if err != nil {
		return sp, false, err
	}
	out := Translate(in)
	for k, err := range out.Errors {
		sp.Errors[k.String()] = err.Error()
	}
	if out.LoadBalancer == nil {
		return sp, true, nil
	}
	sp.Changes, err = r.Provider.Plan(ctx, out.LoadBalancer, cloud.Known{ID: record.Status.ID, Name: record.Status.Name})
	return sp, true, cloud.RedactSecrets(err, out.LoadBalancer.ClientSecrets)
}

// snapshot copies into memory what the reconciler reads of the cluster, with the manifest's objects in place of
// the live ones of the same kind, namespace and name. It also returns the live versions of the manifest's
// Ingresses, whose stacks the manifest may leave.
func snapshot(ctx context.Context, c PlanConfig, live client.Reader, manifest []client.Object) (client.Client, []networkingv1.Ingress, error) {
	var in []client.ListOption
	if c.WatchNamespace != "" {
		in = append(in, client.InNamespace(c.WatchNamespace))
	}
	objs := map[string]client.Object{}
	key := func(o client.Object) (string, error) {
		gvk, err := keyOf(c.Scheme, o)
		return gvk + "/" + o.GetNamespace() + "/" + o.GetName(), err
	}
	lists := []struct {
		list  client.ObjectList
		scope []client.ListOption
	}{
		{&networkingv1.IngressList{}, in}, {&corev1.ServiceList{}, in}, {&networkingv1.IngressClassList{}, nil},
		{&v1beta1.IngressClassParamsList{}, nil}, {&v1alpha1.LoadBalancerList{}, nil},
	}
	for _, l := range lists {
		if err := live.List(ctx, l.list, l.scope...); err != nil {
			if meta.IsNoMatchError(err) {
				continue // no IngressClassParams CRD in this cluster
			}
			return nil, nil, fmt.Errorf("reading the cluster: %w", err)
		}
		items, err := meta.ExtractList(l.list)
		if err != nil {
			return nil, nil, err
		}
		for _, item := range items {
			o := item.(client.Object)
			k, err := key(o)
			if err != nil {
				return nil, nil, err
			}
			objs[k] = o
		}
	}
	var moved []networkingv1.Ingress
	for _, o := range manifest {
		o = o.DeepCopyObject().(client.Object)
		k, err := key(o)
		if err != nil {
			return nil, nil, err
		}
		if was, ok := objs[k]; ok {
			// The manifest changes the object as it is: it keeps what the cluster gave it (finalizers, UID).
			o.SetUID(was.GetUID())
			o.SetFinalizers(was.GetFinalizers())
			if ing, ok := was.(*networkingv1.Ingress); ok {
				moved = append(moved, *ing)
			}
			if ing, ok := o.(*networkingv1.Ingress); ok {
				ing.Status = was.(*networkingv1.Ingress).Status
			}
		}
		o.SetResourceVersion("")
		objs[k] = o
	}
	b := fake.NewClientBuilder().WithScheme(c.Scheme).
		WithIndex(&networkingv1.Ingress{}, indexStack, indexByStack).
		WithIndex(&networkingv1.Ingress{}, indexService, indexByService).
		WithIndex(&networkingv1.Ingress{}, indexClass, indexByClass).
		WithIndex(&networkingv1.Ingress{}, indexLBCStack, indexByLBCStack).
		WithStatusSubresource(&v1alpha1.LoadBalancer{}, &networkingv1.Ingress{})
	for _, k := range slices.Sorted(maps.Keys(objs)) {
		o := objs[k]
		o.SetResourceVersion("")
		b = b.WithObjects(o)
	}
	return b.Build(), moved, nil
}

func keyOf(s *runtime.Scheme, o client.Object) (string, error) {
	if u, ok := o.(*unstructured.Unstructured); ok {
		return "", fmt.Errorf("%s %s: not a kind cloudlb reads", u.GetKind(), u.GetName())
	}
	gvks, _, err := s.ObjectKinds(o)
	if err != nil || len(gvks) == 0 {
		return "", fmt.Errorf("%T: not a kind cloudlb reads", o)
	}
	return gvks[0].GroupKind().String(), nil
}

// PlannedKinds are the kinds a manifest given to Plan may hold.
var PlannedKinds = []schema.GroupKind{
	{Group: "networking.k8s.io", Kind: "Ingress"}, {Kind: "Service"}, {Group: "networking.k8s.io", Kind: "IngressClass"},
	{Group: v1beta1.GroupVersion.Group, Kind: "IngressClassParams"},
}

// PlanText renders plans like terraform plan: per stack a header, then one change a line; it returns the number
// of changes.
func PlanText(plans []StackPlan) (string, int) {
	var b strings.Builder
	n := 0
	for _, sp := range plans {
		fmt.Fprintf(&b, "# stack %s (LoadBalancer %s)\n", sp.Stack, sp.Record)
		for _, m := range slices.Sorted(maps.Keys(sp.Errors)) {
			fmt.Fprintf(&b, "! %s left out: %s\n", m, sp.Errors[m])
		}
		switch {
		case sp.Released:
			fmt.Fprintf(&b, "- delete stack %s: no Ingress of it is served any more\n", sp.Stack)
			n++
		case len(sp.Held) > 0:
			fmt.Fprintf(&b, "  held as the AWS Load Balancer Controller left it until %s, which left it, is served where it went\n",
				strings.Join(sp.Held, ", "))
		case len(sp.Changes) == 0:
			b.WriteString("  no changes\n")
		}
		for _, l := range sp.Changes.Lines() {
			b.WriteString(l + "\n")
		}
		n += len(sp.Changes)
	}
	if n == 0 {
		b.WriteString("No changes. The cloud matches the Ingresses.\n")
	} else {
		fmt.Fprintf(&b, "Plan: %d changes in %d stacks.\n", n, len(plans))
	}
	return b.String(), n
}

// discard is the plan's event recorder: the reconciler's Events are for the objects it reconciles.
type discard struct{}

func (discard) Eventf(runtime.Object, runtime.Object, string, string, string, string, ...any) {}

func (discard) AnnotatedEventf(runtime.Object, runtime.Object, map[string]string, string, string, string, string, ...any) {
}

var _ recorder.EventRecorder = discard{}
