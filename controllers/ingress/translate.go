package ingress

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// Input is everything translation reads: the members of one stack and the Services they refer to.
type Input struct {
	ClusterName string
	Stack       string
	Ingresses   []*networkingv1.Ingress
	Services    map[types.NamespacedName]*corev1.Service
	// Classes are the IngressClass serving each member; absent for members served through the legacy annotation.
	Classes map[types.NamespacedName]*networkingv1.IngressClass
	// ClassParams are the IngressClassParams by the name of the IngressClass that names them; a class whose
	// object is missing has no entry (classparams.go).
	ClassParams map[string]*elbv2.IngressClassParams
	// NamespaceLabels are the labels of the namespaces that a class's namespaceSelector judges.
	NamespaceLabels map[string]map[string]string
	// Applied are the members that the last applied model included, from the stack's record: they take
	// precedence in a conflict over group-wide settings.
	Applied map[types.NamespacedName]bool
	// Kept are the applied members' contributions to the last applied model, encoded, from the stack's record.
	Kept map[types.NamespacedName]string
	// Held are members that carry the finalizer but that cloudlb no longer serves (their class is gone or
	// another's): their part of the load balancer is left as it was applied (Kept), never translated anew.
	Held map[types.NamespacedName]bool
	// ExternalManagedTags are tag keys no member may set (--external-managed-tags).
	ExternalManagedTags []string
	// DisableGroupNameAnnotation refuses group.name to Ingresses not already applied members of its group.
	DisableGroupNameAnnotation bool
	// DefaultTargetType is the target type of a backend whose annotations set none; empty means instance.
	DefaultTargetType cloud.TargetType
	// DefaultBackendRules is manage-backend-security-group-rules for a group whose members set none
	// (--enable-manage-backend-security-group-rules).
	DefaultBackendRules bool
	// Secrets are the Secrets that members and their Services name for OIDC (auth.go); a missing one has no entry.
	Secrets map[types.NamespacedName]*corev1.Secret

	// kept is Kept decoded, once per Translate: precedence, the fallback of a failed member, the listener and
	// address-family defaults and the applied client secrets all read it, and a decode is a gunzip and a JSON parse.
	kept map[types.NamespacedName]*member
}

// keptMember is the decoded Kept contribution of key, nil when there is none or it does not read.
func (in Input) keptMember(key types.NamespacedName) *member {
	if in.kept == nil {
		return decodeMember(in.Kept[key])
	}
	return in.kept[key]
}

// errHeld leaves a held member's part of the load balancer as it was applied.
var errHeld = errors.New("cloudlb no longer serves this Ingress: its rules are left as they were")

// Output is the model of one stack, built from its valid members. A member that fails is left out, with its
// error, and does not stop the others.
type Output struct {
	// LoadBalancer is nil when no member is valid.
	LoadBalancer *cloud.LoadBalancer
	// Members are the members the model was built from, in model order.
	Members []*networkingv1.Ingress
	// Errors are the members left out, and why.
	Errors map[types.NamespacedName]error
	// Warnings are non-fatal findings per member.
	Warnings map[types.NamespacedName][]string
	// Notices name the annotations no controller reads (typos), per member, valid or not. Unlike Warnings they
	// do not depend on an apply: an ignored key changes nothing in the model.
	Notices map[types.NamespacedName]string
	// Bindings say which Service port feeds each target group, for the targets reconciler.
	Bindings []v1alpha1.TargetGroupBinding
	// Models are the encoded contributions of Members, to keep on the record once applied. A member that has
	// one but also an entry in Errors is served as it was last applied (see Translate).
	Models map[types.NamespacedName]string
}

// ServiceError says a backend Service, or its port, cannot be resolved.
type ServiceError struct {
	Service types.NamespacedName
	Port    string
	Missing string // "service" or "port"
}

func (e *ServiceError) Error() string {
	if e.Missing == "port" {
		return fmt.Sprintf("service %s has no port %s", e.Service, e.Port)
	}
	return fmt.Sprintf("service %s not found", e.Service)
}

