// Command cloudlb-local runs cloudlb on one machine with nothing else installed: an embedded API server and
// etcd (the envtest binaries), the CRDs and IngressClass, the controller, and the samples in config/samples.
// It prints each Ingress with its address and a kubeconfig for kubectl, then runs until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers"
	"github.com/cloudlb/cloudlb/test"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cloudlb-local:", err)
		os.Exit(1)
	}
}

func run() error {
	cloudName := flag.String("cloud", "aws", "Cloud to run against: aws (the AWS provider against a local moto server) or fake (in memory).")
	samples := flag.String("samples", filepath.Join(test.RepoRoot(), "config", "samples"), "Directory of manifests to apply.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	env, err := test.NewEnvironment()
	if err != nil {
		return err
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the embedded API server: %w", err)
	}
	defer func() { _ = env.Stop() }()

	kubeconfig, err := writeKubeconfig(env)
	if err != nil {
		return err
	}
	provider, cleanup, err := newProvider(ctx, cfg, *cloudName)
	if err != nil {
		return err
	}
	defer cleanup()
	mgr, err := controllers.NewManager(ctx, cfg, provider, controllers.Options{
		ClusterName: "local", LegacyIngressClass: "cloudlb", MaxConcurrentReconciles: 3,
		DriftCheckInterval: time.Hour, GCInterval: time.Hour, MetricsBindAddress: "0", HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "cloudlb-local: manager:", err)
			stop()
		}
	}()

	c := mgr.GetClient()
	files, err := filepath.Glob(filepath.Join(*samples, "*.yaml"))
	if err != nil {
		return err
	}
	// The IngressClass goes first so that no Ingress is ever seen without its class.
	ordered := append([]string{filepath.Join(*samples, "ingressclass.yaml")}, without(files, filepath.Join(*samples, "ingressclass.yaml"))...)
	objs, err := test.ApplyFiles(ctx, c, ordered...)
	if err != nil {
		return err
	}
	want := 0
	for _, o := range objs {
		if o.GetKind() == "Ingress" {
			want++
		}
	}
	if err := printAddresses(ctx, c, want); err != nil {
		return err
	}
	fmt.Printf("\nkubectl --kubeconfig %s get ingress,loadbalancers -A\n\ncloudlb is running; press Ctrl-C to stop.\n", kubeconfig)
	<-ctx.Done()
	return nil
}

// newProvider returns the chosen cloud. For aws it starts a moto server, so that the controller's real AWS
// code creates real ALB API objects that the user can inspect.
func newProvider(ctx context.Context, restCfg *rest.Config, name string) (cloud.Provider, func(), error) {
	switch name {
	case "fake":
		return fake.New(), func() {}, nil
	case "aws":
	default:
		return nil, nil, fmt.Errorf("--cloud=%s: must be aws or fake", name)
	}
	clusterID, err := controllers.ClusterID(ctx, restCfg, "")
	if err != nil {
		return nil, nil, err
	}
	moto, err := test.StartMoto()
	if err != nil {
		return nil, nil, err
	}
	for k, v := range moto.Credentials() {
		_ = os.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(localRegion))
	if err != nil {
		moto.Stop()
		return nil, nil, err
	}
	cfg.BaseEndpoint = aws.String(moto.URL)
	vpcID, _, err := test.PrepareVPC(ctx, ec2.NewFromConfig(cfg))
	if err != nil {
		moto.Stop()
		return nil, nil, fmt.Errorf("preparing moto's VPC: %w", err)
	}
	p, err := cloudaws.NewFromConfig(ctx, cloudaws.Options{ClusterName: "local", ClusterID: clusterID, Region: localRegion, VPCID: vpcID, EndpointURL: moto.URL, MaxRetries: 5})
	if err != nil {
		moto.Stop()
		return nil, nil, err
	}
	fmt.Printf("moto (AWS API emulator) at %s; its state: curl %s/moto-api/data.json\n", moto.URL, moto.URL)
	fmt.Printf("  aws --endpoint-url %s --region %s elbv2 describe-load-balancers\n\n", moto.URL, localRegion)
	return p, moto.Stop, nil
}

const localRegion = "us-east-1"

// printAddresses waits until the cache holds want Ingresses that all have an address, or 60 s, then prints them.
func printAddresses(ctx context.Context, c client.Client, want int) error {
	var list networkingv1.IngressList
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := c.List(ctx, &list); err != nil {
			return err
		}
		pending := want - len(list.Items)
		for _, ing := range list.Items {
			if len(ing.Status.LoadBalancer.Ingress) == 0 {
				pending++
			}
		}
		if pending == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAMESPACE\tNAME\tCLASS\tADDRESS")
	for _, ing := range list.Items {
		class, addr := "<none>", "<pending>"
		if ing.Spec.IngressClassName != nil {
			class = *ing.Spec.IngressClassName
		}
		if lbs := ing.Status.LoadBalancer.Ingress; len(lbs) > 0 {
			addr = lbs[0].Hostname
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", ing.Namespace, ing.Name, class, addr)
	}
	return w.Flush()
}

func writeKubeconfig(env *envtest.Environment) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "local-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(os.TempDir(), "cloudlb-local.kubeconfig")
	return path, os.WriteFile(path, data, 0o600)
}

func without(list []string, drop string) []string {
	out := list[:0:0]
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}
