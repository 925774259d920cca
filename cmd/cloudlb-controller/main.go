// Command cloudlb-controller runs the cloudlb manager: it turns Ingresses into cloud load balancers.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cloudlb-controller:", err)
		os.Exit(1)
	}
}

func run() error {
	var o controllers.Options
	var cloudProvider string
	// --kubeconfig is registered by controller-runtime's config package.
	flag.StringVar(&o.ClusterName, "cluster-name", "", "Name of this cluster; tags every cloud resource and scopes ownership (required).")
	flag.StringVar(&cloudProvider, "cloud-provider", "aws", "Cloud provider: aws or fake (in-memory, for tests and local runs).")
	flag.StringVar(&o.LegacyIngressClass, "ingress-class", "cloudlb", "Value of the legacy kubernetes.io/ingress.class annotation that cloudlb serves.")
	flag.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 3, "Stacks reconciled in parallel.")
	flag.DurationVar(&o.DriftCheckInterval, "drift-check-interval", time.Hour, "How often an unchanged load balancer is re-checked against the cloud; 0 disables.")
	flag.BoolVar(&o.LeaderElection, "leader-elect", false, "Elect a leader, so that only one replica reconciles.")
	flag.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader election Lease; defaults to the pod's namespace.")
	flag.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints; 0 disables them.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if o.ClusterName == "" {
		return errors.New("--cluster-name is required: it scopes which cloud resources this controller owns")
	}
	if o.MaxConcurrentReconciles < 1 {
		return errors.New("--max-concurrent-reconciles must be at least 1")
	}
	provider, err := newProvider(cloudProvider)
	if err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	mgr, err := controllers.NewManager(ctx, cfg, provider, o)
	if err != nil {
		return err
	}
	ctrl.Log.Info("starting cloudlb", "cluster", o.ClusterName, "cloudProvider", cloudProvider)
	return mgr.Start(ctx)
}

func newProvider(name string) (cloud.Provider, error) {
	switch name {
	case "fake":
		return fake.New(), nil
	case "aws":
		return nil, errors.New("--cloud-provider=aws is not available in this build yet; use --cloud-provider=fake")
	default:
		return nil, fmt.Errorf("--cloud-provider=%q: must be aws or fake", name)
	}
}
