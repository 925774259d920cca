package controllers

import (
	"context"
	"maps"
	"net/http"
	"path"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The cache starts on every replica, the leader's controllers on the leader only: what warmCache asks for is what
// a standby holds synced when it takes over.
var _ = Describe("warmCache", func() {
	It("starts, with the cache, a watch of every resource the Ingress and targets controllers read", func() {
		ctx, cancel := context.WithCancel(context.Background())
		DeferCleanup(cancel)
		var mu sync.Mutex
		watched := map[string]bool{}
		wrapped := rest.CopyConfig(cfg)
		wrapped.Wrap(func(rt http.RoundTripper) http.RoundTripper {
			return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
				if r.URL.Query().Get("watch") == "true" {
					mu.Lock()
					watched[path.Base(r.URL.Path)] = true
					mu.Unlock()
				}
				return rt.RoundTrip(r)
			})
		})
		c, err := cache.New(wrapped, cache.Options{Scheme: Scheme()})
		Expect(err).NotTo(HaveOccurred())
		Expect(warmCache(ctx, c)).To(Succeed())
		go func() {
			defer GinkgoRecover()
			Expect(c.Start(ctx)).To(Succeed())
		}()
		Expect(c.WaitForCacheSync(ctx)).To(BeTrue())
		Eventually(func() map[string]bool {
			mu.Lock()
			defer mu.Unlock()
			return maps.Clone(watched)
		}).Should(SatisfyAll(HaveKey("ingresses"), HaveKey("ingressclasses"), HaveKey("services"), HaveKey("endpointslices"),
			HaveKey("nodes"), HaveKey("pods"), HaveKey("secrets"), HaveKey("loadbalancers"), HaveKey("ingressclassparams")))
	})
})