// Translate builds the provider-neutral model of a stack. It is pure: the same input gives the same model.
//
// Members are ordered by group.order, then namespace/name: rules of a lower order come first on every listener,
// and within a member its own rules keep the order Ingress semantics need. Which members are accepted is decided
// in another order, precedence: the members the last applied model included (Input.Applied) come first, so that a
// member joining with conflicting group-wide settings is the one left out, never a member already served.
//
// One member never breaks the others: a member that fails (invalid, a backend missing, a conflict, past the rule
// quota) is left out, and when it was applied before, its contribution to the last applied model (Input.Kept,
// from the record, so it survives a restart) takes its place: its rules stay as they were until it is valid
// again. The provider sees one whole model either way, so no plan has to know which rules to spare.
func Translate(in Input) Output {
	out := Output{Errors: map[types.NamespacedName]error{}, Warnings: map[types.NamespacedName][]string{},
		Notices: map[types.NamespacedName]string{}, Models: map[types.NamespacedName]string{}}
	in.kept = make(map[types.NamespacedName]*member, len(in.Kept))
	for key, enc := range in.Kept {
		if m := decodeMember(enc); m != nil {
			in.kept[key] = m
		}
	}
	ings := slices.Clone(in.Ingresses)
	slices.SortFunc(ings, func(a, b *networkingv1.Ingress) int {
		return cmp.Or(cmp.Compare(memberOrder(a), memberOrder(b)), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	type translated struct {
		m   *member
		err error
	}
	fresh := map[types.NamespacedName]translated{}
	for _, ing := range ings {
		key := types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}
		if in.Held[key] {
			fresh[key] = translated{nil, errHeld}
			continue
		}
		m, err := translateMember(in, ing)
		fresh[key] = translated{m, err}
	}
	// Precedence: applied members whose group-wide settings did not change since they were applied, then applied
	// members that changed them, then new members; group order within each.
	rank := func(i *networkingv1.Ingress) int {
		key := types.NamespacedName{Namespace: i.Namespace, Name: i.Name}
		if !in.Applied[key] {
			return 2
		}
		if kept, now := in.keptMember(key), fresh[key].m; kept != nil && now != nil && kept.groupWide() != now.groupWide() {
			return 1
		}
		return 0
	}
	precedence := slices.Clone(ings)
	slices.SortStableFunc(precedence, func(a, b *networkingv1.Ingress) int { return cmp.Compare(rank(a), rank(b)) })

	g := newGroup()
	accepted := map[types.NamespacedName]*member{}
	for _, ing := range precedence {
		key := types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}
		if n := notices(in, ing); n != "" && !in.Held[key] {
			out.Notices[key] = n
		}
		m, err := fresh[key].m, fresh[key].err
		if n := len(m.ruleList()); err == nil && g.rules+n > ruleQuota {
			err = fmt.Errorf("its %d rules would take the group's load balancer to %d rules, past the ALB quota of %d", n, g.rules+n, ruleQuota)
		}
		if err == nil {
			err = g.merge(key, m)
		}
		if err != nil {
			out.Errors[key] = err
			// The kept contribution fitted the group when it was applied; it still must, or it goes too.
			if kept := in.keptMember(key); kept != nil && g.rules+len(kept.ruleList()) <= ruleQuota && g.merge(key, kept) == nil {
				accepted[key] = kept
				out.Models[key] = in.Kept[key]
			}
			continue
		}
		accepted[key] = m
	}
	if len(accepted) == 0 {
		return out
	}
	// Model order is the order of what is used: a member served as it was keeps its place.
	slices.SortStableFunc(ings, func(a, b *networkingv1.Ingress) int {
		order := func(i *networkingv1.Ingress) int32 {
			if m := accepted[types.NamespacedName{Namespace: i.Namespace, Name: i.Name}]; m != nil {
				return m.order
			}
			return 0
		}
		return cmp.Or(cmp.Compare(order(a), order(b)), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})

	lb := g.settings.model(in)
	var rules []orderedRule
	var defaultAction *cloud.Action
	listeners := map[int32]*cloud.Listener{}
	for _, ing := range ings {
		key := types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}
		m := accepted[key]
		if m == nil {
			continue
		}
		if out.Errors[key] == nil {
			out.Warnings[key] = append(slices.Clone(m.warnings), ipv6OnlyWarnings(in, lb, m)...)
			if w := authOnPlainListener(m); w != "" && g.settings.SSLRedirect == "" {
				out.Warnings[key] = append(out.Warnings[key], w)
			}
		}
		for _, lp := range m.listeners {
			l, ok := listeners[lp.Port]
			if !ok {
				l = &cloud.Listener{Port: lp.Port, Protocol: lp.Protocol}
				listeners[lp.Port] = l
			}
			// merge lets a member without ssl-policy share a listener with one that has it; the policy wins.
			l.SSLPolicy = cmp.Or(l.SSLPolicy, lp.SSLPolicy)
			*l = mergeListener(*l, lp)
			l.Certificates = appendNew(l.Certificates, lp.Certificates...)
			l.CertificateHosts = appendNew(l.CertificateHosts, lp.CertificateHosts...)
			l.CreateCertificates = appendNewRequests(l.CreateCertificates, lp.CreateCertificates...)
		}
		// Each member's rules are ordered on their own, then follow the rules of the members before it: a member
		// that joins or leaves moves no other member's rules relative to one another.
		slices.SortStableFunc(m.rules, compareRules)
		if w := reordered(in.keptMember(key), m); w != "" && out.Errors[key] == nil {
			out.Warnings[key] = append(out.Warnings[key], w)
		}
		for _, r := range m.rules {
			r.ports = m.ports()
			rules = append(rules, r)
		}
		if m.defaultAction != nil {
			defaultAction = m.defaultAction
		}
		maps.Copy(lb.Tags, m.tags)
		lb.TargetGroups = append(lb.TargetGroups, m.targetGroups...)
		out.Bindings = append(out.Bindings, m.bindings...)
		out.Members = append(out.Members, ing)
		if _, kept := out.Models[key]; !kept {
			out.Models[key] = m.encode()
		}
	}

	notFound := cloud.Action{Type: cloud.ActionFixedResponse,
		FixedResponse: &cloud.FixedResponse{StatusCode: 404, ContentType: "text/plain"}}
	fallback := notFound
	if defaultAction != nil {
		fallback = *defaultAction
	}
	for _, port := range slices.Sorted(maps.Keys(listeners)) {
		l := listeners[port]
		l.DefaultAction = fallback
		// ssl-redirect, as in the AWS Load Balancer Controller: an HTTP listener redirects everything, so it
		// has no rules.
		redirect := g.settings.SSLRedirect != "" && l.Protocol == cloud.ProtocolHTTP
		if redirect {
			l.DefaultAction = sslRedirectAction(g.settings.SSLRedirect)
		}
		// Fail closed: an ALB authenticates on HTTPS only, so an HTTP listener never forwards to a backend that
		// asks for authentication. A redirect or fixed response needs none there, as in LBC.
		plain := l.Protocol != cloud.ProtocolHTTPS
		if act, ok := onListener(l.DefaultAction, plain); ok {
			l.DefaultAction = act
		} else {
			l.DefaultAction = notFound
		}
		for _, r := range rules {
			act, ok := onListener(r.rule.Action, plain)
			if !redirect && ok && slices.Contains(r.ports, port) && keepRule(l, l.Rules, r.rule) {
				r.rule.Action = act
				r.rule.Priority = int32(len(l.Rules) + 1)
				l.Rules = append(l.Rules, r.rule)
			}
		}
		if len(l.Certificates) > 0 {
			l.CertificateHosts = nil
		} else {
			slices.Sort(l.CertificateHosts)
		}
		lb.Listeners = append(lb.Listeners, *l)
	}
	slices.SortFunc(lb.TargetGroups, func(a, b cloud.TargetGroup) int { return cmp.Compare(a.ID, b.ID) })
	lb.TargetGroups = slices.CompactFunc(lb.TargetGroups, func(a, b cloud.TargetGroup) bool { return a.ID == b.ID })
	slices.SortFunc(out.Bindings, func(a, b v1alpha1.TargetGroupBinding) int { return cmp.Compare(a.ID, b.ID) })
	out.Bindings = slices.CompactFunc(out.Bindings, func(a, b v1alpha1.TargetGroupBinding) bool { return a.ID == b.ID })
	settleFamilies(in, lb, out.Bindings)
	lb.ClientSecrets, lb.AppliedClientSecrets = clientSecrets(in), appliedClientSecrets(in)
	out.LoadBalancer = lb
	return out
}

// settings are the load-balancer-wide annotations; the members of a stack that set one must agree on it. An
// empty field is unset: the member takes the group's value.
type settings struct {
	Name           string
	Scheme         cloud.Scheme
	IPAddressType  cloud.IPAddressType
	Subnets        string
	SecurityGroups string
	InboundCIDRs   string
	// WAFv2ACL is an ARN, "none", or "" to leave the association alone.
	WAFv2ACL string
	// Shield is "true", "false", or "" to leave protection alone.
	Shield string
	// Attributes are the load balancer attributes, as sorted key=value pairs so that members compare.
	Attributes string
	// SSLRedirect is the HTTPS port every HTTP listener redirects to, group-wide as in the AWS Load Balancer
	// Controller; "" for none.
	SSLRedirect string `json:",omitempty"`
	// The options of lbopts.go; omitted when empty, so that the record of a member that sets none is unchanged.
	COIPPool     string `json:",omitempty"`
	IPAMPool     string `json:",omitempty"`
	MinCapacity  string `json:",omitempty"`
	PrefixLists  string `json:",omitempty"`
	WAFv2ACLName string `json:",omitempty"`
	// BackendRules is manage-backend-security-group-rules (backendsg.go).
	BackendRules string `json:",omitempty"`
}

func (s settings) model(in Input) *cloud.LoadBalancer {
	// Unset in every member: the defaults. Applied here, not when a member is read, so that a member that does
	// not set a value takes the group's instead of conflicting with it.
	s.Scheme = cmp.Or(s.Scheme, cloud.SchemeInternal)
	s.IPAddressType = cmp.Or(s.IPAddressType, cloud.IPAddressTypeIPv4)
	name := s.Name
	if name == "" {
		ns, n, _ := strings.Cut(in.Stack, "/")
		// The scheme is part of the key: AWS cannot change it in place, and a new name lets the replacement be
		// created before the old load balancer is deleted. So is a customer-owned pool, only when set, so that
		// the names of load balancers without one stay as they were.
		key := in.ClusterName + "\x00" + in.Stack + "\x00" + string(s.Scheme)
		if s.COIPPool != "" {
			key += "\x00" + s.COIPPool
		}
		name = cloud.Name(key, "k8s", ns, n)
	}
	split := func(v string) []string {
		if v == "" {
			return nil
		}
		return strings.Split(v, ",")
	}
	lb := &cloud.LoadBalancer{
		Stack:          in.Stack,
		Name:           name,
		Scheme:         s.Scheme,
		IPAddressType:  s.IPAddressType,
		Subnets:        split(s.Subnets),
		SecurityGroups: split(s.SecurityGroups),
		InboundCIDRs:   split(s.InboundCIDRs),
		Tags:           map[string]string{},
	}
	applySubnets(lb, s.Subnets)
	switch s.WAFv2ACL {
	case "":
	case "none":
		lb.WAFv2ACL = new(string)
	default:
		lb.WAFv2ACL = &s.WAFv2ACL
	}
	if s.Shield != "" {
		on := s.Shield == "true"
		lb.ShieldAdvanced = &on
	}
	attrs, _ := KeyValues(s.Attributes)
	lb.Attributes = KeyValueMap(attrs)
	s.lbOptionsModel(lb)
	s.backendRulesModel(lb, in.DefaultBackendRules)
	return lb
}

// orderedRule is a rule before priorities are given, with the sort keys that order it.
type orderedRule struct {
	rule cloud.Rule
	// leading is a catch-all redirect listed first (LBC's older ssl-redirect pattern): it goes before the
	// member's other rules, as it does in LBC, which keeps manifest order across hosts.
	leading  bool
	hostRank int // 0 exact host, 1 wildcard host, 2 any host
	pathRank int // 0 exact, 1 prefix, 2 ImplementationSpecific (manifest order)
	pathLen  int
	host     string
	path     string
	ports    []int32
}

// compareRules orders rules as Ingress semantics need them on a first-match load balancer: exact hosts before
// wildcard hosts before no host, exact paths before prefixes, longer prefixes before shorter, then
// ImplementationSpecific paths in manifest order, as LBC documents. Ties keep member and spec order (the sort
// is stable), so the order never depends on map iteration.
func compareRules(a, b orderedRule) int {
	if a.leading != b.leading {
		if a.leading {
			return -1
		}
		return 1
	}
	return cmp.Or(
		cmp.Compare(a.hostRank, b.hostRank),
		cmp.Compare(a.host, b.host),
		cmp.Compare(a.pathRank, b.pathRank),
		cmp.Compare(b.pathLen, a.pathLen),
		cmp.Compare(a.path, b.path),
	)
}

type member struct {
	order         int32
	settings      settings
	listeners     []cloud.Listener
	rules         []orderedRule
	targetGroups  []cloud.TargetGroup
	bindings      []v1alpha1.TargetGroupBinding
	defaultAction *cloud.Action
	tags          map[string]string
	warnings      []string
}

func (m *member) ports() []int32 {
	out := make([]int32, len(m.listeners))
	for i, l := range m.listeners {
		out[i] = l.Port
	}
	return out
}

func translateMember(in Input, ing *networkingv1.Ingress) (*member, error) {
	if err := unsupported(in, ing); err != nil {
		return nil, err
	}
	a, classWarnings, err := classAnnotations(in, ing)
	if err != nil {
		return nil, err
	}
	m := &member{warnings: classWarnings}
	if _, err := a.groupName(); err != nil {
		return nil, err
	}
	if err := refuseNewGroupName(in, ing); err != nil {
		return nil, err
	}
	if m.order, err = a.groupOrder(); err != nil {
		return nil, err
	}

	scheme, err := a.oneOf(annScheme, "", string(cloud.SchemeInternal), string(cloud.SchemeInternetFacing))
	if err != nil {
		return nil, err
	}
	ipType, err := a.oneOf(annIPAddressType, "", string(cloud.IPAddressTypeIPv4), string(cloud.IPAddressTypeDualStack),
		string(cloud.IPAddressTypeDualStackWithoutPublicIPv4))
	if err != nil {
		return nil, err
	}
	name, err := a.loadBalancerName()
	if err != nil {
		return nil, err
	}
	m.settings = settings{
		Name:           name,
		Scheme:         cloud.Scheme(scheme),
		IPAddressType:  cloud.IPAddressType(ipType),
		Subnets:        subnetsSetting(a),
		SecurityGroups: strings.Join(a.list(annSecurityGroups), ","),
		InboundCIDRs:   strings.Join(a.list(annInboundCIDRs), ","),
	}
	if m.settings.WAFv2ACL, err = a.wafv2ACL(); err != nil {
		return nil, err
	}
	if m.settings.Shield, err = a.oneOf(annShield, "", "true", "false"); err != nil {
		return nil, err
	}
	if err := m.readLBOptions(a); err != nil {
		return nil, err
	}
	if err := m.readBackendRules(a); err != nil {
		return nil, err
	}
	lbAttrs, err := a.attributes(annLBAttributes)
	if err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(lbAttrs)) {
		m.settings.Attributes += k + "=" + lbAttrs[k] + ","
	}
	m.settings.Attributes = strings.TrimSuffix(m.settings.Attributes, ",")
	if m.tags, err = a.tags(); err != nil {
		return nil, err
	}
	if err := refuseExternalTags(in, ing, m.tags); err != nil {
		return nil, err
	}

	certs, err := a.certificateARNs()
	if err != nil {
		return nil, err
	}
	certReq, err := a.certificateRequest(ing, len(certs) > 0)
	if err != nil {
		return nil, err
	}
	ports, err := a.listenPorts(len(certs) > 0 || certReq != nil)
	if err != nil {
		return nil, err
	}
	if keepsOldTLSDefault(in, ing, a, ports) {
		ports = []listenPort{{cloud.ProtocolHTTPS, 443}}
		m.warnings = append(m.warnings, fmt.Sprintf("spec.tls without %s or %s: the HTTPS:443 listener it was served on is kept; "+
			"set %s such as [{\"HTTPS\": 443}] to keep it for good (a new Ingress written so gets HTTP:80, as with the AWS Load Balancer Controller)",
			annCertificateARN, annListenPorts, annListenPorts))
	} else if w := tlsWithoutHTTPS(a, ing, ports); w != "" {
		m.warnings = append(m.warnings, w)
	}
	sslPolicy, err := a.sslPolicy()
	if err != nil {
		return nil, err
	}
	if m.settings.SSLRedirect, err = a.sslRedirect(); err != nil {
		return nil, err
	}
	hosts := certificateHosts(ing)
	for _, p := range ports {
		l := cloud.Listener{Port: p.Port, Protocol: p.Protocol}
		if p.Protocol == cloud.ProtocolHTTPS {
			l.Certificates = certs
			l.CertificateHosts = hosts
			l.SSLPolicy = sslPolicy
			if certReq != nil {
				l.CertificateHosts, l.CreateCertificates = nil, []cloud.CertificateRequest{*certReq}
			}
		}
		m.listeners = append(m.listeners, l)
	}
	if err := a.listenerSettings(annotations(ing.Annotations), m.listeners); err != nil {
		return nil, err
	}

	// Read once for the Ingress, so that an invalid value fails it whatever its backends.
	tgSettings, err := a.backendSettings(in.DefaultTargetType)
	if err != nil {
		return nil, err
	}
	backends := &backendResolver{in: in, ing: ing, a: a, settings: tgSettings, classTargetType: classTargetType(in, ing), m: m}
	routes, err := newRoutes(a, backends)
	if err != nil {
		return nil, err
	}

	if ing.Spec.DefaultBackend != nil {
		act, err := routes.action(ing.Spec.DefaultBackend)
		if err != nil {
			return nil, err
		}
		m.defaultAction = &act
	}
	for i, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for j, path := range rule.HTTP.Paths {
			r, err := routes.rule(rule.Host, path)
			if err != nil {
				return nil, err
			}
			r.leading = i == 0 && j == 0 && leadingRedirect(r.rule)
			m.rules = append(m.rules, r)
		}
	}
	if err := routes.unused(); err != nil {
		return nil, err
	}
	return m, nil
}

