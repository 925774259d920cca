package ingress

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/cloudlb/cloudlb/cloud"
)

// Fixtures. Every Ingress lives in namespace "ns". Service "web" has a NodePort and a numeric target port,
// "api" has a NodePort and a named target port, "headless" has no NodePort.

func svcPort(name string, port, nodePort int32, target intstr.IntOrString) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, NodePort: nodePort, TargetPort: target}
}

func testServices() map[types.NamespacedName]*corev1.Service {
	out := map[types.NamespacedName]*corev1.Service{}
	for _, s := range []struct {
		name string
		port corev1.ServicePort
	}{
		{"web", svcPort("http", 80, 30080, intstr.FromInt32(8080))},
		{"api", svcPort("grpc", 9000, 30090, intstr.FromString("grpc-port"))},
		{"headless", svcPort("http", 80, 0, intstr.FromInt32(8080))},
	} {
		out[types.NamespacedName{Namespace: "ns", Name: s.name}] = &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: s.name},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{s.port}},
		}
	}
	return out
}

// backend refers to a Service port by number (int) or by name (string).
func backend(svc string, port any) networkingv1.IngressBackend {
	b := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc}}
	switch p := port.(type) {
	case int:
		b.Service.Port.Number = int32(p)
	case string:
		b.Service.Port.Name = p
	}
	return b
}

func httpPath(p string, pt networkingv1.PathType, be networkingv1.IngressBackend) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: p, PathType: &pt, Backend: be}
}

func rule(host string, paths ...networkingv1.HTTPIngressPath) networkingv1.IngressRule {
	return networkingv1.IngressRule{Host: host,
		IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}}
}

func ingress(name string, ann map[string]string, rules ...networkingv1.IngressRule) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Annotations: ann},
		Spec:       networkingv1.IngressSpec{Rules: rules},
	}
}

// webIngress is the smallest valid member: one hostless Prefix "/" to web:80.
func webIngress(name string, ann map[string]string) *networkingv1.Ingress {
	return ingress(name, ann, rule("", httpPath("/", networkingv1.PathTypePrefix, backend("web", 80))))
}

func input(ings ...*networkingv1.Ingress) Input {
	return Input{ClusterName: "c1", Stack: "ns/" + ings[0].Name, Ingresses: ings, Services: testServices()}
}

func key(name string) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: name} }

// ruleView is the part of a rule that ordering tests care about, readable in a table.
type ruleView struct {
	Priority int32
	Host     string
	Match    cloud.PathMatch
	Path     string
	Target   string
}

func viewRules(l cloud.Listener) []ruleView {
	var out []ruleView
	for _, r := range l.Rules {
		v := ruleView{Priority: r.Priority}
		for _, c := range r.Conditions {
			switch c.Type {
			case cloud.ConditionHost:
				v.Host = strings.Join(c.Values, ",")
			case cloud.ConditionPath:
				v.Match, v.Path = c.PathMatch, strings.Join(c.Values, ",")
			}
		}
		if len(r.Action.Forward) == 1 {
			v.Target = r.Action.Forward[0].TargetGroupID
		}
		out = append(out, v)
	}
	return out
}

func listener(lb *cloud.LoadBalancer, port int32) cloud.Listener {
	for _, l := range lb.Listeners {
		if l.Port == port {
			return l
		}
	}
	return cloud.Listener{}
}

func TestTranslatePathTypes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		path     string
		pathType *networkingv1.PathType
		match    cloud.PathMatch
		value    string
	}{
		{"exact", "/x", ptr.To(networkingv1.PathTypeExact), cloud.PathExact, "/x"},
		{"prefix", "/x", ptr.To(networkingv1.PathTypePrefix), cloud.PathPrefix, "/x"},
		{"implementation specific is an ALB pattern", "/x/*", ptr.To(networkingv1.PathTypeImplementationSpecific), cloud.PathPattern, "/x/*"},
		{"no pathType is implementation specific", "/x", nil, cloud.PathPattern, "/x"},
		{"empty prefix matches everything", "", ptr.To(networkingv1.PathTypePrefix), cloud.PathPrefix, "/"},
		// The pattern "/" would match only the root, not every path as an omitted path means.
		{"empty pattern matches everything", "", ptr.To(networkingv1.PathTypeImplementationSpecific), cloud.PathPattern, "/*"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			p := networkingv1.HTTPIngressPath{Path: tc.path, PathType: tc.pathType, Backend: backend("web", 80)}
			out := Translate(input(ingress("app", nil, rule("", p))))
			g.Expect(out.Errors).To(BeEmpty())
			g.Expect(viewRules(listener(out.LoadBalancer, 80))).To(Equal([]ruleView{
				{Priority: 1, Match: tc.match, Path: tc.value, Target: "ns/app/web:80"}}))
		})
	}
}

