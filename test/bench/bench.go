// Package bench holds what the envtest benchmarks under test/bench share: a real API server, the controller
// manager run in-process against the fake provider, object builders, and the figures they report.
//
// Each scenario is its own package, and so its own test process, for two reasons: a process's peak RSS
// (VmHWM) covers its whole life, so a scenario's figure must not include another's; and controller-runtime
// refuses a second controller of the same name in one process, so one process runs one manager.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go/middleware"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers"
	"github.com/cloudlb/cloudlb/controllers/ingress"
	"github.com/cloudlb/cloudlb/test"
)

// BatchWindow is the targets batch window the benchmarks run with: short, so that figures are not mostly
// waiting, and long enough for a burst of writes to coalesce.
const BatchWindow = 500 * time.Millisecond

// Env is a running API server with cloudlb's CRDs and IngressClass.
type Env struct {
	Config *rest.Config
	// Client is the benchmark's own client, for writing the objects the controller reads.
	Client     client.Client
	KubeConfig []byte
}

// Once fails the benchmark unless it runs a single iteration. Every scenario here is one-shot: it loads a
// cluster and watches the controller converge. Its timer runs through it all, setup included, so that it
// lasts longer than the default -benchtime and the testing package runs it once; ns/op is then the
// scenario's wall time, and the figures that matter are the metrics it reports.
func Once(b *testing.B) {
	b.Helper()
	if b.N != 1 {
		b.Fatalf("b.N = %d: this scenario is one-shot; run it with -benchtime=1x", b.N)
	}
}

// Logger encodes the controller's log lines as in production, then drops them, so that their cost is
// counted. Set it (or a sink around it) with ctrl.SetLogger before starting a manager: only the first
// ctrl.SetLogger of a process takes effect.
func Logger() logr.Logger { return zap.New(zap.WriteTo(io.Discard)) }

// Start starts an API server for the benchmark and stops it when the benchmark ends. Missing envtest binaries
// fail the benchmark: `make bench` provisions them.
func Start(b *testing.B) *Env {
	b.Helper()
	env, err := test.NewEnvironment()
	if err != nil {
		b.Fatal(err)
	}
	// envtest's default Service range, a /24, runs out after 254 ClusterIP Services.
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/16")
	cfg, err := env.Start()
	if err != nil {
		b.Fatalf("starting envtest: %v", err)
	}
	b.Cleanup(func() {
		if err := env.Stop(); err != nil {
			b.Errorf("stopping envtest: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	class := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "cloudlb"},
		Spec: networkingv1.IngressClassSpec{Controller: ingress.ControllerName}}
	if err := c.Create(context.Background(), class); err != nil {
		b.Fatal(err)
	}
	return &Env{Config: cfg, Client: c, KubeConfig: env.KubeConfig}
}

// Options are the controller's production defaults (cmd/cloudlb-controller), with the benchmark batch window
// and no listeners.
func Options() controllers.Options {
	return controllers.Options{
		ClusterName: "bench", LegacyIngressClass: "cloudlb", MaxConcurrentReconciles: 3,
		DriftCheckInterval: time.Hour, TargetBatchWindow: BatchWindow, GCInterval: time.Hour,
		MetricsBindAddress: "0", HealthProbeBindAddress: "0",
	}
}

// RunManager runs cloudlb's manager against provider until the benchmark ends, and returns it.
func RunManager(b *testing.B, cfg *rest.Config, provider cloud.Provider, o controllers.Options) ctrl.Manager {
	b.Helper()
	// No client-side rate limit, as ctrl.GetConfig gives cmd/cloudlb-controller (envtest's is 1,000/s).
	cfg = rest.CopyConfig(cfg)
	cfg.QPS = -1
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := controllers.NewManager(ctx, cfg, provider, o)
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	// Registered after Start's, so it runs before the API server stops.
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("manager: %v", err)
		}
	})
	return mgr
}

