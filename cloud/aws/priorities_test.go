package aws

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// listenerSim is a listener's rules as priority -> rule name. apply carries out a priorityPlan the way
// applyRules does (one SetRulePriorities call for every move, then the creates, then the deletes) and fails
// the test on anything AWS or moto would refuse: a move or create onto a priority some rule holds at that
// moment, two rules sent to one priority, a priority out of range.
type listenerSim map[int32]string

func newListenerSim(priorities ...int32) listenerSim {
	l := listenerSim{}
	for i, p := range priorities {
		l[p] = fmt.Sprintf("r%d", i)
	}
	return l
}

func (l listenerSim) names() []string {
	out := make([]string, 0, len(l))
	for _, p := range slices.Sorted(maps.Keys(l)) {
		out = append(out, l[p])
	}
	return out
}

// existingFor is the assignPriorities input for a desired order of rule names.
func (l listenerSim) existingFor(desired []string) (existing []int32, occupied map[int32]bool) {
	at := map[string]int32{}
	occupied = map[int32]bool{}
	for p, n := range l {
		at[n] = p
		occupied[p] = true
	}
	existing = make([]int32, len(desired))
	for i, n := range desired {
		existing[i] = at[n]
	}
	return existing, occupied
}

func (l listenerSim) apply(t *testing.T, desired []string, pp priorityPlan) {
	t.Helper()
	at := map[string]int32{}
	for p, n := range l {
		at[n] = p
	}
	sent := map[int32]bool{}
	for _, i := range pp.move {
		p := pp.priority[i]
		if holder, held := l[p]; held {
			t.Fatalf("moving %s to %d, held by %s: moves must target free priorities (no swaps)", desired[i], p, holder)
		}
		if sent[p] {
			t.Fatalf("two rules moved to priority %d in one call", p)
		}
		sent[p] = true
	}
	for _, i := range pp.move {
		delete(l, at[desired[i]])
	}
	for _, i := range pp.move {
		l[pp.priority[i]] = desired[i]
	}
	for i, n := range desired {
		if _, exists := at[n]; exists {
			continue
		}
		p := pp.priority[i]
		if p < 1 || p > maxPriority {
			t.Fatalf("rule %s created at priority %d, out of [1, %d]", n, p, maxPriority)
		}
		if holder, held := l[p]; held {
			t.Fatalf("creating %s at %d, held by %s", n, p, holder)
		}
		l[p] = n
	}
	wanted := map[string]bool{}
	for _, n := range desired {
		wanted[n] = true
	}
	for p, n := range l {
		if !wanted[n] {
			delete(l, p)
		}
	}
	if got := l.names(); !slices.Equal(got, desired) {
		t.Fatalf("listener order after apply = %v, want %v", got, desired)
	}
}

// checkPriorityPlan asserts the invariants of assignPriorities for any input.
func checkPriorityPlan(t *testing.T, existing []int32, occupied map[int32]bool, pp priorityPlan) {
	t.Helper()
	if len(pp.priority) != len(existing) {
		t.Fatalf("got %d priorities for %d rules", len(pp.priority), len(existing))
	}
	moved := map[int]bool{}
	for _, i := range pp.move {
		if moved[i] {
			t.Fatalf("rule %d moved twice: %v", i, pp.move)
		}
		moved[i] = true
		if existing[i] == 0 {
			t.Fatalf("new rule %d listed as a move", i)
		}
		if pp.priority[i] == existing[i] {
			t.Fatalf("rule %d 'moved' to its own priority %d", i, existing[i])
		}
	}
	for i, p := range pp.priority {
		if p < 1 || p > maxPriority {
			t.Fatalf("priority[%d] = %d, out of [1, %d]", i, p, maxPriority)
		}
		if i > 0 && p <= pp.priority[i-1] {
			t.Fatalf("priorities not strictly increasing in desired order: %v", pp.priority)
		}
		switch {
		case existing[i] != 0 && !moved[i]:
			if p != existing[i] {
				t.Fatalf("rule %d changed priority %d -> %d without a move", i, existing[i], p)
			}
		case occupied[p]:
			t.Fatalf("rule %d (existing %d) assigned occupied priority %d", i, existing[i], p)
		}
	}
}

// lisLength is a quadratic reference for the longest strictly increasing subsequence of the non-zero values.
func lisLength(vals []int32) int {
	best := make([]int, len(vals))
	out := 0
	for i, v := range vals {
		if v == 0 {
			continue
		}
		best[i] = 1
		for j := range i {
			if vals[j] != 0 && vals[j] < v && best[j]+1 > best[i] {
				best[i] = best[j] + 1
			}
		}
		out = max(out, best[i])
	}
	return out
}

