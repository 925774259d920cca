package ingress

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// secretMemo keeps, of each OIDC Secret read, the keys translation reads, at the resourceVersion they were read
// at. The Secret watch holds metadata only, so it never lists Secret data; while its resourceVersion of a Secret is
// the one kept, the Secret is not read again from the API server on every reconcile of each stack naming it.
type secretMemo struct {
	mu      sync.Mutex
	secrets map[types.NamespacedName]*corev1.Secret
}

func (m *secretMemo) get(key types.NamespacedName, resourceVersion string) *corev1.Secret {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.secrets[key]; s != nil && s.ResourceVersion == resourceVersion {
		return s
	}
	return nil
}

func (m *secretMemo) put(s *corev1.Secret) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.secrets == nil {
		m.secrets = map[types.NamespacedName]*corev1.Secret{}
	}
	m.secrets[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = s
}

func (m *secretMemo) forget(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.secrets, key)
}

// secret reads the OIDC Secret key: kept, when the watch's metadata shows it unchanged, else from the API server;
// nil when it does not exist.
func (r *Reconciler) secret(ctx context.Context, key types.NamespacedName) (*corev1.Secret, error) {
	m := secretMetadata()
	if r.Client != nil && r.Get(ctx, key, m) == nil {
		if s := r.secretReads.get(key, m.ResourceVersion); s != nil {
			return s, nil
		}
	}
	if r.APIReader == nil {
		return nil, fmt.Errorf("reading Secret %s: no API reader", key)
	}
	var s corev1.Secret
	if err := r.APIReader.Get(ctx, key, &s); err != nil {
		if apierrors.IsNotFound(err) {
			r.secretReads.forget(key)
			return nil, nil
		}
		// The error names the Secret, never its data.
		return nil, fmt.Errorf("reading Secret %s: %w", key, err)
	}
	kept := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name, ResourceVersion: s.ResourceVersion},
		Data: map[string][]byte{}}
	for _, k := range []string{secretKeyClientID, secretKeyClientIDLegacy, secretKeyClientSecret} {
		if v, ok := s.Data[k]; ok {
			kept.Data[k] = v
		}
	}
	r.secretReads.put(kept)
	return kept, nil
}
