// Package unserved benchmarks the controller's memory in a cluster full of workloads it does not serve: 5,000
// Services with 20,000 Pods and their EndpointSlices, none behind a cloudlb Ingress. What the caches hold of
// them is the controller's cost of running in a big cluster, whatever it serves.
package unserved

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/cloudlb/cloudlb/test/bench"
)

const (
	namespaces  = 50
	podsPerSvc  = 4
	loadWorkers = 16
)

// BenchmarkUnserved5000Services loads 5,000 Services (100 in each of 50 namespaces), each with 4 Pods and one
// EndpointSlice of them, shaped as a Helm chart and the EndpointSlice controller make them (labels, a
// last-applied annotation, owner references), then starts the controller. It reports the Go heap the
// process holds and the part of it the controller adds once its caches are synced and its reconcilers idle
// (after a full collection; the process is the controller and the benchmark's client), the peak heap
// sampled every 50ms while it starts, the process's peak RSS, how many objects of each kind the cache holds,
// and logs every watch the controller opens. CLOUDLB_BENCH_SERVICES=0 measures the controller in an empty
// cluster, for comparison.
func BenchmarkUnserved5000Services(b *testing.B) {
	bench.Once(b)
	services := bench.EnvInt(b, "CLOUDLB_BENCH_SERVICES", 5000, 0)
	profile := os.Getenv("CLOUDLB_BENCH_HEAP_PROFILE")
	if profile != "" {
		runtime.MemProfileRate = 1 // every allocation, not a sample: the cache's objects are small
	}
	ctx := context.Background()
	ctrl.SetLogger(bench.Logger())
	env := bench.Start(b)

	start := time.Now()
	for i := range namespaces {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace(i)}}); err != nil {
			b.Fatal(err)
		}
	}
	// The load is setup: written as fast as the API server takes it, without a client-side rate limit.
	unlimited := rest.CopyConfig(env.Config)
	unlimited.QPS = -1
	c, err := client.New(unlimited, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	load(b, c, services, func(c client.Client, i int) error {
		ns, app := namespace(i%namespaces), fmt.Sprintf("app-%04d", i)
		svc := service(ns, app)
		if err := c.Create(ctx, svc); err != nil {
			return err
		}
		var ips []string
		for k := range podsPerSvc {
			p := pod(ns, app, k, i)
			if err := c.Create(ctx, p); err != nil {
				return err
			}
			ips = append(ips, fmt.Sprintf("10.%d.%d.%d", 64+i/4000, i%4000/16, (i%16)*podsPerSvc+k+1))
		}
		return c.Create(ctx, slice(svc, ips))
	})
	b.Logf("loaded %d namespaces, %d Services, %d Pods, %d EndpointSlices in %.1f s", namespaces, services,
		services*podsPerSvc, services, time.Since(start).Seconds())

	before := bench.HeapMiB()
	peak := sampleHeap(b)
	watches := &watchLog{}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(watches.wrap)
	start = time.Now()
	mgr := bench.RunManager(b, cfg, bench.NewRecorder(), bench.Options())
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("caches did not sync")
	}
	synced := time.Since(start)
	idle(b)

	// What the cache holds, read back through the controller's own client.
	held := map[string]int{}
	for kind, list := range map[string]client.ObjectList{"Service": &corev1.ServiceList{}, "Pod": &corev1.PodList{},
		"EndpointSlice": &discoveryv1.EndpointSliceList{}} {
		if err := mgr.GetCache().List(ctx, list); err != nil {
			b.Fatal(err)
		}
		held[kind] = meta.LenList(list)
	}
	after := bench.HeapMiB()
	if profile != "" {
		writeHeapProfile(b, profile)
	}
	for _, w := range watches.sorted() {
		b.Logf("watch %s", w)
	}
	b.Logf("cache holds %d Services, %d Pods, %d EndpointSlices", held["Service"], held["Pod"], held["EndpointSlice"])
	b.Logf("heap %.1f MiB before the controller, %.1f MiB with it (+%.1f MiB); peak heap %.1f MiB; peak RSS %.0f MiB; synced in %.1f s",
		before, after, after-before, peak(), bench.PeakRSSMiB(b), synced.Seconds())
	b.ReportMetric(after, "heap-MiB")
	b.ReportMetric(after-before, "controller-heap-MiB")
	b.ReportMetric(peak(), "peak-heap-MiB")
	b.ReportMetric(bench.PeakRSSMiB(b), "peak-rss-MiB")
	b.ReportMetric(float64(held["Pod"]), "cached-pods")
	b.ReportMetric(float64(held["Service"]), "cached-services")
	b.ReportMetric(float64(held["EndpointSlice"]), "cached-slices")
	b.ReportMetric(float64(len(watches.sorted())), "watches")
	// Counts, not sizes, may gate: no Pod of an unserved workload carries cloudlb's readiness gate label.
	if held["Pod"] != 0 {
		b.Errorf("the cache holds %d Pods, none of which carries a cloudlb readiness gate", held["Pod"])
	}
}

// writeHeapProfile writes the live heap (as of the last collection) to path, for go tool pprof.
func writeHeapProfile(b *testing.B, path string) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

func namespace(i int) string { return fmt.Sprintf("team-%02d", i) }

