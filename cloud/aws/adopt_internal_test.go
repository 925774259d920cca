package aws

import (
	"testing"

	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// LBC names a target group "ns/ingress-service:port" with the port as the Ingress backend names it; cloudlb
// "ns/ingress/service:number". Names that run together, and named ports, are told apart by the group's port.
func TestLBCTargetGroupIDs(t *testing.T) {
	want := []cloud.TargetGroup{
		{ID: "ns/web/api:8080", Port: 30081},
		{ID: "ns/web/api:9000", Port: 30082},
		{ID: "ns/a-b/c:80", Port: 30090},
		{ID: "ns/a/b-c:80", Port: 30091},
		{ID: "ns/shop/web:80", Port: 30080},
	}
	m := lbcTargetGroupIDs(want)
	for _, c := range []struct {
		lbcID string
		port  int32
		want  string
	}{
		{"ns/web-api:8080", 1, "ns/web/api:8080"},
		{"ns/web-api:9000", 1, "ns/web/api:9000"},
		{"ns/web-api:http", 30082, "ns/web/api:9000"},
		{"ns/web-api:http", 1, ""},
		{"ns/shop-web:http", 1, "ns/shop/web:80"},
		{"ns/a-b-c:80", 30091, "ns/a/b-c:80"},
		{"ns/a-b-c:80", 1, ""},
		{"ns/other-web:80", 30080, ""},
	} {
		if got := m(c.lbcID, elbv2types.TargetGroup{Port: &c.port}); got != c.want {
			t.Errorf("%s on port %d: got %q, want %q", c.lbcID, c.port, got, c.want)
		}
	}
}

// LBC's tags on a resource are neither removed nor set by a tag diff, nor are its predecessor's on resources it made.
func TestTagDiffKeepsLBCTags(t *testing.T) {
	p := newTagPolicy(nil, nil)
	have := tagSet{lbcClusterKey: "c", lbcStackKey: "ns/web", lbcResourceKey: "LoadBalancer", "kubernetes.io/cluster/c": "owned",
		"kubernetes.io/namespace": "ns", "team": "a"}
	set, remove := p.diff(have, tagSet{cloud.TagCluster: "c", lbcStackKey: "other"})
	if len(set) != 1 || set[cloud.TagCluster] != "c" {
		t.Errorf("set %v, want only %s", set, cloud.TagCluster)
	}
	if len(remove) != 1 || remove[0] != "team" {
		t.Errorf("remove %v, want only team", remove)
	}
	// Without LBC's cluster tag, the predecessor's keys are the user's like any other.
	_, remove = p.diff(tagSet{"kubernetes.io/namespace": "ns"}, tagSet{})
	if len(remove) != 1 {
		t.Errorf("remove %v, want kubernetes.io/namespace", remove)
	}
}
