package ingress

import (
	"context"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/cloudlb/cloudlb/cloud"
)

// Collector deletes stacks that own cloud resources in this cluster but match no Ingress: leaks left by an
// Ingress whose finalizer was removed by hand, or that moved to another stack while cloudlb was down. It runs at
// start-up and then every Interval, on the leader only.
type Collector struct {
	Client      client.Reader
	Provider    cloud.Provider
	LegacyClass string
	Interval    time.Duration
}

// NeedLeaderElection keeps standby replicas from collecting.
func (c *Collector) NeedLeaderElection() bool { return true }

// Start runs the collector until ctx ends.
func (c *Collector) Start(ctx context.Context) error {
	for {
		if err := c.Collect(ctx); err != nil {
			log.FromContext(ctx).Error(err, "garbage collection failed; retrying next interval")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.Interval):
		}
	}
}

// Collect deletes every orphaned stack once. The cloud is read before the cache: anything the reconciler
// created before the cloud read came from an Ingress already in the cache, so a live stack is never collected.
func (c *Collector) Collect(ctx context.Context) error {
	stacks, err := c.Provider.Stacks(ctx)
	if err != nil {
		return err
	}
	if len(stacks) == 0 {
		return nil
	}
	var ings networkingv1.IngressList
	if err := c.Client.List(ctx, &ings); err != nil {
		return err
	}
	var classes networkingv1.IngressClassList
	if err := c.Client.List(ctx, &classes); err != nil {
		return err
	}
	live := map[string]bool{}
	for i := range ings.Items {
		ing := &ings.Items[i]
		if controllerutil.ContainsFinalizer(ing, cloud.Finalizer) || isOurs(ing, classes.Items, c.LegacyClass) {
			live[stackKey(stackOf(ing))] = true
		}
	}
	for _, s := range stacks {
		if live[s] {
			continue
		}
		log.FromContext(ctx).Info("deleting orphaned load balancer stack", "stack", s)
		if err := c.Provider.Delete(ctx, s, cloud.Known{}); err != nil {
			return err
		}
	}
	return nil
}
