// Package restart benchmarks a controller restart over 1,000 converged Ingresses: how long until every stack
// has been reconciled again, and how many cloud calls that costs (none: nothing changed).
package restart

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers"
	"github.com/cloudlb/cloudlb/test/bench"
)

const (
	ingresses = 1000
	ns        = "restart"
	// firstControllerEnv makes this test binary the controller before the restart.
	firstControllerEnv = "CLOUDLB_BENCH_FIRST_CONTROLLER"
)

// TestMain runs the first controller when asked to: the controller before a restart is another process, with
// its own memory (the fake cloud included), and controller-runtime allows one controller of a name per process.
func TestMain(m *testing.M) {
	if os.Getenv(firstControllerEnv) != "" {
		if err := firstController(); err != nil {
			fmt.Fprintln(os.Stderr, "first controller:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkRestart1000Ingresses converges 1,000 Ingresses (each its own stack, behind its own Service) with a
// first controller process, then starts a new manager with a new fake cloud that holds the same resources but
// knows no model. That the second makes no Ensure call shows the skip rests on the applied hash recorded in the
// cluster, not on memory, and that the start-up check of the cloud finds nothing to repair.
func BenchmarkRestart1000Ingresses(b *testing.B) {
	bench.Once(b)
	ctx := context.Background()
	count := countReconciles()
	env := bench.Start(b)
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	bench.Write(b, ingresses, func(i int) error {
		name := fmt.Sprintf("app-%04d", i)
		if err := env.Client.Create(ctx, bench.Service(ns, name)); err != nil {
			return err
		}
		return env.Client.Create(ctx, bench.Ingress(ns, name))
	})

	kubeconfig := filepath.Join(b.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		b.Fatal(err)
	}
	first := exec.Command(os.Args[0])
	first.Env = append(os.Environ(), firstControllerEnv+"=1", "KUBECONFIG="+kubeconfig)
	first.Stderr = os.Stderr
	out, err := first.Output()
	if err != nil {
		b.Fatalf("first controller: %v", err)
	}
	var firstSeconds float64
	var firstEnsures, firstReconciles int
	if _, err := fmt.Sscanf(string(out), "converged in %gs with %d Ensure calls and %d reconciles", &firstSeconds, &firstEnsures, &firstReconciles); err != nil {
		b.Fatalf("first controller said %q: %v", out, err)
	}

	provider := fake.New()
	// The cloud still holds what the first controller made: the start-up check finds nothing missing.
	var records v1alpha1.LoadBalancerList
	if err := env.Client.List(ctx, &records); err != nil {
		b.Fatal(err)
	}
	for _, rec := range records.Items {
		tgs := map[string]string{}
		for _, tg := range rec.Status.TargetGroups {
			tgs[tg.ID] = tg.CloudID
		}
		provider.Seed(rec.Spec.Stack, rec.Status.Name, tgs)
	}
	start := time.Now()
	bench.RunManager(b, env.Config, provider, bench.Options())
	bench.Poll(b, 5*time.Minute, "every stack reconciled", func() bool { return count.distinct("ingress") == ingresses })
	reconciled := time.Since(start)
	// The start-up check is the collector's first pass, which no reconcile waits for: without this, a run that
	// ended before it would show no Ensure whether or not the check found the seeded cloud complete.
	bench.Poll(b, time.Minute, "the start-up check of the cloud", func() bool { return provider.CallCount(fake.MethodInventory, "") > 0 })
	// Calls are counted once the targets controller has also passed over every Service (and any other, such as
	// default/kubernetes, which it visits to release readiness gates no record binds).
	bench.Poll(b, 5*time.Minute, "every Service's targets reconciled", func() bool { return count.distinct("targets") >= ingresses })

	b.ReportMetric(firstSeconds, "s-first-start")
	b.ReportMetric(float64(firstEnsures), "first-ensure-calls")
	b.ReportMetric(float64(firstReconciles), "first-reconciles")
	b.ReportMetric(reconciled.Seconds(), "s-to-reconciled")
	b.ReportMetric(float64(count.all("ingress")), "reconciles")
	ensures, syncs := provider.CallCount(fake.MethodEnsure, ""), provider.CallCount(fake.MethodSyncTargets, "")
	b.ReportMetric(float64(ensures), "ensure-calls")
	b.ReportMetric(float64(syncs), "sync-calls")
	b.ReportMetric(float64(len(provider.Calls())), "cloud-calls")
	// Counts do not depend on the machine, so they may gate: an unchanged stack costs no cloud call.
	if ensures != 0 || syncs != 0 {
		b.Errorf("after the restart: %d Ensure and %d SyncTargets calls for unchanged stacks, want none", ensures, syncs)
	}
}

// firstController converges every stack with a fresh fake cloud, then stops, and reports what that took.
func firstController() error {
	count := countReconciles()
	// As cmd/cloudlb-controller loads it: ctrl.GetConfig also lifts client-go's default 5 requests/s.
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		return err
	}
	provider := fake.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	mgr, err := controllers.NewManager(ctx, cfg, provider, bench.Options())
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	// Converged: every record is Ready at an applied hash, and its (empty) target set is synced.
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		var list v1alpha1.LoadBalancerList
		if err := c.List(ctx, &list); err != nil {
			return err
		}
		converged := len(list.Items) == ingresses && !slices.ContainsFunc(list.Items, func(lb v1alpha1.LoadBalancer) bool {
			return !meta.IsStatusConditionTrue(lb.Status.Conditions, "Ready") || lb.Status.AppliedHash == "" || len(lb.Status.TargetsSynced) == 0
		})
		if converged {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d records after 5m, not all converged", len(list.Items), ingresses)
		}
	}
	took := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		return err
	}
	fmt.Printf("converged in %gs with %d Ensure calls and %d reconciles\n", took.Seconds(), provider.CallCount(fake.MethodEnsure, ""), count.all("ingress"))
	return nil
}

// reconciles counts, per controller, the distinct requests reconciled without error, from the line
// controller-runtime logs at V(5) after each one. Nothing else tells an unchanged stack's reconcile apart from
// none: it writes nothing and calls no cloud, by design.
type reconciles struct {
	mu    sync.Mutex
	seen  map[string]map[string]bool // controller -> namespace/name
	total map[string]int             // repeats included
}

// countReconciles sets the process's logger to one that counts reconciles and otherwise logs as bench.Logger.
func countReconciles() *reconciles {
	r := &reconciles{seen: map[string]map[string]bool{}, total: map[string]int{}}
	ctrl.SetLogger(logr.New(countingSink{LogSink: bench.Logger().GetSink(), r: r}))
	return r
}

func (r *reconciles) add(controller, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[controller] == nil {
		r.seen[controller] = map[string]bool{}
	}
	r.seen[controller][key] = true
	r.total[controller]++
}

// distinct is how many requests of controller were reconciled at least once.
func (r *reconciles) distinct(controller string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen[controller])
}

func (r *reconciles) all(controller string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total[controller]
}

// countingSink passes every line to the production sink and counts reconciles.
type countingSink struct {
	logr.LogSink
	r  *reconciles
	kv []any
}

// Enabled lets V(5) through to Info, which passes on only what the inner sink wants.
func (s countingSink) Enabled(int) bool { return true }

func (s countingSink) Info(level int, msg string, kv ...any) {
	if s.LogSink.Enabled(level) {
		s.LogSink.Info(level, msg, kv...)
	}
	if msg != "Reconcile successful" && !strings.HasPrefix(msg, "Reconcile done") {
		return
	}
	v := map[string]string{}
	for i := 0; i+1 < len(s.kv); i += 2 {
		v[fmt.Sprint(s.kv[i])] = fmt.Sprint(s.kv[i+1])
	}
	s.r.add(v["controller"], v["namespace"]+"/"+v["name"])
}

func (s countingSink) WithValues(kv ...any) logr.LogSink {
	s.LogSink = s.LogSink.WithValues(kv...)
	s.kv = append(slices.Clip(s.kv), kv...)
	return s
}

func (s countingSink) WithName(name string) logr.LogSink {
	s.LogSink = s.LogSink.WithName(name)
	return s
}
