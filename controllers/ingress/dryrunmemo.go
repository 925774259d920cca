package ingress

import (
	"sync"
	"time"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// planMemo remembers what the plan on each dry-run stack's record was made from, so that a reconcile that changes
// none of it (an unrelated annotation, a Service or Secret event, the record's own update) does not plan again: a
// plan reads the whole stack from the cloud. Like the drift check of an applied stack, the plan is made again once
// the drift interval has passed since the last one, and at once when the start-up check suspects the stack.
type planMemo struct {
	mu    sync.Mutex
	plans map[string]plannedAt
}

type plannedAt struct {
	basis string
	at    time.Time
}

// planBasis is what a plan depends on besides the cloud: the model, the record it goes on (a record made anew has
// no plan), the resources the record knows, and whether it is a first plan or a changed one.
func planBasis(record *v1alpha1.LoadBalancer, lb *cloud.LoadBalancer, reason string) string {
	return lb.Hash() + "\x00" + string(record.UID) + "\x00" + record.Status.ID + "\x00" + record.Status.Name + "\x00" + reason
}

// due says whether stack must be planned again at now, and otherwise how long until its plan is due.
func (m *planMemo) due(stack, basis string, now time.Time, interval time.Duration, suspect bool) (bool, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.plans[stack]
	if !ok || p.basis != basis || suspect {
		return true, 0
	}
	if interval <= 0 {
		return false, 0
	}
	left := driftAfter(stack, interval) - now.Sub(p.at)
	return left <= 0, left
}

func (m *planMemo) remember(stack, basis string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.plans == nil {
		m.plans = map[string]plannedAt{}
	}
	m.plans[stack] = plannedAt{basis: basis, at: now}
}

func (m *planMemo) forget(stack string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.plans, stack)
}
