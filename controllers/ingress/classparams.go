package ingress

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
)

// IngressClassParams, as the AWS Load Balancer Controller reads them: a value set on the class overrides the
// Ingress's annotation for the same setting (tags and load balancer attributes merge, the class winning per key),
// and namespaceSelector limits which namespaces may use the class. cloudlb applies a class value by putting it in
// place of the annotation before the annotations are parsed, so that both go through the same validation and the
// same model; a field whose feature cloudlb lacks refuses the class's Ingresses rather than being ignored.

// +kubebuilder:rbac:groups=elbv2.k8s.aws,resources=ingressclassparams,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get

// Event reasons of a ClassParamsError.
const (
	reasonParamsNotFound      = "IngressClassParametersNotFound"
	reasonParamsInvalid       = "InvalidIngressClassParameters"
	reasonNamespaceNotAllowed = "NamespaceNotAllowed"
)

// ClassParamsError says why the IngressClassParams of an Ingress's class keep the Ingress out of its stack: the
// object is missing, a field is invalid or not implemented, or its namespaceSelector refuses the namespace.
type ClassParamsError struct {
	Class  string
	Params string
	// Field is the spec field at fault, as written in the object ("scheme", "subnets.tags"); empty for the whole
	// object.
	Field  string
	Reason string
	// EventReason is the reason of the Warning Event.
	EventReason string
}

func (e *ClassParamsError) Error() string {
	where := "IngressClassParams " + e.Params
	if e.Class != "" {
		// Only the admission webhook judges params that no class names yet.
		where = "IngressClass " + e.Class + ": " + where
	}
	if e.Field != "" {
		where += " spec." + e.Field
	}
	return where + ": " + e.Reason
}

// classAnnotations returns the annotations translation reads for ing: its own, with the values of its class's
// IngressClassParams in place of the annotations they override, and a warning for each annotation that asked for
// something else. Without parameters on the class, they are the Ingress's own annotations.
func classAnnotations(in Input, ing *networkingv1.Ingress) (annotations, []string, error) {
	own := annotations(ing.Annotations)
	c := in.Classes[types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}]
	if c == nil || c.Spec.Parameters == nil {
		return own, nil, nil
	}
	ref := c.Spec.Parameters
	if ref.APIGroup == nil || *ref.APIGroup != elbv2.GroupVersion.Group || ref.Kind != "IngressClassParams" ||
		(ref.Scope != nil && *ref.Scope != networkingv1.IngressClassParametersReferenceScopeCluster) {
		return nil, nil, &ClassParametersError{Class: c.Name, Parameters: *ref}
	}
	fail := func(field, reason, event string, args ...any) error {
		return &ClassParamsError{Class: c.Name, Params: ref.Name, Field: field, Reason: fmt.Sprintf(reason, args...), EventReason: event}
	}
	p := in.ClassParams[c.Name]
	if p == nil || p.Name != ref.Name {
		return nil, nil, fail("", "not found; the Ingresses of the class are left out until it exists", reasonParamsNotFound)
	}
	if sel := p.Spec.NamespaceSelector; sel != nil {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return nil, nil, fail("namespaceSelector", "%v", reasonParamsInvalid, err)
		}
		// An empty selector selects every namespace; otherwise labels that could not be read are no match.
		nsLabels, known := in.NamespaceLabels[ing.Namespace]
		if !s.Empty() && (!known || !s.Matches(labels.Set(nsLabels))) {
			return nil, nil, fail("namespaceSelector", "namespace %s is not selected (%s), so its Ingresses may not use this class",
				reasonNamespaceNotAllowed, ing.Namespace, s)
		}
	}
	over, err := classValues(&p.Spec, own, fail)
	if err != nil {
		return nil, nil, err
	}
	out := maps.Clone(own)
	if out == nil {
		out = annotations{}
	}
	var warnings []string
	for _, key := range slices.Sorted(maps.Keys(over)) {
		v := over[key]
		if asked, ok := own[key]; ok && !sameValue(key, asked, v.value) {
			warnings = append(warnings, fmt.Sprintf("annotation %s=%q "+overriddenBy+" %s: IngressClassParams %s sets spec.%s",
				key, asked, c.Name, ref.Name, v.field))
		}
		out[key] = v.value
	}
	warnings = append(warnings, dropOverriddenWAF(over, own, out, c.Name, ref.Name)...)
	return out, warnings, nil
}

