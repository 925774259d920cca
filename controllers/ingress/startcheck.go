package ingress

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// Suspects are the stacks that the start-up check found changed in the cloud while the controller was down. The
// reconciler ensures a suspect stack even though its model is the one last applied, at once rather than at its
// next drift check, and forgets it once an Ensure succeeded. It is kept in memory: after another restart the
// check finds the stack again. The zero value is ready to use; a nil *Suspects holds none.
type Suspects struct {
	mu     sync.Mutex
	stacks map[string]bool
	queue  workqueue.TypedRateLimitingInterface[reconcile.Request]
}

// Source enqueues the suspect stacks on the Ingress controller, those found before it started included.
func (s *Suspects) Source() source.Source {
	return source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.queue = q
		for stack := range s.stacks {
			q.Add(stackRequest(stack))
		}
		return nil
	})
}

func (s *Suspects) add(stack string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stacks == nil {
		s.stacks = map[string]bool{}
	}
	s.stacks[stack] = true
	if s.queue != nil {
		s.queue.Add(stackRequest(stack))
	}
}

// Has says whether stack is suspect.
func (s *Suspects) Has(stack string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stacks[stack]
}

func (s *Suspects) done(stack string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.stacks, stack)
}

// listStacks lists the stacks that own cloud resources. On the first pass, with a provider that can tell what
// each stack owns from the same read, it also compares that with the records (checkRecords).
func (c *Collector) listStacks(ctx context.Context) ([]string, error) {
	inv, ok := c.Provider.(cloud.Inventory)
	if !ok || c.Suspects == nil || c.passes != 1 {
		return c.Provider.Stacks(ctx)
	}
	owned, err := inv.Inventory(ctx)
	if err != nil {
		return nil, err
	}
	stacks := make([]string, 0, len(owned))
	for s := range owned {
		stacks = append(stacks, s)
	}
	sort.Strings(stacks)
	if err := c.checkRecords(ctx, owned); err != nil {
		return nil, err
	}
	return stacks, nil
}

// checkRecords marks suspect every converged stack whose recorded load balancer or target groups the cloud no
// longer holds, or that owns a load balancer its record does not name. Stacks not converged are ensured anyway.
func (c *Collector) checkRecords(ctx context.Context, owned map[string]cloud.StackResources) error {
	var records v1alpha1.LoadBalancerList
	if err := c.Client.List(ctx, &records); err != nil {
		return err
	}
	for i := range records.Items {
		rec := &records.Items[i]
		tag := cloud.TagValue(rec.Spec.Stack)
		if rec.Status.AppliedHash == "" || !meta.IsStatusConditionTrue(rec.Status.Conditions, "Ready") || !c.watched(tag) {
			continue
		}
		if why := drifted(rec, owned[tag]); why != "" {
			log.FromContext(ctx).Info("stack changed while the controller was down; reconciling it now", "stack", rec.Spec.Stack, "why", why)
			c.Suspects.add(rec.Spec.Stack)
		}
	}
	return nil
}

// drifted says what differs between a converged record and what its stack owns, or "".
func drifted(rec *v1alpha1.LoadBalancer, res cloud.StackResources) string {
	if id := rec.Status.ID; id != "" && !slices.Contains(res.LoadBalancers, id) {
		return fmt.Sprintf("load balancer %s is missing", id)
	}
	for _, lb := range res.LoadBalancers {
		if lb != rec.Status.ID {
			return fmt.Sprintf("load balancer %s is not the one recorded", lb)
		}
	}
	for _, b := range rec.Status.TargetGroups {
		ids := res.TargetGroups[cloud.TagValue(b.ID)]
		if len(ids) == 0 || b.CloudID != "" && !slices.Contains(ids, b.CloudID) {
			return fmt.Sprintf("target group %s is missing", b.ID)
		}
	}
	return ""
}
