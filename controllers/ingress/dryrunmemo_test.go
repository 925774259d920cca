package ingress

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// A dry-run stack is planned again when what its plan was made from changes, on the drift interval as an applied
// stack is re-checked, or when the start-up check suspects it; never merely because it is reconciled.
func TestPlanMemoDue(t *testing.T) {
	const stack = "ns/app"
	record := &v1alpha1.LoadBalancer{}
	record.UID = types.UID("r1")
	lb := &cloud.LoadBalancer{Stack: stack, Name: "k8s-ns-app"}
	basis := planBasis(record, lb, reasonPlanned)
	t0 := time.Unix(1000, 0)
	drift := driftAfter(stack, time.Hour)

	var m planMemo
	if due, _ := m.due(stack, basis, t0, time.Hour, false); !due {
		t.Fatal("a stack never planned is not due")
	}
	m.remember(stack, basis, t0)
	if due, wait := m.due(stack, basis, t0.Add(time.Minute), time.Hour, false); due || wait != drift-time.Minute {
		t.Errorf("unchanged a minute later: due %t, next in %v; want not due, next in %v", due, wait, drift-time.Minute)
	}
	if due, _ := m.due(stack, basis, t0.Add(drift), time.Hour, false); !due {
		t.Error("not due once the drift interval has passed")
	}
	if due, wait := m.due(stack, basis, t0.Add(100*time.Hour), 0, false); due || wait != 0 {
		t.Errorf("with drift checks off: due %t, next in %v; want never again until a change", due, wait)
	}
	if due, _ := m.due(stack, basis, t0, time.Hour, true); !due {
		t.Error("not due although the start-up check suspects the stack")
	}

	changed := *lb
	changed.Scheme = cloud.SchemeInternal
	other := *record
	other.UID = "r2"
	known := *record
	known.Status.ID = "arn:lb"
	for name, b := range map[string]string{
		"model":        planBasis(record, &changed, reasonPlanned),
		"record anew":  planBasis(&other, lb, reasonPlanned),
		"known ID":     planBasis(&known, lb, reasonPlanned),
		"plan changed": planBasis(record, lb, reasonPlanChanged),
	} {
		if due, _ := m.due(stack, b, t0, time.Hour, false); !due {
			t.Errorf("a changed %s is not due", name)
		}
	}
	m.forget(stack)
	if due, _ := m.due(stack, basis, t0, time.Hour, false); !due {
		t.Error("a forgotten plan is not due")
	}
}
