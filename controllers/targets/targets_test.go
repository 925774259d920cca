package targets

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/test"
)

func TestInstanceTargetsLeaveOutOnlyNodesOnTheirWayOut(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080}}}}
	node := func(id string, taint string, ready corev1.ConditionStatus) corev1.Node {
		n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: id}, Spec: corev1.NodeSpec{ProviderID: "aws:///us-east-1a/" + id},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}}}
		if taint != "" {
			n.Spec.Taints = []corev1.Taint{{Key: taint, Effect: corev1.TaintEffectNoSchedule}}
		}
		return n
	}
	deleting := node("i-deleting", "", corev1.ConditionTrue)
	deleting.DeletionTimestamp = ptr.To(metav1.Now())
	nodes := []corev1.Node{
		node("i-notready", "", corev1.ConditionFalse),
		node("i-unknown", "", corev1.ConditionUnknown),
		node("i-cordoned", "node.kubernetes.io/unschedulable", corev1.ConditionTrue),
		node("i-ca", "ToBeDeletedByClusterAutoscaler", corev1.ConditionTrue),
		node("i-karpenter", "karpenter.sh/disrupted", corev1.ConditionTrue),
		node("i-karpenter-beta", "karpenter.sh/disruption", corev1.ConditionTrue),
		deleting,
	}
	got, err := instanceTargets(svc, 80, nil, nodes)
	if err != nil {
		t.Fatal(err)
	}
	want := []cloud.Target{{ID: "i-cordoned", Port: 30080}, {ID: "i-notready", Port: 30080}, {ID: "i-unknown", Port: 30080}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestIPTargetsOnlyFromPodsThatHoldTheAddress(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	es := test.EndpointSlice("shop", "web-1", "web", "http", 8080, "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5")
	es.Endpoints[0].TargetRef = nil
	es.Endpoints[1].TargetRef = &corev1.ObjectReference{Kind: "Node", Name: "pod-10.0.0.2"}
	es.Endpoints[2].TargetRef.Namespace = "elsewhere"
	es.Endpoints[3].Conditions.Ready = nil
	es.Endpoints[4].Conditions.Ready = ptr.To(false)
	none := func(discoveryv1.Endpoint) bool { return false }
	all := func(*corev1.ObjectReference, string) bool { return true }

	got, err := ipTargets(svc, 80, []discoveryv1.EndpointSlice{*es}, none, all)
	if err != nil {
		t.Fatal(err)
	}
	if want := []cloud.Target{{ID: "10.0.0.4", Port: 8080}}; !slices.Equal(got, want) {
		t.Fatalf("every pod verified: got %v, want %v", got, want)
	}

	// The managed-by label is anyone's to write: a slice that carries the EndpointSlice controller's is
	// checked all the same.
	got, err = ipTargets(svc, 80, []discoveryv1.EndpointSlice{*es}, none, func(*corev1.ObjectReference, string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("slice labelled as the EndpointSlice controller's, no pod verified: got %v", got)
	}
}

func TestEndpointVerifiedOnlyByItsOwnPodHoldingTheAddress(t *testing.T) {
	pod := func(name, uid string, deleting bool, ips ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID(uid)}}
		if deleting {
			p.DeletionTimestamp = ptr.To(metav1.Now())
		}
		for _, ip := range ips {
			p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
		}
		return p
	}
	in := &inputs{pods: map[string]*corev1.Pod{
		"web":      pod("web", "u1", false, "10.0.0.1", "10.0.0.9"),
		"deleting": pod("deleting", "u2", true, "10.0.0.2"),
		"gone":     nil,
	}}
	for _, c := range []struct {
		name, pod, uid, addr string
		want                 bool
	}{
		{"its address", "web", "", "10.0.0.1", true},
		{"its second address", "web", "u1", "10.0.0.9", true},
		{"another address of the VPC", "web", "", "10.0.0.3", false},
		{"a pod re-created under the name", "web", "u0", "10.0.0.1", false},
		{"a pod being deleted", "deleting", "", "10.0.0.2", false},
		{"a pod that does not exist", "gone", "", "10.0.0.4", false},
		{"a pod never read", "other", "", "10.0.0.5", false},
	} {
		ref := &corev1.ObjectReference{Kind: "Pod", Name: c.pod, UID: types.UID(c.uid)}
		if got := in.verified(ref, c.addr); got != c.want {
			t.Errorf("%s: verified %v, want %v", c.name, got, c.want)
		}
	}
}