func TestTranslateRejectsRelativePath(t *testing.T) {
	g := NewWithT(t)
	out := Translate(input(ingress("app", nil, rule("", httpPath("api", networkingv1.PathTypePrefix, backend("web", 80))))))
	g.Expect(out.Errors).To(HaveKey(key("app")))
	g.Expect(out.LoadBalancer).To(BeNil())
}

// TestTranslateRejectsPathsTheLoadBalancerRefuses keeps a path the cloud would refuse, or read as a wildcard,
// from reaching it: the member fails alone, with a reason.
func TestTranslateRejectsPathsTheLoadBalancerRefuses(t *testing.T) {
	for _, tc := range []struct {
		path string
		typ  networkingv1.PathType
		ok   bool
	}{
		{"/api/*", networkingv1.PathTypeImplementationSpecific, true},
		{"/api/*", networkingv1.PathTypePrefix, false},
		{"/a?b", networkingv1.PathTypeExact, false},
		{"/100%", networkingv1.PathTypePrefix, false},
		{"/a;b", networkingv1.PathTypeExact, false},
		{"/" + strings.Repeat("a", 125), networkingv1.PathTypePrefix, true},
		{"/" + strings.Repeat("a", 126), networkingv1.PathTypePrefix, false},
	} {
		t.Run(string(tc.typ)+" "+tc.path, func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(input(ingress("app", nil, rule("", httpPath(tc.path, tc.typ, backend("web", 80))))))
			if tc.ok {
				g.Expect(out.Errors).To(BeEmpty())
			} else {
				g.Expect(out.Errors).To(HaveKey(key("app")))
				g.Expect(out.Errors[key("app")].Error()).To(ContainSubstring(tc.path))
			}
		})
	}
}

func TestTranslateRuleOrder(t *testing.T) {
	g := NewWithT(t)
	prefix, exact, pattern := networkingv1.PathTypePrefix, networkingv1.PathTypeExact, networkingv1.PathTypeImplementationSpecific
	web, api := backend("web", 80), backend("api", 9000)
	// Spec order is deliberately the reverse of evaluation order.
	ing := ingress("app", nil,
		rule("", httpPath("/", prefix, web)),
		rule("*.example.com", httpPath("/", prefix, web)),
		rule("b.example.com", httpPath("/", prefix, web)),
		rule("a.example.com",
			httpPath("/", prefix, web),
			httpPath("/api", prefix, web),
			httpPath("/api/v1", prefix, web),
			httpPath("/api/*", pattern, web),
			httpPath("/same", prefix, api),
			httpPath("/same", prefix, web),
			httpPath("/login", exact, web),
			httpPath("/z", exact, web)),
		// Same host in capitals: must sort among a.example.com's rules, not after b.example.com.
		rule("A.EXAMPLE.COM", httpPath("/api/v1/x", prefix, web)),
	)
	out := Translate(input(ing))
	g.Expect(out.Errors).To(BeEmpty())
	w, a := "ns/app/web:80", "ns/app/api:9000"
	g.Expect(viewRules(listener(out.LoadBalancer, 80))).To(Equal([]ruleView{
		{1, "a.example.com", cloud.PathExact, "/login", w},
		{2, "a.example.com", cloud.PathExact, "/z", w},
		{3, "a.example.com", cloud.PathPrefix, "/api/v1/x", w},
		{4, "a.example.com", cloud.PathPrefix, "/api/v1", w},
		{5, "a.example.com", cloud.PathPrefix, "/same", a}, // equal keys keep spec order
		{6, "a.example.com", cloud.PathPrefix, "/same", w},
		{7, "a.example.com", cloud.PathPrefix, "/api", w},
		{8, "a.example.com", cloud.PathPrefix, "/", w},
		// ImplementationSpecific paths follow the host's Exact and Prefix paths, as in LBC.
		{9, "a.example.com", cloud.PathPattern, "/api/*", w},
		{10, "b.example.com", cloud.PathPrefix, "/", w},
		{11, "*.example.com", cloud.PathPrefix, "/", w},
		{12, "", cloud.PathPrefix, "/", w},
	}))
}

