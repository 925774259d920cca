package ingress

import (
	"cmp"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cloudlb/cloudlb/cloud"
)

// The fuzz targets hold every parser to one contract: never panic, and fail only with an *AnnotationError naming
// an annotation the Ingress actually carries, so the Warning Event points at something the user can fix. What
// they accept must be something the cloud accepts too, or the error surfaces later as an opaque InvalidSpec.

func requireAnnotationError(t *testing.T, err error, keys ...string) {
	t.Helper()
	var ae *AnnotationError
	if !errors.As(err, &ae) {
		t.Fatalf("got %T %v, want *AnnotationError", err, err)
	}
	if !slices.Contains(keys, ae.Key) {
		t.Fatalf("error blames %s, want one of %v: %v", ae.Key, keys, err)
	}
}

func FuzzListenPorts(f *testing.F) {
	for _, s := range []string{`[{"HTTP": 80}, {"HTTPS": 443}]`, `[{"https": 8443}]`, `[{"HTTP": 80, "HTTPS": 443}]`,
		`[]`, `null`, `[{"HTTP": 65536}]`, `[{"HTTP": 80}, {"HTTP": 80}]`} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, v string, hasTLS bool) {
		a := annotations{annListenPorts: v}
		ports, err := a.listenPorts(hasTLS)
		if err != nil {
			requireAnnotationError(t, err, annListenPorts)
			return
		}
		if len(ports) == 0 {
			t.Fatalf("%q parsed to no listener", v)
		}
		seen := map[int32]bool{}
		for _, p := range ports {
			if p.Port < 1 || p.Port > 65535 || seen[p.Port] || (p.Protocol != cloud.ProtocolHTTP && p.Protocol != cloud.ProtocolHTTPS) {
				t.Fatalf("%q parsed to invalid or duplicate %+v", v, p)
			}
			seen[p.Port] = true
		}
		if again, _ := a.listenPorts(hasTLS); !reflect.DeepEqual(again, ports) {
			t.Fatalf("%q parsed to %v, then %v", v, ports, again)
		}
	})
}

func FuzzTags(f *testing.F) {
	for _, s := range []string{"team=web,env=dev", "k=", "a=b=c", "team", "=v", "cloudlb.io/stack=x", "aws:x=y", "k=v!", " , ,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tags, err := annotations{annTags: v}.tags()
		if err != nil {
			requireAnnotationError(t, err, annTags)
			return
		}
		if len(tags) > maxUserTags {
			t.Fatalf("%d tags accepted", len(tags))
		}
		for k, val := range tags {
			if k == "" || len([]rune(k)) > 128 || len([]rune(val)) > 256 {
				t.Fatalf("tag %q=%q exceeds ELBv2 limits", k, val)
			}
			if strings.HasPrefix(k, "cloudlb.io/") || strings.HasPrefix(strings.ToLower(k), "aws:") {
				t.Fatalf("reserved tag key %q accepted", k)
			}
		}
	})
}

var hcKeys = []string{annHCPath, annHCPort, annHCProtocol, annHCInterval, annHCTimeout, annHealthyCount, annUnhealthyCount, annSuccessCodes}

// FuzzHealthCheck sets the annotations whose bit is set in present, so that absence is fuzzed too.
func FuzzHealthCheck(f *testing.F) {
	f.Add(uint8(0), "", "", "", "", "", "", "", "")
	f.Add(uint8(0xff), "/healthz", "8080", "HTTPS", "30", "10", "3", "4", "200-299,302")
	f.Fuzz(func(t *testing.T, present uint8, path, port, proto, interval, timeout, healthy, unhealthy, codes string) {
		a := annotations{}
		var set []string
		for i, v := range []string{path, port, proto, interval, timeout, healthy, unhealthy, codes} {
			if present&(1<<i) != 0 {
				a[hcKeys[i]] = v
				set = append(set, hcKeys[i])
			}
		}
		hc, err := a.healthCheck(cloud.ProtocolHTTP, "")
		if err != nil {
			requireAnnotationError(t, err, set...)
			return
		}
		n, nerr := strconv.Atoi(hc.Port)
		named := nerr != nil && len(validation.IsValidPortName(hc.Port)) == 0
		if hc.Port != "traffic-port" && !named && (nerr != nil || n < 1 || n > 65535 || strconv.Itoa(n) != hc.Port) {
			t.Fatalf("port %q is not traffic-port, a port name or a canonical port number", hc.Port)
		}
		switch {
		case hc.Protocol != cloud.ProtocolHTTP && hc.Protocol != cloud.ProtocolHTTPS:
			t.Fatalf("protocol %q", hc.Protocol)
		case !strings.HasPrefix(hc.Path, "/") || len(hc.Path) > 1024:
			t.Fatalf("path %q", hc.Path)
		case hc.IntervalSeconds < 5 || hc.IntervalSeconds > 300:
			t.Fatalf("interval %d outside 5-300", hc.IntervalSeconds)
		case hc.TimeoutSeconds < 2 || hc.TimeoutSeconds > 120 || hc.TimeoutSeconds >= hc.IntervalSeconds:
			t.Fatalf("timeout %d outside 2-120 or not below interval %d", hc.TimeoutSeconds, hc.IntervalSeconds)
		case hc.HealthyThresholdCount < 2 || hc.HealthyThresholdCount > 10 || hc.UnhealthyThresholdCount < 2 || hc.UnhealthyThresholdCount > 10:
			t.Fatalf("thresholds %d/%d outside 2-10", hc.HealthyThresholdCount, hc.UnhealthyThresholdCount)
		}
		for _, item := range strings.Split(hc.SuccessCodes, ",") {
			lo, hi, _ := strings.Cut(item, "-")
			l, err1 := strconv.Atoi(lo)
			h, err2 := strconv.Atoi(cmp.Or(hi, lo))
			if err1 != nil || err2 != nil || l < 200 || h > 499 || l > h {
				t.Fatalf("success codes %q outside 200-499", hc.SuccessCodes)
			}
		}
	})
}

