package ingress

import (
	"fmt"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/cloud"
)

const bothPorts = `[{"HTTP": 80}, {"HTTPS": 443}]`

func TestSSLRedirect(t *testing.T) {
	g := NewWithT(t)
	ing := ingress("app", map[string]string{annListenPorts: bothPorts, annSSLRedirect: "443"},
		rule("a.example.com", httpPath("/api", networkingv1.PathTypePrefix, backend("web", 80))),
		rule("", httpPath("/", networkingv1.PathTypePrefix, backend("web", 80))))
	ing.Spec.DefaultBackend = ptr.To(backend("web", 80))
	out := Translate(input(ing))
	g.Expect(out.Errors).To(BeEmpty())

	// As in the AWS Load Balancer Controller: the HTTP listener redirects everything, default action included,
	// and keeps no rule; the HTTPS listener serves the rules and the default backend.
	http, https := listener(out.LoadBalancer, 80), listener(out.LoadBalancer, 443)
	g.Expect(http.DefaultAction).To(Equal(cloud.Action{Type: cloud.ActionRedirect,
		Redirect: &cloud.Redirect{Protocol: "HTTPS", Port: "443", StatusCode: 301}}))
	g.Expect(http.Rules).To(BeEmpty())
	g.Expect(https.Rules).To(HaveLen(2))
	g.Expect(https.DefaultAction.Type).To(Equal(cloud.ActionForward))

	without := Translate(input(ingress("app", map[string]string{annListenPorts: bothPorts},
		rule("", httpPath("/", networkingv1.PathTypePrefix, backend("web", 80))))))
	g.Expect(listener(without.LoadBalancer, 80).Rules).To(HaveLen(1), "without ssl-redirect HTTP serves the rules")
}

func TestSSLRedirectInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		ann  map[string]string
		want string
	}{
		{"not a number", map[string]string{annListenPorts: bothPorts, annSSLRedirect: "true"}, "from 1 to 65535"},
		{"out of range", map[string]string{annListenPorts: bothPorts, annSSLRedirect: "70000"}, "from 1 to 65535"},
		{"no such listener", map[string]string{annListenPorts: bothPorts, annSSLRedirect: "8443"}, "no listener"},
		{"the default HTTP listener only", map[string]string{annSSLRedirect: "443"}, "no listener"},
		{"an HTTP port", map[string]string{annListenPorts: bothPorts, annSSLRedirect: "80"}, "is HTTP, not HTTPS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(input(webIngress("app", tc.ann)))
			g.Expect(out.LoadBalancer).To(BeNil(), "fail closed: no load balancer that forwards on HTTP when a redirect was asked")
			expectAnnotationError(g, out.Errors[key("app")], annSSLRedirect)
			g.Expect(out.Errors[key("app")]).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}

func TestSSLRedirectIsGroupWide(t *testing.T) {
	group := func(ings ...*networkingv1.Ingress) Output {
		return Translate(Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: ings})
	}
	t.Run("a member that does not set it takes the group's", func(t *testing.T) {
		g := NewWithT(t)
		a := webIngress("a", map[string]string{annListenPorts: bothPorts, annSSLRedirect: "443"})
		b := webIngress("b", map[string]string{annListenPorts: `[{"HTTP": 80}]`})
		out := group(a, b)
		g.Expect(out.Errors).To(BeEmpty())
		http := listener(out.LoadBalancer, 80)
		g.Expect(http.DefaultAction.Type).To(Equal(cloud.ActionRedirect))
		g.Expect(http.Rules).To(BeEmpty())
	})
	t.Run("the HTTPS port may come from another member", func(t *testing.T) {
		g := NewWithT(t)
		a := webIngress("a", map[string]string{annListenPorts: bothPorts})
		b := webIngress("b", map[string]string{annListenPorts: `[{"HTTP": 80}]`, annSSLRedirect: "443"})
		out := group(a, b)
		g.Expect(out.Errors).To(BeEmpty())
		g.Expect(listener(out.LoadBalancer, 80).DefaultAction.Redirect.Port).To(Equal("443"))
	})
	t.Run("a member whose HTTPS port comes from a later member waits for it to be applied", func(t *testing.T) {
		g := NewWithT(t)
		a := webIngress("a", map[string]string{annListenPorts: `[{"HTTP": 80}]`, annSSLRedirect: "443"})
		b := webIngress("b", map[string]string{annListenPorts: bothPorts})
		in := Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: []*networkingv1.Ingress{a, b}}
		out := Translate(in)
		g.Expect(out.Members).To(Equal([]*networkingv1.Ingress{b}))
		expectAnnotationError(g, out.Errors[key("a")], annSSLRedirect)
		g.Expect(listener(out.LoadBalancer, 80).DefaultAction.Type).To(Equal(cloud.ActionFixedResponse))

		in.Applied = map[types.NamespacedName]bool{key("b"): true}
		out = Translate(in)
		g.Expect(out.Errors).To(BeEmpty())
		g.Expect(listener(out.LoadBalancer, 80).DefaultAction.Type).To(Equal(cloud.ActionRedirect))
	})
	t.Run("members that set different ports conflict", func(t *testing.T) {
		g := NewWithT(t)
		ports := `[{"HTTP": 80}, {"HTTPS": 443}, {"HTTPS": 8443}]`
		a := webIngress("a", map[string]string{annListenPorts: ports, annSSLRedirect: "443"})
		b := webIngress("b", map[string]string{annListenPorts: ports, annSSLRedirect: " 8443"})
		out := group(a, b)
		g.Expect(out.Members).To(Equal([]*networkingv1.Ingress{a}))
		g.Expect(out.Errors[key("b")]).To(MatchError(ContainSubstring(
			`annotation alb.ingress.kubernetes.io/ssl-redirect is "8443" here but "443" on member ns/a`)))
		g.Expect(listener(out.LoadBalancer, 80).DefaultAction.Redirect.Port).To(Equal("443"))
	})
	t.Run("the same port written differently agrees", func(t *testing.T) {
		g := NewWithT(t)
		a := webIngress("a", map[string]string{annListenPorts: bothPorts, annSSLRedirect: "443"})
		b := webIngress("b", map[string]string{annListenPorts: bothPorts, annSSLRedirect: " 443 "})
		g.Expect(group(a, b).Errors).To(BeEmpty())
	})
}

func TestSSLRedirectRulesDoNotCountOnRedirectingListeners(t *testing.T) {
	g := NewWithT(t)
	// 60 paths on two listeners would be 120 rules; under ssl-redirect only the HTTPS listener holds them.
	var paths []networkingv1.HTTPIngressPath
	for i := range 60 {
		paths = append(paths, httpPath("/p"+string(rune('a'+i/26))+string(rune('a'+i%26)), networkingv1.PathTypePrefix, backend("web", 80)))
	}
	ing := ingress("app", map[string]string{annListenPorts: bothPorts, annSSLRedirect: "443"}, rule("", paths...))
	out := Translate(Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: []*networkingv1.Ingress{ing}})
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(listener(out.LoadBalancer, 443).Rules).To(HaveLen(60))

	delete(ing.Annotations, annSSLRedirect)
	out = Translate(Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: []*networkingv1.Ingress{ing}})
	g.Expect(out.Errors[key("app")]).To(MatchError(ContainSubstring("past the ALB quota")))
}

