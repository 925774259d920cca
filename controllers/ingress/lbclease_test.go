package ingress

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// A read that found the Lease live, and whose renewal lapsed since, must not stand for LBC's stop within the
// memo's TTL: the holder may have renewed it meanwhile.
func TestLBCLeaseLapsedSinceReadIsReadAgain(t *testing.T) {
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: DefaultLBCLease.Namespace, Name: DefaultLBCLease.Name},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("lbc-0"), LeaseDurationSeconds: ptr.To(int32(3600)),
			RenewTime: &metav1.MicroTime{Time: time.Now()}}}
	r := &Reconciler{Client: fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(lease).Build(), AdoptLBC: true}
	// The memo as a read a moment ago left it: the Lease was live then, and lapsed a moment later.
	now := time.Now()
	r.lbcLease.readAt, r.lbcLease.until, r.lbcLease.holder = now.Add(-2*time.Second), now.Add(-time.Second), "lbc-0"
	running, _, _, err := r.lbcRunning(context.Background())
	if err != nil || !running {
		t.Fatalf("lbcRunning = %t, %v; want the renewed Lease read again and found running", running, err)
	}
}