func TestPrioritiesAssignCases(t *testing.T) {
	cases := []struct {
		name     string
		listener []int32 // existing rules r0, r1, ... at these priorities
		desired  []string
		// want is the exact expected priorities; nil checks only the invariants and the extra fields.
		want      []int32
		wantMoves int
		// between[i] = {lo, hi}: desired rule i must land strictly inside.
		between map[int][2]int32
	}{
		{name: "empty listener", desired: []string{"a", "b", "c"}, want: []int32{10, 20, 30}},
		{name: "insert in the middle", listener: []int32{10, 20, 30}, desired: []string{"r0", "new", "r1", "r2"},
			between: map[int][2]int32{1: {10, 20}}},
		{name: "insert at the top", listener: []int32{10, 20}, desired: []string{"new", "r0", "r1"},
			between: map[int][2]int32{0: {0, 10}}},
		{name: "append at the end", listener: []int32{10, 20}, desired: []string{"r0", "r1", "new"}, want: []int32{10, 20, 30}},
		{name: "delete", listener: []int32{10, 20, 30}, desired: []string{"r0", "r2"}, want: []int32{10, 30}},
		{name: "delete all", listener: []int32{10, 20}, desired: []string{}, want: []int32{}},
		{name: "full reverse moves two through free priorities", listener: []int32{10, 20, 30},
			desired: []string{"r2", "r1", "r0"}, wantMoves: 2},
		{name: "swap neighbours moves one", listener: []int32{10, 20, 30}, desired: []string{"r1", "r0", "r2"}, wantMoves: 1},
		{name: "move first to last moves one", listener: []int32{10, 20, 30, 40}, desired: []string{"r1", "r2", "r3", "r0"},
			want: []int32{20, 30, 40, 50}, wantMoves: 1},
		{name: "no gap between neighbours makes one of them move", listener: []int32{10, 11},
			desired: []string{"r0", "new", "r1"}, wantMoves: 1},
		{name: "no gap above the first rule moves the crowded neighbours only", listener: []int32{1, 2, 30},
			desired: []string{"new", "r0", "r1", "r2"}, wantMoves: 2, between: map[int][2]int32{0: {0, 30}, 1: {0, 30}, 2: {0, 30}}},
		{name: "room only by moving several", listener: []int32{1, 2, 3, 4}, desired: []string{"r0", "n1", "n2", "r1", "r2", "r3"},
			wantMoves: 3},
		{name: "append below the maximum", listener: []int32{49995}, desired: []string{"r0", "new"},
			between: map[int][2]int32{1: {49995, maxPriority + 1}}},
		{name: "append after the maximum moves rules down", listener: []int32{49990, 50000},
			desired: []string{"r0", "r1", "new"}, wantMoves: 2},
		{name: "conditions changed: new rule beside the old one", listener: []int32{10, 20}, desired: []string{"r0", "r1new"},
			between: map[int][2]int32{1: {10, maxPriority + 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newListenerSim(tc.listener...)
			existing, occupied := l.existingFor(tc.desired)
			pp, err := assignPriorities(existing, occupied)
			if err != nil {
				t.Fatalf("assignPriorities(%v): %v", existing, err)
			}
			checkPriorityPlan(t, existing, occupied, pp)
			if tc.want != nil && !slices.Equal(pp.priority, tc.want) {
				t.Errorf("priorities = %v, want %v", pp.priority, tc.want)
			}
			if len(pp.move) != tc.wantMoves {
				t.Errorf("moves = %v (%d), want %d", pp.move, len(pp.move), tc.wantMoves)
			}
			for i, r := range tc.between {
				if p := pp.priority[i]; p <= r[0] || p >= r[1] {
					t.Errorf("priority of %s = %d, want strictly between %d and %d", tc.desired[i], p, r[0], r[1])
				}
			}
			l.apply(t, tc.desired, pp)
		})
	}
}

func TestPrioritiesFullListenerErrors(t *testing.T) {
	occupied := map[int32]bool{}
	for p := int32(1); p <= maxPriority; p++ {
		occupied[p] = true
	}
	// Every priority is held by rules that are going away; the new rule has nowhere to go until they do.
	if _, err := assignPriorities([]int32{0}, occupied); err == nil {
		t.Fatal("assignPriorities with every priority held: want an error")
	}
	if _, err := assignPriorities([]int32{0}, map[int32]bool{}); err != nil {
		t.Fatalf("assignPriorities on an empty listener: %v", err)
	}
}

// TestPrioritiesRepeatedInserts inserts rule after rule at the same spot, applying each plan, so that the
// gap between two neighbours runs out: the listener must keep converging (a neighbour moves) rather than fail.
func TestPrioritiesRepeatedInserts(t *testing.T) {
	for _, where := range []string{"top", "middle"} {
		t.Run(where, func(t *testing.T) {
			l := listenerSim{10: "a", 20: "b"}
			calls := 0 // SetRulePriorities calls: one per plan with any move
			for step := range 40 {
				order := l.names()
				n := fmt.Sprintf("new%d", step)
				var desired []string
				if where == "top" {
					desired = append([]string{n}, order...)
				} else {
					// Always just above "b", the last rule.
					desired = slices.Insert(slices.Clone(order), len(order)-1, n)
				}
				existing, occupied := l.existingFor(desired)
				pp, err := assignPriorities(existing, occupied)
				if err != nil {
					t.Fatalf("insert %d: %v (listener %v)", step, err, l)
				}
				checkPriorityPlan(t, existing, occupied, pp)
				l.apply(t, desired, pp)
				if len(pp.move) > 0 {
					calls++
				}
			}
			// Gaps are reused: most inserts move nothing.
			if calls > 40/3 {
				t.Errorf("40 inserts needed %d reorders", calls)
			}
		})
	}
}

// TestPrioritiesProperties checks the invariants over random listeners and random edits: priorities
// strictly increase in desired order, kept rules keep their priority, moved and new rules only take free
// priorities, and applying the plan gives the desired order without a collision.
func TestPrioritiesProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(20240601, 7))
	layouts := []string{"sparse", "random", "dense", "near-max"}
	for iter := range 3000 {
		layout := layouts[iter%len(layouts)]
		m := rng.IntN(15)
		var prios []int32
		switch layout {
		case "sparse":
			for i := range m {
				prios = append(prios, int32(i+1)*priorityStep)
			}
		case "random":
			for _, p := range rng.Perm(80)[:m] {
				prios = append(prios, int32(p)+1)
			}
			slices.Sort(prios)
		case "dense":
			start := int32(rng.IntN(5)) + 1
			for i := range m {
				prios = append(prios, start+int32(i))
			}
		case "near-max":
			for i := range m {
				prios = append(prios, maxPriority-int32(m-1-i)*int32(rng.IntN(3)+1))
			}
			slices.Sort(prios)
			prios = slices.Compact(prios)
		}
		l := newListenerSim(prios...)
		var desired []string
		for _, n := range l.names() {
			if rng.IntN(5) > 0 {
				desired = append(desired, n)
			}
		}
		shuffled := rng.IntN(2) == 0
		if shuffled {
			rng.Shuffle(len(desired), func(i, j int) { desired[i], desired[j] = desired[j], desired[i] })
		}
		inserts := rng.IntN(6)
		for k := range inserts {
			desired = slices.Insert(desired, rng.IntN(len(desired)+1), fmt.Sprintf("n%d", k))
		}
		name := fmt.Sprintf("%d/%s/%v->%v", iter, layout, l.names(), desired)

		existing, occupied := l.existingFor(desired)
		pp, err := assignPriorities(existing, occupied)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Run(fmt.Sprint(iter), func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("case %s", name)
				}
			}()
			checkPriorityPlan(t, existing, occupied, pp)
			if layout == "sparse" {
				// With room in every gap, only the rules outside a longest in-order run move.
				kept := 0
				for _, p := range existing {
					if p != 0 {
						kept++
					}
				}
				if want := kept - lisLength(existing); len(pp.move) != want {
					t.Errorf("%s: %d moves, want the minimum %d", name, len(pp.move), want)
				}
			}
			l.apply(t, desired, pp)
		})
		if t.Failed() {
			return
		}
	}
}