// overriddenBy marks the warning of an annotation that a class value overrides.
const overriddenBy = "is overridden by IngressClass"

// warningReason names the Warning Event of a translation or apply warning: an annotation overridden by the class
// is not a degraded load balancer.
func warningReason(w string) string {
	if strings.HasPrefix(w, "annotation ") && strings.Contains(w, overriddenBy) {
		return "OverriddenByIngressClass"
	}
	return "Degraded"
}

// classValue is the annotation value a class field stands for.
type classValue struct {
	field string
	value string
}

var (
	subnetIDRE = regexp.MustCompile(`^subnet-[0-9a-f]+$`)
	// A list annotation is split at commas: a class value containing one would change meaning on the way.
	noComma = func(s string) bool { return !strings.Contains(s, ",") }
)

// classValues turns the fields cloudlb implements into the annotation values they override, each checked with
// the annotation's own parser so that an invalid class value is reported against the class field.
func classValues(s *elbv2.IngressClassParamsSpec, own annotations, fail func(field, reason, event string, args ...any) error) (map[string]classValue, error) {
	over := map[string]classValue{}
	set := func(key, field, value string) { over[key] = classValue{field: field, value: value} }
	list := func(key, field string, items []string, valid func(string) bool, what string) error {
		for _, it := range items {
			if !valid(it) {
				return fail(field, "%q is not %s", reasonParamsInvalid, it, what)
			}
		}
		if len(items) > 0 {
			set(key, field, strings.Join(items, ","))
		}
		return nil
	}
	if s.Group != nil {
		// The stack was chosen by this value already (classgroup.go); here it overrides the annotation, warned.
		set(annGroupName, "group.name", s.Group.Name)
	}
	if s.Scheme != nil {
		set(annScheme, "scheme", string(*s.Scheme))
	}
	if s.IPAddressType != nil {
		set(annIPAddressType, "ipAddressType", string(*s.IPAddressType))
	}
	if s.Subnets != nil && len(s.Subnets.Tags) > 0 {
		if err := classSubnetTags(s.Subnets, set, fail); err != nil {
			return nil, err
		}
	} else if s.Subnets != nil {
		ids := make([]string, len(s.Subnets.IDs))
		for i, id := range s.Subnets.IDs {
			ids[i] = string(id)
		}
		if err := list(annSubnets, "subnets.ids", ids, subnetIDRE.MatchString, "a subnet ID"); err != nil {
			return nil, err
		}
	}
	validCIDR := func(v string) bool { _, err := netip.ParsePrefix(v); return err == nil }
	if err := list(annInboundCIDRs, "inboundCIDRs", s.InboundCIDRs, validCIDR, "a CIDR"); err != nil {
		return nil, err
	}
	if err := list(annCertificateARN, "certificateArn", s.CertificateArn, certificateARNRE.MatchString, "an ACM or IAM certificate ARN"); err != nil {
		return nil, err
	}
	if s.SSLPolicy != "" {
		set(annSSLPolicy, "sslPolicy", s.SSLPolicy)
	}
	if s.SSLRedirectPort != "" {
		set(annSSLRedirect, "sslRedirectPort", s.SSLRedirectPort)
	}
	if s.TargetType != "" {
		set(annTargetType, "targetType", string(s.TargetType))
	}
	if s.LoadBalancerName != "" {
		set(annLoadBalancerName, "loadBalancerName", s.LoadBalancerName)
	}
	if s.ManageBackendSecurityGroupRules != nil {
		set(annManageBackendRules, "manageBackendSecurityGroupRules", strconv.FormatBool(*s.ManageBackendSecurityGroupRules))
	}
	if s.WAFv2ACLArn != "" {
		set(annWAFv2ACLARN, "wafv2AclArn", s.WAFv2ACLArn)
	}
	if err := classLBOptions(s, set, list, fail); err != nil {
		return nil, err
	}
	tags := make([]pair, len(s.Tags))
	for i, t := range s.Tags {
		tags[i] = pair{t.Key, t.Value}
	}
	if err := mergePairs(over, own, annTags, "tags", tags, fail); err != nil {
		return nil, err
	}
	attrs := make([]pair, len(s.LoadBalancerAttributes))
	for i, a := range s.LoadBalancerAttributes {
		attrs[i] = pair{a.Key, a.Value}
	}
	if err := mergePairs(over, own, annLBAttributes, "loadBalancerAttributes", attrs, fail); err != nil {
		return nil, err
	}
	listenerAttrs, err := classListenerAttributes(s.Listeners, fail)
	if err != nil {
		return nil, err
	}
	for _, key := range slices.Sorted(maps.Keys(listenerAttrs)) {
		if err := mergePairs(over, own, key, "listeners", listenerAttrs[key], fail); err != nil {
			return nil, err
		}
	}

	// Parse every class value as its annotation would be, and blame the class field. Tags and attributes are
	// probed without the Ingress's own pairs, whose faults its annotation's parser reports.
	probe := annotations{}
	for k, v := range over {
		probe[k] = v.value
	}
	probe[annTags], probe[annLBAttributes] = joinPairs(tags), joinPairs(attrs)
	checks := []func() error{
		func() error { _, err := probe.groupName(); return err },
		func() error { _, err := probe.oneOf(annScheme, "", "internal", "internet-facing"); return err },
		func() error {
			_, err := probe.oneOf(annIPAddressType, "", "ipv4", "dualstack", string(elbv2.IPAddressTypeDualStackWithoutPublicIPv4))
			return err
		},
		func() error { _, err := probe.oneOf(annTargetType, "", "instance", "ip"); return err },
		func() error { _, err := probe.loadBalancerName(); return err },
		func() error { _, err := probe.sslPolicy(); return err },
		func() error { _, err := probe.sslRedirect(); return err },
		func() error { _, err := probe.wafv2ACL(); return err },
		func() error { _, err := probe.tags(); return err },
		func() error { _, err := probe.attributes(annLBAttributes); return err },
		func() error { _, err := probe.ipamPool(); return err },
		func() error { _, err := probe.minCapacity(); return err },
		func() error { _, err := probe.prefixLists(); return err },
		func() error { _, err := probe.wafv2ACLName(); return err },
	}
	for _, key := range slices.Sorted(maps.Keys(listenerAttrs)) {
		probe[key] = joinPairs(listenerAttrs[key])
		checks = append(checks, func() error { _, err := probe.attributes(key); return err })
	}
	for _, check := range checks {
		var ae *AnnotationError
		if err := check(); errors.As(err, &ae) {
			return nil, fail(over[ae.Key].field, "%s", reasonParamsInvalid, ae.Reason)
		} else if err != nil {
			return nil, err
		}
	}
	return over, nil
}

