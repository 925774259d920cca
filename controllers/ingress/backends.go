package ingress

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

const (
	annBackendProtocol        = albPrefix + "backend-protocol"
	annBackendProtocolVersion = albPrefix + "backend-protocol-version"

	// grpcHealthCheckPath is the AWS Load Balancer Controller's default health check of a GRPC target group, a
	// method every gRPC target answers, with status 12 (unimplemented) counting as healthy.
	grpcHealthCheckPath = "/AWS.ALB/healthcheck"
)

// serviceKeys are the keys that LBC reads from a backend Service and cloudlb implements there: a Service's value
// replaces the Ingress's for the target groups of that Service.
var serviceKeys = map[string]bool{
	annTargetType: true, annBackendProtocol: true, annBackendProtocolVersion: true, annHCPath: true, annHCPort: true,
	annHCProtocol: true, annHCInterval: true, annHCTimeout: true, annHealthyCount: true, annUnhealthyCount: true,
	annSuccessCodes: true, annTGAttributes: true, annTargetNodeLabels: true,
}

// backendSettings are what the annotations set for the target groups of one backend Service.
type backendSettings struct {
	targetType cloud.TargetType
	protocol   cloud.Protocol
	// version is HTTP2 or GRPC; "" is HTTP1, so that a model without it is unchanged.
	version      string
	hc           cloud.HealthCheck
	nodeSelector map[string]string
	attributes   map[string]string
}

// backendSettings reads the target group annotations; def is the target type when none is set
// (--default-target-type).
func (a annotations) backendSettings(def cloud.TargetType) (backendSettings, error) {
	var s backendSettings
	tt, err := a.oneOf(annTargetType, string(cmp.Or(def, cloud.TargetTypeInstance)), string(cloud.TargetTypeInstance), string(cloud.TargetTypeIP))
	if err != nil {
		return s, err
	}
	s.targetType = cloud.TargetType(tt)
	proto, err := a.oneOf(annBackendProtocol, string(cloud.ProtocolHTTP), string(cloud.ProtocolHTTP), string(cloud.ProtocolHTTPS))
	if err != nil {
		return s, err
	}
	s.protocol = cloud.Protocol(proto)
	version, err := a.oneOf(annBackendProtocolVersion, "HTTP1", "HTTP1", cloud.ProtocolVersionHTTP2, cloud.ProtocolVersionGRPC)
	if err != nil {
		return s, err
	}
	if version != "HTTP1" {
		s.version = version
	}
	if s.hc, err = a.healthCheck(s.protocol, s.version); err != nil {
		return s, err
	}
	if s.nodeSelector, err = a.nodeSelector(); err != nil {
		return s, err
	}
	if s.attributes, err = a.attributes(annTGAttributes); err != nil {
		return s, err
	}
	return s, nil
}

var grpcCodesRE = regexp.MustCompile(`^\d{1,2}(-\d{1,2})?(,\d{1,2}(-\d{1,2})?)*$`)

// grpcCodes reads success-codes of a GRPC target group: gRPC status codes from 0 to 99, as a code, a range or a
// list ("12", "0-99", "0,12").
func (a annotations) grpcCodes() (string, error) {
	v := strings.ReplaceAll(a[annSuccessCodes], " ", "")
	ok := grpcCodesRE.MatchString(v)
	for _, item := range strings.Split(v, ",") {
		lo, hi, isRange := strings.Cut(item, "-")
		l, _ := strconv.Atoi(lo)
		h, _ := strconv.Atoi(hi)
		ok = ok && (!isRange || l <= h)
	}
	if !ok {
		return "", a.fail(annSuccessCodes, `must be gRPC codes from 0 to 99 such as "12", "0,12" or "0-99", since backend-protocol-version is GRPC`)
	}
	return v, nil
}

