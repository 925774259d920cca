// Command cloudlb-controller runs the cloudlb manager: it turns Ingresses into cloud load balancers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

func main() {
	if code, ok := runCommand(os.Args, os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cloudlb-controller:", err)
		os.Exit(1)
	}
}

func run() error {
	c := bindControllerFlags(flag.CommandLine)
	// --kubeconfig is registered by controller-runtime's config package.
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if err := c.finish(); err != nil {
		return err
	}
	o, awsOpts := c.o, c.AWS
	ctx := ctrl.SetupSignalHandler()
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	if c.cloudProvider == "aws" {
		if awsOpts.ClusterID, err = controllers.ClusterID(ctx, cfg, c.ClusterID); err != nil {
			return err
		}
	}
	provider, err := newProvider(ctx, c.cloudProvider, awsOpts)
	if err != nil {
		return err
	}
	mgr, err := controllers.NewManager(ctx, cfg, provider, o)
	if err != nil {
		return err
	}
	ctrl.Log.Info("starting cloudlb", "cluster", o.ClusterName, "clusterID", awsOpts.ClusterID, "cloudProvider", c.cloudProvider)
	return mgr.Start(ctx)
}

// controllerFlags are the controller's flags: those plan shares, and its own.
type controllerFlags struct {
	sharedFlags
	o             controllers.Options
	cloudProvider string
	lbcLease      string
}

func bindControllerFlags(fs *flag.FlagSet) *controllerFlags {
	c := &controllerFlags{}
	o := &c.o
	c.bind(fs)
	fs.StringVar(&c.lbcLease, "lbc-lease", ingress.DefaultLBCLease.String(),
		"The AWS Load Balancer Controller's leader election Lease, namespace/name: with --adopt-lbc-resources nothing is taken over while it is held.")
	fs.StringVar(&c.cloudProvider, "cloud-provider", "aws", "Cloud provider: aws or fake (in-memory, for tests and local runs).")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 3, "Stacks reconciled in parallel.")
	fs.DurationVar(&o.DriftCheckInterval, "drift-check-interval", time.Hour, "How often an unchanged load balancer is re-checked against the cloud; 0 disables.")
	fs.DurationVar(&o.TargetBatchWindow, "target-batch-window", time.Second, "How long endpoint changes are collected before one registration call per target group.")
	fs.DurationVar(&o.ServiceDeletionGrace, "service-deletion-grace", 2*time.Minute,
		"How long the targets of a backend Service that was deleted stay registered, so that deleting and re-creating it is not an outage.")
	fs.IntVar(&o.Webhook.Port, "webhook-port", 0, "HTTPS port of the pod readiness gate and admission webhooks; 0 disables them.")
	fs.StringVar(&o.Webhook.CertDir, "webhook-cert-dir", "", "Directory with the webhook's tls.crt and tls.key; defaults to controller-runtime's.")
	fs.DurationVar(&o.GCInterval, "gc-interval", time.Hour, "How often cloud resources of this cluster that match no Ingress are deleted; 0 disables.")
	fs.DurationVar(&o.GCConfirmAfter, "gc-confirm-after", 0,
		"How long a stack must match no Ingress, over two garbage collection passes, before it is deleted; 0 means --gc-interval (at least "+minGCConfirmAfter.String()+").")
	fs.IntVar(&o.GCMaxDeletions, "gc-max-deletions", ingress.DefaultGCMaxDeletions, "Most stacks deleted per garbage collection pass.")
	fs.DurationVar(&o.ReconcileTimeout, "reconcile-timeout", 5*time.Minute, "Deadline of one reconcile of a load balancer, cloud calls included; 0 means none.")
	fs.Float64Var(&c.AWS.APIRateScale, "aws-api-rate-scale", 1,
		"Scales AWS's documented API rate limits that cloudlb paces its calls by: below 1 for an account shared with other tools, above 1 for raised limits.")
	fs.Func("aws-api-buckets", "Sets some of those limits, unscaled, as name=burst:rate,...; names: elbv2-describe, elbv2-registration, elbv2-mutating, ec2-describe, ec2-mutating, tagging, acm, other.",
		func(s string) (err error) { c.AWS.APIBuckets, err = cloudaws.ParseAPIBuckets(s); return err })
	fs.BoolVar(&o.EnableTargetGroupBinding, "enable-target-group-binding", true,
		"Serve TargetGroupBindings (elbv2.k8s.aws); false leaves them to another controller, such as the AWS Load Balancer Controller.")
	fs.BoolVar(&o.LeaderElection, "leader-elect", false, "Elect a leader, so that only one replica reconciles.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader election Lease; defaults to the pod's namespace.")
	// A SIGKILLed leader's Lease is taken over within about lease + 2*1.2*retry: 14.8 s with these defaults.
	fs.DurationVar(&o.LeaseDuration, "leader-election-lease-duration", 10*time.Second, "How long a standby waits after the leader's last renewal before it takes the Lease.")
	fs.DurationVar(&o.RenewDeadline, "leader-election-renew-deadline", 7*time.Second, "How long the leader tries to renew its Lease before it gives up leading (and exits).")
	fs.DurationVar(&o.RetryPeriod, "leader-election-retry-period", 2*time.Second, "How often replicas try to acquire or renew the Lease.")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8443", "Address of the Prometheus metrics endpoint; 0 disables it.")
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", true,
		"Serve metrics over HTTPS to clients allowed get on the /metrics non-resource URL (checked with TokenReview and SubjectAccessReview); false serves plain HTTP to anyone.")
	fs.StringVar(&o.MetricsCertDir, "metrics-cert-dir", "", "Directory with the metrics server's tls.crt and tls.key; empty means a self-signed certificate.")
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", false, "Let the metrics and webhook servers negotiate HTTP/2; off because of HTTP/2's rapid-reset and stream denial-of-service weaknesses.")
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints; 0 disables them.")
	return c
}

