package cloud

import "context"

type noAdoptionKey struct{}

// WithoutAdoption marks the cloud calls made with the returned context as ones that must not claim resources
// another controller made (a provider's takeover mode): garbage collection deletes a stack because no Ingress
// wants it, which vouches only for what already carries this cluster's identity.
func WithoutAdoption(ctx context.Context) context.Context {
	return context.WithValue(ctx, noAdoptionKey{}, true)
}

// AdoptionAllowed reports whether ctx was not marked by WithoutAdoption.
func AdoptionAllowed(ctx context.Context) bool {
	no, _ := ctx.Value(noAdoptionKey{}).(bool)
	return !no
}