// helmMeta is what a Helm-installed object of app carries: the chart's labels and release annotations, and
// kubectl's record of the last applied configuration.
func helmMeta(ns, name, app string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name,
		Labels: map[string]string{"app.kubernetes.io/name": app, "app.kubernetes.io/instance": app + "-prod",
			"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/version": "1.24.3", "helm.sh/chart": app + "-3.1.4"},
		Annotations: map[string]string{"meta.helm.sh/release-name": app + "-prod", "meta.helm.sh/release-namespace": ns,
			"kubectl.kubernetes.io/last-applied-configuration": fmt.Sprintf(`{"apiVersion":"v1","kind":"Service","metadata":{"name":%q,"namespace":%q},"spec":{"ports":[{"name":"http","port":80,"targetPort":"http"},{"name":"metrics","port":9090,"targetPort":"metrics"}],"selector":{"app.kubernetes.io/name":%q}}}`, name, ns, app)}}
}

func service(ns, app string) *corev1.Service {
	return &corev1.Service{ObjectMeta: helmMeta(ns, app, app), Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app.kubernetes.io/name": app, "app.kubernetes.io/instance": app + "-prod"},
		Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
			{Name: "metrics", Port: 9090, TargetPort: intstr.FromString("metrics")}}}}
}

// pod is the k'th replica of app: one container with ports, environment, resources and probes, as a
// Deployment's ReplicaSet makes it (the owner is not a live object: envtest runs no garbage collector).
func pod(ns, app string, k, i int) *corev1.Pod {
	m := helmMeta(ns, fmt.Sprintf("%s-7d9f8c6b5-%05d", app, k), app)
	delete(m.Annotations, "kubectl.kubernetes.io/last-applied-configuration")
	m.Labels["pod-template-hash"] = "7d9f8c6b5"
	m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: app + "-7d9f8c6b5",
		UID: "00000000-0000-0000-0000-000000000001", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
		PeriodSeconds: 10}
	return &corev1.Pod{ObjectMeta: m, Spec: corev1.PodSpec{NodeName: fmt.Sprintf("node-%03d", i%200), Containers: []corev1.Container{{
		Name: "app", Image: "registry.example.com/" + ns + "/" + app + ":1.24.3",
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9090}},
		Env: []corev1.EnvVar{{Name: "APP_NAME", Value: app}, {Name: "LOG_LEVEL", Value: "info"},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}},
		ReadinessProbe: probe, LivenessProbe: probe,
	}}}}
}

// slice is the EndpointSlice controller's slice of svc: the Service's labels plus its own, an owner reference
// to the Service, one ready endpoint per address with its pod, node and zone.
func slice(svc *corev1.Service, ips []string) *discoveryv1.EndpointSlice {
	labels := map[string]string{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}
	for k, v := range svc.Labels {
		labels[k] = v
	}
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, GenerateName: svc.Name + "-", Labels: labels,
			Annotations:     map[string]string{"endpoints.kubernetes.io/last-change-trigger-time": "2026-12-01T23:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)},
			{Name: ptr.To("metrics"), Port: ptr.To[int32](9090), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for k, ip := range ips {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, NodeName: ptr.To("node-001"),
			Zone:       ptr.To("us-east-1a"),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: svc.Namespace, Name: fmt.Sprintf("%s-7d9f8c6b5-%05d", svc.Name, k)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}})
	}
	return es
}

// load runs fn for 0..n-1 on loadWorkers goroutines and fails on the first error.
func load(b *testing.B, base client.Client, n int, fn func(c client.Client, i int) error) {
	b.Helper()
	errs := make(chan error, loadWorkers)
	var wg sync.WaitGroup
	for w := range loadWorkers {
		wg.Go(func() {
			for i := w; i < n; i += loadWorkers {
				if err := fn(base, i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// sampleHeap samples the heap in use every 50ms until the benchmark ends; the returned func is the largest
// sample so far.
func sampleHeap(b *testing.B) func() float64 {
	var mu sync.Mutex
	var peak uint64
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			mu.Lock()
			peak = max(peak, m.HeapInuse)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	b.Cleanup(func() { close(done) })
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		return float64(peak) / (1 << 20)
	}
}

// idle waits until no reconcile has finished for two seconds: the controllers have passed over what the
// caches delivered at start.
func idle(b *testing.B) {
	b.Helper()
	last, since := -1.0, time.Now()
	bench.Poll(b, 5*time.Minute, "the reconcilers to go idle", func() bool {
		n := reconciles(b)
		if n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) >= 2*time.Second
	})
}

// reconciles is controller-runtime's count of finished reconciles, all controllers together.
func reconciles(b *testing.B) float64 {
	families, err := metrics.Registry.Gather()
	if err != nil {
		b.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() == "controller_runtime_reconcile_total" {
			for _, m := range f.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// watchLog records each watch the controller opens: the resource, its selectors, and whether it asked for
// metadata only.
type watchLog struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (w *watchLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		q := req.URL.Query()
		if q.Get("watch") == "true" || q.Get("watch") == "1" {
			what := req.URL.Path
			for _, k := range []string{"labelSelector", "fieldSelector"} {
				if v := q.Get(k); v != "" {
					what += " " + k + "=" + v
				}
			}
			if strings.Contains(req.Header.Get("Accept"), "PartialObjectMetadata") {
				what += " (metadata only)"
			}
			w.mu.Lock()
			if w.seen == nil {
				w.seen = map[string]bool{}
			}
			w.seen[what] = true
			w.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

func (w *watchLog) sorted() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.seen))
	for k := range w.seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
