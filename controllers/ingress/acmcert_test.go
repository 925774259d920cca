package ingress

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/cloudlb/cloudlb/cloud"
)

func TestTranslateCreatedCertificates(t *testing.T) {
	const pca = "arn:aws:acm-pca:eu-central-1:134051052098:certificate-authority/3728f28c-b201-4dfd-b329-083833017297"
	const arn = "arn:aws:acm:us-east-1:123456789012:certificate/1"
	tls := []networkingv1.IngressTLS{{Hosts: []string{"B.example.com", "a.example.com"}}}
	for _, tc := range []struct {
		name string
		ann  map[string]string
		tls  []networkingv1.IngressTLS
		want []cloud.Listener
	}{
		{name: "create-acm-cert makes HTTPS the default, for the rule and TLS hosts, sorted", tls: tls,
			ann: map[string]string{annCreateACMCert: "true"},
			want: []cloud.Listener{{Port: 443, Protocol: cloud.ProtocolHTTPS, CreateCertificates: []cloud.CertificateRequest{
				{Hosts: []string{"a.example.com", "b.example.com", "c.example.com"}}}}}},
		{name: "acm-pca-arn asks a private CA", ann: map[string]string{annCreateACMCert: "True", annACMPCAARN: pca},
			want: []cloud.Listener{{Port: 443, Protocol: cloud.ProtocolHTTPS, CreateCertificates: []cloud.CertificateRequest{
				{Hosts: []string{"a.example.com", "c.example.com"}, CertificateAuthority: pca}}}}},
		{name: "certificate-arn wins: no certificate is made", ann: map[string]string{annCreateACMCert: "true", annCertificateARN: arn},
			want: []cloud.Listener{{Port: 443, Protocol: cloud.ProtocolHTTPS, Certificates: []string{arn}}}},
		{name: "false makes none", ann: map[string]string{annCreateACMCert: "false", annACMPCAARN: pca},
			want: []cloud.Listener{{Port: 80, Protocol: cloud.ProtocolHTTP}}},
		{name: "HTTP listeners get none", ann: map[string]string{annCreateACMCert: "true", annListenPorts: `[{"HTTP": 80}, {"HTTPS": 443}]`},
			want: []cloud.Listener{{Port: 80, Protocol: cloud.ProtocolHTTP}, {Port: 443, Protocol: cloud.ProtocolHTTPS,
				CreateCertificates: []cloud.CertificateRequest{{Hosts: []string{"a.example.com", "c.example.com"}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ing := ingress("app", tc.ann,
				rule("a.example.com", httpPath("/", networkingv1.PathTypePrefix, backend("web", 80))),
				rule("C.example.com", httpPath("/", networkingv1.PathTypePrefix, backend("web", 80))))
			ing.Spec.TLS = tc.tls
			out := Translate(input(ing))
			g.Expect(out.Errors).To(BeEmpty())
			var got []cloud.Listener
			for _, l := range out.LoadBalancer.Listeners {
				got = append(got, cloud.Listener{Port: l.Port, Protocol: l.Protocol, Certificates: l.Certificates,
					CertificateHosts: l.CertificateHosts, CreateCertificates: l.CreateCertificates})
			}
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestTranslateCreatedCertificatesRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ann   map[string]string
		hosts []string
		tls   []networkingv1.IngressTLS
		key   string
	}{
		{name: "not a boolean", ann: map[string]string{annCreateACMCert: "yes"}, hosts: []string{"a.example.com"}, key: annCreateACMCert},
		{name: "not a private CA", ann: map[string]string{annCreateACMCert: "true", annACMPCAARN: "arn:aws:acm:us-east-1:1:certificate/x"},
			hosts: []string{"a.example.com"}, key: annACMPCAARN},
		{name: "no host", ann: map[string]string{annCreateACMCert: "true"}, hosts: []string{""}, key: annCreateACMCert},
		{name: "a TLS host no certificate can cover", ann: map[string]string{annCreateACMCert: "true"}, hosts: []string{"a.example.com"},
			tls: []networkingv1.IngressTLS{{Hosts: []string{"not a host"}}}, key: annCreateACMCert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var rules []networkingv1.IngressRule
			for _, h := range tc.hosts {
				rules = append(rules, rule(h, httpPath("/", networkingv1.PathTypePrefix, backend("web", 80))))
			}
			ing := ingress("app", tc.ann, rules...)
			ing.Spec.TLS = tc.tls
			out := Translate(input(ing))
			g.Expect(out.LoadBalancer).To(BeNil())
			var ae *AnnotationError
			g.Expect(errors.As(out.Errors[key("app")], &ae)).To(BeTrue(), "%v", out.Errors)
			g.Expect(ae.Key).To(Equal(tc.key))
		})
	}
}

func TestTranslateCreatedCertificatesInAGroup(t *testing.T) {
	g := NewWithT(t)
	group := map[string]string{annGroupName: "shop", annCreateACMCert: "true"}
	a := ingress("a", group, rule("a.example.com", httpPath("/a", networkingv1.PathTypePrefix, backend("web", 80))))
	b := ingress("b", group, rule("b.example.com", httpPath("/b", networkingv1.PathTypePrefix, backend("web", 80))))
	c := ingress("c", group, rule("a.example.com", httpPath("/c", networkingv1.PathTypePrefix, backend("web", 80))))
	out := Translate(input(a, b, c))
	g.Expect(out.Errors).To(BeEmpty())
	// One certificate per distinct set of hosts: members asking for the same hosts share it.
	g.Expect(listener(out.LoadBalancer, 443).CreateCertificates).To(Equal([]cloud.CertificateRequest{
		{Hosts: []string{"a.example.com"}}, {Hosts: []string{"b.example.com"}}}))
}
