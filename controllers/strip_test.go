package controllers

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
