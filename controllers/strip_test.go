package controllers

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The Service cache keeps what translation reads: the overrides under alb.ingress.kubernetes.io/ and the IP
// families that make a target group IPv6; nothing else of the annotations or the spec.
func TestStripServiceKeepsWhatTranslationReads(t *testing.T) {
	ports := []corev1.ServicePort{{Name: "http", Port: 80}}
	families := []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{
			"alb.ingress.kubernetes.io/backend-protocol": "HTTPS", "kubectl.kubernetes.io/last-applied-configuration": "{...}",
		}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: ports, Selector: map[string]string{"app": "web"},
			IPFamilies: families, ClusterIP: "fd00::10", ClusterIPs: []string{"fd00::10", "10.0.0.10"}},
	}
	out, err := stripService(svc)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Service)
	if want := map[string]string{"alb.ingress.kubernetes.io/backend-protocol": "HTTPS"}; !reflect.DeepEqual(got.Annotations, want) {
		t.Fatalf("annotations %v, want %v", got.Annotations, want)
	}
	want := corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: ports, Selector: map[string]string{"app": "web"}, IPFamilies: families}
	if !reflect.DeepEqual(got.Spec, want) {
		t.Fatalf("spec %+v, want %+v", got.Spec, want)
	}
}

// In a takeover every pod is watched, for the AWS Load Balancer Controller's gates: a pod without a gate, which
// cannot get one later, is cached as its name only; a gated pod keeps what its gates are served from.
func TestStripPodKeepsOnlyGatedPods(t *testing.T) {
	conds := []corev1.PodCondition{{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}}
	plain := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "u1", Labels: map[string]string{"app": "web"}},
		Status: corev1.PodStatus{Conditions: conds}}
	out, err := stripPod(plain)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "u1"}}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("ungated pod cached as %+v, want %+v", out, want)
	}
	gates := []corev1.PodReadinessGate{{ConditionType: "target-health.elbv2.k8s.aws/k8s-shop-web-0123456789"}}
	gated := plain.DeepCopy()
	gated.Spec = corev1.PodSpec{ReadinessGates: gates, Containers: []corev1.Container{{Name: "web", Image: "web:1"}}}
	if out, err = stripPod(gated); err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Pod)
	if !reflect.DeepEqual(got.Labels, plain.Labels) || !reflect.DeepEqual(got.Spec, corev1.PodSpec{ReadinessGates: gates}) ||
		!reflect.DeepEqual(got.Status.Conditions, conds) {
		t.Fatalf("LBC-gated pod cached as %+v, want its labels, gates and conditions", got)
	}
}

// Every Service of the cluster is cached, served or not: its labels, owners and finalizers go; what a
// re-created Service is told apart by (UID) and deletion stay.
func TestStripServiceDropsUnreadMetadata(t *testing.T) {
	now := metav1.Now()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "u1", ResourceVersion: "7",
		DeletionTimestamp: &now, Labels: map[string]string{"app.kubernetes.io/name": "web"}, Finalizers: []string{"x"},
		OwnerReferences: []metav1.OwnerReference{{Kind: "HelmRelease", Name: "web"}}}}
	out, err := stripService(svc)
	if err != nil {
		t.Fatal(err)
	}
	want := metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "u1", ResourceVersion: "7", DeletionTimestamp: &now}
	if got := out.(*corev1.Service).ObjectMeta; !reflect.DeepEqual(got, want) {
		t.Fatalf("metadata %+v, want %+v", got, want)
	}
}

// Every EndpointSlice of the cluster is cached: only the two labels target selection reads stay (not the
// Service's labels the EndpointSlice controller copies), and of each endpoint its addresses, conditions and pod.
func TestStripEndpointSliceKeepsWhatTargetsRead(t *testing.T) {
	ready := true
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "web-x1", Namespace: "shop", UID: "u2", ResourceVersion: "9", GenerateName: "web-",
			Labels: map[string]string{discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io",
				"app.kubernetes.io/name": "web", "helm.sh/chart": "web-1.0"},
			Annotations:     map[string]string{"endpoints.kubernetes.io/last-change-trigger-time": "2026-12-01T00:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Service", Name: "web"}}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			NodeName: ptr.To("n1"), Zone: ptr.To("a"), TargetRef: &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1",
				Namespace: "shop", Name: "web-1", UID: "p1", ResourceVersion: "3"}}},
	}
	out, err := stripEndpointSlice(es)
	if err != nil {
		t.Fatal(err)
	}
	want := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "web-x1", Namespace: "shop", UID: "u2", ResourceVersion: "9",
			Labels: map[string]string{discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "shop", Name: "web-1"}}},
	}
	if got := out.(*discoveryv1.EndpointSlice); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
