package ingress

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// DefaultGCMaxDeletions caps the stacks one garbage collection pass deletes when MaxDeletions is not set.
const DefaultGCMaxDeletions = 10

// Collector deletes stacks that own cloud resources in this cluster but match no live Ingress: leaks left by an
// Ingress whose finalizer was removed by hand, or that was claimed by another controller while cloudlb was down.
// It runs at start-up and then every Interval, on the leader only.
//
// Deleting a live load balancer is far worse than leaking one, so a deletion passes several brakes: the first
// pass after start-up deletes nothing; a stack is deleted only when two passes at least ConfirmAfter apart both
// found it orphaned; just before the delete, under the stack's lock (shared with the reconciler), the API server
// itself (not the cache) is asked for the stack's Ingresses; and no pass deletes more than MaxDeletions stacks.
type Collector struct {
	// Client is the cached client: it lists Ingresses and classes, and deletes LoadBalancer records.
	Client client.Client
	// APIReader reads around the cache for the last check before a delete.
	APIReader   client.Reader
	Provider    cloud.Provider
	LegacyClass string
	// ControllerNames and AdoptLBC say which classes are served, as on the Reconciler.
	ControllerNames []string
	AdoptLBC        bool
	Interval        time.Duration
	// ConfirmAfter is how long a stack must stay orphaned, over two passes at least, before it is deleted;
	// zero means Interval.
	ConfirmAfter time.Duration
	// MaxDeletions caps the stacks deleted per pass; zero means DefaultGCMaxDeletions.
	MaxDeletions int
	// Locks is shared with the reconciler.
	Locks *StackLocks
	// WatchNamespace, when set, limits collection to the stacks of that namespace: the cache sees no other
	// Ingress, so any other stack would look orphaned.
	WatchNamespace string
	// Suspects, when set, receives the stacks that the first pass finds changed while the controller was down
	// (startcheck.go).
	Suspects *Suspects

	now    func() time.Time
	passes int
	// seen maps the tag value of each stack found orphaned by the last pass to when it was first found so.
	seen map[string]time.Time
}

// Report is what one pass found and did. Stacks are named by their tag values.
type Report struct {
	// DryRun is set on the first pass after start-up, which deletes nothing.
	DryRun bool
	// Orphans match no live Ingress in this pass.
	Orphans []string
	// WouldDelete were confirmed orphans in a dry run.
	WouldDelete []string
	// Deleted were deleted, with their records.
	Deleted []string
	// Deferred were confirmed orphans left for a later pass by MaxDeletions.
	Deferred []string
}

// NeedLeaderElection keeps standby replicas from collecting.
func (c *Collector) NeedLeaderElection() bool { return true }

// Start runs the collector until ctx ends.
func (c *Collector) Start(ctx context.Context) error {
	for {
		// Nobody waits for a pass: its cloud calls use only what others leave of the API rate.
		report, err := c.Collect(cloud.Background(ctx))
		if err != nil {
			log.FromContext(ctx).Error(err, "garbage collection failed; retrying next interval")
		}
		if len(report.Orphans) > 0 {
			log.FromContext(ctx).Info("garbage collection pass", "dryRun", report.DryRun, "orphans", report.Orphans,
				"wouldDelete", report.WouldDelete, "deleted", report.Deleted, "deferred", report.Deferred)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.Interval):
		}
	}
}