func TestTranslateImplementationSpecificKeepsManifestOrder(t *testing.T) {
	g := NewWithT(t)
	pattern, prefix := networkingv1.PathTypeImplementationSpecific, networkingv1.PathTypePrefix
	web, api := backend("web", 80), backend("api", 9000)
	// Shortest first: a sort by length would put /api/v1/* first; LBC keeps the order the manifest gives.
	ing := ingress("app", nil,
		rule("a.example.com", httpPath("/*", pattern, web), httpPath("/api/*", pattern, api), httpPath("/api/v1/*", pattern, web),
			httpPath("/x", prefix, api)),
		rule("", httpPath("/b/*", pattern, web), httpPath("/a/long/path/*", pattern, api)))
	out := Translate(input(ing))
	g.Expect(out.Errors).To(BeEmpty())
	w, a := "ns/app/web:80", "ns/app/api:9000"
	want := []ruleView{
		{1, "a.example.com", cloud.PathPrefix, "/x", a},
		{2, "a.example.com", cloud.PathPattern, "/*", w},
		{3, "a.example.com", cloud.PathPattern, "/api/*", a},
		{4, "a.example.com", cloud.PathPattern, "/api/v1/*", w},
		{5, "", cloud.PathPattern, "/b/*", w},
		{6, "", cloud.PathPattern, "/a/long/path/*", a},
	}
	g.Expect(viewRules(listener(out.LoadBalancer, 80))).To(Equal(want))
	// The same Ingress again, as after a restart: the same order.
	g.Expect(viewRules(listener(Translate(input(ing)).LoadBalancer, 80))).To(Equal(want))
	g.Expect(out.Warnings[key("app")]).To(BeEmpty())

	// Applied before in another order (as cloudlb sorted these paths before it followed LBC): the new order, with
	// a Warning, once; applied in this order, no Warning.
	longestFirst := ingress("app", nil,
		rule("a.example.com", httpPath("/api/v1/*", pattern, web), httpPath("/api/*", pattern, api), httpPath("/*", pattern, web),
			httpPath("/x", prefix, api)),
		rule("", httpPath("/a/long/path/*", pattern, api), httpPath("/b/*", pattern, web)))
	in := input(ing)
	in.Applied = map[types.NamespacedName]bool{key("app"): true}
	in.Kept = map[types.NamespacedName]string{key("app"): Translate(input(longestFirst)).Models[key("app")]}
	upgraded := Translate(in)
	g.Expect(viewRules(listener(upgraded.LoadBalancer, 80))).To(Equal(want))
	g.Expect(upgraded.Warnings[key("app")]).To(ConsistOf(ContainSubstring("ImplementationSpecific paths now keep manifest order")))
	in.Kept = map[types.NamespacedName]string{key("app"): out.Models[key("app")]}
	g.Expect(Translate(in).Warnings[key("app")]).To(BeEmpty())
}

func TestTranslateRejectsResourceBackend(t *testing.T) {
	g := NewWithT(t)
	be := networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "assets"}}
	out := Translate(input(ingress("app", nil, rule("", httpPath("/", networkingv1.PathTypePrefix, be)))))
	g.Expect(out.Errors[key("app")]).To(MatchError(ContainSubstring("Bucket/assets is not a Service")))
}