// TestPrioritiesLongRun edits one listener many times over, as a long-lived Ingress would, applying each
// plan: it must never fail, collide or lose the order, even as gaps fill up.
func TestPrioritiesLongRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 42))
	l := listenerSim{}
	next := 0
	for step := range 2000 {
		desired := l.names()
		switch op := rng.IntN(10); {
		case op < 5 && len(desired) < 100:
			desired = slices.Insert(desired, rng.IntN(len(desired)+1), fmt.Sprintf("x%d", next))
			next++
		case op < 7 && len(desired) > 0:
			i := rng.IntN(len(desired))
			desired = slices.Delete(desired, i, i+1)
			desired = slices.Clip(desired)
		case len(desired) > 1:
			i := rng.IntN(len(desired))
			r := desired[i]
			desired = slices.Delete(desired, i, i+1)
			desired = slices.Insert(desired, rng.IntN(len(desired)+1), r)
		}
		existing, occupied := l.existingFor(desired)
		pp, err := assignPriorities(existing, occupied)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		checkPriorityPlan(t, existing, occupied, pp)
		l.apply(t, desired, pp)
	}
}

func TestLongestIncreasing(t *testing.T) {
	cases := []struct {
		vals []int32
		want []bool // nil: only the generic checks
	}{
		{vals: nil, want: []bool{}},
		{vals: []int32{0, 0, 0}, want: []bool{false, false, false}},
		{vals: []int32{10, 20, 30}, want: []bool{true, true, true}},
		{vals: []int32{0, 10, 0, 20, 0}, want: []bool{false, true, false, true, false}},
		{vals: []int32{30, 20, 10}},
		{vals: []int32{10, 10, 20}},
		{vals: []int32{20, 20, 20}},
		{vals: []int32{10, 0, 5, 20}},
		{vals: []int32{20, 10, 30, 40, 15}},
		{vals: []int32{5, 1, 2, 0, 3, 4, 0}, want: []bool{false, true, true, false, true, true, false}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.vals), func(t *testing.T) {
			got := longestIncreasing(tc.vals)
			checkIncreasing(t, tc.vals, got)
			if tc.want != nil && !slices.Equal(got, tc.want) {
				t.Errorf("longestIncreasing(%v) = %v, want %v", tc.vals, got, tc.want)
			}
		})
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		vals := make([]int32, rng.IntN(20))
		for i := range vals {
			if rng.IntN(4) > 0 {
				vals[i] = int32(rng.IntN(15)) // duplicates are likely
			}
		}
		checkIncreasing(t, vals, longestIncreasing(vals))
	}
}