// Collect runs one pass. The cloud is read before the cache: anything the reconciler created before the cloud
// read came from an Ingress already in the cache, so a live stack is never taken for an orphan.
func (c *Collector) Collect(ctx context.Context) (Report, error) {
	now := time.Now()
	if c.now != nil {
		now = c.now()
	}
	c.passes++
	report := Report{DryRun: c.passes == 1}
	prev := c.seen
	c.seen = map[string]time.Time{}
	stacks, err := c.listStacks(ctx)
	if err != nil {
		c.seen = prev
		return report, err
	}
	if len(stacks) == 0 {
		return report, nil
	}
	live, err := c.liveStacks(ctx, c.Client)
	if err != nil {
		c.seen = prev
		return report, err
	}
	for _, s := range stacks {
		if !live[s] && c.watched(s) {
			report.Orphans = append(report.Orphans, s)
		}
	}
	slices.Sort(report.Orphans)

	confirmAfter := c.ConfirmAfter
	if confirmAfter <= 0 {
		confirmAfter = c.Interval
	}
	maxDeletions := c.MaxDeletions
	if maxDeletions <= 0 {
		maxDeletions = DefaultGCMaxDeletions
	}
	var errs []error
	deletions := 0
	for _, s := range report.Orphans {
		first, before := prev[s]
		if !before {
			first = now
		}
		c.seen[s] = first
		switch {
		case !before || now.Sub(first) < confirmAfter:
			continue
		case report.DryRun:
			report.WouldDelete = append(report.WouldDelete, s)
			continue
		case deletions >= maxDeletions:
			report.Deferred = append(report.Deferred, s)
			continue
		}
		deletions++
		deleted, err := c.deleteOrphan(ctx, s)
		switch {
		case err != nil:
			// One stack that cannot be deleted does not keep the others.
			errs = append(errs, fmt.Errorf("stack %s: %w", s, err))
		case deleted:
			report.Deleted = append(report.Deleted, s)
			delete(c.seen, s)
		default:
			delete(c.seen, s)
		}
	}
	return report, errors.Join(errs...)
}

// liveStacks reads, through r, the tag values of the stacks that some live Ingress keeps, as a member or as an
// applied member held there (keptByRecords).
func (c *Collector) liveStacks(ctx context.Context, r client.Reader, opts ...client.ListOption) (map[string]bool, error) {
	var ings networkingv1.IngressList
	if err := r.List(ctx, &ings, opts...); err != nil {
		return nil, err
	}
	view, err := newGroupView(ctx, r, newServed(c.ControllerNames, c.LegacyClass, c.AdoptLBC))
	if err != nil {
		return nil, err
	}
	live, alive := map[string]bool{}, map[string]bool{}
	for i := range ings.Items {
		if ing := &ings.Items[i]; isLive(ing, view.classes, view.served) {
			alive[client.ObjectKeyFromObject(ing).String()] = true
			stacks, err := view.stacks(ctx, ing)
			if err != nil {
				return nil, err
			}
			// A stack that a member is moving from keeps serving it until the move is done (moving.go).
			listed, err := view.listing(ctx, client.ObjectKeyFromObject(ing))
			if err != nil {
				return nil, err
			}
			for _, s := range append(stacks, listed...) {
				live[cloud.TagValue(stackKey(s))] = true
			}
		}
	}
	return live, keptByRecords(ctx, r, alive, live)
}

// deleteOrphan deletes stack (a tag value) and its record, under the stack's lock, unless the API server
// itself still has a live Ingress for it. It reports whether it deleted.
func (c *Collector) deleteOrphan(ctx context.Context, stack string) (bool, error) {
	if c.Locks != nil {
		unlock, err := c.Locks.Lock(ctx, stack)
		if err != nil {
			return false, err
		}
		defer unlock()
	}
	if c.APIReader == nil {
		return false, errors.New("no API reader to confirm that the stack's Ingresses are gone")
	}
	// A stack key begins with the Ingress's namespace, which even a hashed tag value keeps.
	var opts []client.ListOption
	if ns, _, ok := strings.Cut(stack, "/"); ok {
		opts = append(opts, client.InNamespace(ns))
	}
	live, err := c.liveStacks(ctx, c.APIReader, opts...)
	if err != nil {
		return false, err
	}
	if live[stack] {
		log.FromContext(ctx).Info("not collecting a stack whose Ingress the cache had not seen yet", "stack", stack)
		return false, nil
	}
	log.FromContext(ctx).Info("deleting orphaned load balancer stack", "stack", stack)
	// Garbage collection never adopts: no record of this cluster vouches for resources without its identity, so
	// neither legacy resources (no Known) nor, in takeover mode, what the AWS Load Balancer Controller made.
	if err := c.Provider.Delete(cloud.WithoutAdoption(ctx), stack, cloud.Known{}); err != nil {
		return false, err
	}
	var records v1alpha1.LoadBalancerList
	if err := c.APIReader.List(ctx, &records); err != nil {
		return true, err
	}
	for i := range records.Items {
		if rec := &records.Items[i]; cloud.TagValue(rec.Spec.Stack) == stack {
			if err := client.IgnoreNotFound(c.Client.Delete(ctx, rec)); err != nil {
				return true, err
			}
		}
	}
	return true, nil
}
