package aws

import (
	"errors"
	"slices"
)

// ALB rule priorities run from 1 to 50000.
const (
	maxPriority  = 50000
	priorityStep = 10
)

// priorityPlan is the outcome of assignPriorities for one listener.
type priorityPlan struct {
	// priority is the priority of each desired rule, by index.
	priority []int32
	// move lists desired indexes whose existing rule must change priority.
	move []int
}

// assignPriorities gives each desired rule (in order) a priority. Existing rules whose relative order still
// holds keep their priorities (unless one must make room where a gap is used up), so that inserting a rule does
// not renumber the others; every other rule gets a priority that no existing rule holds, so that moves never
// swap two rules and the new rule is in place before the old one goes. existing[i] is the current priority of
// desired rule i, or 0 when it is new; occupied holds every priority in use on the listener.
func assignPriorities(existing []int32, occupied map[int32]bool) (priorityPlan, error) {
	n := len(existing)
	plan := priorityPlan{priority: make([]int32, n)}
	anchor := longestIncreasing(existing)
	for i, p := range existing {
		if anchor[i] {
			plan.priority[i] = p
		}
	}
	taken := func(p int32) bool { return occupied[p] }
	bounds := func(i, j int) (lo, hi int32) {
		lo, hi = 0, maxPriority+1
		if i > 0 {
			lo = plan.priority[i-1]
		}
		if j < n {
			hi = plan.priority[j]
		}
		return lo, hi
	}
	for i := 0; i < n; {
		if anchor[i] {
			i++
			continue
		}
		j := i
		for j < n && !anchor[j] {
			j++
		}
		lo, hi := bounds(i, j)
		slots, ok := freeSlots(lo, hi, j-i, taken)
		if !ok {
			// No free priority between the neighbours (repeated inserts at one spot use a gap up): let
			// neighbours move too, the next one down first, until the run can spread out at least
			// priorityStep/2 apart, and start over. Moves only target free priorities, so this is as safe
			// as any other move, and all of them still go in one SetRulePriorities call.
			if i == 0 && j == n {
				return priorityPlan{}, errors.New("no free rule priorities left on the listener")
			}
			for i > 0 || j < n {
				if j < n {
					anchor[j] = false
					for j < n && !anchor[j] {
						j++
					}
				} else {
					i--
					anchor[i] = false
					for i > 0 && !anchor[i-1] {
						i--
					}
				}
				if lo, hi = bounds(i, j); (hi-lo)/int32(j-i+1) >= priorityStep/2 {
					break
				}
			}
			plan.move, i = nil, 0
			continue
		}
		copy(plan.priority[i:j], slots)
		for k := i; k < j; k++ {
			if existing[k] != 0 {
				plan.move = append(plan.move, k)
			}
		}
		i = j
	}
	return plan, nil
}

// freeSlots picks k free priorities strictly between lo and hi: every priorityStep after lo when the run is at
// the end of the list, spread evenly otherwise, and any free ones when space is tight.
func freeSlots(lo, hi int32, k int, taken func(int32) bool) ([]int32, bool) {
	pick := func(next func(prev int32, idx int) int32) ([]int32, bool) {
		out := make([]int32, 0, k)
		prev := lo
		for idx := 0; idx < k; idx++ {
			p := next(prev, idx)
			for p < hi && (taken(p) || p <= prev) {
				p++
			}
			if p >= hi {
				return nil, false
			}
			out = append(out, p)
			prev = p
		}
		return out, true
	}
	if hi > maxPriority {
		if out, ok := pick(func(prev int32, _ int) int32 { return prev + priorityStep }); ok {
			return out, true
		}
	} else {
		gap := (hi - lo) / int32(k+1)
		if gap >= 1 {
			if out, ok := pick(func(_ int32, idx int) int32 { return lo + gap*int32(idx+1) }); ok {
				return out, true
			}
		}
	}
	return pick(func(prev int32, _ int) int32 { return prev + 1 })
}

// longestIncreasing marks a longest strictly increasing subsequence of the non-zero values: the rules that
// can stay where they are.
func longestIncreasing(vals []int32) []bool {
	var idx []int // positions of non-zero values
	for i, v := range vals {
		if v != 0 {
			idx = append(idx, i)
		}
	}
	// Patience sorting: tails[l] is the index (into idx) ending the best subsequence of length l+1.
	var tails []int
	prev := make([]int, len(idx))
	for k, i := range idx {
		l, _ := slices.BinarySearchFunc(tails, vals[i], func(t int, v int32) int {
			switch {
			case vals[idx[t]] < v:
				return -1
			case vals[idx[t]] > v:
				return 1
			}
			return 0
		})
		prev[k] = -1
		if l > 0 {
			prev[k] = tails[l-1]
		}
		if l == len(tails) {
			tails = append(tails, k)
		} else {
			tails[l] = k
		}
	}
	out := make([]bool, len(vals))
	if len(tails) == 0 {
		return out
	}
	for k := tails[len(tails)-1]; k >= 0; k = prev[k] {
		out[idx[k]] = true
	}
	return out
}
