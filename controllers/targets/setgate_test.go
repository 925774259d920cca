package targets_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	crfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/cloudlb/cloudlb/controllers/targets"
)

// SetGate, shared by the targets and TargetGroupBinding reconcilers, writes nothing when the gate already has the
// status and reason, and moves LastTransitionTime only when the status changes.
func TestSetGateWritesOnlyChanges(t *testing.T) {
	ctx := context.Background()
	gate := corev1.PodConditionType(targets.LBCGatePrefix + "web")
	then := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1"},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: then},
			{Type: gate, Status: corev1.ConditionFalse, Reason: "TargetNotHealthy", LastTransitionTime: then}}}}
	cl := crfake.NewClientBuilder().WithStatusSubresource(&corev1.Pod{}).WithObjects(pod).Build()
	get := func() *corev1.Pod {
		t.Helper()
		cur := &corev1.Pod{}
		if err := cl.Get(ctx, types.NamespacedName{Namespace: "shop", Name: "web-1"}, cur); err != nil {
			t.Fatal(err)
		}
		return cur
	}
	cond := func(p *corev1.Pod, ct corev1.PodConditionType) corev1.PodCondition {
		for _, c := range p.Status.Conditions {
			if c.Type == ct {
				return c
			}
		}
		return corev1.PodCondition{}
	}

	cur := get()
	rv := cur.ResourceVersion
	if err := targets.SetGate(ctx, cl, cur, gate, corev1.ConditionFalse, "TargetNotHealthy", "again"); err != nil {
		t.Fatal(err)
	}
	if got := get(); got.ResourceVersion != rv {
		t.Fatalf("resource version %s, want %s: an unchanged gate is not written", got.ResourceVersion, rv)
	}

	if err := targets.SetGate(ctx, cl, get(), gate, corev1.ConditionFalse, "Other", "other"); err != nil {
		t.Fatal(err)
	}
	if c := cond(get(), gate); c.Reason != "Other" || !c.LastTransitionTime.Equal(&then) {
		t.Fatalf("gate %+v: want reason Other, transition time kept at %v", c, then)
	}

	if err := targets.SetGate(ctx, cl, get(), gate, corev1.ConditionTrue, "TargetHealthy", "healthy"); err != nil {
		t.Fatal(err)
	}
	got := get()
	if c := cond(got, gate); c.Status != corev1.ConditionTrue || c.Reason != "TargetHealthy" || c.LastTransitionTime.Equal(&then) {
		t.Fatalf("gate %+v: want true, TargetHealthy, a new transition time", c)
	}
	if c := cond(got, corev1.ContainersReady); c.Status != corev1.ConditionTrue {
		t.Fatalf("kubelet's condition %+v overwritten", c)
	}
}
