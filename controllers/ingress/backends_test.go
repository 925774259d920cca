package ingress

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/cloud"
)

// onlyTG translates in and returns its one target group, failing on any error.
func onlyTG(g Gomega, in Input) cloud.TargetGroup {
	out := Translate(in)
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.LoadBalancer.TargetGroups).To(HaveLen(1))
	return out.LoadBalancer.TargetGroups[0]
}

func TestBackendProtocols(t *testing.T) {
	for _, tc := range []struct {
		ann         map[string]string
		proto       cloud.Protocol
		version     string
		hcProto     cloud.Protocol
		path, codes string
		grpc        string
	}{
		{nil, cloud.ProtocolHTTP, "", cloud.ProtocolHTTP, "/", "200", ""},
		// HTTP1 is AWS's default and is left out of the model, which keeps the model of today's Ingresses.
		{map[string]string{annBackendProtocol: "HTTP", annBackendProtocolVersion: "HTTP1"}, cloud.ProtocolHTTP, "", cloud.ProtocolHTTP, "/", "200", ""},
		// The health check protocol follows the backend protocol unless set.
		{map[string]string{annBackendProtocol: "HTTPS"}, cloud.ProtocolHTTPS, "", cloud.ProtocolHTTPS, "/", "200", ""},
		{map[string]string{annBackendProtocol: "HTTPS", annHCProtocol: "HTTP"}, cloud.ProtocolHTTPS, "", cloud.ProtocolHTTP, "/", "200", ""},
		{map[string]string{annBackendProtocolVersion: "HTTP2", annSuccessCodes: "200-299"}, cloud.ProtocolHTTP, "HTTP2", cloud.ProtocolHTTP, "/", "200-299", ""},
		// gRPC: LBC's defaults, and success-codes are gRPC codes.
		{map[string]string{annBackendProtocol: "HTTPS", annBackendProtocolVersion: "GRPC"}, cloud.ProtocolHTTPS, "GRPC", cloud.ProtocolHTTPS,
			"/AWS.ALB/healthcheck", "", "12"},
		{map[string]string{annBackendProtocolVersion: "GRPC", annSuccessCodes: "0-99", annHCPath: "/pkg.Svc/Check"}, cloud.ProtocolHTTP, "GRPC",
			cloud.ProtocolHTTP, "/pkg.Svc/Check", "", "0-99"},
		{map[string]string{annBackendProtocolVersion: "GRPC", annSuccessCodes: "0, 12"}, cloud.ProtocolHTTP, "GRPC", cloud.ProtocolHTTP,
			"/AWS.ALB/healthcheck", "", "0,12"},
	} {
		t.Run(fmt.Sprint(tc.ann), func(t *testing.T) {
			g := NewWithT(t)
			tg := onlyTG(g, input(webIngress("app", tc.ann)))
			g.Expect(tg.Protocol).To(Equal(tc.proto))
			g.Expect(tg.ProtocolVersion).To(Equal(tc.version))
			g.Expect(tg.HealthCheck.Protocol).To(Equal(tc.hcProto))
			g.Expect(tg.HealthCheck.Path).To(Equal(tc.path))
			g.Expect(tg.HealthCheck.SuccessCodes).To(Equal(tc.codes))
			g.Expect(tg.HealthCheck.GRPCCodes).To(Equal(tc.grpc))
		})
	}
}

func TestBackendAnnotationsInvalid(t *testing.T) {
	for _, tc := range []struct {
		ann    map[string]string
		blamed string
	}{
		{map[string]string{annBackendProtocol: "TCP"}, annBackendProtocol},
		{map[string]string{annBackendProtocol: "https"}, annBackendProtocol},
		{map[string]string{annBackendProtocolVersion: "HTTP3"}, annBackendProtocolVersion},
		{map[string]string{annBackendProtocolVersion: ""}, annBackendProtocolVersion},
		{map[string]string{annBackendProtocolVersion: "GRPC", annSuccessCodes: "200"}, annSuccessCodes},
		{map[string]string{annBackendProtocolVersion: "GRPC", annSuccessCodes: "100"}, annSuccessCodes},
		{map[string]string{annBackendProtocolVersion: "GRPC", annSuccessCodes: "12-3"}, annSuccessCodes},
		{map[string]string{annBackendProtocolVersion: "GRPC", annSuccessCodes: "0,,1"}, annSuccessCodes},
		{map[string]string{annBackendProtocolVersion: "GRPC", annSuccessCodes: ""}, annSuccessCodes},
		// HTTP codes stay HTTP codes for HTTP1 and HTTP2.
		{map[string]string{annBackendProtocolVersion: "HTTP2", annSuccessCodes: "12"}, annSuccessCodes},
		{map[string]string{annHCPort: "no_such"}, annHCPort},
		{map[string]string{annTargetType: "lambda"}, annTargetType},
	} {
		t.Run(fmt.Sprint(tc.ann), func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(input(webIngress("app", tc.ann), webIngress("good", nil)))
			expectAnnotationError(g, out.Errors[key("app")], tc.blamed)
			g.Expect(reasonFor(out.Errors[key("app")])).To(Equal("InvalidAnnotation"))
			g.Expect(out.Members).To(ConsistOf(HaveField("Name", "good")))
		})
	}
}