func orderRule(host string, path networkingv1.HTTPIngressPath, act cloud.Action, useRegex bool) (orderedRule, error) {
	// Host names are case-insensitive: order by the lower-cased name so that "A.com" and "a.com" rules interleave
	// by path length instead of "B.com" sorting between them.
	host = strings.ToLower(host)
	r := orderedRule{rule: cloud.Rule{Action: act}, hostRank: 2, host: host, path: path.Path}
	if host != "" {
		r.hostRank = 0
		if strings.HasPrefix(host, "*.") {
			r.hostRank = 1
		}
		r.rule.Conditions = append(r.rule.Conditions,
			cloud.Condition{Type: cloud.ConditionHost, Values: []string{host}})
	}
	pathType := networkingv1.PathTypeImplementationSpecific
	if path.PathType != nil {
		pathType = *path.PathType
	}
	match := cloud.PathPrefix
	r.pathRank = 1
	switch pathType {
	case networkingv1.PathTypeExact:
		match, r.pathRank = cloud.PathExact, 0
	case networkingv1.PathTypeImplementationSpecific:
		// The AWS Load Balancer Controller passes these through as ALB path patterns ("/*", "/api/*"), after the
		// Exact and Prefix paths of the same host, in manifest order (the sort is stable and the keys tie).
		match, r.pathRank, r.path = cloud.PathPattern, 2, ""
	}
	p := path.Path
	if useRegex && match == cloud.PathPattern && p != "" {
		// use-regex-path-match: the path after its leading / is a regular expression, as LBC reads it.
		if !strings.HasPrefix(p, "/") || len(p) < 2 || len(p) > 129 {
			return r, fmt.Errorf("regex path %q must be / followed by 1 to 128 characters of regular expression", p)
		}
		r.rule.Conditions = append(r.rule.Conditions, cloud.Condition{Type: cloud.ConditionPath, PathMatch: match, Values: []string{p[1:]}, Regex: true})
		return r, nil
	}
	switch {
	case p == "" && match == cloud.PathPattern:
		// An omitted path means every path; the pattern "/" would match only the root.
		p = "/*"
	case p == "":
		p = "/"
	}
	if !strings.HasPrefix(p, "/") {
		return r, fmt.Errorf("path %q must start with /", p)
	}
	// ALB path patterns are at most 128 characters of a restricted set, and treat * and ? as wildcards, which
	// an Exact or Prefix path must not contain. A path the cloud would refuse fails this member only.
	if !albPathRE.MatchString(p) || len(p) > 126 {
		return r, fmt.Errorf("path %q: a load balancer path has at most 126 of the characters A-Z a-z 0-9 _ - . $ / ~ \" ' @ : + &", p)
	}
	if match != cloud.PathPattern && strings.ContainsAny(p, "*?") {
		return r, fmt.Errorf("path %q: * and ? are wildcards on a load balancer; use pathType ImplementationSpecific for a pattern", p)
	}
	if match != cloud.PathPattern {
		r.pathLen = len(strings.TrimRight(p, "*"))
	}
	r.rule.Conditions = append(r.rule.Conditions, cloud.Condition{Type: cloud.ConditionPath, PathMatch: match, Values: []string{p}})
	return r, nil
}