func TestTranslatePrioritiesPerListener(t *testing.T) {
	g := NewWithT(t)
	prefix := networkingv1.PathTypePrefix
	// "a" listens on 80 only; "b" on 80 and 8080. Each listener numbers its own rules from 1.
	a := ingress("a", nil, rule("a.example.com", httpPath("/", prefix, backend("web", 80))))
	b := ingress("b", map[string]string{annListenPorts: `[{"HTTP": 80}, {"HTTP": 8080}]`},
		rule("b.example.com", httpPath("/b", prefix, backend("web", 80)), httpPath("/", prefix, backend("web", 80))))
	out := Translate(Input{ClusterName: "c1", Stack: "group", Ingresses: []*networkingv1.Ingress{b, a}, Services: testServices()})
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.LoadBalancer.Listeners).To(HaveLen(2))
	g.Expect(viewRules(listener(out.LoadBalancer, 80))).To(Equal([]ruleView{
		{1, "a.example.com", cloud.PathPrefix, "/", "ns/a/web:80"},
		{2, "b.example.com", cloud.PathPrefix, "/b", "ns/b/web:80"},
		{3, "b.example.com", cloud.PathPrefix, "/", "ns/b/web:80"},
	}))
	g.Expect(viewRules(listener(out.LoadBalancer, 8080))).To(Equal([]ruleView{
		{1, "b.example.com", cloud.PathPrefix, "/b", "ns/b/web:80"},
		{2, "b.example.com", cloud.PathPrefix, "/", "ns/b/web:80"},
	}))
}

func TestTranslateDefaultAction(t *testing.T) {
	notFound := cloud.Action{Type: cloud.ActionFixedResponse,
		FixedResponse: &cloud.FixedResponse{StatusCode: 404, ContentType: "text/plain"}}
	toAPI := cloud.Action{Type: cloud.ActionForward,
		Forward: []cloud.WeightedTargetGroup{{TargetGroupID: "ns/app/api:9000", Weight: 1}}}
	for _, tc := range []struct {
		name           string
		defaultBackend *networkingv1.IngressBackend
		want           cloud.Action
	}{
		{"without defaultBackend every listener answers 404", nil, notFound},
		{"defaultBackend forwards on every listener", ptr.To(backend("api", "grpc")), toAPI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ing := webIngress("app", map[string]string{annListenPorts: `[{"HTTP": 80}, {"HTTPS": 443}]`})
			ing.Spec.DefaultBackend = tc.defaultBackend
			out := Translate(input(ing))
			g.Expect(out.Errors).To(BeEmpty())
			g.Expect(out.LoadBalancer.Listeners).To(HaveLen(2))
			for _, l := range out.LoadBalancer.Listeners {
				g.Expect(l.DefaultAction).To(Equal(tc.want), "listener %d", l.Port)
			}
			if tc.defaultBackend != nil {
				g.Expect(out.LoadBalancer.TargetGroups).To(ContainElement(HaveField("ID", "ns/app/api:9000")))
			}
		})
	}
}

func TestTranslateDefaultBackendOnly(t *testing.T) {
	g := NewWithT(t)
	ing := ingress("app", nil)
	ing.Spec.DefaultBackend = ptr.To(backend("web", 80))
	out := Translate(input(ing))
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.LoadBalancer.Listeners).To(HaveLen(1))
	g.Expect(out.LoadBalancer.Listeners[0].Rules).To(BeEmpty())
	g.Expect(out.LoadBalancer.Listeners[0].DefaultAction.Forward).To(Equal(
		[]cloud.WeightedTargetGroup{{TargetGroupID: "ns/app/web:80", Weight: 1}}))
}

