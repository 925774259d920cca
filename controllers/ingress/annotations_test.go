package ingress

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"

	"github.com/cloudlb/cloudlb/cloud"
)

// expectAnnotationError checks the contract the Warning Event relies on: the error names the annotation.
func expectAnnotationError(g Gomega, err error, key string) {
	var ae *AnnotationError
	g.Expect(errors.As(err, &ae)).To(BeTrue(), "want *AnnotationError, got %T %v", err, err)
	g.Expect(ae.Key).To(Equal(key))
	g.Expect(ae.Error()).To(ContainSubstring(key))
}

func TestListenPorts(t *testing.T) {
	http80, https443 := listenPort{cloud.ProtocolHTTP, 80}, listenPort{cloud.ProtocolHTTPS, 443}
	for _, tc := range []struct {
		value  *string // nil: annotation absent
		hasTLS bool
		want   []listenPort
	}{
		{value: nil, want: []listenPort{http80}},
		{value: nil, hasTLS: true, want: []listenPort{https443}},
		{value: ptr.To(`[{"HTTP": 80}, {"HTTPS": 443}]`), want: []listenPort{http80, https443}},
		{value: ptr.To(`[{"HTTP": 8080}]`), hasTLS: true, want: []listenPort{{cloud.ProtocolHTTP, 8080}}},
		{value: ptr.To(`[{"https": 1}, {"HTTP": 65535}]`), want: []listenPort{{cloud.ProtocolHTTPS, 1}, {cloud.ProtocolHTTP, 65535}}},
		// Several ports in one object come out in protocol order, whatever the map's iteration order.
		{value: ptr.To(`[{"HTTPS": 443, "HTTP": 80}]`), want: []listenPort{http80, https443}},
		// Ports as strings, as the AWS Load Balancer Controller's examples sometimes write them.
		{value: ptr.To(`[{"HTTP": "80"}, {"HTTPS": " 8443"}]`), want: []listenPort{http80, {cloud.ProtocolHTTPS, 8443}}},
		// The same listener twice is one listener.
		{value: ptr.To(`[{"HTTP": 80}, {"http": "80"}, {"HTTPS": 443, "HTTP": 80}]`), want: []listenPort{http80, https443}},
	} {
		t.Run(fmt.Sprint(deref(tc.value), tc.hasTLS), func(t *testing.T) {
			g := NewWithT(t)
			a := annotations{}
			if tc.value != nil {
				a[annListenPorts] = *tc.value
			}
			got, err := a.listenPorts(tc.hasTLS)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
	for _, bad := range []string{
		``, `80`, `HTTP:80`, `null`, `[]`, `[{}]`, `[null]`, `{"HTTP": 80}`,
		`[{"TCP": 80}]`, `[{"HTTP": 0}]`, `[{"HTTP": -1}]`, `[{"HTTP": 65536}]`, `[{"HTTP": 4294967376}]`,
		`[{"HTTP": "eighty"}]`, `[{"HTTP": ""}]`, `[{"HTTP": "0"}]`, `[{"HTTP": "65536"}]`, `[{"HTTP": true}]`, `[{"HTTP": null}]`,
		`[{"HTTP": [80]}]`, `[{"HTTP": 80.5}]`, `[{"HTTP": 1e30}]`,
		`[{"HTTP": 80}, {"HTTPS": 80}]`, `[{"HTTP": 80, "HTTPS": "80"}]`, `[{"HTTP": 80}] x`,
	} {
		t.Run("invalid "+bad, func(t *testing.T) {
			g := NewWithT(t)
			_, err := annotations{annListenPorts: bad}.listenPorts(false)
			expectAnnotationError(g, err, annListenPorts)
		})
	}
}

func TestListenPortsErrorIsStable(t *testing.T) {
	g := NewWithT(t)
	// Two bad protocols in one object: a changing message would send a new Warning Event on every reconcile.
	a := annotations{annListenPorts: `[{"TCP": 80, "UDP": 81, "QUIC": 82, "SCTP": 83}]`}
	_, first := a.listenPorts(false)
	for range 50 {
		_, err := a.listenPorts(false)
		g.Expect(err).To(Equal(first))
	}
}

func TestTags(t *testing.T) {
	many := func(n int) string {
		var kv []string
		for i := range n {
			kv = append(kv, fmt.Sprintf("k%d=v", i))
		}
		return strings.Join(kv, ",")
	}
	for _, tc := range []struct {
		value   string
		want    map[string]string
		wantErr bool
	}{
		{value: "", want: nil},
		{value: "team=web, env = dev ,", want: map[string]string{"team": "web", "env": "dev"}},
		{value: "empty=", want: map[string]string{"empty": ""}},
		{value: "url=a=b", want: map[string]string{"url": "a=b"}},
		{value: "équipe=café, k:/.+-@_=v 1", want: map[string]string{"équipe": "café", "k:/.+-@_": "v 1"}},
		{value: strings.Repeat("k", 128) + "=" + strings.Repeat("v", 256),
			want: map[string]string{strings.Repeat("k", 128): strings.Repeat("v", 256)}},
		{value: many(47), want: func() map[string]string {
			m := map[string]string{}
			for i := range 47 {
				m[fmt.Sprintf("k%d", i)] = "v"
			}
			return m
		}()},
		{value: "team", wantErr: true}, // no "=": a typo, not an empty value
		{value: "=v", wantErr: true},
		{value: strings.Repeat("k", 129) + "=v", wantErr: true},
		{value: "k=" + strings.Repeat("v", 257), wantErr: true},
		{value: "k=v!", wantErr: true},
		{value: "k=v\n", wantErr: false, want: map[string]string{"k": "v"}}, // trimmed
		{value: "k=a\tb", wantErr: true},
		{value: "cloudlb.io/stack=other", wantErr: true}, // would forge ownership
		{value: "cloudlb.io/cluster=", wantErr: true},
		{value: "aws:cloudformation:stack-name=x", wantErr: true},
		{value: "AWS:x=y", wantErr: true},
		{value: many(48), wantErr: true}, // ELBv2 allows 50 tags, 3 of them ours
	} {
		t.Run(fmt.Sprintf("%.30q len %d", tc.value, len(tc.value)), func(t *testing.T) {
			g := NewWithT(t)
			got, err := annotations{annTags: tc.value}.tags()
			if tc.wantErr {
				expectAnnotationError(g, err, annTags)
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestHealthCheck(t *testing.T) {
	defaults := cloud.HealthCheck{Protocol: cloud.ProtocolHTTP, Port: "traffic-port", Path: "/", IntervalSeconds: 15,
		TimeoutSeconds: 5, HealthyThresholdCount: 2, UnhealthyThresholdCount: 2, SuccessCodes: "200"}
	with := func(f func(*cloud.HealthCheck)) cloud.HealthCheck {
		hc := defaults
		f(&hc)
		return hc
	}
	for _, tc := range []struct {
		name string
		ann  annotations
		want cloud.HealthCheck
	}{
		{"defaults", annotations{}, defaults},
		{"everything set", annotations{annHCPath: "/healthz?x=1", annHCPort: "8080", annHCProtocol: "HTTPS", annHCInterval: "30",
			annHCTimeout: "10", annHealthyCount: "3", annUnhealthyCount: "4", annSuccessCodes: "200-299, 302"},
			cloud.HealthCheck{Protocol: cloud.ProtocolHTTPS, Port: "8080", Path: "/healthz?x=1", IntervalSeconds: 30,
				TimeoutSeconds: 10, HealthyThresholdCount: 3, UnhealthyThresholdCount: 4, SuccessCodes: "200-299,302"}},
		{"traffic-port", annotations{annHCPort: "traffic-port"}, defaults},
		// The cloud wants "80", not what Atoi happens to accept.
		{"port with plus sign", annotations{annHCPort: "+80"}, with(func(h *cloud.HealthCheck) { h.Port = "80" })},
		{"port with leading zero", annotations{annHCPort: "0443"}, with(func(h *cloud.HealthCheck) { h.Port = "443" })},
		{"lowest interval and timeout", annotations{annHCInterval: "5", annHCTimeout: "2"},
			with(func(h *cloud.HealthCheck) { h.IntervalSeconds, h.TimeoutSeconds = 5, 2 })},
		{"highest interval and timeout", annotations{annHCInterval: "300", annHCTimeout: "120"},
			with(func(h *cloud.HealthCheck) { h.IntervalSeconds, h.TimeoutSeconds = 300, 120 })},
		{"spaces around numbers", annotations{annHCInterval: " 20 "}, with(func(h *cloud.HealthCheck) { h.IntervalSeconds = 20 })},
		{"threshold bounds", annotations{annHealthyCount: "10", annUnhealthyCount: "2"},
			with(func(h *cloud.HealthCheck) { h.HealthyThresholdCount = 10 })},
		{"success code bounds", annotations{annSuccessCodes: "200,499,200-499"},
			with(func(h *cloud.HealthCheck) { h.SuccessCodes = "200,499,200-499" })},
		{"longest path", annotations{annHCPath: "/" + strings.Repeat("p", 1023)},
			with(func(h *cloud.HealthCheck) { h.Path = "/" + strings.Repeat("p", 1023) })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := tc.ann.healthCheck(cloud.ProtocolHTTP, "")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestHealthCheckInvalid(t *testing.T) {
	for _, tc := range []struct {
		ann     annotations
		blamed  string
		because string
	}{
		{annotations{annHCProtocol: "TCP"}, annHCProtocol, ""},
		{annotations{annHCProtocol: ""}, annHCProtocol, ""},
		{annotations{annHCPath: "healthz"}, annHCPath, ""},
		{annotations{annHCPath: ""}, annHCPath, ""},
		{annotations{annHCPath: "/" + strings.Repeat("p", 1024)}, annHCPath, ""},
		{annotations{annHCPort: "0"}, annHCPort, ""},
		{annotations{annHCPort: "65536"}, annHCPort, ""},
		{annotations{annHCPort: "http_port"}, annHCPort, ""}, // not a port name
		{annotations{annHCPort: "-http"}, annHCPort, ""},
		{annotations{annHCPort: ""}, annHCPort, ""},
		{annotations{annHCInterval: "4", annHCTimeout: "2"}, annHCInterval, ""},
		{annotations{annHCInterval: "301"}, annHCInterval, ""},
		{annotations{annHCInterval: "15s"}, annHCInterval, ""},
		{annotations{annHCInterval: "4294967311"}, annHCInterval, ""}, // 15 after a careless int32 conversion
		{annotations{annHCTimeout: "1"}, annHCTimeout, ""},
		{annotations{annHCTimeout: "121", annHCInterval: "300"}, annHCTimeout, ""},
		{annotations{annHCTimeout: "15"}, annHCTimeout, "less than the interval"},
		{annotations{annHCTimeout: "30", annHCInterval: "30"}, annHCTimeout, "less than the interval"},
		// Only the interval was written, so the interval is what the user must fix.
		{annotations{annHCInterval: "5"}, annHCInterval, "more than the timeout"},
		{annotations{annHealthyCount: "1"}, annHealthyCount, ""},
		{annotations{annHealthyCount: "11"}, annHealthyCount, ""},
		{annotations{annUnhealthyCount: "1"}, annUnhealthyCount, ""},
		{annotations{annUnhealthyCount: "11"}, annUnhealthyCount, ""},
		{annotations{annUnhealthyCount: "two"}, annUnhealthyCount, ""},
		{annotations{annSuccessCodes: ""}, annSuccessCodes, ""},
		{annotations{annSuccessCodes: "2xx"}, annSuccessCodes, ""},
		{annotations{annSuccessCodes: "200-"}, annSuccessCodes, ""},
		{annotations{annSuccessCodes: "200,,302"}, annSuccessCodes, ""},
		// ALBs accept 200 to 499 only, low to high.
		{annotations{annSuccessCodes: "199"}, annSuccessCodes, ""},
		{annotations{annSuccessCodes: "500"}, annSuccessCodes, ""},
		{annotations{annSuccessCodes: "200-500"}, annSuccessCodes, ""},
		{annotations{annSuccessCodes: "299-200"}, annSuccessCodes, ""},
		{annotations{annSuccessCodes: "000"}, annSuccessCodes, ""},
	} {
		t.Run(fmt.Sprint(tc.ann), func(t *testing.T) {
			g := NewWithT(t)
			_, err := tc.ann.healthCheck(cloud.ProtocolHTTP, "")
			expectAnnotationError(g, err, tc.blamed)
			g.Expect(err.Error()).To(ContainSubstring(tc.because))
		})
	}
}

func TestLoadBalancerName(t *testing.T) {
	for _, tc := range []struct {
		value *string
		want  string
	}{
		{nil, ""},
		{ptr.To("a"), "a"},
		{ptr.To("My-LB-1"), "My-LB-1"},
		{ptr.To(strings.Repeat("x", 32)), strings.Repeat("x", 32)},
		{ptr.To("internal"), "internal"},
	} {
		t.Run(deref(tc.value), func(t *testing.T) {
			g := NewWithT(t)
			a := annotations{}
			if tc.value != nil {
				a[annLoadBalancerName] = *tc.value
			}
			got, err := a.loadBalancerName()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
	for _, bad := range []string{"", "-lb", "lb-", "-", strings.Repeat("x", 33), "my_lb", "my.lb", "my lb", " lb",
		"lb\n", "internal-lb", "ünï"} {
		t.Run("invalid "+bad, func(t *testing.T) {
			g := NewWithT(t)
			_, err := annotations{annLoadBalancerName: bad}.loadBalancerName()
			expectAnnotationError(g, err, annLoadBalancerName)
		})
	}
}

// TestAnnotationsInModel checks each issue-2 annotation end to end: a valid value reaches the model.
func TestAnnotationsInModel(t *testing.T) {
	const arn = "arn:aws-us-gov:iam::123456789012:server-certificate/web"
	for _, tc := range []struct {
		ann   map[string]string
		check func(g Gomega, lb *cloud.LoadBalancer)
	}{
		{nil, func(g Gomega, lb *cloud.LoadBalancer) {
			g.Expect(lb.Scheme).To(Equal(cloud.SchemeInternal), "the AWS Load Balancer Controller's default")
			g.Expect(lb.TargetGroups[0].TargetType).To(Equal(cloud.TargetTypeInstance))
			g.Expect(lb.Tags).To(BeEmpty())
		}},
		{map[string]string{annScheme: "internet-facing"}, func(g Gomega, lb *cloud.LoadBalancer) {
			g.Expect(lb.Scheme).To(Equal(cloud.SchemeInternetFacing))
		}},
		{map[string]string{annScheme: " internal "}, func(g Gomega, lb *cloud.LoadBalancer) {
			g.Expect(lb.Scheme).To(Equal(cloud.SchemeInternal))
		}},
		{map[string]string{annTargetType: "ip"}, func(g Gomega, lb *cloud.LoadBalancer) {
			g.Expect(lb.TargetGroups[0].TargetType).To(Equal(cloud.TargetTypeIP))
		}},
		{map[string]string{annCertificateARN: arn}, func(g Gomega, lb *cloud.LoadBalancer) {
			g.Expect(lb.Listeners[0].Certificates).To(Equal([]string{arn}))
		}},
		{map[string]string{annListenPorts: `[{"HTTPS": 8443}]`, annSSLPolicy: "ELBSecurityPolicy-FS-1-2-Res-2020-10"},
			func(g Gomega, lb *cloud.LoadBalancer) {
				g.Expect(lb.Listeners[0].Port).To(Equal(int32(8443)))
				g.Expect(lb.Listeners[0].SSLPolicy).To(Equal("ELBSecurityPolicy-FS-1-2-Res-2020-10"))
			}},
		{map[string]string{annHCPath: "/healthz", annHCPort: "9090", annHCProtocol: "HTTPS", annHCInterval: "10",
			annHCTimeout: "3", annHealthyCount: "5", annUnhealthyCount: "6", annSuccessCodes: "200-204"},
			func(g Gomega, lb *cloud.LoadBalancer) {
				g.Expect(lb.TargetGroups[0].HealthCheck).To(Equal(cloud.HealthCheck{Protocol: cloud.ProtocolHTTPS, Port: "9090",
					Path: "/healthz", IntervalSeconds: 10, TimeoutSeconds: 3, HealthyThresholdCount: 5,
					UnhealthyThresholdCount: 6, SuccessCodes: "200-204"}))
			}},
		{map[string]string{annTags: "team=web"}, func(g Gomega, lb *cloud.LoadBalancer) {
			g.Expect(lb.Tags).To(Equal(map[string]string{"team": "web"}))
		}},
		{map[string]string{annLoadBalancerName: "shop-prod"}, func(g Gomega, lb *cloud.LoadBalancer) {
			g.Expect(lb.Name).To(Equal("shop-prod"))
		}},
		{map[string]string{annLBAttributes: "idle_timeout.timeout_seconds=120, routing.http2.enabled=false",
			annTGAttributes: "deregistration_delay.timeout_seconds=30"}, func(g Gomega, lb *cloud.LoadBalancer) {
			g.Expect(lb.Attributes).To(Equal(map[string]string{"idle_timeout.timeout_seconds": "120", "routing.http2.enabled": "false"}))
			g.Expect(lb.TargetGroups[0].Attributes).To(Equal(map[string]string{"deregistration_delay.timeout_seconds": "30"}))
		}},
		{map[string]string{annWAFv2ACLARN: "none", annShield: "false"}, func(g Gomega, lb *cloud.LoadBalancer) {
			g.Expect(lb.WAFv2ACL).To(HaveValue(BeEmpty()), "none removes the association")
			g.Expect(lb.ShieldAdvanced).To(HaveValue(BeFalse()))
		}},
		{nil, func(g Gomega, lb *cloud.LoadBalancer) {
			g.Expect(lb.WAFv2ACL).To(BeNil(), "absent leaves the association alone")
			g.Expect(lb.ShieldAdvanced).To(BeNil())
			g.Expect(lb.Attributes).To(BeNil())
		}},
	} {
		t.Run(fmt.Sprint(tc.ann), func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(input(webIngress("app", tc.ann)))
			g.Expect(out.Errors).To(BeEmpty())
			tc.check(g, out.LoadBalancer)
		})
	}
}

// TestAnnotationsInvalid checks that a bad value of any issue-2 annotation leaves the member out with an error
// naming that annotation, which is what the Warning Event shows.
func TestAnnotationsInvalid(t *testing.T) {
	for _, tc := range []struct{ key, value string }{
		{annScheme, "public"},
		{annScheme, "Internal"},
		{annScheme, ""},
		{annListenPorts, `[{"HTTP": "eighty"}]`},
		{annCertificateARN, "my-cert"},
		{annCertificateARN, "arn:aws:s3:::bucket"},
		{annCertificateARN, "arn:aws:acm:us-east-1:1:certificate/1, not-an-arn"},
		{annSSLPolicy, ""},
		{annSSLPolicy, "ELBSecurityPolicy 2016"},
		{annSSLPolicy, "ELBSecurityPolicy_2016"},
		{annTargetType, "pod"},
		{annTargetType, "IP"},
		{annHCPath, "healthz"},
		{annHCPort, "99999"},
		{annHCProtocol, "GRPC"},
		{annHCInterval, "1"},
		{annHCTimeout, "200"},
		{annHealthyCount, "0"},
		{annUnhealthyCount, "100"},
		{annSuccessCodes, "ok"},
		{annTags, "a"},
		{annLoadBalancerName, "internal-x"},
		{annIPAddressType, "ipv6"},
		{annLBAttributes, "idle_timeout.timeout_seconds"},
		{annLBAttributes, "Idle Timeout=3"},
		{annTGAttributes, "deregistration_delay.timeout_seconds="},
		{annWAFv2ACLARN, "my-acl"},
		{annShield, "yes"},
		{annTargetNodeLabels, "pool"},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(input(webIngress("app", map[string]string{tc.key: tc.value})))
			g.Expect(out.LoadBalancer).To(BeNil())
			expectAnnotationError(g, out.Errors[key("app")], tc.key)
		})
	}
}

func TestAnnotationsIgnoreOtherKeys(t *testing.T) {
	g := NewWithT(t)
	// Annotations outside the vocabulary, and of other controllers, must not fail the member.
	out := Translate(input(webIngress("app", map[string]string{
		albPrefix + "unknown-annotation": "x", "nginx.ingress.kubernetes.io/rewrite-target": "/",
	})))
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.LoadBalancer).NotTo(BeNil())
}

func deref(s *string) string {
	if s == nil {
		return "<absent>"
	}
	return *s
}