// Poll calls done every 50ms until it returns true, and fails the benchmark after timeout.
func Poll(b *testing.B, timeout time.Duration, what string, done func() bool) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for !done() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Write runs fn for 0..n-1 on a few goroutines, as a busy cluster's controllers write, and fails on the first
// error.
func Write(b *testing.B, n int, fn func(i int) error) {
	b.Helper()
	const workers = 4
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if err := fn(i); err != nil {
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

// EnvInt is the environment variable name as a number of at least least, or def when it is unset.
func EnvInt(b *testing.B, name string, def, least int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		b.Fatalf("%s=%q: want a number of at least %d", name, v, least)
	}
	return n
}

// Service is a ClusterIP Service "name" whose port 80 targets the named port http.
func Service(ns, name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
}

// Ingress routes everything to port 80 of the Service of the same name, with IP targets: its own stack.
func Ingress(ns, name string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Annotations: map[string]string{"alb.ingress.kubernetes.io/target-type": "ip"}},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("cloudlb"), DefaultBackend: &networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Number: 80}}}},
	}
}

// TargetGroup is the ID of the target group that Ingress(ns, name) feeds from its Service.
func TargetGroup(ns, name string) (stack, id string) {
	return ns + "/" + name, ns + "/" + name + "/" + name + ":80"
}

// TargetPort is the port every endpoint of every EndpointSlice here serves on.
const TargetPort = 8080

// EndpointSlice is a slice of the Service with ready endpoints at addrs on TargetPort.
func EndpointSlice(ns, service, name string, addrs []string) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service,
			discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](TargetPort), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, a := range addrs {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, NodeName: ptr.To("node-1"),
			Zone: ptr.To("us-east-1a"), TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "pod-" + a},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}})
	}
	return es
}

// Terminate marks every endpoint of es terminating, as when its pods are being deleted.
func Terminate(es *discoveryv1.EndpointSlice) {
	for i := range es.Endpoints {
		es.Endpoints[i].Conditions = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}
	}
}

// IPs returns n addresses prefix.0.1, prefix.0.2, ... (prefix is two octets, e.g. "10.7").
func IPs(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		k := from + i
		out[i] = fmt.Sprintf("%s.%d.%d", prefix, k/250, k%250+1)
	}
	return out
}

// PeakRSSMiB is this process's peak resident set (VmHWM). The API server and etcd are other processes and
// not in it; the benchmark's own client, informer-free as it is, and the objects it built are.
func PeakRSSMiB(b *testing.B) float64 {
	b.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// HeapMiB is the Go heap in use after a full collection: what the process holds live, with span overhead.
func HeapMiB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse) / (1 << 20)
}

// Recorder is the fake provider, recording for each SyncTargets call how many targets it registered and
// deregistered: the fake takes the whole desired set, and a batch is the difference from the set before.
type Recorder struct {
	*fake.Provider
	mu      sync.Mutex
	last    map[string]map[cloud.Target]bool
	batches []Batch
}

// Batch is what one SyncTargets call changed in one target group, and the number of targets it left there.
type Batch struct{ Registered, Deregistered, Targets int }

// NewRecorder returns a recorder over a new fake provider.
func NewRecorder() *Recorder {
	return &Recorder{Provider: fake.New(), last: map[string]map[cloud.Target]bool{}}
}

// SyncTargets records the batch and passes the call on.
func (r *Recorder) SyncTargets(ctx context.Context, stack, tgID string, targets []cloud.Target) ([]cloud.TargetHealth, error) {
	health, err := r.Provider.SyncTargets(ctx, stack, tgID, targets)
	if err != nil {
		return health, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := stack + "\x00" + tgID
	now := make(map[cloud.Target]bool, len(targets))
	batch := Batch{Targets: len(targets)}
	for _, t := range targets {
		now[t] = true
		if !r.last[key][t] {
			batch.Registered++
		}
	}
	batch.Deregistered = len(r.last[key]) + batch.Registered - len(now)
	r.last[key] = now
	r.batches = append(r.batches, batch)
	return health, nil
}

// Batches returns the batches recorded since the last Reset.
func (r *Recorder) Batches() []Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Batch(nil), r.batches...)
}