func TestTranslateBackends(t *testing.T) {
	for _, tc := range []struct {
		name       string
		targetType string // annotation value; "" leaves it out
		backend    networkingv1.IngressBackend
		wantTG     cloud.TargetGroup // only ID, Port and TargetType are compared
		wantWarn   string
		wantErr    *ServiceError
	}{
		{name: "instance by number uses the NodePort", backend: backend("web", 80),
			wantTG: cloud.TargetGroup{ID: "ns/app/web:80", Port: 30080, TargetType: cloud.TargetTypeInstance}},
		{name: "instance by name uses the NodePort", backend: backend("web", "http"),
			wantTG: cloud.TargetGroup{ID: "ns/app/web:80", Port: 30080, TargetType: cloud.TargetTypeInstance}},
		{name: "instance without NodePort warns", backend: backend("headless", 80),
			wantTG:   cloud.TargetGroup{ID: "ns/app/headless:80", Port: 80, TargetType: cloud.TargetTypeInstance},
			wantWarn: "no NodePort"},
		{name: "ip uses the numeric target port", targetType: "ip", backend: backend("web", "http"),
			wantTG: cloud.TargetGroup{ID: "ns/app/web:80", Port: 8080, TargetType: cloud.TargetTypeIP}},
		{name: "ip with a named target port falls back to the service port", targetType: "ip", backend: backend("api", 9000),
			wantTG: cloud.TargetGroup{ID: "ns/app/api:9000", Port: 9000, TargetType: cloud.TargetTypeIP}},
		{name: "ip needs no NodePort", targetType: "ip", backend: backend("headless", 80),
			wantTG: cloud.TargetGroup{ID: "ns/app/headless:80", Port: 8080, TargetType: cloud.TargetTypeIP}},
		{name: "missing service", backend: backend("nope", 80),
			wantErr: &ServiceError{Service: key("nope"), Port: "80", Missing: "service"}},
		{name: "missing port number", backend: backend("web", 81),
			wantErr: &ServiceError{Service: key("web"), Port: "81", Missing: "port"}},
		{name: "missing port name", backend: backend("web", "grpc"),
			wantErr: &ServiceError{Service: key("web"), Port: "grpc", Missing: "port"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ann := map[string]string{}
			if tc.targetType != "" {
				ann[annTargetType] = tc.targetType
			}
			out := Translate(input(ingress("app", ann, rule("", httpPath("/", networkingv1.PathTypePrefix, tc.backend)))))
			if tc.wantErr != nil {
				var se *ServiceError
				g.Expect(errors.As(out.Errors[key("app")], &se)).To(BeTrue(), "error %v", out.Errors[key("app")])
				g.Expect(se).To(Equal(tc.wantErr))
				g.Expect(out.LoadBalancer).To(BeNil())
				return
			}
			g.Expect(out.Errors).To(BeEmpty())
			g.Expect(out.LoadBalancer.TargetGroups).To(HaveLen(1))
			tg := out.LoadBalancer.TargetGroups[0]
			g.Expect(cloud.TargetGroup{ID: tg.ID, Port: tg.Port, TargetType: tg.TargetType}).To(Equal(tc.wantTG))
			if tc.wantWarn == "" {
				g.Expect(out.Warnings[key("app")]).To(BeEmpty())
			} else {
				g.Expect(out.Warnings[key("app")]).To(ConsistOf(ContainSubstring(tc.wantWarn)))
			}
		})
	}
}

func TestTranslateLeavesOutFailingMembers(t *testing.T) {
	g := NewWithT(t)
	prefix := networkingv1.PathTypePrefix
	good := ingress("a", nil, rule("a.example.com", httpPath("/", prefix, backend("web", 80))))
	// "b" is valid up to its second path; none of it may reach the model.
	noService := ingress("b", nil, rule("b.example.com",
		httpPath("/ok", prefix, backend("web", 80)), httpPath("/", prefix, backend("gone", 80))))
	noPort := ingress("c", nil, rule("c.example.com", httpPath("/", prefix, backend("web", 443))))
	badAnnotation := webIngress("d", map[string]string{annScheme: "public"})
	out := Translate(Input{ClusterName: "c1", Stack: "group", Services: testServices(),
		Ingresses: []*networkingv1.Ingress{noService, badAnnotation, good, noPort}})

	g.Expect(out.Members).To(Equal([]*networkingv1.Ingress{good}))
	g.Expect(out.Errors).To(HaveLen(3))
	var se *ServiceError
	g.Expect(errors.As(out.Errors[key("b")], &se)).To(BeTrue())
	g.Expect(se.Missing).To(Equal("service"))
	g.Expect(errors.As(out.Errors[key("c")], &se)).To(BeTrue())
	g.Expect(se.Missing).To(Equal("port"))
	var ae *AnnotationError
	g.Expect(errors.As(out.Errors[key("d")], &ae)).To(BeTrue())
	g.Expect(viewRules(listener(out.LoadBalancer, 80))).To(Equal([]ruleView{
		{1, "a.example.com", cloud.PathPrefix, "/", "ns/a/web:80"}}))
	g.Expect(out.LoadBalancer.TargetGroups).To(HaveExactElements(HaveField("ID", "ns/a/web:80")))
}