var albPathRE = regexp.MustCompile(`^[A-Za-z0-9_\-.$/~"'@:+&*?]+$`)

// certificateHosts are the hosts an HTTPS listener needs certificates for: TLS hosts, then rule hosts.
func certificateHosts(ing *networkingv1.Ingress) []string {
	var hosts []string
	for _, t := range ing.Spec.TLS {
		hosts = appendNew(hosts, lower(t.Hosts)...)
	}
	for _, r := range ing.Spec.Rules {
		if r.Host != "" {
			hosts = appendNew(hosts, strings.ToLower(r.Host))
		}
	}
	return hosts
}

// backendResolver turns Ingress backends into forward actions and target groups.
type backendResolver struct {
	in  Input
	ing *networkingv1.Ingress
	// a are the Ingress's annotations with its class's values; settings what they say for target groups.
	a        annotations
	settings backendSettings
	// classTargetType: the class sets the target type, which a Service does not override.
	classTargetType bool
	// services caches the settings of Services that override some (backends.go).
	services map[types.NamespacedName]backendSettings
	m        *member
}

func (b *backendResolver) forward(be *networkingv1.IngressBackend) (cloud.Action, error) {
	if be.Service == nil {
		return cloud.Action{}, fmt.Errorf("backend %s is not a Service; only Service backends are supported", describeBackend(be))
	}
	key := types.NamespacedName{Namespace: b.ing.Namespace, Name: be.Service.Name}
	portRef := be.Service.Port.Name
	if portRef == "" {
		portRef = strconv.Itoa(int(be.Service.Port.Number))
	}
	svc, ok := b.in.Services[key]
	if !ok {
		return cloud.Action{}, &ServiceError{Service: key, Port: portRef, Missing: "service"}
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if (be.Service.Port.Name != "" && p.Name == be.Service.Port.Name) ||
			(be.Service.Port.Name == "" && p.Port == be.Service.Port.Number) {
			sp = p
			break
		}
	}
	if sp == nil {
		return cloud.Action{}, &ServiceError{Service: key, Port: portRef, Missing: "port"}
	}

	s, err := b.forService(key, svc)
	if err != nil {
		return cloud.Action{}, err
	}
	tg := cloud.TargetGroup{
		ID:              fmt.Sprintf("%s/%s/%s:%d", b.ing.Namespace, b.ing.Name, svc.Name, sp.Port),
		Protocol:        s.protocol,
		ProtocolVersion: s.version,
		TargetType:      s.targetType,
		HealthCheck:     s.hc,
		Attributes:      s.attributes,
	}
	if tg.HealthCheck.Port, err = healthCheckPort(s.hc, s.targetType, key, svc); err != nil {
		return cloud.Action{}, err
	}
	if tg.Tags, err = serviceTags(b.in, key, svc); err != nil {
		return cloud.Action{}, err
	}
	if s.targetType == cloud.TargetTypeIP && ipv6Service(svc) {
		tg.IPAddressType = cloud.TargetIPv6
	}
	switch {
	case s.targetType == cloud.TargetTypeIP && sp.TargetPort.IntValue() > 0:
		tg.Port = int32(sp.TargetPort.IntValue())
	case s.targetType == cloud.TargetTypeIP:
		// A named target port resolves per endpoint; the group's own port is only a default.
		tg.Port = sp.Port
	case sp.NodePort > 0:
		tg.Port = sp.NodePort
	default:
		tg.Port = sp.Port
		b.m.warnings = append(b.m.warnings, fmt.Sprintf(
			"service %s port %s has no NodePort, which target-type instance needs: use a NodePort Service or target-type ip", key, portRef))
	}
	auth, err := authFor(b.in, b.ing, svc)
	if err != nil {
		return cloud.Action{}, err
	}
	b.m.targetGroups = append(b.m.targetGroups, tg)
	b.m.bindings = append(b.m.bindings, v1alpha1.TargetGroupBinding{ID: tg.ID, ServiceNamespace: key.Namespace, ServiceName: key.Name,
		ServicePort: sp.Port, TargetType: string(s.targetType), NodeSelector: s.nodeSelector, IPAddressType: tg.IPAddressType})
	return cloud.Action{Type: cloud.ActionForward, Forward: []cloud.WeightedTargetGroup{{TargetGroupID: tg.ID, Weight: 1}},
		Authenticate: auth}, nil
}

