package ingress

import (
	"context"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// Class groups. IngressClassParams spec.group.name puts every Ingress of the class in that explicit group,
// whatever its own group.name annotation says, as in the AWS Load Balancer Controller (translation warns an
// Ingress whose annotation asks for another group). The stack of an Ingress then depends on its class and the
// params object too: the stack index (by annotation) finds the annotation groups' members, an index by class
// finds the class groups' members, and each candidate is kept only if it resolves to the stack.
//
// A member whose class or params cannot be read now (the class or params object was deleted, or another
// controller's class took it) resolves to the stack whose record lists it: deleting a class or its params then
// holds or releases the member where it is served, as for any other member, and never empties a group's
// stack into a deletion of its load balancer.

// indexClass indexes Ingresses by the IngressClass they name; noClassName stands for none (a default class
// serves them). Ingresses with the legacy class annotation have no class, so no class group.
const (
	indexClass  = "cloudlb.io/class"
	noClassName = "*"
)

func indexByClass(o client.Object) []string {
	ing := o.(*networkingv1.Ingress)
	if _, ok := ing.Annotations[legacyClassAnnotation]; ok {
		return nil
	}
	if ing.Spec.IngressClassName != nil {
		return []string{*ing.Spec.IngressClassName}
	}
	return []string{noClassName}
}

// paramsGroup is what a class's IngressClassParams say about groups.
type paramsGroup struct {
	// name is spec.group.name; "" when the params set no group.
	name string
	// missing says the params object is named but not found: the group is unknown.
	missing bool
}

// groupView decides which stack each Ingress is in, from one read of the classes and their params.
type groupView struct {
	reader  client.Reader
	served  served
	classes []networkingv1.IngressClass
	// groups holds, by class name, the group of each class that names IngressClassParams.
	groups map[string]paramsGroup
	// records are read only when a member's group is unknown.
	records []v1alpha1.LoadBalancer
	read    bool
}

// newGroupView reads the classes and the params they name through reader.
func newGroupView(ctx context.Context, reader client.Reader, s served) (*groupView, error) {
	var list networkingv1.IngressClassList
	if err := reader.List(ctx, &list); err != nil {
		return nil, err
	}
	v := &groupView{reader: reader, served: s, classes: list.Items, groups: map[string]paramsGroup{}}
	for i := range v.classes {
		if err := v.readGroup(ctx, &v.classes[i]); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (v *groupView) readGroup(ctx context.Context, c *networkingv1.IngressClass) error {
	delete(v.groups, c.Name)
	ref := c.Spec.Parameters
	if ref == nil || ref.APIGroup == nil || *ref.APIGroup != elbv2.GroupVersion.Group || ref.Kind != "IngressClassParams" {
		return nil
	}
	p := &elbv2.IngressClassParams{}
	switch err := v.reader.Get(ctx, types.NamespacedName{Name: ref.Name}, p); {
	case apierrors.IsNotFound(err), meta.IsNoMatchError(err):
		v.groups[c.Name] = paramsGroup{missing: true}
	case err != nil:
		return err
	default:
		v.setParams(c.Name, p)
	}
	return nil
}

func (v *groupView) setParams(class string, p *elbv2.IngressClassParams) {
	g := paramsGroup{}
	if p.Spec.Group != nil {
		g.name = p.Spec.Group.Name
	}
	v.groups[class] = g
}

// withClass puts c in place of the cached class of the same name, so that an event's old and new class each
// map to the stacks they put Ingresses in.
func (v *groupView) withClass(ctx context.Context, c *networkingv1.IngressClass) error {
	v.classes = slices.DeleteFunc(v.classes, func(x networkingv1.IngressClass) bool { return x.Name == c.Name })
	v.classes = append(v.classes, *c)
	return v.readGroup(ctx, c)
}

// withParams puts p in place of the params of every class naming it.
func (v *groupView) withParams(p *elbv2.IngressClassParams) {
	for _, c := range v.classes {
		if ref := c.Spec.Parameters; ref != nil && ref.APIGroup != nil && *ref.APIGroup == elbv2.GroupVersion.Group &&
			ref.Kind == "IngressClassParams" && ref.Name == p.Name {
			v.setParams(c.Name, p)
		}
	}
}

// classGroup returns the group the class of ing puts it in ("" for none: its annotation decides), and whether
// that is known now.
func (v *groupView) classGroup(ing *networkingv1.Ingress) (string, bool) {
	if _, ok := ing.Annotations[legacyClassAnnotation]; ok {
		return "", true
	}
	c := classOf(ing, v.classes, v.served)
	if c == nil || !v.served.ours(c.Spec.Controller) {
		return "", false
	}
	g := v.groups[c.Name]
	return g.name, !g.missing
}

// stacks returns the stacks ing is a member of: one, except for a member whose group is unknown and that more
// than one record lists (it moved, and the stack it left has not reconciled since): each holds it as it was.
func (v *groupView) stacks(ctx context.Context, ing *networkingv1.Ingress) ([]reconcile.Request, error) {
	g, known := v.classGroup(ing)
	switch {
	case known && g != "" && groupNameRE.MatchString(g):
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: g}}}, nil
	case known && g != "":
		// An invalid class group joins no group: translation refuses the Ingress in its own stack.
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}}}, nil
	case known || !controllerutil.ContainsFinalizer(ing, cloud.Finalizer):
		// Never served, nothing to hold: the annotation decides, as for an Ingress of no class group.
		return []reconcile.Request{stackOf(ing)}, nil
	}
	listed, err := v.listing(ctx, client.ObjectKeyFromObject(ing))
	if err != nil || len(listed) > 0 {
		return listed, err
	}
	return []reconcile.Request{stackOf(ing)}, nil
}

