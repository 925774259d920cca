package ingress

import (
	"maps"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// An apply of a new model records each target group's cloud ID and keeps the target digests of the groups it
// kept (a group made anew has another cloud ID, which its digest does not match) and none of unbound groups; the
// same model applied again (a drift check) drops them all, so that targets changed outside cloudlb are repaired
// too. A record write without an apply keeps the recorded cloud IDs.
func TestApplyKeepsDigestsOfKeptTargetGroups(t *testing.T) {
	st := &v1alpha1.LoadBalancerStatus{AppliedHash: "h1",
		TargetGroups:  []v1alpha1.TargetGroupBinding{{ID: "a", CloudID: "arn-a"}, {ID: "b", CloudID: "arn-b"}},
		TargetsSynced: map[string]string{"a": "da", "b": "db", "gone": "dg"}}
	members := []*networkingv1.Ingress{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "app"}}}
	bindings := []v1alpha1.TargetGroupBinding{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	observed := &cloud.Status{TargetGroups: map[string]string{"a": "arn-a", "b": "arn-b2", "c": "arn-c"}}

	recordUpdate{members: members, bindings: bindings, hash: "h2", observed: observed, ready: metav1.ConditionTrue}.apply("shop/app", st)
	if got := st.TargetGroups; got[0].CloudID != "arn-a" || got[1].CloudID != "arn-b2" || got[2].CloudID != "arn-c" {
		t.Fatalf("bindings after an apply: %+v, want the observed cloud IDs", got)
	}
	if got := st.TargetsSynced; !maps.Equal(got, map[string]string{"a": "da", "b": "db"}) {
		t.Fatalf("a new model: digests %v, want those of the bound groups", got)
	}

	recordUpdate{members: members, bindings: []v1alpha1.TargetGroupBinding{{ID: "a"}, {ID: "d"}}, ready: metav1.ConditionFalse}.apply("shop/app", st)
	if got := st.TargetGroups; got[0].CloudID != "arn-a" || got[1].CloudID != "" {
		t.Fatalf("bindings without an apply: %+v, want the recorded cloud IDs", got)
	}
	if len(st.TargetsSynced) != 2 {
		t.Fatalf("a record write without an apply dropped digests: %v", st.TargetsSynced)
	}

	st.AppliedHash = "h2"
	recordUpdate{members: members, bindings: bindings, hash: "h2", observed: observed, ready: metav1.ConditionTrue}.apply("shop/app", st)
	if st.TargetsSynced != nil {
		t.Fatalf("the same model again: digests %v, want none", st.TargetsSynced)
	}

	st.TargetsSynced = map[string]string{"a": "da"}
	recordUpdate{members: members, bindings: bindings, hash: "h3", observed: &cloud.Status{}, ready: metav1.ConditionTrue}.apply("shop/app", st)
	if st.TargetsSynced != nil {
		t.Fatalf("a provider that reports no cloud IDs: digests %v, want none", st.TargetsSynced)
	}
}