// namedPorts has a Service "named" with a NodePort, a numeric target port and a named one.
func namedPorts(in Input) Input {
	in.Services[types.NamespacedName{Namespace: "ns", Name: "named"}] = &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "named"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
			svcPort("http", 80, 30080, intstr.FromInt32(8080)),
			svcPort("health", 81, 30081, intstr.FromInt32(8081)),
			svcPort("admin", 82, 30082, intstr.FromString("admin-port")),
		}},
	}
	return in
}

func TestNamedHealthCheckPort(t *testing.T) {
	ing := func(ann map[string]string) *networkingv1.Ingress {
		return ingress("app", ann, rule("", httpPath("/", networkingv1.PathTypePrefix, backend("named", 80))))
	}
	for _, tc := range []struct {
		ann  map[string]string
		want string
		err  string
	}{
		{map[string]string{annHCPort: "health"}, "30081", ""},
		{map[string]string{annHCPort: "health", annTargetType: "ip"}, "8081", ""},
		{map[string]string{annHCPort: "9000", annTargetType: "ip"}, "9000", ""},
		{map[string]string{annHCPort: "admin"}, "30082", ""},
		{map[string]string{annHCPort: "admin", annTargetType: "ip"}, "", "port admin has a named targetPort"},
		{map[string]string{annHCPort: "metrics"}, "", "service ns/named has no port named metrics"},
	} {
		t.Run(fmt.Sprint(tc.ann), func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(namedPorts(input(ing(tc.ann))))
			if tc.err != "" {
				expectAnnotationError(g, out.Errors[key("app")], annHCPort)
				g.Expect(out.Errors[key("app")].Error()).To(ContainSubstring(tc.err))
				return
			}
			g.Expect(out.Errors).To(BeEmpty())
			g.Expect(out.LoadBalancer.TargetGroups[0].HealthCheck.Port).To(Equal(tc.want))
		})
	}
}

