package ingress

import (
	"fmt"
	"testing"
	"time"
)

func TestDriftAfterSpreadsStacks(t *testing.T) {
	seen := map[time.Duration]bool{}
	for i := range 50 {
		d := driftAfter(fmt.Sprintf("ns/app-%d", i), time.Hour)
		if d < time.Hour || d > time.Hour+6*time.Minute {
			t.Fatalf("driftAfter = %v, want within [1h, 1h6m]", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("50 stacks got only %d distinct drift times; checks would bunch up", len(seen))
	}
	if driftAfter("ns/app", 0) != 0 {
		t.Error("a zero interval (drift checks off) must stay zero")
	}
}
