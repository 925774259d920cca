package ingress

import (
	"errors"
	"maps"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestImplementedAnnotationsAreNeitherRefusedNorUnknown(t *testing.T) {
	g := NewWithT(t)
	valid := map[string]string{
		annScheme: "internet-facing", annIPAddressType: "dualstack", annLoadBalancerName: "my-lb",
		annListenPorts: `[{"HTTP": 80}, {"HTTPS": 443}]`, annSSLRedirect: "443", annMutualAuthentication: `[{"port": 443, "mode": "off"}]`,
		annCertificateARN: "arn:aws:acm:us-east-1:1:certificate/x",
		annSSLPolicy:      "ELBSecurityPolicy-TLS13-1-2-2021-06", annSubnets: "subnet-1,subnet-2", annSecurityGroups: "sg-1",
		annInboundCIDRs: "10.0.0.0/8", annTags: "team=web", annTargetType: "ip", annHCPath: "/healthz", annHCPort: "8080",
		annHCProtocol: "HTTPS", annHCInterval: "30", annHCTimeout: "10", annHealthyCount: "3", annUnhealthyCount: "3",
		annSuccessCodes: "200-299", annWAFv2ACLARN: "arn:aws:wafv2:us-east-1:1:regional/webacl/x/y",
		annLBAttributes: "idle_timeout.timeout_seconds=120", annTGAttributes: "deregistration_delay.timeout_seconds=30",
		annShield: "true", annTargetNodeLabels: "kubernetes.io/os=linux", annGroupName: "shared", annGroupOrder: "-10",
		annUseRegexPathMatch: "false",
		annBackendProtocol:   "HTTPS", annBackendProtocolVersion: "HTTP2",
		annCreateACMCert: "true", annACMPCAARN: "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/x",
		annAuthType: "none", annAuthIDPCognito: cognitoJSON, annJWTValidation: jwtJSON, annAuthOnUnauth: "deny", annAuthScope: "email openid",
		annAuthSessionCookie: "c", annAuthSessionTimeout: "60", annAuthIDPOIDC: oidcJSON,
	}
	maps.Copy(valid, lboptsValid)
	valid[annManageBackendRules] = "true"
	var implementedKeys []string
	for name, s := range lbcKeys {
		if s == implemented {
			implementedKeys = append(implementedKeys, albPrefix+name)
		}
	}
	g.Expect(implementedKeys).To(ConsistOf(append(slices.Collect(maps.Keys(valid)), lboptsExclusive...)))

	out := Translate(input(webIngress("app", valid)))
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.Notices).To(BeEmpty())
	g.Expect(out.LoadBalancer).NotTo(BeNil())
}

func TestRefusedAnnotationLeavesTheMemberOut(t *testing.T) {
	for _, k := range []string{
		"web-acl-id", "target-control-port.web.80", "frontend-nlb-scheme", "multi-cluster-target-group"} {
		t.Run(k, func(t *testing.T) {
			g := NewWithT(t)
			bad := webIngress("bad", map[string]string{albPrefix + k: "x"})
			good := webIngress("good", nil)
			out := Translate(input(bad, good))

			var ue *UnsupportedAnnotationError
			g.Expect(errors.As(out.Errors[key("bad")], &ue)).To(BeTrue(), "%v", out.Errors)
			g.Expect(ue.Keys).To(Equal([]string{albPrefix + k}))
			g.Expect(ue.Error()).To(ContainSubstring("cloudlb does not implement annotation " + albPrefix + k + " yet"))
			g.Expect(reasonFor(out.Errors[key("bad")])).To(Equal("UnsupportedAnnotation"))
			g.Expect(out.Members).To(ConsistOf(good))
			g.Expect(out.Bindings).To(HaveLen(1))
		})
	}
}

func TestEveryRefusedKeyIsRefused(t *testing.T) {
	g := NewWithT(t)
	for name, s := range lbcKeys {
		if s != refused {
			continue
		}
		out := Translate(input(webIngress("app", map[string]string{albPrefix + name: "x"})))
		g.Expect(out.LoadBalancer).To(BeNil(), name)
		g.Expect(out.Errors[key("app")]).To(BeAssignableToTypeOf(&UnsupportedAnnotationError{}), name)
		g.Expect(out.Notices).To(BeEmpty(), name)
	}
}

func TestNoOpValuesOfRefusedKeysAreAccepted(t *testing.T) {
	g := NewWithT(t)
	noOps := map[string]string{
		albPrefix + "auth-type":                  "none",
		albPrefix + "enable-frontend-nlb":        "false",
		albPrefix + "multi-cluster-target-group": "false",
	}
	in := input(webIngress("app", noOps))
	in.Services[types.NamespacedName{Namespace: "ns", Name: "web"}].Annotations = noOps
	out := Translate(in)
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.LoadBalancer).NotTo(BeNil())

	for k, v := range map[string]string{
		"enable-frontend-nlb": "true", "multi-cluster-target-group": "true"} {
		out := Translate(input(webIngress("app", map[string]string{albPrefix + k: v})))
		g.Expect(out.Errors[key("app")]).To(BeAssignableToTypeOf(&UnsupportedAnnotationError{}), k)
	}
}