// finish checks the parsed flags and completes the manager's options from the shared ones.
func (c *controllerFlags) finish() error {
	if err := c.sharedFlags.finish(); err != nil {
		return err
	}
	o := &c.o
	o.ClusterName, o.LegacyIngressClass, o.WatchNamespace = c.ClusterName, c.LegacyIngressClass, c.WatchNamespace
	o.DisableIngressGroupNameAnnotation, o.AdoptLBC = c.DisableGroupNameAnnotation, c.AdoptLBC
	ns, name, ok := strings.Cut(c.lbcLease, "/")
	if !ok || ns == "" || name == "" {
		return fmt.Errorf("--lbc-lease=%q: want namespace/name", c.lbcLease)
	}
	o.LBCLease = types.NamespacedName{Namespace: ns, Name: name}
	o.ControllerNames, o.DefaultTargetType, o.ExternalManagedTags = c.ControllerNames, c.DefaultTargetType, c.ExternalManagedTags
	o.DefaultBackendRules = c.DefaultBackendRules
	// A member moving to another group is a replacement of its load balancer: it gets the same grace.
	o.MoveGrace = c.AWS.ReplacementGrace
	if o.MaxConcurrentReconciles < 1 {
		return errors.New("--max-concurrent-reconciles must be at least 1")
	}
	if o.GCConfirmAfter == 0 {
		o.GCConfirmAfter = max(o.GCInterval, minGCConfirmAfter)
	}
	if o.GCInterval > 0 && o.GCConfirmAfter < minGCConfirmAfter {
		return fmt.Errorf("--gc-confirm-after must be at least %s: a shorter wait can delete a load balancer whose Ingress the cache has not seen yet", minGCConfirmAfter)
	}
	if o.GCMaxDeletions < 1 {
		return errors.New("--gc-max-deletions must be at least 1")
	}
	if o.ReconcileTimeout < 0 {
		return errors.New("--reconcile-timeout must not be negative")
	}
	return nil
}

// minGCConfirmAfter is the shortest time for which a stack must stay orphaned before it is collected.
const minGCConfirmAfter = 2 * time.Minute

func newProvider(ctx context.Context, name string, awsOpts cloudaws.Options) (cloud.Provider, error) {
	switch name {
	case "fake":
		return fake.New(), nil
	case "aws":
		return cloudaws.NewFromConfig(ctx, awsOpts)
	default:
		return nil, fmt.Errorf("--cloud-provider=%q: must be aws or fake", name)
	}
}

// parseTags reads key=value,key2=value2.
func parseTags(s string) (map[string]string, error) {
	pairs, bad := ingress.KeyValues(s)
	if bad != "" {
		return nil, fmt.Errorf("--default-tags: %q is not key=value", bad)
	}
	for _, p := range pairs {
		if ingress.ReservedTagKey(p.Key) {
			return nil, fmt.Errorf("--default-tags: key %q uses a reserved prefix", p.Key)
		}
	}
	out := map[string]string{}
	maps.Copy(out, ingress.KeyValueMap(pairs))
	return out, nil
}

// parseTagKeys reads --external-managed-tags: keys that cloudlb's own tags or --default-tags cannot also claim.
func parseTagKeys(s string, defaults map[string]string) ([]string, error) {
	var out []string
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k == "" || slices.Contains(out, k) {
			continue
		}
		if ingress.ReservedTagKey(k) {
			return nil, fmt.Errorf("--external-managed-tags: key %q uses a reserved prefix", k)
		}
		if _, ok := defaults[k]; ok {
			return nil, fmt.Errorf("--external-managed-tags: key %q is also in --default-tags", k)
		}
		out = append(out, k)
	}
	return out, nil
}

// parseTargetType reads --default-target-type, for the controller and for plan alike.
func parseTargetType(s string) (cloud.TargetType, error) {
	if t := cloud.TargetType(s); t == cloud.TargetTypeInstance || t == cloud.TargetTypeIP {
		return t, nil
	}
	return "", errors.New("--default-target-type must be instance or ip")
}

// parseControllerNames reads --controller-names. LBC's controller name is served only with the takeover mode:
// without it, cloudlb would make a second load balancer beside each of LBC's and put its finalizer beside LBC's.
func parseControllerNames(s string, adopt bool) ([]string, error) {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n == "" || slices.Contains(out, n) {
			continue
		}
		if n == ingress.LBCControllerName && !adopt {
			return nil, fmt.Errorf("--controller-names: %s is served only with --adopt-lbc-resources", n)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("--controller-names must name at least one IngressClass controller")
	}
	if adopt && !slices.Contains(out, ingress.LBCControllerName) {
		out = append(out, ingress.LBCControllerName)
	}
	return out, nil
}
