package cloud

import "context"

type backgroundKey struct{}

// Background marks the cloud calls made with the returned context as background work (drift checks, garbage
// collection, target-health polling): a provider that paces its calls lets them use only capacity that work a
// user waits for (a new or edited Ingress, the targets of a rollout) leaves unused.
func Background(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

// IsBackground reports whether ctx was marked by Background.
func IsBackground(ctx context.Context) bool {
	b, _ := ctx.Value(backgroundKey{}).(bool)
	return b
}