func TestRefusedAnnotationsAreAllNamed(t *testing.T) {
	g := NewWithT(t)
	out := Translate(input(webIngress("app", map[string]string{
		albPrefix + "web-acl-id": "x", albPrefix + "frontend-nlb-scheme": "internal", annScheme: "internal",
	})))
	g.Expect(out.Errors[key("app")]).To(MatchError(
		"cloudlb does not implement annotations alb.ingress.kubernetes.io/frontend-nlb-scheme, alb.ingress.kubernetes.io/web-acl-id yet"))
}

func TestUnknownAnnotationsAreNoticedAndIgnored(t *testing.T) {
	const ignored = " is not read by cloudlb or by the AWS Load Balancer Controller, and is ignored"
	for _, tc := range []struct {
		key, notice string
	}{
		{albPrefix + "healthcheck-pth", "annotation alb.ingress.kubernetes.io/healthcheck-pth (did you mean alb.ingress.kubernetes.io/healthcheck-path?)" + ignored},
		{albPrefix + "Scheme", "annotation alb.ingress.kubernetes.io/Scheme (did you mean alb.ingress.kubernetes.io/scheme?)" + ignored},
		{albPrefix + "targetgroup-attributes", "annotation alb.ingress.kubernetes.io/targetgroup-attributes (did you mean alb.ingress.kubernetes.io/target-group-attributes?)" + ignored},
		{albPrefix + "group-name", "annotation alb.ingress.kubernetes.io/group-name (did you mean alb.ingress.kubernetes.io/group.name?)" + ignored},
		{albPrefix + "action.redirect", "annotation alb.ingress.kubernetes.io/action.redirect (did you mean alb.ingress.kubernetes.io/actions.redirect?)" + ignored},
		{"alb.ingress.kubernets.io/scheme", "annotation alb.ingress.kubernets.io/scheme (did you mean alb.ingress.kubernetes.io/scheme?)" + ignored},
		{"cloudlb.io/scheme", "annotation cloudlb.io/scheme (did you mean alb.ingress.kubernetes.io/scheme?)" + ignored},
		{albPrefix + "websocket-paths", "annotation alb.ingress.kubernetes.io/websocket-paths" + ignored},
		{cloudlbPrefix + "anything", "annotation cloudlb.io/anything" + ignored},
	} {
		t.Run(tc.key, func(t *testing.T) {
			g := NewWithT(t)
			out := Translate(input(webIngress("app", map[string]string{tc.key: "x"})))
			g.Expect(out.Errors).To(BeEmpty())
			g.Expect(out.LoadBalancer).NotTo(BeNil())
			g.Expect(out.Notices).To(Equal(map[types.NamespacedName]string{key("app"): tc.notice}))
		})
	}
}

func TestUnknownAnnotationsMakeOneNotice(t *testing.T) {
	g := NewWithT(t)
	out := Translate(input(webIngress("app", map[string]string{albPrefix + "websocket-paths": "/ws", albPrefix + "healthcheck-pth": "/"})))
	g.Expect(out.Notices[key("app")]).To(Equal("annotations alb.ingress.kubernetes.io/healthcheck-pth (did you mean " +
		"alb.ingress.kubernetes.io/healthcheck-path?), alb.ingress.kubernetes.io/websocket-paths are not read by cloudlb or " +
		"by the AWS Load Balancer Controller, and are ignored"))
}

func TestOtherControllersAnnotationsAreNotNoticed(t *testing.T) {
	g := NewWithT(t)
	out := Translate(input(webIngress("app", map[string]string{
		"nginx.ingress.kubernetes.io/rewrite-target": "/", "kubectl.kubernetes.io/last-applied-configuration": "{}",
		"external-dns.alpha.kubernetes.io/hostname": "a.example.com", albPrefix + "dry-run-plan": "{}",
		"service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
	})))
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.Notices).To(BeEmpty())
}

func TestNoticesReachRefusedMembersToo(t *testing.T) {
	g := NewWithT(t)
	out := Translate(input(webIngress("app", map[string]string{albPrefix + "auth-type": "oidc", albPrefix + "auth-tpye": "x"})))
	g.Expect(out.Errors[key("app")]).To(HaveOccurred())
	g.Expect(out.Notices[key("app")]).To(ContainSubstring(albPrefix + "auth-tpye"))
}