// forService returns the settings of svc's target groups: the Ingress's, unless the Service sets any of
// serviceKeys, whose values then replace the Ingress's, as in LBC. A target type from the IngressClassParams
// wins over the Service's too. An invalid value names the Service.
func (b *backendResolver) forService(key types.NamespacedName, svc *corev1.Service) (backendSettings, error) {
	if s, ok := b.services[key]; ok {
		return s, nil
	}
	own := maps.Clone(svc.Annotations)
	maps.DeleteFunc(own, func(k, _ string) bool { return !serviceKeys[k] || k == annTargetType && b.classTargetType })
	if len(own) == 0 {
		return b.settings, nil
	}
	merged := maps.Clone(b.a)
	if merged == nil {
		merged = annotations{}
	}
	maps.Copy(merged, own)
	s, err := merged.backendSettings(b.in.DefaultTargetType)
	if err != nil {
		return s, fmt.Errorf("backend Service %s: %w", key, err)
	}
	if b.services == nil {
		b.services = map[types.NamespacedName]backendSettings{}
	}
	b.services[key] = s
	return s, nil
}

// healthCheckPort resolves a named health check port as LBC does: to the NodePort of the Service port of that
// name for instance targets, to its target port number for ip targets.
func healthCheckPort(hc cloud.HealthCheck, tt cloud.TargetType, key types.NamespacedName, svc *corev1.Service) (string, error) {
	if _, err := strconv.Atoi(hc.Port); err == nil || hc.Port == "traffic-port" {
		return hc.Port, nil
	}
	fail := func(reason string, args ...any) error {
		return &AnnotationError{Key: annHCPort, Value: hc.Port, Reason: fmt.Sprintf("service %s ", key) + fmt.Sprintf(reason, args...)}
	}
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == hc.Port })
	switch {
	case i < 0:
		return "", fail("has no port named %s", hc.Port)
	case tt == cloud.TargetTypeInstance && svc.Spec.Ports[i].NodePort == 0:
		return "", fail("port %s has no NodePort, which target-type instance needs", hc.Port)
	case tt == cloud.TargetTypeInstance:
		return strconv.Itoa(int(svc.Spec.Ports[i].NodePort)), nil
	case svc.Spec.Ports[i].TargetPort.IntValue() == 0:
		return "", fail("port %s has a named targetPort, which a target-type ip health check port cannot name", hc.Port)
	default:
		return strconv.Itoa(svc.Spec.Ports[i].TargetPort.IntValue()), nil
	}
}

// ipv6Service says whether a Service has the IPv6 family (single- or dual-stack), which makes the target group
// of its ip targets IPv6 behind a dualstack load balancer (settleFamilies).
func ipv6Service(svc *corev1.Service) bool {
	return slices.Contains(svc.Spec.IPFamilies, corev1.IPv6Protocol)
}

// settleFamilies makes the target groups that translation marked IPv6 IPv4 again, with their bindings, unless
// the load balancer is dualstack: only a dualstack load balancer takes IPv6 targets. Decided on the merged model,
// because the address type is group-wide and a member may leave it to another.
//
// A target group applied as IPv4 whose Service still has the IPv4 family stays IPv4: cloudlb made IPv4 groups for
// dualstack Services before it followed LBC here, and an upgrade must not replace a serving group by one of
// another family whose targets may never turn healthy.
func settleFamilies(in Input, lb *cloud.LoadBalancer, bindings []v1alpha1.TargetGroupBinding) {
	dualstack := strings.HasPrefix(string(lb.IPAddressType), string(cloud.IPAddressTypeDualStack))
	appliedIPv4 := map[string]bool{}
	if dualstack {
		for key := range in.Kept {
			if m := in.keptMember(key); m != nil {
				for _, tg := range m.targetGroups {
					appliedIPv4[tg.ID] = tg.IPAddressType == ""
				}
			}
		}
	}
	keepIPv4 := func(id string) bool {
		if !dualstack {
			return true
		}
		i := slices.IndexFunc(bindings, func(b v1alpha1.TargetGroupBinding) bool { return b.ID == id })
		if i < 0 || !appliedIPv4[id] {
			return false
		}
		svc := in.Services[types.NamespacedName{Namespace: bindings[i].ServiceNamespace, Name: bindings[i].ServiceName}]
		return svc != nil && slices.Contains(svc.Spec.IPFamilies, corev1.IPv4Protocol)
	}
	for i := range lb.TargetGroups {
		if keepIPv4(lb.TargetGroups[i].ID) {
			lb.TargetGroups[i].IPAddressType = ""
		}
	}
	for i := range bindings {
		if keepIPv4(bindings[i].ID) {
			bindings[i].IPAddressType = ""
		}
	}
}