func checkIncreasing(t *testing.T, vals []int32, marked []bool) {
	t.Helper()
	if len(marked) != len(vals) {
		t.Fatalf("longestIncreasing(%v) marked %d values", vals, len(marked))
	}
	var seq []int32
	for i, m := range marked {
		if !m {
			continue
		}
		if vals[i] == 0 {
			t.Fatalf("longestIncreasing(%v) marked a zero (new rule) at %d", vals, i)
		}
		if len(seq) > 0 && vals[i] <= seq[len(seq)-1] {
			t.Fatalf("longestIncreasing(%v) = %v is not strictly increasing", vals, marked)
		}
		seq = append(seq, vals[i])
	}
	if want := lisLength(vals); len(seq) != want {
		t.Fatalf("longestIncreasing(%v) kept %d values, the longest increasing run has %d", vals, len(seq), want)
	}
}

func TestFreeSlots(t *testing.T) {
	taken := func(ps ...int32) func(int32) bool {
		return func(p int32) bool { return slices.Contains(ps, p) }
	}
	cases := []struct {
		name   string
		lo, hi int32
		k      int
		taken  func(int32) bool
		want   []int32 // nil: want !ok
	}{
		{"end of list steps by ten", 20, maxPriority + 1, 3, taken(), []int32{30, 40, 50}},
		{"end of list skips taken", 20, maxPriority + 1, 2, taken(30), []int32{31, 41}},
		{"end of list near the maximum packs", 49998, maxPriority + 1, 2, taken(), []int32{49999, 50000}},
		{"end of list full", 50000, maxPriority + 1, 1, taken(), nil},
		{"middle spreads evenly", 10, 20, 1, taken(), []int32{15}},
		{"middle spreads two evenly", 0, 30, 2, taken(), []int32{10, 20}},
		{"middle avoids taken", 10, 20, 1, taken(15), []int32{16}},
		{"middle tight fits exactly", 10, 13, 2, taken(), []int32{11, 12}},
		{"middle too tight", 10, 12, 2, taken(), nil},
		{"no integer between", 10, 11, 1, taken(), nil},
		{"taken fills the gap", 10, 14, 1, taken(11, 12, 13), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := freeSlots(tc.lo, tc.hi, tc.k, tc.taken)
			if tc.want == nil {
				if ok {
					t.Fatalf("freeSlots(%d, %d, %d) = %v, want none", tc.lo, tc.hi, tc.k, got)
				}
				return
			}
			if !ok || !slices.Equal(got, tc.want) {
				t.Fatalf("freeSlots(%d, %d, %d) = %v, %v; want %v", tc.lo, tc.hi, tc.k, got, ok, tc.want)
			}
		})
	}
}