func TestSSLRedirectFromIngressClassParams(t *testing.T) {
	g := NewWithT(t)
	out := Translate(paramsInput(map[string]string{annListenPorts: bothPorts, annSSLRedirect: "8443"},
		elbv2.IngressClassParamsSpec{SSLRedirectPort: "443"}))
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(listener(out.LoadBalancer, 80).DefaultAction.Redirect.Port).To(Equal("443"), "the class wins over the annotation")
	g.Expect(out.Warnings[key("app")]).To(ConsistOf(
		`annotation alb.ingress.kubernetes.io/ssl-redirect="8443" is overridden by IngressClass alb: IngressClassParams p sets spec.sslRedirectPort`))

	out = Translate(paramsInput(map[string]string{annListenPorts: bothPorts}, elbv2.IngressClassParamsSpec{SSLRedirectPort: "https"}))
	g.Expect(out.LoadBalancer).To(BeNil())
	g.Expect(out.Errors[key("app")]).To(MatchError(ContainSubstring("spec.sslRedirectPort: must be the port of an HTTPS listener")))
	g.Expect(reasonFor(out.Errors[key("app")])).To(Equal(reasonParamsInvalid))
}

func TestListenerAttributes(t *testing.T) {
	g := NewWithT(t)
	out := Translate(input(webIngress("app", map[string]string{annListenPorts: bothPorts,
		annListenerAttributes + "HTTPS-443": "routing.http.response.server.enabled=false, routing.http.response.x_frame_options.header_value=DENY",
		annListenerAttributes + "HTTP-80":   "routing.http.response.server.enabled=true"})))
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(listener(out.LoadBalancer, 443).Attributes).To(Equal(map[string]string{
		"routing.http.response.server.enabled": "false", "routing.http.response.x_frame_options.header_value": "DENY"}))
	g.Expect(listener(out.LoadBalancer, 80).Attributes).To(Equal(map[string]string{"routing.http.response.server.enabled": "true"}))

	plain := Translate(input(webIngress("app", nil)))
	g.Expect(listener(plain.LoadBalancer, 80).Attributes).To(BeNil(), "none asked, none set: the model is as before")
}

func TestListenerAttributesInvalid(t *testing.T) {
	for _, tc := range []struct {
		key, value, want string
	}{
		{annListenerAttributes + "HTTPS-443", "routing.http.response.server.enabled", "is not an attribute key=value"},
		{annListenerAttributes + "HTTPS-443", "Bad Key=1", "is not an attribute key=value"},
		{annListenerAttributes + "https-443", "a=b", "must end in HTTP-<port> or HTTPS-<port>"},
		{annListenerAttributes + "HTTPS", "a=b", "must end in HTTP-<port> or HTTPS-<port>"},
		{annListenerAttributes + "TCP-443", "a=b", "must end in HTTP-<port> or HTTPS-<port>"},
		{annListenerAttributes + "HTTPS-8443", "a=b", "no HTTPS listener on port 8443"},
		{annListenerAttributes + "HTTP-443", "a=b", "no HTTP listener on port 443"},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(input(webIngress("app", map[string]string{annListenPorts: bothPorts, tc.key: tc.value})))
			g.Expect(out.LoadBalancer).To(BeNil())
			expectAnnotationError(g, out.Errors[key("app")], tc.key)
			g.Expect(out.Errors[key("app")]).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}

func TestListenerAttributesInAGroup(t *testing.T) {
	const server = "routing.http.response.server.enabled"
	group := func(ings ...*networkingv1.Ingress) Output {
		return Translate(Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: ings})
	}
	g := NewWithT(t)
	a := webIngress("a", map[string]string{annListenPorts: bothPorts, annListenerAttributes + "HTTPS-443": server + "=false"})
	b := webIngress("b", map[string]string{annListenPorts: bothPorts,
		annListenerAttributes + "HTTPS-443": "routing.http.response.x_frame_options.header_value=DENY"})
	out := group(a, b)
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(listener(out.LoadBalancer, 443).Attributes).To(Equal(map[string]string{
		server: "false", "routing.http.response.x_frame_options.header_value": "DENY"}), "members' keys add up")

	c := webIngress("c", map[string]string{annListenPorts: bothPorts, annListenerAttributes + "HTTPS-443": server + "=true"})
	out = group(a, c)
	g.Expect(out.Members).To(Equal([]*networkingv1.Ingress{a}))
	g.Expect(out.Errors[key("c")]).To(MatchError(ContainSubstring(
		`annotation alb.ingress.kubernetes.io/listener-attributes.HTTPS-443 key routing.http.response.server.enabled is "true" here but "false" on member ns/a`)))
	g.Expect(listener(out.LoadBalancer, 443).Attributes).To(Equal(map[string]string{server: "false"}))
}