// ResetBatches forgets the recorded batches, keeping the known target sets.
func (r *Recorder) ResetBatches() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = nil
}

// Quiet waits until no SyncTargets call has been made for four batch windows, so that counts taken after it
// include the stragglers of the last window.
func (r *Recorder) Quiet(b *testing.B, timeout time.Duration) {
	b.Helper()
	n, since := -1, time.Now()
	Poll(b, timeout, "SyncTargets calls to stop", func() bool {
		if c := r.CallCount(fake.MethodSyncTargets, ""); c != n {
			n, since = c, time.Now()
		}
		return time.Since(since) >= 4*BatchWindow
	})
}

// Moto starts a moto for the benchmark, stopped when it ends, puts its credentials in the environment and
// prepares a VPC in it. It returns moto's URL, an SDK config pointed at it, and the VPC's id. The Ginkgo
// suites' motos start only under their Test functions, which `-run '^$'` skips, so a benchmark starts its own.
func Moto(b *testing.B, region string) (url string, cfg aws.Config, vpc string) {
	b.Helper()
	ctx := context.Background()
	m, err := test.StartMoto()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Stop)
	for k, v := range m.Credentials() {
		b.Setenv(k, v)
	}
	cfg, err = config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		b.Fatal(err)
	}
	cfg.BaseEndpoint = aws.String(m.URL)
	vpc, _, err = test.PrepareVPC(ctx, ec2.NewFromConfig(cfg))
	if err != nil {
		b.Fatal(err)
	}
	return m.URL, cfg, vpc
}

// AWSProvider is the AWS provider against a moto started for this benchmark (see Moto), counting its calls in
// counter. It also returns an SDK config pointed at that moto, for the benchmark's own, uncounted, reads.
func AWSProvider(b *testing.B, region string, counter *test.CallCounter) (*cloudaws.Provider, aws.Config) {
	b.Helper()
	motoURL, cfg, vpc := Moto(b, region)
	p, err := cloudaws.NewFromConfig(context.Background(), cloudaws.Options{ClusterName: Options().ClusterName, ClusterID: "bench-cluster-id",
		Region: region, VPCID: vpc, EndpointURL: motoURL, MaxRetries: 8, APIOptions: []func(*middleware.Stack) error{counter.Middleware}})
	if err != nil {
		b.Fatal(err)
	}
	return p, cfg
}

// GroupConverged waits until the record of the group says all its members are applied at an applied hash other
// than before, and returns that hash.
func GroupConverged(b *testing.B, c client.Client, group string, members int, before string) string {
	b.Helper()
	var hash string
	Poll(b, 5*time.Minute, "the group to converge", func() bool {
		var rec v1alpha1.LoadBalancer
		if err := c.Get(context.Background(), client.ObjectKey{Name: group}, &rec); err != nil {
			return false
		}
		st := rec.Status
		if !meta.IsStatusConditionTrue(st.Conditions, "Ready") || st.AppliedHash == "" || st.AppliedHash == before ||
			len(st.Members) != members || slices.ContainsFunc(st.Members, func(m v1alpha1.MemberStatus) bool { return !m.Applied }) {
			return false
		}
		hash = st.AppliedHash
		return true
	})
	return hash
}

// QuietCalls waits, for at most timeout, until counter has seen no AWS call for silence, so that counts taken
// after it include the calls a phase set off.
func QuietCalls(b *testing.B, counter *test.CallCounter, silence, timeout time.Duration) {
	b.Helper()
	n, since := -1, time.Now()
	Poll(b, timeout, "AWS calls to stop", func() bool {
		if c := len(counter.Calls()); c != n {
			n, since = c, time.Now()
		}
		return time.Since(since) >= silence
	})
}

// Sum is the total of calls counted by operation.
func Sum(m map[string]int) int {
	t := 0
	for _, v := range m {
		t += v
	}
	return t
}