// in reports whether ing is a member of stack.
func (v *groupView) in(ctx context.Context, ing *networkingv1.Ingress, stack string) (bool, error) {
	reqs, err := v.stacks(ctx, ing)
	return slices.ContainsFunc(reqs, func(r reconcile.Request) bool { return stackKey(r) == stack }), err
}

// listing returns the stacks whose records list the Ingress as a member.
func (v *groupView) listing(ctx context.Context, key types.NamespacedName) ([]reconcile.Request, error) {
	if !v.read {
		var list v1alpha1.LoadBalancerList
		if err := v.reader.List(ctx, &list); err != nil {
			return nil, err
		}
		v.records, v.read = list.Items, true
	}
	var out []reconcile.Request
	for _, rec := range v.records {
		if slices.ContainsFunc(rec.Status.Members, func(m v1alpha1.MemberStatus) bool { return m.Name == key.String() }) {
			out = append(out, stackRequest(rec.Spec.Stack))
		}
	}
	return out, nil
}

// stackRequest is the inverse of stackKey.
func stackRequest(stack string) reconcile.Request {
	if ns, name, ok := strings.Cut(stack, "/"); ok {
		return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}
	}
	return reconcile.Request{NamespacedName: types.NamespacedName{Name: stack}}
}

// candidates lists the Ingresses that may be members of stack: those its index names, those of the classes
// whose params put them in it, and those its record lists. The caller keeps those v.in says are members.
func (r *Reconciler) candidates(ctx context.Context, v *groupView, stack string, record *v1alpha1.LoadBalancer) ([]*networkingv1.Ingress, error) {
	seen := map[types.NamespacedName]bool{}
	var out []*networkingv1.Ingress
	add := func(items []networkingv1.Ingress) {
		for i := range items {
			if k := client.ObjectKeyFromObject(&items[i]); !seen[k] {
				seen[k] = true
				out = append(out, &items[i])
			}
		}
	}
	var list networkingv1.IngressList
	if err := r.List(ctx, &list, client.MatchingFields{indexStack: stack}); err != nil {
		return nil, err
	}
	add(list.Items)
	if !strings.Contains(stack, "/") {
		for _, c := range v.classes {
			if g := v.groups[c.Name]; g.missing || g.name != stack {
				continue
			}
			names := []string{c.Name}
			if c.Annotations[defaultClassAnnotation] == "true" && v.served.ours(c.Spec.Controller) {
				names = append(names, noClassName)
			}
			for _, n := range names {
				var of networkingv1.IngressList
				if err := r.List(ctx, &of, client.MatchingFields{indexClass: n}); err != nil {
					return nil, err
				}
				add(of.Items)
			}
		}
	}
	for _, m := range record.Status.Members {
		ns, name, ok := strings.Cut(m.Name, "/")
		// A member of a namespace the cache does not watch cannot be read; unseenMembers holds it as applied.
		if !ok || seen[types.NamespacedName{Namespace: ns, Name: name}] || (r.WatchNamespace != "" && ns != r.WatchNamespace) {
			continue
		}
		var ing networkingv1.Ingress
		if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &ing); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		add([]networkingv1.Ingress{ing})
	}
	return out, nil
}