func TestServiceAnnotationsOverrideTheIngress(t *testing.T) {
	prefix := networkingv1.PathTypePrefix
	ing := ingress("app", map[string]string{annHCPath: "/ingress", annTGAttributes: "deregistration_delay.timeout_seconds=30",
		annSuccessCodes: "200-299"},
		rule("", httpPath("/", prefix, backend("web", 80)), httpPath("/api", prefix, backend("api", 9000))))
	svcAnn := map[string]string{annTargetType: "ip", annBackendProtocol: "HTTPS", annBackendProtocolVersion: "GRPC",
		annHCPath: "/svc.Health/Check", annHCInterval: "30", annHCTimeout: "20", annHealthyCount: "5", annUnhealthyCount: "6",
		annTGAttributes: "stickiness.enabled=true", annTargetNodeLabels: "pool=api", annSuccessCodes: "0,12", "team": "x"}

	g := NewWithT(t)
	in := input(ing)
	in.Services[types.NamespacedName{Namespace: "ns", Name: "api"}].Annotations = svcAnn
	out := Translate(in)
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.Notices).To(BeEmpty())
	tgs := map[string]cloud.TargetGroup{}
	for _, tg := range out.LoadBalancer.TargetGroups {
		tgs[tg.ID] = tg
	}
	web, api := tgs["ns/app/web:80"], tgs["ns/app/api:9000"]
	g.Expect(web.TargetType).To(Equal(cloud.TargetTypeInstance), "the Service without annotations keeps the Ingress's values")
	g.Expect(web.HealthCheck.Path).To(Equal("/ingress"))
	g.Expect(web.HealthCheck.SuccessCodes).To(Equal("200-299"))
	g.Expect(web.Attributes).To(Equal(map[string]string{"deregistration_delay.timeout_seconds": "30"}))

	g.Expect(api.TargetType).To(Equal(cloud.TargetTypeIP))
	g.Expect(api.Protocol).To(Equal(cloud.ProtocolHTTPS))
	g.Expect(api.ProtocolVersion).To(Equal("GRPC"))
	g.Expect(api.HealthCheck).To(Equal(cloud.HealthCheck{Protocol: cloud.ProtocolHTTPS, Port: "traffic-port", Path: "/svc.Health/Check",
		IntervalSeconds: 30, TimeoutSeconds: 20, HealthyThresholdCount: 5, UnhealthyThresholdCount: 6, GRPCCodes: "0,12"}))
	g.Expect(api.Attributes).To(Equal(map[string]string{"stickiness.enabled": "true"}), "the Service's value replaces the Ingress's whole")
	for _, b := range out.Bindings {
		if b.ID == api.ID {
			g.Expect(b.TargetType).To(Equal("ip"))
			g.Expect(b.NodeSelector).To(Equal(map[string]string{"pool": "api"}))
		}
	}

	t.Run("an invalid Service value names the Service and the annotation", func(t *testing.T) {
		g := NewWithT(t)
		in := input(ing, webIngress("good", nil))
		in.Services[types.NamespacedName{Namespace: "ns", Name: "api"}].Annotations = map[string]string{annBackendProtocol: "FTP"}
		out := Translate(in)
		expectAnnotationError(g, out.Errors[key("app")], annBackendProtocol)
		g.Expect(out.Errors[key("app")].Error()).To(HavePrefix("backend Service ns/api: annotation " + annBackendProtocol))
		g.Expect(out.Members).To(ConsistOf(HaveField("Name", "good")))
	})
	t.Run("the Ingress's HTTP success codes on a Service's gRPC group name the Service", func(t *testing.T) {
		g := NewWithT(t)
		in := input(ing)
		in.Services[types.NamespacedName{Namespace: "ns", Name: "api"}].Annotations = map[string]string{annBackendProtocolVersion: "GRPC"}
		out := Translate(in)
		expectAnnotationError(g, out.Errors[key("app")], annSuccessCodes)
		g.Expect(out.Errors[key("app")].Error()).To(HavePrefix("backend Service ns/api: annotation " + annSuccessCodes + `="200-299"`))
	})
	t.Run("IngressClassParams' target type wins over the Service's", func(t *testing.T) {
		g := NewWithT(t)
		in := input(webIngress("app", nil))
		in.Services[types.NamespacedName{Namespace: "ns", Name: "web"}].Annotations = map[string]string{annTargetType: "instance",
			annHCPath: "/svc"}
		in.Classes = map[types.NamespacedName]*networkingv1.IngressClass{key("app"): {ObjectMeta: metav1.ObjectMeta{Name: "alb"},
			Spec: networkingv1.IngressClassSpec{Controller: ControllerName, Parameters: &networkingv1.IngressClassParametersReference{
				APIGroup: ptr.To(elbv2.GroupVersion.Group), Kind: "IngressClassParams", Name: "p"}}}}
		in.ClassParams = map[string]*elbv2.IngressClassParams{"alb": {ObjectMeta: metav1.ObjectMeta{Name: "p"},
			Spec: elbv2.IngressClassParamsSpec{TargetType: elbv2.TargetTypeIP}}}
		tg := onlyTG(g, in)
		g.Expect(tg.TargetType).To(Equal(cloud.TargetTypeIP))
		g.Expect(tg.HealthCheck.Path).To(Equal("/svc"))
	})
	t.Run("keys nothing reads from a Service are noticed, not refused", func(t *testing.T) {
		g := NewWithT(t)
		in := input(webIngress("app", nil))
		in.Services[types.NamespacedName{Namespace: "ns", Name: "web"}].Annotations = map[string]string{annScheme: "internet-facing",
			albPrefix + "healthcheck-pth": "/x"}
		out := Translate(in)
		g.Expect(out.Errors).To(BeEmpty())
		g.Expect(out.Notices[key("app")]).To(Equal("backend Service annotations " + annHCPath[:len(annHCPath)-4] + "pth (Service ns/web), " +
			annScheme + " (Service ns/web) are not read from a Service by cloudlb or by the AWS Load Balancer Controller, and are ignored"))
	})
}