type pair struct{ key, value string }

func joinPairs(pairs []pair) string {
	items := make([]string, len(pairs))
	for i, p := range pairs {
		items[i] = p.key + "=" + p.value
	}
	return strings.Join(items, ",")
}

// mergePairs puts into over[key] the Ingress's key=value annotation with the class's pairs merged in, the class
// winning per key, as the AWS Load Balancer Controller merges tags and load balancer attributes. An annotation
// that does not parse is kept as it is, for its own parser to report.
func mergePairs(over map[string]classValue, own annotations, key, field string, pairs []pair, fail func(field, reason, event string, args ...any) error) error {
	if len(pairs) == 0 {
		return nil
	}
	ownPairs, bad := KeyValues(own[key])
	if bad != "" {
		return nil
	}
	merged := map[string]string{}
	maps.Copy(merged, KeyValueMap(ownPairs))
	for _, p := range pairs {
		// The pairs travel as "k=v,k=v": a key with = or , or a value with , would be split elsewhere.
		if p.key == "" || strings.ContainsAny(p.key, "=,") || !noComma(p.value) || strings.TrimSpace(p.key) != p.key ||
			strings.TrimSpace(p.value) != p.value {
			return fail(field, "%s=%q: a key must be non-empty without = or , and a value without , or surrounding spaces",
				reasonParamsInvalid, p.key, p.value)
		}
		merged[p.key] = p.value
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(merged)) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + merged[k])
	}
	over[key] = classValue{field: field, value: b.String()}
	return nil
}