func describeBackend(be *networkingv1.IngressBackend) string {
	if be.Resource != nil {
		return be.Resource.Kind + "/" + be.Resource.Name
	}
	return "(empty)"
}

// group accumulates, in precedence order, what the accepted members of a stack set group-wide, and who set it,
// so that a conflict names the setting and the member it conflicts with.
type group struct {
	settings      settings
	from          map[string]types.NamespacedName // annotation -> the member that set it
	listeners     map[int32]cloud.Listener
	listenerFrom  map[int32]types.NamespacedName
	tags          map[string]string
	tagFrom       map[string]types.NamespacedName
	defaultAction *types.NamespacedName
	// rules counts the listener rules of the accepted members.
	rules int
}

// ruleQuota is the ALB's default quota of rules per load balancer, over all listeners, default rules not
// included. A member that would pass it is left out before the provider is called, not the whole group.
const ruleQuota = 100

// ruleList is every listener rule the member asks for: each of its rules on each of its listeners. Nil-safe.
func (m *member) ruleList() []int32 {
	if m == nil {
		return nil
	}
	var out []int32
	for range m.rules {
		for _, l := range m.listeners {
			// Under ssl-redirect an HTTP listener only redirects: it gets no rules.
			if m.settings.SSLRedirect == "" || l.Protocol != cloud.ProtocolHTTP {
				out = append(out, l.Port)
			}
		}
	}
	return out
}

