package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go/middleware"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/controllers"
	"github.com/cloudlb/cloudlb/controllers/ingress"
	"github.com/cloudlb/cloudlb/test"
)

// writeCounter counts the requests other than GET that reach the API server through a config.
type writeCounter struct {
	mu     sync.Mutex
	writes []string
}

func (w *writeCounter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			if req.Method != http.MethodGet {
				w.mu.Lock()
				w.writes = append(w.writes, req.Method+" "+req.URL.Path)
				w.mu.Unlock()
			}
			return rt.RoundTrip(req)
		})
	}
	return cfg
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

const planManifest = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app
  namespace: plan
  annotations:
    alb.ingress.kubernetes.io/target-type: ip
%s
spec:
  ingressClassName: cloudlb
  rules:
  - http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service: {name: web, port: {number: 80}}
%s`

func TestPlanCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, err := test.NewEnvironment()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	moto, err := test.StartMoto()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	for k, v := range moto.Credentials() {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_REGION", "us-east-1")
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	awsCfg.BaseEndpoint = aws.String(moto.URL)
	vpc, _, err := test.PrepareVPC(ctx, ec2.NewFromConfig(awsCfg))
	if err != nil {
		t.Fatal(err)
	}
	awsOpts := cloudaws.Options{ClusterName: "plan", ClusterID: "plan-id", Region: "us-east-1", VPCID: vpc, EndpointURL: moto.URL,
		ManageBackendSecurityGroup: true}

	k8s, err := client.New(cfg, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plan"}},
		&networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "cloudlb"}, Spec: networkingv1.IngressClassSpec{Controller: ingress.ControllerName}},
		service("web", 80), service("api", 8080),
	} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	write := func(name, annotations, paths string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(strings.ReplaceAll(planManifest, "%s\nspec", annotations+"\nspec"), "%s", paths)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := write("plain.yaml", "", "")
	edited := write("edited.yaml", "    alb.ingress.kubernetes.io/healthcheck-path: /healthz", `      - path: /api
        pathType: Prefix
        backend:
          service: {name: api, port: {number: 8080}}
`)
	invalid := write("invalid.yaml", "    alb.ingress.kubernetes.io/scheme: sideways", "")

	counter := &test.CallCounter{}
	writes := &writeCounter{}
	plan := func(args ...string) (int, string) {
		t.Helper()
		o, err := parsePlanFlags(append([]string{"--cluster-name", "plan", "--cluster-id", "plan-id"}, args...), os.Stderr)
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := o.run(ctx, writes.wrap(cfg), func(ctx context.Context, _ cloudaws.Options) (cloud.Provider, error) {
			a := awsOpts
			a.APIOptions = []func(*middleware.Stack) error{counter.Middleware}
			return cloudaws.NewFromConfig(ctx, a)
		}, &stdout, &stderr)
		if m := counter.Mutating(); len(m) > 0 {
			t.Errorf("plan %v made AWS writes %v", args, m)
		}
		if len(writes.writes) > 0 {
			t.Errorf("plan %v wrote to the API server: %v", args, writes.writes)
		}
		t.Logf("plan %v: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
		return code, stdout.String() + stderr.String()
	}
	expectLines := func(out string, patterns ...string) {
		t.Helper()
		for _, p := range patterns {
			if !regexp.MustCompile("(?m)" + p).MatchString(out) {
				t.Errorf("no line matches %q in:\n%s", p, out)
			}
		}
	}

	// A new Ingress: everything is created.
	code, out := plan("-f", plain)
	if code != planChanges {
		t.Fatalf("exit %d, want %d", code, planChanges)
	}
	expectLines(out, `^# stack plan/app \(LoadBalancer plan\.app\)$`,
		`^\+ create load-balancer k8s-plan-app-\w+ \(internal ipv4, subnets subnet-`,
		`^\+ create listener k8s-plan-app-\w+:80 \(HTTP, default action fixed:404`,
		`^\+ create rule k8s-plan-app-\w+:80 path-pattern\[\]=\["/\*"\] \(priority \d+, forward:k8s-appweb80-\w+\*1\)$`,
		`^\+ create target-group k8s-appweb80-\w+ \(HTTP:\d+ ip for plan/app/web:80\)$`,
		`^\+ create security-group k8s-traffic-plan-\w+ \(shared backend of cluster plan\)$`,
		`^Plan: \d+ changes in 1 stacks\.$`)
	var ing networkingv1.Ingress
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "plan", Name: "app"}, &ing); err == nil {
		t.Fatal("the plan created the Ingress")
	}

	// Applied by the controller, the same manifest plans no change.
	provider, err := cloudaws.NewFromConfig(ctx, awsOpts)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := controllers.NewManager(ctx, cfg, provider, controllers.Options{ClusterName: "plan", LegacyIngressClass: "cloudlb",
		MaxConcurrentReconciles: 1, MetricsBindAddress: "0", HealthProbeBindAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()
	manifest, err := readManifests([]string{plain}, "default", controllers.Scheme())
	if err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, manifest[0]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "plan", Name: "app"}, &ing); err == nil && len(ing.Status.LoadBalancer.Ingress) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the controller did not apply the Ingress")
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel() // the plans below are made with nothing else running
	ctx = context.Background()
	generation := ing.Generation

	code, out = plan("-f", plain)
	if code != planNoChanges {
		t.Fatalf("exit %d, want %d", code, planNoChanges)
	}
	expectLines(out, `^  no changes$`, `^No changes\.`)
	if code, _ := plan("--all"); code != planNoChanges {
		t.Errorf("--all: exit %d, want %d", code, planNoChanges)
	}

	// An edit: a path added, a health check changed; the cluster keeps the Ingress as it is.
	code, out = plan("-f", edited)
	if code != planChanges {
		t.Fatalf("exit %d, want %d", code, planChanges)
	}
	expectLines(out,
		`^~ modify target-group k8s-appweb80-\w+ health-check path: / → /healthz$`,
		`^\+ create rule k8s-plan-app-\w+:80 path-pattern\[\]=\["/api" "/api/\*"\] \(priority \d+, forward:k8s-appapi8080-\w+\*1\)$`,
		`^\+ create target-group k8s-appapi8080-\w+ \(HTTP:\d+ ip for plan/app/api:8080\)$`)
	if strings.Contains(out, "create load-balancer") {
		t.Errorf("an edit plans no new load balancer:\n%s", out)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "plan", Name: "app"}, &ing); err != nil || ing.Generation != generation {
		t.Errorf("the Ingress changed: %v, generation %d, want %d", err, ing.Generation, generation)
	}

	// Errors: an Ingress translation refuses, a kind plan does not read, a missing file.
	code, out = plan("-f", invalid)
	if code != planError || !strings.Contains(out, "alb.ingress.kubernetes.io/scheme") {
		t.Errorf("invalid annotation: exit %d, want %d, naming the annotation:\n%s", code, planError, out)
	}
	cm := filepath.Join(dir, "cm.yaml")
	if err := os.WriteFile(cm, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := plan("-f", cm); code != planError || !strings.Contains(out, "ConfigMap") {
		t.Errorf("a ConfigMap: exit %d, want %d:\n%s", code, planError, out)
	}
	if code, _ := plan("-f", filepath.Join(dir, "missing.yaml")); code != planError {
		t.Errorf("a missing file: exit %d, want %d", code, planError)
	}
}

func service(name string, port int32) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "plan", Name: name}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": name},
		Ports:    []corev1.ServicePort{{Name: "http", Port: port, TargetPort: intstr.FromInt32(8080)}},
	}}
}