// A backend Service's tags go on its target groups, over the Ingress's tags for them, as in LBC; an invalid or
// externally managed key names the Service and the annotation.
func TestServiceTags(t *testing.T) {
	prefix := networkingv1.PathTypePrefix
	ing := ingress("app", map[string]string{annTags: "team=web,env=prod"},
		rule("", httpPath("/", prefix, backend("web", 80)), httpPath("/api", prefix, backend("api", 9000))))
	api := types.NamespacedName{Namespace: "ns", Name: "api"}

	g := NewWithT(t)
	in := input(ing)
	in.Services[api].Annotations = map[string]string{annTags: "team=api,cost-center=42"}
	out := Translate(in)
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.Notices).To(BeEmpty())
	g.Expect(out.LoadBalancer.Tags).To(Equal(map[string]string{"team": "web", "env": "prod"}), "the load balancer keeps the Ingress's")
	for _, tg := range out.LoadBalancer.TargetGroups {
		switch tg.ID {
		case "ns/app/api:9000":
			g.Expect(tg.Tags).To(Equal(map[string]string{"team": "api", "cost-center": "42"}))
		default:
			g.Expect(tg.Tags).To(BeEmpty(), tg.ID)
		}
	}

	in = input(ing)
	in.Services[api].Annotations = map[string]string{annTags: "cloudlb.io/stack=x"}
	out = Translate(in)
	expectAnnotationError(g, out.Errors[key("app")], annTags)
	g.Expect(out.Errors[key("app")].Error()).To(HavePrefix("backend Service ns/api: annotation " + annTags))

	in = input(ing)
	in.ExternalManagedTags = []string{"cost-center"}
	in.Services[api].Annotations = map[string]string{annTags: "cost-center=42"}
	out = Translate(in)
	expectAnnotationError(g, out.Errors[key("app")], annTags)
	g.Expect(out.Errors[key("app")].Error()).To(ContainSubstring("--external-managed-tags"))
}

func TestDefaultTargetType(t *testing.T) {
	g := NewWithT(t)
	in := input(webIngress("app", nil))
	g.Expect(onlyTG(g, in).TargetType).To(Equal(cloud.TargetTypeInstance))
	in.DefaultTargetType = cloud.TargetTypeIP
	g.Expect(onlyTG(g, in).TargetType).To(Equal(cloud.TargetTypeIP))
	g.Expect(onlyTG(g, input(webIngress("app", map[string]string{annTargetType: "instance"}))).TargetType).To(Equal(cloud.TargetTypeInstance))
}

