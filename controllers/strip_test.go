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