func newGroup() *group {
	return &group{from: map[string]types.NamespacedName{}, listeners: map[int32]cloud.Listener{},
		listenerFrom: map[int32]types.NamespacedName{}, tags: map[string]string{}, tagFrom: map[string]types.NamespacedName{}}
}

// fields lists the group-wide settings by annotation.
func (s *settings) fields() []struct {
	ann string
	v   *string
} {
	return []struct {
		ann string
		v   *string
	}{
		{annLoadBalancerName, &s.Name}, {annScheme, (*string)(&s.Scheme)}, {annIPAddressType, (*string)(&s.IPAddressType)},
		{annSubnets, &s.Subnets}, {annSecurityGroups, &s.SecurityGroups}, {annInboundCIDRs, &s.InboundCIDRs},
		{annWAFv2ACLARN, &s.WAFv2ACL}, {annShield, &s.Shield}, {annLBAttributes, &s.Attributes},
		{annSSLRedirect, &s.SSLRedirect},
		{annCOIPPool, &s.COIPPool}, {annIPAMPool, &s.IPAMPool}, {annMinCapacity, &s.MinCapacity},
		{annPrefixLists, &s.PrefixLists}, {annWAFv2ACLName, &s.WAFv2ACLName},
		{annManageBackendRules, &s.BackendRules},
	}
}