func TestBackendServiceAnnotationsRefuseTheIngress(t *testing.T) {
	prefix := networkingv1.PathTypePrefix
	ing := ingress("app", nil, rule("", httpPath("/", prefix, backend("web", 80)), httpPath("/api", prefix, backend("api", 9000))))

	t.Run("refused keys on a backend Service", func(t *testing.T) {
		g := NewWithT(t)
		in := input(ing)
		in.Services[types.NamespacedName{Namespace: "ns", Name: "api"}].Annotations = map[string]string{
			albPrefix + "healthcheck-path": "/ready", albPrefix + "waf-acl-id": "x", albPrefix + "tags": "a=b", "team": "x",
		}
		out := Translate(in)
		g.Expect(out.LoadBalancer).To(BeNil())
		var ue *UnsupportedAnnotationError
		g.Expect(errors.As(out.Errors[key("app")], &ue)).To(BeTrue())
		g.Expect(ue.Service).To(Equal("ns/api"))
		g.Expect(ue.Error()).To(Equal("backend Service ns/api has annotation alb.ingress.kubernetes.io/waf-acl-id, " +
			"which cloudlb does not implement on a Service yet"))
		g.Expect(reasonFor(ue)).To(Equal("UnsupportedAnnotation"))
	})
	t.Run("other annotations on a backend Service", func(t *testing.T) {
		g := NewWithT(t)
		in := input(ing)
		in.Services[types.NamespacedName{Namespace: "ns", Name: "api"}].Annotations = map[string]string{
			"service.beta.kubernetes.io/aws-load-balancer-type": "nlb", "team": "x",
		}
		out := Translate(in)
		g.Expect(out.Errors).To(BeEmpty())
	})
}

// Parameters of any kind but LBC's IngressClassParams (classparams_test.go) cannot be known: refuse.
func TestForeignClassParametersRefuseTheIngress(t *testing.T) {
	g := NewWithT(t)
	in := input(webIngress("app", nil), webIngress("other", nil))
	in.Classes = map[types.NamespacedName]*networkingv1.IngressClass{
		key("app"): {ObjectMeta: metav1.ObjectMeta{Name: "alb-public"}, Spec: networkingv1.IngressClassSpec{
			Controller: ControllerName,
			Parameters: &networkingv1.IngressClassParametersReference{APIGroup: ptr.To("example.com"), Kind: "IngressClassParams", Name: "public"},
		}},
		key("other"): {ObjectMeta: metav1.ObjectMeta{Name: "cloudlb"}, Spec: networkingv1.IngressClassSpec{Controller: ControllerName}},
	}
	out := Translate(in)
	g.Expect(out.Errors[key("app")]).To(MatchError(
		"IngressClass alb-public has spec.parameters (IngressClassParams.example.com public), which cloudlb does not implement yet"))
	g.Expect(reasonFor(out.Errors[key("app")])).To(Equal("UnsupportedIngressClassParameters"))
	g.Expect(out.Members).To(HaveLen(1))
	g.Expect(out.Members[0].Name).To(Equal("other"))
}

func TestClassOf(t *testing.T) {
	class := func(name, controller string, isDefault bool) networkingv1.IngressClass {
		c := networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.IngressClassSpec{Controller: controller}}
		if isDefault {
			c.Annotations = map[string]string{defaultClassAnnotation: "true"}
		}
		return c
	}
	classes := []networkingv1.IngressClass{class("nginx", "k8s.io/nginx", true), class("cloudlb", ControllerName, false),
		class("cloudlb-default", ControllerName, true)}
	for _, tc := range []struct {
		name   string
		ing    *networkingv1.Ingress
		others []networkingv1.IngressClass
		want   string
	}{
		{"named", &networkingv1.Ingress{Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("cloudlb")}}, classes, "cloudlb"},
		{"named, missing", &networkingv1.Ingress{Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("gone")}}, classes, ""},
		{"default of ours", &networkingv1.Ingress{}, classes, "cloudlb-default"},
		{"default of another controller only", &networkingv1.Ingress{}, classes[:2], ""},
		{"legacy annotation", &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{legacyClassAnnotation: "cloudlb"}},
			Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("cloudlb")}}, classes, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if c := classOf(tc.ing, tc.others, newServed(nil, "cloudlb", false)); c != nil {
				got = c.Name
			}
			NewWithT(t).Expect(got).To(Equal(tc.want))
		})
	}
}

func TestEditDistance(t *testing.T) {
	g := NewWithT(t)
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"", "abc", 3}, {"scheme", "scheme", 0}, {"scheme", "Scheme", 1}, {"healthcheck-pth", "healthcheck-path", 1},
		{"group-name", "group.name", 1}, {"kitten", "sitting", 3}, {"ab", "ba", 2}} {
		g.Expect(editDistance(tc.a, tc.b)).To(Equal(tc.d), "%q %q", tc.a, tc.b)
		g.Expect(editDistance(tc.b, tc.a)).To(Equal(tc.d), "%q %q", tc.b, tc.a)
	}
}