// ipv6OnlyWarnings name the Services of m with ip targets and only the IPv6 family behind a load balancer that is
// not dualstack: their IPv4 target group can get no target.
func ipv6OnlyWarnings(in Input, lb *cloud.LoadBalancer, m *member) []string {
	if strings.HasPrefix(string(lb.IPAddressType), string(cloud.IPAddressTypeDualStack)) {
		return nil
	}
	var out []string
	for _, b := range m.bindings {
		svc := in.Services[types.NamespacedName{Namespace: b.ServiceNamespace, Name: b.ServiceName}]
		if b.IPAddressType == cloud.TargetIPv6 && svc != nil && !slices.Contains(svc.Spec.IPFamilies, corev1.IPv4Protocol) {
			out = append(out, fmt.Sprintf("service %s/%s has only the IPv6 family, whose endpoints cannot register in the IPv4 "+
				"target group of a load balancer that is not dualstack: set ip-address-type dualstack", b.ServiceNamespace, b.ServiceName))
		}
	}
	return out
}

// classTargetType says whether the IngressClassParams of ing's class set the target type, which then wins over a
// backend Service's annotation as over the Ingress's.
func classTargetType(in Input, ing *networkingv1.Ingress) bool {
	c := in.Classes[types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}]
	if c == nil {
		return false
	}
	p := in.ClassParams[c.Name]
	return p != nil && p.Spec.TargetType != ""
}

// serviceNotice names, in one sentence, the alb.ingress.kubernetes.io/ annotations of ing's backend Services that
// nothing reads from a Service (Ingress-only keys, typos): LBC ignores them, and so does cloudlb, with a notice.
// Refused keys are not among them: unsupported refuses those.
func serviceNotice(in Input, ing *networkingv1.Ingress) string {
	var keys []string
	seen := map[types.NamespacedName]bool{}
	for _, s := range backendServices(ing) {
		svc, ok := in.Services[s]
		if !ok || seen[s] {
			continue
		}
		seen[s] = true
		for k := range svc.Annotations {
			if st := statusOf(k); st != 0 && st != refused && !serviceKeys[k] && k != annTags && !slices.Contains(authKeys, k) {
				keys = append(keys, k+" (Service "+s.String()+")")
			}
		}
	}
	if len(keys) == 0 {
		return ""
	}
	slices.Sort(keys)
	return fmt.Sprintf("backend Service annotations %s are not read from a Service by cloudlb or by the AWS Load Balancer Controller, and are ignored",
		strings.Join(keys, ", "))
}

// notices joins what unknownAnnotations says of the Ingress and serviceNotice of its Services.
func notices(in Input, ing *networkingv1.Ingress) string {
	return strings.TrimSpace(unknownAnnotations(ing.Annotations) + " " + serviceNotice(in, ing))
}

// serviceTags reads the tags annotation of a backend Service: tags of that Service's target groups, over the
// Ingress's (--default-tags still win), as in LBC. A key managed outside cloudlb is refused, as on the Ingress.
func serviceTags(in Input, key types.NamespacedName, svc *corev1.Service) (map[string]string, error) {
	a := annotations(svc.Annotations)
	tags, err := a.tags()
	if err != nil {
		return nil, fmt.Errorf("backend Service %s: %w", key, err)
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if slices.Contains(in.ExternalManagedTags, k) {
			return nil, fmt.Errorf("backend Service %s: %w", key,
				a.fail(annTags, "tag key %q is managed outside cloudlb (--external-managed-tags): cloudlb never sets it", k))
		}
	}
	return tags, nil
}
