package ingress

import (
	"context"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Field indexes on the Ingress cache.
const (
	indexStack   = "cloudlb.io/stack"
	indexService = "cloudlb.io/service"
)

// stackOf is the one place that says which stack an Ingress belongs to. An Ingress with a valid group.name is a
// member of that explicit group, keyed by the bare group name: a key without "/", so it never collides with the
// "namespace/name" key of an implicit group (the AWS Load Balancer Controller keys and tags them the same way).
// Any other Ingress is its own implicit group, keyed as it always was, so an upgrade changes nothing in the cloud.
// An invalid group.name leaves the Ingress in its implicit group, where translation refuses it with a Warning:
// it joins no group by accident.
func stackOf(ing *networkingv1.Ingress) reconcile.Request {
	if g, err := annotations(ing.Annotations).groupName(); err == nil && g != "" {
		return reconcile.Request{NamespacedName: types.NamespacedName{Name: g}}
	}
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}}
}

// stackKey is the string form of a stack, used as the cloud ownership tag and the field index value.
func stackKey(req reconcile.Request) string {
	if req.Namespace == "" {
		return req.Name
	}
	return req.Namespace + "/" + req.Name
}

func indexByStack(o client.Object) []string {
	return []string{stackKey(stackOf(o.(*networkingv1.Ingress)))}
}

// indexByService lists "namespace/name" of every Service an Ingress routes to.
func indexByService(o client.Object) []string {
	ing := o.(*networkingv1.Ingress)
	var out []string
	for _, svc := range backendServices(ing) {
		if key := svc.String(); !slices.Contains(out, key) {
			out = append(out, key)
		}
	}
	return out
}

func backendServices(ing *networkingv1.Ingress) []types.NamespacedName {
	var out []types.NamespacedName
	add := func(be *networkingv1.IngressBackend) {
		switch {
		case be == nil || be.Service == nil:
		case be.Service.Port.Name == useAnnotation:
			// Not a Service: the Services are those its action forwards to.
			for _, name := range actionServices(ing.Annotations, be.Service.Name) {
				out = append(out, types.NamespacedName{Namespace: ing.Namespace, Name: name})
			}
		default:
			out = append(out, types.NamespacedName{Namespace: ing.Namespace, Name: be.Service.Name})
		}
	}
	add(ing.Spec.DefaultBackend)
	for _, r := range ing.Spec.Rules {
		if r.HTTP != nil {
			for i := range r.HTTP.Paths {
				add(&r.HTTP.Paths[i].Backend)
			}
		}
	}
	return out
}

func (r *Reconciler) stackOfIngress(ctx context.Context, o client.Object) []reconcile.Request {
	return r.stacksIn(ctx, nil, []networkingv1.Ingress{*o.(*networkingv1.Ingress)})
}

func (r *Reconciler) stacksOfService(ctx context.Context, o client.Object) []reconcile.Request {
	var list networkingv1.IngressList
	if err := r.List(ctx, &list, client.MatchingFields{indexService: client.ObjectKeyFromObject(o).String()}); err != nil {
		return nil
	}
	return r.stacksIn(ctx, nil, list.Items)
}

// stacksIn maps Ingresses to their stacks (classgroup.go), after edit changes the view.
func (r *Reconciler) stacksIn(ctx context.Context, edit func(*groupView) error, ings []networkingv1.Ingress) []reconcile.Request {
	v, err := newGroupView(ctx, r.Client, r.served())
	if err == nil && edit != nil {
		err = edit(v)
	}
	var out []reconcile.Request
	for i := range ings {
		reqs := []reconcile.Request{stackOf(&ings[i])}
		if err == nil {
			reqs, err = v.stacks(ctx, &ings[i])
		}
		if err != nil {
			// The stack by annotation at least: most Ingresses are in no class group.
			log.FromContext(ctx).Error(err, "mapping Ingresses to their stacks")
			reqs = []reconcile.Request{stackOf(&ings[i])}
		}
		// The groups whose LBC finalizer it still carries remove it, or delete their stack when it was the last.
		reqs = append(reqs, r.lbcStackRequests(&ings[i])...)
		for _, req := range reqs {
			if !slices.Contains(out, req) {
				out = append(out, req)
			}
		}
	}
	return out
}

// services reads the Services that members route to; a missing one is simply absent, and translation reports it.
func (r *Reconciler) services(ctx context.Context, ings []*networkingv1.Ingress) (map[types.NamespacedName]*corev1.Service, error) {
	out := map[types.NamespacedName]*corev1.Service{}
	for _, ing := range ings {
		for _, key := range backendServices(ing) {
			if _, done := out[key]; done {
				continue
			}
			var svc corev1.Service
			if err := r.Get(ctx, key, &svc); err != nil {
				if client.IgnoreNotFound(err) != nil {
					return nil, err
				}
				continue
			}
			out[key] = &svc
		}
	}
	return out, nil
}

// StackLocks is a keyed mutex that serialises everything that changes one stack's cloud resources: the
// reconciler holds a stack's lock for a whole reconcile, the garbage collector for its last check and delete, so
// that an Ingress re-created under the same name never races a collection of its stack. Keys are the stack's
// tag value (cloud.TagValue of the stack key), the only form the collector knows. The zero value is ready to use.
type StackLocks struct {
	mu    sync.Mutex
	locks map[string]*stackLock
}

type stackLock struct {
	ch      chan struct{}
	waiters int
}

// Lock takes the lock of key, or gives up when ctx ends. The returned function releases it.
func (l *StackLocks) Lock(ctx context.Context, key string) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*stackLock{}
	}
	s := l.locks[key]
	if s == nil {
		s = &stackLock{ch: make(chan struct{}, 1)}
		l.locks[key] = s
	}
	s.waiters++
	l.mu.Unlock()
	done := func() {
		l.mu.Lock()
		if s.waiters--; s.waiters == 0 {
			delete(l.locks, key)
		}
		l.mu.Unlock()
	}
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}

// holders counts who holds or waits for key's lock.
func (l *StackLocks) holders(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.locks[key]; s != nil {
		return s.waiters
	}
	return 0
}

// backoff hands out per-stack requeue delays that double from base up to max, until reset. The zero value
// doubles from firstWait to maxWait.
type backoff struct {
	base, max time.Duration
	mu        sync.Mutex
	attempts  map[string]int
}

// next returns the delay before the stack's next look, and counts the attempt.
func (b *backoff) next(stack string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.attempts == nil {
		b.attempts = map[string]int{}
	}
	if b.base <= 0 {
		b.base, b.max = firstWait, maxWait
	}
	n := b.attempts[stack]
	b.attempts[stack] = n + 1
	d := b.base
	for i := 0; i < n && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// reset forgets the stack's attempts, after the state it waited on cleared.
func (b *backoff) reset(stack string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.attempts, stack)
}