func TestListenerAttributesFromIngressClassParams(t *testing.T) {
	const server = "routing.http.response.server.enabled"
	spec := elbv2.IngressClassParamsSpec{Listeners: []elbv2.Listener{
		{Protocol: elbv2.ListenerProtocolHTTPS, Port: 443, ListenerAttributes: []elbv2.Attribute{{Key: server, Value: "false"}}},
		// A listener the Ingress does not have: the class's policy for it applies nowhere here.
		{Protocol: elbv2.ListenerProtocolHTTPS, Port: 8443, ListenerAttributes: []elbv2.Attribute{{Key: server, Value: "false"}}},
	}}
	g := NewWithT(t)
	out := Translate(paramsInput(map[string]string{annListenPorts: bothPorts,
		annListenerAttributes + "HTTPS-443": server + "=true,routing.http.response.x_frame_options.header_value=DENY"}, spec))
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(listener(out.LoadBalancer, 443).Attributes).To(Equal(map[string]string{
		server: "false", "routing.http.response.x_frame_options.header_value": "DENY"}), "the class wins per key")
	g.Expect(out.Warnings[key("app")]).To(ConsistOf(ContainSubstring(
		`annotation alb.ingress.kubernetes.io/listener-attributes.HTTPS-443="routing.http.response.server.enabled=true,` +
			`routing.http.response.x_frame_options.header_value=DENY" is overridden by IngressClass alb: IngressClassParams p sets spec.listeners`)))

	bad := spec
	bad.Listeners = []elbv2.Listener{{Protocol: "HTTPS", Port: 443, ListenerAttributes: []elbv2.Attribute{{Key: "Bad Key", Value: "1"}}}}
	out = Translate(paramsInput(map[string]string{annListenPorts: bothPorts}, bad))
	g.Expect(out.LoadBalancer).To(BeNil())
	g.Expect(out.Errors[key("app")]).To(MatchError(ContainSubstring("spec.listeners: ")))
	g.Expect(reasonFor(out.Errors[key("app")])).To(Equal(reasonParamsInvalid))
}

func TestMutualAuthentication(t *testing.T) {
	const ports = `[{"HTTPS": 443}, {"HTTPS": 8443}, {"HTTPS": "9443"}, {"HTTP": 80}]`
	g := NewWithT(t)
	out := Translate(input(webIngress("app", map[string]string{annListenPorts: ports, annMutualAuthentication: `[
		{"port": 443, "mode": "verify", "trustStore": "arn:aws:elasticloadbalancing:us-east-1:1:truststore/ts/1", "ignoreClientCertificateExpiry": true},
		{"Port": "8443", "Mode": "verify", "TrustStore": "my-store", "advertiseTrustStoreCaNames": "on"},
		{"port": 9443, "mode": "passthrough"}]`})))
	g.Expect(out.Errors).To(BeEmpty())
	lb := out.LoadBalancer
	g.Expect(listener(lb, 443).MutualAuthentication).To(Equal(&cloud.MutualAuthentication{Mode: "verify",
		TrustStore: "arn:aws:elasticloadbalancing:us-east-1:1:truststore/ts/1", IgnoreClientCertificateExpiry: true}))
	g.Expect(listener(lb, 8443).MutualAuthentication).To(Equal(&cloud.MutualAuthentication{Mode: "verify", TrustStore: "my-store",
		AdvertiseTrustStoreCaNames: "on"}))
	g.Expect(listener(lb, 9443).MutualAuthentication).To(Equal(&cloud.MutualAuthentication{Mode: "passthrough"}))
	g.Expect(listener(lb, 80).MutualAuthentication).To(BeNil())

	plain := Translate(input(webIngress("app", map[string]string{annListenPorts: ports})))
	g.Expect(listener(plain.LoadBalancer, 443).MutualAuthentication).To(BeNil(), "without the annotation the setting is left alone")

	off := Translate(input(webIngress("app", map[string]string{annListenPorts: ports, annMutualAuthentication: `[{"port": 443, "mode": "off"}]`})))
	g.Expect(listener(off.LoadBalancer, 443).MutualAuthentication).To(Equal(&cloud.MutualAuthentication{Mode: "off"}))
}