// sameValue reports whether the annotation value asked asks for what the class value gives, so that only a real
// difference is warned about.
func sameValue(key, asked, given string) bool {
	a := annotations{key: asked}
	g := annotations{key: given}
	switch {
	case key == annTags || key == annLBAttributes || strings.HasPrefix(key, annListenerAttributes):
		// The class wins per key: the annotation is overridden only where it sets a key differently.
		anyPair := func(string, string) bool { return true }
		gm, _ := g.keyValues(key, "", anyPair)
		am, _ := a.keyValues(key, "", anyPair)
		for k, v := range am {
			if gv, ok := gm[k]; ok && gv != v {
				return false
			}
		}
		return true
	case key == annSubnets || key == annInboundCIDRs || key == annCertificateARN || key == annPrefixLists:
		return slices.Equal(a.list(key), g.list(key))
	}
	return strings.TrimSpace(asked) == given
}

// classParams reads the IngressClassParams of each class that names one, and the labels of the namespaces whose
// Ingresses a namespaceSelector must judge. A missing object (or CRD) is left out of the map, which refuses the
// class's Ingresses; any other read error fails the reconcile, to be retried.
func (r *Reconciler) classParams(ctx context.Context, classes map[types.NamespacedName]*networkingv1.IngressClass) (
	map[string]*elbv2.IngressClassParams, map[string]map[string]string, error) {
	params := map[string]*elbv2.IngressClassParams{}
	nsLabels := map[string]map[string]string{}
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	for _, key := range slices.SortedFunc(maps.Keys(classes), func(a, b types.NamespacedName) int {
		return strings.Compare(a.String(), b.String())
	}) {
		c := classes[key]
		ref := c.Spec.Parameters
		if ref == nil || ref.APIGroup == nil || *ref.APIGroup != elbv2.GroupVersion.Group || ref.Kind != "IngressClassParams" {
			continue
		}
		p, seen := params[c.Name]
		if !seen {
			p = &elbv2.IngressClassParams{}
			switch err := r.Get(ctx, types.NamespacedName{Name: ref.Name}, p); {
			case apierrors.IsNotFound(err), meta.IsNoMatchError(err):
				p = nil
			case err != nil:
				return nil, nil, err
			}
			params[c.Name] = p
		}
		if p == nil || p.Spec.NamespaceSelector == nil || (len(p.Spec.NamespaceSelector.MatchLabels) == 0 &&
			len(p.Spec.NamespaceSelector.MatchExpressions) == 0) {
			continue
		}
		if _, ok := nsLabels[key.Namespace]; ok {
			continue
		}
		// Read live, only for the namespaces a selector judges: caching every Namespace cluster-wide for this
		// would cost memory in every cluster. A relabelled namespace is seen on the stack's next reconcile.
		ns := &corev1.Namespace{}
		if err := reader.Get(ctx, types.NamespacedName{Name: key.Namespace}, ns); err != nil {
			return nil, nil, err
		}
		nsLabels[key.Namespace] = ns.Labels
	}
	for name, p := range params {
		if p == nil {
			delete(params, name)
		}
	}
	return params, nsLabels, nil
}

// watchClassParams reconciles the stacks of a class when its IngressClassParams change. Without the CRD (the chart
// did not install it and no other controller did), there is nothing to watch: a class naming one refuses its
// Ingresses as not found, and the watch starts with the controller once the CRD exists.
func (r *Reconciler) watchClassParams(mgr ctrl.Manager, b *builder.Builder) *builder.Builder {
	gvk := elbv2.GroupVersion.WithKind("IngressClassParams")
	if _, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
		mgr.GetLogger().Info("IngressClassParams are not served by this cluster: classes naming one refuse their Ingresses",
			"reason", err.Error())
		return b
	}
	return b.Watches(&elbv2.IngressClassParams{}, handler.EnqueueRequestsFromMapFunc(r.stacksOfParams))
}