// merge accepts member m into the group unless a value it sets differs from one an accepted member set; the
// group is changed only when m is accepted.
func (g *group) merge(key types.NamespacedName, m *member) error {
	conflict := func(what, mine, theirs string, other types.NamespacedName) error {
		return fmt.Errorf("%s is %q here but %q on member %s of the same group; the member already accepted wins", what, mine, theirs, other)
	}
	have, want := g.settings.fields(), m.settings.fields()
	for i, f := range want {
		if *f.v != "" && *have[i].v != "" && *have[i].v != *f.v {
			return conflict("annotation "+f.ann, *f.v, *have[i].v, g.from[f.ann])
		}
	}
	if err := lbOptionsConflict(g.settings, m.settings, g.from); err != nil {
		return err
	}
	for k, v := range m.tags {
		if old, ok := g.tags[k]; ok && old != v {
			return conflict(fmt.Sprintf("annotation %s key %s", annTags, k), v, old, g.tagFrom[k])
		}
	}
	for _, l := range m.listeners {
		h, ok := g.listeners[l.Port]
		if !ok {
			continue
		}
		if h.Protocol != l.Protocol {
			return conflict(fmt.Sprintf("listen port %d", l.Port), string(l.Protocol), string(h.Protocol), g.listenerFrom[l.Port])
		}
		if l.SSLPolicy != "" && h.SSLPolicy != "" && l.SSLPolicy != h.SSLPolicy {
			return conflict(fmt.Sprintf("ssl-policy on port %d", l.Port), l.SSLPolicy, h.SSLPolicy, g.listenerFrom[l.Port])
		}
		if err := listenerConflicts(l, h, g.listenerFrom[l.Port], conflict); err != nil {
			return err
		}
	}
	if m.defaultAction != nil && g.defaultAction != nil {
		return fmt.Errorf("spec.defaultBackend is already set by member %s of the same group", *g.defaultAction)
	}
	if port := m.settings.SSLRedirect; port != "" {
		protocols := map[int32]cloud.Protocol{}
		for p, l := range g.listeners {
			protocols[p] = l.Protocol
		}
		for _, l := range m.listeners {
			protocols[l.Port] = l.Protocol
		}
		if err := sslRedirectTarget(port, protocols); err != nil {
			return err
		}
	}

	for i, f := range want {
		if *f.v != "" && *have[i].v == "" {
			*have[i].v, g.from[f.ann] = *f.v, key
		}
	}
	for k, v := range m.tags {
		if _, ok := g.tags[k]; !ok {
			g.tags[k], g.tagFrom[k] = v, key
		}
	}
	for _, l := range m.listeners {
		h, ok := g.listeners[l.Port]
		if !ok {
			g.listeners[l.Port], g.listenerFrom[l.Port] = cloud.Listener{Port: l.Port, Protocol: l.Protocol, SSLPolicy: l.SSLPolicy}, key
			h = g.listeners[l.Port]
		} else if h.SSLPolicy == "" {
			h.SSLPolicy = l.SSLPolicy
		}
		g.listeners[l.Port] = mergeListener(h, l)
	}
	if m.defaultAction != nil {
		g.defaultAction = &key
	}
	g.rules += len(m.ruleList())
	return nil
}