func TestTranslateNoValidMember(t *testing.T) {
	g := NewWithT(t)
	out := Translate(input(webIngress("app", map[string]string{annScheme: "public"})))
	g.Expect(out.LoadBalancer).To(BeNil())
	g.Expect(out.Members).To(BeEmpty())
	g.Expect(out.Errors).To(HaveKey(key("app")))
}

func TestTranslateListeners(t *testing.T) {
	const arn1 = "arn:aws:acm:us-east-1:123456789012:certificate/1"
	const arn2 = "arn:aws:acm:us-east-1:123456789012:certificate/2"
	tls := []networkingv1.IngressTLS{{Hosts: []string{"B.example.com", "a.example.com"}}}
	for _, tc := range []struct {
		name string
		ann  map[string]string
		tls  []networkingv1.IngressTLS
		want []cloud.Listener // DefaultAction and Rules are not compared
	}{
		{name: "plain HTTP by default", want: []cloud.Listener{{Port: 80, Protocol: cloud.ProtocolHTTP}}},
		{name: "certificate-arn makes HTTPS the default", ann: map[string]string{annCertificateARN: arn1 + ", " + arn2},
			want: []cloud.Listener{{Port: 443, Protocol: cloud.ProtocolHTTPS, Certificates: []string{arn1, arn2}}}},
		// Hosts from spec.tls and rules, lower-cased, de-duplicated and sorted, for certificate discovery.
		// As in the AWS Load Balancer Controller, spec.tls alone does not make HTTPS the default: only named
		// certificates do.
		{name: "spec.tls alone keeps HTTP the default", tls: tls, want: []cloud.Listener{{Port: 80, Protocol: cloud.ProtocolHTTP}}},
		{name: "an HTTPS listener without certificate-arn discovers them by host", tls: tls,
			ann: map[string]string{annListenPorts: `[{"HTTPS": 443}]`},
			want: []cloud.Listener{{Port: 443, Protocol: cloud.ProtocolHTTPS,
				CertificateHosts: []string{"a.example.com", "b.example.com", "c.example.com"}}}},
		{name: "explicit certificates need no discovery", tls: tls, ann: map[string]string{annCertificateARN: arn1},
			want: []cloud.Listener{{Port: 443, Protocol: cloud.ProtocolHTTPS, Certificates: []string{arn1}}}},
		{name: "listen-ports overrides the TLS default", tls: tls, ann: map[string]string{annListenPorts: `[{"HTTP": 8080}]`},
			want: []cloud.Listener{{Port: 8080, Protocol: cloud.ProtocolHTTP}}},
		{name: "certificates and ssl-policy go to HTTPS listeners only, sorted by port",
			ann: map[string]string{annListenPorts: `[{"HTTPS": 443}, {"HTTP": 80}]`, annCertificateARN: arn1,
				annSSLPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06"},
			want: []cloud.Listener{{Port: 80, Protocol: cloud.ProtocolHTTP},
				{Port: 443, Protocol: cloud.ProtocolHTTPS, Certificates: []string{arn1}, SSLPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ing := ingress("app", tc.ann,
				rule("a.example.com", httpPath("/", networkingv1.PathTypePrefix, backend("web", 80))),
				rule("C.example.com", httpPath("/", networkingv1.PathTypePrefix, backend("web", 80))))
			ing.Spec.TLS = tc.tls
			out := Translate(input(ing))
			g.Expect(out.Errors).To(BeEmpty())
			if tc.name == "spec.tls alone keeps HTTP the default" {
				g.Expect(out.Warnings[key("app")]).To(ConsistOf(ContainSubstring("spec.tls is set but the load balancer listens on HTTP:80 only")))
			} else {
				g.Expect(out.Warnings[key("app")]).To(BeEmpty())
			}
			var got []cloud.Listener
			for _, l := range out.LoadBalancer.Listeners {
				got = append(got, cloud.Listener{Port: l.Port, Protocol: l.Protocol, Certificates: l.Certificates,
					CertificateHosts: l.CertificateHosts, SSLPolicy: l.SSLPolicy})
			}
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestTranslateGroup(t *testing.T) {
	const policy = "ELBSecurityPolicy-TLS13-1-2-2021-06"
	https := map[string]string{annListenPorts: `[{"HTTPS": 443}]`}
	withPolicy := map[string]string{annListenPorts: `[{"HTTPS": 443}]`, annSSLPolicy: policy}
	withDefault := func(ing *networkingv1.Ingress) *networkingv1.Ingress {
		ing.Spec.DefaultBackend = ptr.To(backend("web", 80))
		return ing
	}
	for _, tc := range []struct {
		name     string
		a, b     *networkingv1.Ingress
		wantErrB string // "" means both members are in the model
	}{
		{"different scheme", webIngress("a", map[string]string{annScheme: "internal"}), webIngress("b", map[string]string{annScheme: "internet-facing"}),
			`annotation alb.ingress.kubernetes.io/scheme is "internet-facing" here but "internal" on member ns/a`},
		{"different name", webIngress("a", map[string]string{annLoadBalancerName: "one"}), webIngress("b", map[string]string{annLoadBalancerName: "other"}),
			"annotation alb.ingress.kubernetes.io/load-balancer-name"},
		{"different subnets", webIngress("a", map[string]string{annSubnets: "subnet-1,subnet-2"}), webIngress("b", map[string]string{annSubnets: "subnet-3"}),
			"annotation alb.ingress.kubernetes.io/subnets"},
		{"different value of a tag", webIngress("a", map[string]string{annTags: "team=a"}), webIngress("b", map[string]string{annTags: "team=b"}),
			"key team"},
		{"scheme set by one member only", webIngress("a", nil), webIngress("b", map[string]string{annScheme: "internet-facing"}), ""},
		{"name and subnets set by one member only", webIngress("a", map[string]string{annLoadBalancerName: "one", annSubnets: "subnet-1"}), webIngress("b", nil), ""},
		{"different tag keys", webIngress("a", map[string]string{annTags: "team=a"}), webIngress("b", map[string]string{annTags: "env=dev"}), ""},
		{"same port, different protocol", webIngress("a", nil), webIngress("b", map[string]string{annListenPorts: `[{"HTTPS": 80}]`}), "listen port 80"},
		{"conflicting ssl-policy", webIngress("a", withPolicy),
			webIngress("b", map[string]string{annListenPorts: `[{"HTTPS": 443}]`, annSSLPolicy: "ELBSecurityPolicy-2016-08"}), "ssl-policy"},
		{"two default backends", withDefault(webIngress("a", nil)), withDefault(webIngress("b", nil)), "defaultBackend"},
		{"ssl-policy set by one member only", webIngress("a", https), webIngress("b", withPolicy), ""},
		{"different ports", webIngress("a", nil), webIngress("b", https), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(Input{ClusterName: "c1", Stack: "group", Services: testServices(),
				Ingresses: []*networkingv1.Ingress{tc.b, tc.a}})
			g.Expect(out.Errors).NotTo(HaveKey(key("a")))
			if tc.wantErrB != "" {
				g.Expect(out.Errors[key("b")]).To(MatchError(ContainSubstring(tc.wantErrB)))
				g.Expect(out.Members).To(Equal([]*networkingv1.Ingress{tc.a}))
				return
			}
			g.Expect(out.Errors).To(BeEmpty())
			g.Expect(out.Members).To(Equal([]*networkingv1.Ingress{tc.a, tc.b}))
		})
	}
}

func TestTranslateSSLPolicyFromAnyMember(t *testing.T) {
	g := NewWithT(t)
	const policy = "ELBSecurityPolicy-TLS13-1-2-2021-06"
	// The member sorted first has no policy; the listener still gets the second member's.
	a := webIngress("a", map[string]string{annListenPorts: `[{"HTTPS": 443}]`})
	b := webIngress("b", map[string]string{annListenPorts: `[{"HTTPS": 443}]`, annSSLPolicy: policy})
	out := Translate(Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: []*networkingv1.Ingress{a, b}})
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(listener(out.LoadBalancer, 443).SSLPolicy).To(Equal(policy))
}

var awsLBName = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?$`)

func TestTranslateDefaultName(t *testing.T) {
	g := NewWithT(t)
	long := strings.Repeat("n", 63)
	name := func(cluster, ns, n string) string {
		ing := webIngress(n, nil)
		ing.Namespace = ns
		in := Input{ClusterName: cluster, Stack: ns + "/" + n, Ingresses: []*networkingv1.Ingress{ing},
			Services: map[types.NamespacedName]*corev1.Service{{Namespace: ns, Name: "web"}: testServices()[key("web")]}}
		out := Translate(in)
		g.Expect(out.Errors).To(BeEmpty())
		return out.LoadBalancer.Name
	}
	base := name("c1", "ns", "app")
	g.Expect(base).To(MatchRegexp(`^k8s-ns-app-[0-9a-f]+$`))
	g.Expect(name("c1", "ns", "app")).To(Equal(base), "a re-create must find the same name")
	g.Expect(name("c2", "ns", "app")).NotTo(Equal(base), "two clusters in one account must not share a load balancer")
	g.Expect(name("c1", "ns", "app2")).NotTo(Equal(base))
	for _, n := range []string{name("c1", long, long), name("c1", "a.b-", "-x-"), name("c1", "ns", "a-"+long)} {
		g.Expect(n).To(MatchRegexp(awsLBName.String()), n)
		g.Expect(n).NotTo(HavePrefix("internal-"))
	}
	// Stacks that read the same once truncated still get distinct names.
	g.Expect(name("c1", long, long+"x")).NotTo(Equal(name("c1", long, long+"y")))
}

func TestTranslateDeterministic(t *testing.T) {
	g := NewWithT(t)
	prefix := networkingv1.PathTypePrefix
	tls := map[string]string{annTags: "team=a", annListenPorts: `[{"HTTP": 80}, {"HTTPS": 443}]`}
	ings := []*networkingv1.Ingress{
		ingress("a", tls, rule("x.example.com", httpPath("/a", prefix, backend("web", 80)), httpPath("/", prefix, backend("api", 9000)))),
		ingress("b", map[string]string{annTags: "team=a,env=dev"}, rule("x.example.com", httpPath("/b", prefix, backend("web", 80)))),
		ingress("c", nil, rule("", httpPath("/", prefix, backend("headless", 80)))),
		ingress("d", nil, rule("", httpPath("/", prefix, backend("missing", 80)))),
	}
	ings[0].Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"x.example.com"}}}
	in := Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: ings}
	want := Translate(in)
	g.Expect(want.Members).To(HaveLen(3))
	g.Expect(want.LoadBalancer.Tags).To(Equal(map[string]string{"team": "a", "env": "dev"}), "the union of the members' tags")
	for _, perm := range [][]int{{3, 2, 1, 0}, {1, 3, 0, 2}, {2, 0, 3, 1}, {0, 2, 1, 3}} {
		shuffled := in
		shuffled.Ingresses = nil
		for _, i := range perm {
			shuffled.Ingresses = append(shuffled.Ingresses, ings[i])
		}
		got := Translate(shuffled)
		g.Expect(got).To(Equal(want), "order %v", perm)
		g.Expect(got.LoadBalancer.Hash()).To(Equal(want.LoadBalancer.Hash()))
	}
}

func TestTranslateDoesNotMutateInput(t *testing.T) {
	g := NewWithT(t)
	b, a := webIngress("b", nil), webIngress("a", nil)
	ings := []*networkingv1.Ingress{b, a}
	Translate(Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: ings})
	g.Expect(ings).To(Equal([]*networkingv1.Ingress{b, a}), "the caller's slice keeps its order")
}
