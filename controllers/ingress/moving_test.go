package ingress

import (
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A stack that an Ingress left keeps serving it for MoveGrace once its new stack does, per new stack and
// member: a move must not delete the old load balancer before DNS has followed.
func TestMoveGrace(t *testing.T) {
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "app", UID: "u1"}}
	r := &Reconciler{MoveGrace: time.Millisecond}
	if r.moveGraceOver("shared", ing) {
		t.Fatal("the grace is over as soon as the new stack serves the member")
	}
	time.Sleep(2 * time.Millisecond)
	if !r.moveGraceOver("shared", ing) {
		t.Fatal("the grace never ends")
	}
	if r.moveGraceOver("other", ing) {
		t.Fatal("a move to another stack shares the first one's grace")
	}
	if !(&Reconciler{}).moveGraceOver("shared", ing) {
		t.Fatal("no MoveGrace still holds the member")
	}
}