func TestMutualAuthenticationInvalid(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{`{"port": 443, "mode": "off"}`, "must be a JSON list"},
		{`[]`, "at least one port"},
		{`[{"port": 443, "mode": "verify"}]`, "needs a trustStore"},
		{`[{"port": 443, "mode": "verify", "trustStore": " "}]`, "needs a trustStore"},
		{`[{"port": 443, "mode": "strict", "trustStore": "ts"}]`, "mode must be off, passthrough or verify"},
		{`[{"port": 443}]`, "mode must be off, passthrough or verify"},
		{`[{"port": 443, "mode": "off", "trustStore": "ts"}]`, "verify only"},
		{`[{"port": 443, "mode": "passthrough", "ignoreClientCertificateExpiry": false}]`, "verify only"},
		{`[{"port": 443, "mode": "off", "advertiseTrustStoreCaNames": "off"}]`, "verify only"},
		{`[{"port": 443, "mode": "verify", "trustStore": "ts", "advertiseTrustStoreCaNames": "yes"}]`, "must be on or off"},
		{`[{"port": 80, "mode": "off"}]`, "port 80 is not an HTTPS port"},
		{`[{"port": 8443, "mode": "off"}]`, "port 8443 is not an HTTPS port"},
		{`[{"port": 0, "mode": "off"}]`, "from 1 to 65535"},
		{`[{"mode": "off"}]`, "from 1 to 65535"},
		{`[{"port": 443, "mode": "off"}, {"port": "443", "mode": "passthrough"}]`, "listed twice"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(input(webIngress("app", map[string]string{annListenPorts: bothPorts, annMutualAuthentication: tc.value})))
			g.Expect(out.LoadBalancer).To(BeNil())
			expectAnnotationError(g, out.Errors[key("app")], annMutualAuthentication)
			g.Expect(out.Errors[key("app")]).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}

func TestMutualAuthenticationInAGroup(t *testing.T) {
	g := NewWithT(t)
	verify := `[{"port": 443, "mode": "verify", "trustStore": "ts"}]`
	a := webIngress("a", map[string]string{annListenPorts: bothPorts, annMutualAuthentication: verify})
	b := webIngress("b", map[string]string{annListenPorts: bothPorts})
	out := Translate(Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: []*networkingv1.Ingress{a, b}})
	g.Expect(out.Errors).To(BeEmpty(), "a member that does not set it takes the group's")
	g.Expect(listener(out.LoadBalancer, 443).MutualAuthentication.Mode).To(Equal("verify"))

	c := webIngress("c", map[string]string{annListenPorts: bothPorts, annMutualAuthentication: `[{"port": 443, "mode": "passthrough"}]`})
	out = Translate(Input{ClusterName: "c1", Stack: "group", Services: testServices(), Ingresses: []*networkingv1.Ingress{a, c}})
	g.Expect(out.Members).To(Equal([]*networkingv1.Ingress{a}))
	g.Expect(out.Errors[key("c")]).To(MatchError(ContainSubstring("annotation alb.ingress.kubernetes.io/mutual-authentication on port 443")))
}

