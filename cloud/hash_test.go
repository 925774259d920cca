package cloud

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// awsName is what ELBv2 accepts for load balancer and target group names.
var awsName = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?$`)

var hashSuffix = regexp.MustCompile(`-?[0-9a-f]{10}$`)

func checkName(t *testing.T, name string) {
	t.Helper()
	if !awsName.MatchString(name) || len(name) > MaxNameLength {
		t.Errorf("Name = %q: not a valid ELBv2 name", name)
	}
	if !hashSuffix.MatchString(name) {
		t.Errorf("Name = %q: no hash suffix", name)
	}
}

func TestName(t *testing.T) {
	long := strings.Repeat("a", 100)
	for _, tc := range []struct {
		name   string
		parts  []string
		prefix string // the readable part, without the "-<hash>" suffix
	}{
		{"readable parts", []string{"k8s", "default", "web"}, "k8s-default-web"},
		{"unsafe characters dropped", []string{"k8s", "my_ns.prod", "wéb"}, "k8s-mynsprod-wb"},
		{"outer hyphens dropped", []string{"-k8s-", "--a--"}, "k8s-a"},
		{"empty parts skipped", []string{"", "k8s", "...", "web"}, "k8s-web"},
		{"long part cut to fit", []string{"k8s", long}, "k8s-" + strings.Repeat("a", 17)},
		{"parts after the budget dropped", []string{long, "web"}, strings.Repeat("a", 21)},
		// The cut lands just after a separator: no "-" may be left before the hash.
		{"cut at a hyphen", []string{strings.Repeat("a", 20), "web"}, strings.Repeat("a", 20)},
		{"cut inside a part at its hyphen", []string{"k8s", "abcdefghijklmnop-rst"}, "k8s-abcdefghijklmnop"},
		{"no readable part", []string{"", "___"}, ""},
		{"no parts", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Name("key", tc.parts...)
			checkName(t, got)
			if prefix := hashSuffix.ReplaceAllString(got, ""); prefix != tc.prefix {
				t.Errorf("Name(%q) = %q, readable part %q, want %q", tc.parts, got, prefix, tc.prefix)
			}
		})
	}
}

func TestNameHash(t *testing.T) {
	a := Name("cluster\x00ns/app", "k8s", "ns", "app")
	if b := Name("cluster\x00ns/app", "k8s", "ns", "app"); a != b {
		t.Errorf("same key gave %q then %q: a re-create would not find the same resource", a, b)
	}
	// Keys that share every readable part must still differ, or two stacks would fight over one resource.
	if b := Name("other\x00ns/app", "k8s", "ns", "app"); a == b {
		t.Errorf("different keys both gave %q", a)
	}
	long := strings.Repeat("x", 60)
	if x, y := Name(long+"1", "k8s", long), Name(long+"2", "k8s", long); x == y {
		t.Errorf("truncated names collide: %q", x)
	}
}

func FuzzName(f *testing.F) {
	f.Add("key", "k8s", "default", "web")
	f.Add("", "", "", "")
	f.Add("k", "-", strings.Repeat("a", 20), "-b")
	f.Add("k", "internal", "x", "ünïcödé")
	f.Fuzz(func(t *testing.T, key, p1, p2, p3 string) {
		got := Name(key, p1, p2, p3)
		checkName(t, got)
		if again := Name(key, p1, p2, p3); again != got {
			t.Errorf("not deterministic: %q then %q", got, again)
		}
	})
}

func testModel() *LoadBalancer {
	return &LoadBalancer{
		Stack: "ns/app", Name: "k8s-ns-app-0123456789", Scheme: SchemeInternal, IPAddressType: IPAddressTypeIPv4,
		Tags: map[string]string{"team": "web", "env": "dev", "cost": "1"},
		Listeners: []Listener{{Port: 80, Protocol: ProtocolHTTP,
			DefaultAction: Action{Type: ActionFixedResponse, FixedResponse: &FixedResponse{StatusCode: 404}},
			Rules: []Rule{{Priority: 1,
				Conditions: []Condition{{Type: ConditionPath, PathMatch: PathPrefix, Values: []string{"/api"}}},
				Action:     Action{Type: ActionForward, Forward: []WeightedTargetGroup{{TargetGroupID: "tg", Weight: 1}}}}}}},
		TargetGroups: []TargetGroup{{ID: "tg", Protocol: ProtocolHTTP, Port: 30080, TargetType: TargetTypeInstance,
			HealthCheck: HealthCheck{Path: "/", Port: "traffic-port"}}},
	}
}

func TestHash(t *testing.T) {
	base := testModel().Hash()
	if len(base) != 32 {
		t.Fatalf("Hash = %q, want 32 hex characters", base)
	}
	for range 20 {
		// Fresh models, fresh maps: map iteration order must not leak into the hash.
		if h := testModel().Hash(); h != base {
			t.Fatalf("equal models hash %q and %q: every reconcile would call the cloud", base, h)
		}
	}
	for name, change := range map[string]func(*LoadBalancer){
		"path":            func(lb *LoadBalancer) { lb.Listeners[0].Rules[0].Conditions[0].Values[0] = "/api/v2" },
		"path match":      func(lb *LoadBalancer) { lb.Listeners[0].Rules[0].Conditions[0].PathMatch = PathExact },
		"priority":        func(lb *LoadBalancer) { lb.Listeners[0].Rules[0].Priority = 2 },
		"tag value":       func(lb *LoadBalancer) { lb.Tags["env"] = "prod" },
		"tag added":       func(lb *LoadBalancer) { lb.Tags["new"] = "" },
		"target port":     func(lb *LoadBalancer) { lb.TargetGroups[0].Port = 8080 },
		"health check":    func(lb *LoadBalancer) { lb.TargetGroups[0].HealthCheck.Path = "/healthz" },
		"default action":  func(lb *LoadBalancer) { lb.Listeners[0].DefaultAction.FixedResponse.StatusCode = 503 },
		"certificate":     func(lb *LoadBalancer) { lb.Listeners[0].Certificates = []string{"arn"} },
		"scheme":          func(lb *LoadBalancer) { lb.Scheme = SchemeInternetFacing },
		"listener added":  func(lb *LoadBalancer) { lb.Listeners = append(lb.Listeners, Listener{Port: 443}) },
		"forward weights": func(lb *LoadBalancer) { lb.Listeners[0].Rules[0].Action.Forward[0].Weight = 2 },
	} {
		lb := testModel()
		change(lb)
		if lb.Hash() == base {
			t.Errorf("changing the %s leaves the hash unchanged: the change would never be applied", name)
		}
	}
}

func TestTagValue(t *testing.T) {
	short := strings.Repeat("a", MaxTagValueLength)
	if got := TagValue(short); got != short {
		t.Fatalf("a value that fits changed: %q", got)
	}
	long := strings.Repeat("n", 63) + "/" + strings.Repeat("x", 253)
	got := TagValue(long)
	if len(got) != MaxTagValueLength || TagValue(got) != got {
		t.Fatalf("TagValue(%d chars) = %d chars, idempotent %v", len(long), len(got), TagValue(got) == got)
	}
	if other := TagValue(long[:len(long)-1] + "y"); other == got {
		t.Fatal("two long values that differ only at the end hash to the same tag value")
	}
}

// TestHashChangesWithVersion keeps the upgrade that introduced cluster identity re-ensuring every stack: a hash
// recorded by an earlier release (a digest of the model alone) never matches.
func TestHashChangesWithVersion(t *testing.T) {
	b, err := json.Marshal(testModel())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if testModel().Hash() == hex.EncodeToString(sum[:16]) {
		t.Errorf("Hash equals the hash of an earlier release")
	}
}