func FuzzLoadBalancerName(f *testing.F) {
	for _, s := range []string{"my-lb", "", "-lb", "lb-", "internal-lb", strings.Repeat("x", 33), "a_b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		name, err := annotations{annLoadBalancerName: v}.loadBalancerName()
		if err != nil {
			requireAnnotationError(t, err, annLoadBalancerName)
			return
		}
		if name != v || !awsLBName.MatchString(name) || strings.HasPrefix(name, "internal-") {
			t.Fatalf("%q accepted as %q, which ELBv2 refuses", v, name)
		}
	})
}

var allKeys = []string{annScheme, annIPAddressType, annLoadBalancerName, annListenPorts, annCertificateARN, annSSLPolicy,
	annSubnets, annSecurityGroups, annInboundCIDRs, annTags, annTargetType, annHCPath, annHCPort, annHCProtocol,
	annHCInterval, annHCTimeout, annHealthyCount, annUnhealthyCount, annSuccessCodes, annWAFv2ACLARN, annShield,
	annTargetNodeLabels}

// FuzzTranslate sets one annotation to a fuzzed value on an otherwise valid Ingress.
func FuzzTranslate(f *testing.F) {
	for i, v := range []string{"internet-facing", "dualstack", "my-lb", `[{"HTTP": 80}, {"HTTPS": 443}]`,
		"arn:aws:acm:us-east-1:1:certificate/x", "ELBSecurityPolicy-2016-08", "subnet-1,subnet-2", "sg-1", "10.0.0.0/8",
		"a=b", "ip", "/healthz", "8080", "HTTPS", "30", "2", "10", "2", "200-299",
		"arn:aws:wafv2:us-east-1:1:regional/webacl/x/y", "true", "kubernetes.io/os=linux"} {
		f.Add(uint8(i), v)
	}
	prefix := networkingv1.PathTypePrefix
	f.Fuzz(func(t *testing.T, k uint8, v string) {
		ann := allKeys[int(k)%len(allKeys)]
		ing := ingress("app", map[string]string{ann: v},
			rule("a.example.com", httpPath("/api", prefix, backend("api", 9000)), httpPath("/", prefix, backend("web", "http"))),
			rule("", httpPath("/", prefix, backend("headless", 80))))
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}}}
		out := Translate(input(ing))
		if err := out.Errors[key("app")]; err != nil {
			requireAnnotationError(t, err, ann)
			return
		}
		lb := out.LoadBalancer
		if !awsLBName.MatchString(lb.Name) || strings.HasPrefix(lb.Name, "internal-") {
			t.Fatalf("load balancer name %q", lb.Name)
		}
		if len(lb.Listeners) == 0 {
			t.Fatal("no listener")
		}
		tgs := map[string]bool{}
		for _, tg := range lb.TargetGroups {
			tgs[tg.ID] = true
		}
		for _, l := range lb.Listeners {
			for i, r := range l.Rules {
				if r.Priority != int32(i+1) || !tgs[r.Action.Forward[0].TargetGroupID] {
					t.Fatalf("listener %d rule %d: priority %d, target %v", l.Port, i, r.Priority, r.Action.Forward)
				}
			}
		}
		if again := Translate(input(ing)); again.LoadBalancer.Hash() != lb.Hash() {
			t.Fatal("same input, different model")
		}
	})
}

// FuzzAnnotationKeys holds the key classifier to its contract: a refused key fails the member with an
// *UnsupportedAnnotationError naming exactly that key, an unknown key is noticed (with a suggestion that is a
// key some controller reads) and changes nothing else, and any other key is none of the classifier's business.
func FuzzAnnotationKeys(f *testing.F) {
	for _, s := range []string{albPrefix + "auth-type", albPrefix + "conditions.web", albPrefix + "actions.", albPrefix + "healthcheck-pth",
		albPrefix + "websocket-paths", albPrefix + "action.x.y", "alb.ingress.kubernets.io/scheme", "cloudlb.io/scheme", "cloudlb.io/",
		"nginx.ingress.kubernetes.io/rewrite-target", "no-prefix", "/", "", albPrefix + "dry-run-plan", albPrefix + strings.Repeat("x", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, k string) {
		st := statusOf(k)
		if st == implemented {
			return // its value is fuzzed by FuzzTranslate
		}
		out := Translate(input(webIngress("app", map[string]string{k: "x"})))
		err, notice := out.Errors[key("app")], out.Notices[key("app")]
		switch st {
		case refused:
			var ue *UnsupportedAnnotationError
			if !errors.As(err, &ue) || !slices.Equal(ue.Keys, []string{k}) {
				t.Fatalf("refused key %q: got %v", k, err)
			}
		case unknownKey:
			if err != nil || !strings.Contains(notice, k) {
				t.Fatalf("unknown key %q: error %v, notice %q", k, err, notice)
			}
			if s := nearestKey(k); s != "" && (s == k || (statusOf(s) != implemented && statusOf(s) != refused)) {
				t.Fatalf("unknown key %q: suggested %q, which is not a key to use", k, s)
			}
		default:
			if err != nil || notice != "" {
				t.Fatalf("key %q of no concern to cloudlb: error %v, notice %q", k, err, notice)
			}
		}
	})
}