func TestIPv6TargetGroups(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lbType   string
		target   string
		families []corev1.IPFamily
		want     string
	}{
		{"dualstack, ip, IPv6 Service", "dualstack", "ip", []corev1.IPFamily{corev1.IPv6Protocol}, "ipv6"},
		{"dualstack, ip, dual-stack Service", "dualstack", "ip", []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}, "ipv6"},
		{"dualstack, ip, IPv4 Service", "dualstack", "ip", []corev1.IPFamily{corev1.IPv4Protocol}, ""},
		{"dualstack, instance, IPv6 Service", "dualstack", "instance", []corev1.IPFamily{corev1.IPv6Protocol}, ""},
		{"ipv4, ip, IPv6 Service", "", "ip", []corev1.IPFamily{corev1.IPv6Protocol}, ""},
		{"ipv4, ip, dual-stack Service", "", "ip", []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ann := map[string]string{annTargetType: tc.target}
			if tc.lbType != "" {
				ann[annIPAddressType] = tc.lbType
			}
			in := input(webIngress("app", ann))
			in.Services[types.NamespacedName{Namespace: "ns", Name: "web"}].Spec.IPFamilies = tc.families
			out := Translate(in)
			g.Expect(out.Errors).To(BeEmpty())
			g.Expect(out.LoadBalancer.TargetGroups[0].IPAddressType).To(Equal(tc.want))
			g.Expect(out.Bindings[0].IPAddressType).To(Equal(tc.want))
			if tc.name == "ipv4, ip, IPv6 Service" {
				g.Expect(out.Warnings[key("app")]).To(ConsistOf(ContainSubstring("service ns/web has only the IPv6 family")))
			} else {
				g.Expect(out.Warnings[key("app")]).To(BeEmpty())
			}
		})
	}

	t.Run("a member that leaves the address type to its group gets IPv6 groups from it", func(t *testing.T) {
		g := NewWithT(t)
		group := map[string]string{annGroupName: "g", annTargetType: "ip"}
		dual := map[string]string{annGroupName: "g", annIPAddressType: "dualstack"}
		in := input(webIngress("a", group), webIngress("b", dual))
		in.Stack = "g"
		in.Services[types.NamespacedName{Namespace: "ns", Name: "web"}].Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
		out := Translate(in)
		g.Expect(out.Errors).To(BeEmpty())
		for _, tg := range out.LoadBalancer.TargetGroups {
			g.Expect(tg.IPAddressType).To(Equal(map[string]string{"ns/a/web:80": "ipv6", "ns/b/web:80": ""}[tg.ID]), tg.ID)
		}
	})

	// Earlier cloudlb made IPv4 groups for dual-stack Services: an upgrade keeps a serving group's family while
	// the Service still has IPv4, and a group of an IPv6-only Service, which can have no IPv4 target, moves.
	t.Run("a target group applied as IPv4 stays IPv4 while its Service has the IPv4 family", func(t *testing.T) {
		g := NewWithT(t)
		ann := map[string]string{annTargetType: "ip", annIPAddressType: "dualstack"}
		web := types.NamespacedName{Namespace: "ns", Name: "web"}
		before := input(webIngress("app", ann))
		before.Services[web].Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		applied := Translate(before).Models[key("app")]

		in := input(webIngress("app", ann))
		in.Services[web].Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		in.Applied = map[types.NamespacedName]bool{key("app"): true}
		in.Kept = map[types.NamespacedName]string{key("app"): applied}
		out := Translate(in)
		g.Expect(out.LoadBalancer.TargetGroups[0].IPAddressType).To(BeEmpty())
		g.Expect(out.Bindings[0].IPAddressType).To(BeEmpty())

		in.Services[web].Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
		out = Translate(in)
		g.Expect(out.LoadBalancer.TargetGroups[0].IPAddressType).To(Equal("ipv6"))
		g.Expect(out.Bindings[0].IPAddressType).To(Equal("ipv6"))
	})
}

// FuzzBackendSettings holds the target group annotations to the parsers' contract (fuzz_test.go), and what they
// accept to what a target group takes: one of its protocols and versions, and gRPC codes 0 to 99 for GRPC only.
func FuzzBackendSettings(f *testing.F) {
	f.Add(uint8(0), "", "", "", "")
	f.Add(uint8(0xf), "HTTPS", "GRPC", "0-99", "health")
	f.Add(uint8(0xf), "HTTP", "HTTP2", "200,302", "8080")
	f.Add(uint8(0x6), "", "GRPC", "12-3", "")
	f.Fuzz(func(t *testing.T, present uint8, proto, version, codes, port string) {
		keys := []string{annBackendProtocol, annBackendProtocolVersion, annSuccessCodes, annHCPort}
		a := annotations{}
		var set []string
		for i, v := range []string{proto, version, codes, port} {
			if present&(1<<i) != 0 {
				a[keys[i]] = v
				set = append(set, keys[i])
			}
		}
		s, err := a.backendSettings("")
		if err != nil {
			requireAnnotationError(t, err, set...)
			return
		}
		if s.protocol != cloud.ProtocolHTTP && s.protocol != cloud.ProtocolHTTPS {
			t.Fatalf("protocol %q", s.protocol)
		}
		switch s.version {
		case "", cloud.ProtocolVersionHTTP2:
			if s.hc.GRPCCodes != "" || !successCodesRE.MatchString(s.hc.SuccessCodes) {
				t.Fatalf("version %q: codes %q, gRPC codes %q", s.version, s.hc.SuccessCodes, s.hc.GRPCCodes)
			}
		case cloud.ProtocolVersionGRPC:
			for _, item := range strings.Split(s.hc.GRPCCodes, ",") {
				lo, hi, _ := strings.Cut(item, "-")
				l, lerr := strconv.Atoi(lo)
				h, herr := strconv.Atoi(cmp.Or(hi, lo))
				if lerr != nil || herr != nil || l < 0 || h > 99 || l > h || s.hc.SuccessCodes != "" {
					t.Fatalf("gRPC codes %q, HTTP codes %q", s.hc.GRPCCodes, s.hc.SuccessCodes)
				}
			}
		default:
			t.Fatalf("version %q", s.version)
		}
	})
}