// memberModel is the part of a member that the model is built from, as kept on the record: its rules are in
// the member's own order already, and their sort keys are not kept (a stable sort leaves them in place).
type memberModel struct {
	Order         int32                         `json:"o,omitempty"`
	Settings      settings                      `json:"s"`
	Listeners     []cloud.Listener              `json:"l,omitempty"`
	Rules         []cloud.Rule                  `json:"r,omitempty"`
	TargetGroups  []cloud.TargetGroup           `json:"t,omitempty"`
	Bindings      []v1alpha1.TargetGroupBinding `json:"b,omitempty"`
	DefaultAction *cloud.Action                 `json:"d,omitempty"`
	Tags          map[string]string             `json:"g,omitempty"`
}

// encode gives the member's contribution as gzipped JSON in base64: deterministic, so that an unchanged member
// leaves the record unchanged.
func (m *member) encode() string {
	mm := memberModel{Order: m.order, Settings: m.settings, Listeners: m.listeners, TargetGroups: m.targetGroups, Bindings: m.bindings,
		DefaultAction: m.defaultAction, Tags: m.tags}
	for _, r := range m.rules {
		mm.Rules = append(mm.Rules, r.rule)
	}
	b, err := json.Marshal(mm)
	if err != nil {
		return "" // unreachable for plain data; nothing is kept
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// decodeMember reads a kept contribution; nil when there is none or it does not read (a record written by
// another version): the member is then simply left out.
func decodeMember(s string) *member {
	if s == "" {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(zr, 4<<20))
	if err != nil {
		return nil
	}
	var mm memberModel
	if err := json.Unmarshal(b, &mm); err != nil {
		return nil
	}
	m := &member{order: mm.Order, settings: mm.Settings, listeners: mm.Listeners, targetGroups: mm.TargetGroups, bindings: mm.Bindings,
		defaultAction: mm.DefaultAction, tags: mm.Tags}
	for _, r := range mm.Rules {
		m.rules = append(m.rules, orderedRule{rule: r})
	}
	return m
}

// groupWide sums up what the member sets that its group must agree on.
func (m *member) groupWide() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%+v|%v|%t", m.settings, m.tags, m.defaultAction != nil)
	for _, l := range m.listeners {
		fmt.Fprintf(&b, "|%d/%s/%s%s", l.Port, l.Protocol, l.SSLPolicy, listenerGroupWide(l))
	}
	return b.String()
}

// memberOrder is a member's group.order; an invalid one sorts as 0, and translation refuses the member.
func memberOrder(ing *networkingv1.Ingress) int32 {
	o, _ := annotations(ing.Annotations).groupOrder()
	return o
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}

func lower(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.ToLower(s)
	}
	return out
}

// onListener is the action a listener takes for act: on a listener that cannot authenticate (plain HTTP), a
// forward that asks for authentication has none (false), and other actions go without the authentication.
func onListener(act cloud.Action, plain bool) (cloud.Action, bool) {
	if !plain || act.Authenticate == nil {
		return act, true
	}
	if act.Type == cloud.ActionForward {
		return cloud.Action{}, false
	}
	act.Authenticate = nil
	return act, true
}

// reordered warns when the member's rules are the ones it was last applied with, in another order: cloudlb now
// keeps ImplementationSpecific paths in manifest order, as LBC does, where it used to sort them with the Prefix
// paths by length, so an upgrade can change which rule matches first without any change to the Ingress.
func reordered(old, m *member) string {
	if old == nil || old == m || len(old.rules) != len(m.rules) || len(m.rules) < 2 {
		return ""
	}
	conds := func(rs []orderedRule) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			b, _ := json.Marshal(r.rule.Conditions)
			out[i] = string(b)
		}
		return out
	}
	was, now := conds(old.rules), conds(m.rules)
	if slices.Equal(was, now) || !slices.Equal(slices.Sorted(slices.Values(was)), slices.Sorted(slices.Values(now))) {
		return ""
	}
	return "the order of this Ingress's rules changed with no change to its paths: ImplementationSpecific paths now keep " +
		"manifest order, as with the AWS Load Balancer Controller; list the more specific path first if it should match first"
}