// FuzzMutualAuthentication holds the mutual-authentication parser to the parsers' contract (fuzz_test.go), and
// what it accepts to what ELBv2 accepts: a known mode on an HTTPS listener, a trust store with verify only.
func FuzzMutualAuthentication(f *testing.F) {
	for _, s := range []string{`[{"port": 443, "mode": "verify", "trustStore": "ts", "ignoreClientCertificateExpiry": true}]`,
		`[{"Port": "443", "Mode": "passthrough"}]`, `[{"port": 80, "mode": "off"}]`, `[]`, `null`, `[{"port": 443}]`,
		`[{"port": 443, "mode": "verify", "trustStore": "ts", "advertiseTrustStoreCaNames": "on"}, {"port": 443, "mode": "off"}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		a := annotations{annMutualAuthentication: v}
		listeners := []cloud.Listener{{Port: 80, Protocol: cloud.ProtocolHTTP}, {Port: 443, Protocol: cloud.ProtocolHTTPS}}
		if err := a.mutualAuthentication(listeners); err != nil {
			requireAnnotationError(t, err, annMutualAuthentication)
			return
		}
		if listeners[0].MutualAuthentication != nil {
			t.Fatalf("%q set mTLS on an HTTP listener", v)
		}
		m := listeners[1].MutualAuthentication
		if m == nil {
			t.Fatalf("%q accepted but set nothing", v)
		}
		verify := m.Mode == cloud.MutualAuthenticationVerify
		if !slices.Contains([]string{"off", "passthrough", "verify"}, m.Mode) || verify != (m.TrustStore != "") ||
			(!verify && (m.IgnoreClientCertificateExpiry || m.AdvertiseTrustStoreCaNames != "")) ||
			(m.AdvertiseTrustStoreCaNames != "" && m.AdvertiseTrustStoreCaNames != "on") {
			t.Fatalf("%q parsed to %+v", v, *m)
		}
	})
}

// An Ingress with spec.tls and no named certificate was served HTTPS:443 before cloudlb followed the AWS Load
// Balancer Controller's listen-ports default (HTTP:80): once applied so, it keeps HTTPS:443 rather than losing its
// HTTPS traffic on upgrade, while a new one gets HTTP:80.
func TestAppliedMemberKeepsTheOldTLSDefault(t *testing.T) {
	g := NewWithT(t)
	tlsIngress := func(ann map[string]string) *networkingv1.Ingress {
		ing := webIngress("app", ann)
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}}}
		return ing
	}
	listeners := func(out Output) []string {
		var ls []string
		for _, l := range out.LoadBalancer.Listeners {
			ls = append(ls, fmt.Sprintf("%s:%d", l.Protocol, l.Port))
		}
		return ls
	}

	fresh := Translate(input(tlsIngress(nil)))
	g.Expect(listeners(fresh)).To(Equal([]string{"HTTP:80"}))

	// What the old default made, as kept on the record.
	old := Translate(input(tlsIngress(map[string]string{annListenPorts: `[{"HTTPS": 443}]`})))
	g.Expect(listeners(old)).To(Equal([]string{"HTTPS:443"}))
	in := input(tlsIngress(nil))
	in.Applied = map[types.NamespacedName]bool{key("app"): true}
	in.Kept = map[types.NamespacedName]string{key("app"): old.Models[key("app")]}
	out := Translate(in)
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(listeners(out)).To(Equal([]string{"HTTPS:443"}))
	g.Expect(out.LoadBalancer.Listeners[0].CertificateHosts).To(Equal([]string{"a.example.com"}))
	g.Expect(out.Warnings[key("app")]).To(ContainElement(ContainSubstring("the HTTPS:443 listener it was served on is kept")))

	// A member applied with HTTP:80 stays there.
	in.Kept = map[types.NamespacedName]string{key("app"): fresh.Models[key("app")]}
	g.Expect(listeners(Translate(in))).To(Equal([]string{"HTTP:80"}))
}
