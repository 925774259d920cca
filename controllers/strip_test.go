package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cloudlb/cloudlb/controllers/targets"
)

// Every pod is cached, so every pod is stripped to what proves an endpoint's address (identity, addresses,
// deletion); only a gated pod keeps what its readiness gate needs.
func TestStripPodKeepsAddressesOfEveryPodAndGatesOfGatedOnes(t *testing.T) {
	pod := func(labels map[string]string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "u1", ResourceVersion: "7", Labels: labels,
				Annotations: map[string]string{"big": "x"}, DeletionTimestamp: ptr.To(metav1.Now())},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}},
				ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "target-health.cloudlb.io/x"}}},
			Status: corev1.PodStatus{PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}},
				Conditions: []corev1.PodCondition{{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}}},
		}
	}
	for _, gated := range []bool{false, true} {
		labels := map[string]string{"app": "web"}
		if gated {
			labels[targets.GatedPodLabel] = "true"
		}
		o, err := stripPod(pod(labels))
		if err != nil {
			t.Fatal(err)
		}
		p := o.(*corev1.Pod)
		if p.Name != "web-1" || p.Namespace != "shop" || p.UID != "u1" || p.ResourceVersion != "7" || p.DeletionTimestamp.IsZero() ||
			len(p.Status.PodIPs) != 2 || p.Status.PodIPs[1].IP != "fd00::1" {
			t.Fatalf("gated %v: identity, addresses or deletion lost: %+v", gated, p)
		}
		if p.Annotations != nil || p.Spec.Containers != nil {
			t.Fatalf("gated %v: kept more than needed: %+v", gated, p)
		}
		kept := p.Labels != nil && len(p.Spec.ReadinessGates) == 1 && len(p.Status.Conditions) == 1
		dropped := p.Labels == nil && p.Spec.ReadinessGates == nil && p.Status.Conditions == nil
		if gated && !kept || !gated && !dropped {
			t.Fatalf("gated %v: labels %v, gates %v, conditions %v", gated, p.Labels, p.Spec.ReadinessGates, p.Status.Conditions)
		}
	}
}
