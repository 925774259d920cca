package targets

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
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

func TestIPTargetsOnlyFromPods(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	es := test.EndpointSlice("shop", "web-1", "web", "http", 8080, "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5")
	es.Endpoints[0].TargetRef = nil
	es.Endpoints[1].TargetRef = &corev1.ObjectReference{Kind: "Node", Name: "pod-10.0.0.2"}
	es.Endpoints[2].TargetRef.Namespace = "elsewhere"
	es.Endpoints[3].Conditions.Ready = nil
	es.Endpoints[4].Conditions.Ready = ptr.To(false)
	none := func(discoveryv1.Endpoint) bool { return false }
	never := func(string, string) bool { return false }

	got, err := ipTargets(svc, 80, discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointSlice{*es}, none, never)
	if err != nil {
		t.Fatal(err)
	}
	if want := []cloud.Target{{ID: "10.0.0.4", Port: 8080}}; !slices.Equal(got, want) {
		t.Fatalf("managed slice: got %v, want %v", got, want)
	}

	delete(es.Labels, discoveryv1.LabelManagedBy)
	got, err = ipTargets(svc, 80, discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointSlice{*es}, none, never)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("unmanaged slice, no pod verified: got %v", got)
	}
	got, err = ipTargets(svc, 80, discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointSlice{*es}, none, func(pod, addr string) bool {
		return pod == "pod-10.0.0.4" && addr == "10.0.0.4"
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []cloud.Target{{ID: "10.0.0.4", Port: 8080}}; !slices.Equal(got, want) {
		t.Fatalf("unmanaged slice, pod verified: got %v, want %v", got, want)
	}
}

func TestIPTargetsOfTheBindingsAddressFamily(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	v4 := test.EndpointSlice("shop", "web-v4", "web", "http", 8080, "10.0.0.1")
	v6 := test.EndpointSlice("shop", "web-v6", "web", "http", 8080, "fd00::1", "fd00::2")
	v6.AddressType = discoveryv1.AddressTypeIPv6
	in := &inputs{endpointSlices: []discoveryv1.EndpointSlice{*v4, *v6}}
	bind := func(family string) binding {
		return binding{record: &v1alpha1.LoadBalancer{Spec: v1alpha1.LoadBalancerSpec{Stack: "shop/app"}},
			TargetGroupBinding: v1alpha1.TargetGroupBinding{ID: "shop/app/web:80", ServiceNamespace: "shop", ServiceName: "web",
				ServicePort: 80, TargetType: "ip", IPAddressType: family}}
	}
	for family, want := range map[string][]cloud.Target{
		"":     {{ID: "10.0.0.1", Port: 8080}},
		"ipv6": {{ID: "fd00::1", Port: 8080}, {ID: "fd00::2", Port: 8080}},
	} {
		got, err := in.targets(svc, bind(family))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("family %q: got %v, want %v", family, got, want)
		}
	}
}
