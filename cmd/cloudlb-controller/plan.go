package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/controllers"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

// Exit codes of `cloudlb-controller plan`, as terraform plan -detailed-exitcode has them.
const (
	planNoChanges = 0
	planError     = 1
	planChanges   = 2
)

// planOptions are the plan command's flags.
type planOptions struct {
	files      []string
	all        bool
	namespace  string
	kubeconfig string
	clusterID  string
	shared     sharedFlags
	cfg        ingress.PlanConfig
	aws        cloudaws.Options
}

// runPlan is `cloudlb-controller plan -f ingress.yaml` (or --all): it prints what applying the manifest would
// change in the cloud, and writes nothing, to the cloud or to the API server.
func runPlan(args []string, stdout, stderr io.Writer) int {
	o, err := parsePlanFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return planNoChanges
		}
		fmt.Fprintln(stderr, "cloudlb-controller plan:", err)
		return planError
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	cfg, err := o.restConfig()
	if err != nil {
		fmt.Fprintln(stderr, "cloudlb-controller plan: loading kubeconfig:", err)
		return planError
	}
	return o.run(ctx, cfg, func(ctx context.Context, a cloudaws.Options) (cloud.Provider, error) {
		return cloudaws.NewFromConfig(ctx, a)
	},
		stdout, stderr)
}

func parsePlanFlags(args []string, stderr io.Writer) (*planOptions, error) {
	o := &planOptions{}
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Func("f", "Manifest to plan (Ingresses, and the Services, IngressClasses and IngressClassParams they need); - is stdin. Repeatable.",
		func(s string) error { o.files = append(o.files, s); return nil })
	fs.BoolVar(&o.all, "all", false, "Plan every stack the cluster's Ingresses make, instead of a manifest's.")
	fs.StringVar(&o.namespace, "namespace", "default", "Namespace of the manifest's objects that name none.")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Kubeconfig of the cluster; defaults to $KUBECONFIG, then ~/.kube/config, then in-cluster.")
	o.shared.bind(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := o.shared.finish(); err != nil {
		return nil, err
	}
	switch {
	case len(o.files) == 0 && !o.all:
		return nil, errors.New("give a manifest with -f, or --all")
	case len(o.files) > 0 && o.all:
		return nil, errors.New("-f and --all exclude each other")
	}
	sh := &o.shared
	o.clusterID, o.aws = sh.ClusterID, sh.AWS
	o.cfg.ClusterName, o.cfg.LegacyClass, o.cfg.WatchNamespace = sh.ClusterName, sh.LegacyIngressClass, sh.WatchNamespace
	o.cfg.DisableGroupNameAnnotation, o.cfg.AdoptLBC = sh.DisableGroupNameAnnotation, sh.AdoptLBC
	o.cfg.ControllerNames, o.cfg.DefaultTargetType, o.cfg.ExternalManagedTags = sh.ControllerNames, sh.DefaultTargetType, sh.ExternalManagedTags
	o.cfg.DefaultBackendRules = sh.DefaultBackendRules
	return o, nil
}

func (o *planOptions) restConfig() (*rest.Config, error) {
	if o.kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	}
	return ctrl.GetConfig()
}

// run plans against the cluster cfg points at, with the provider newProvider makes from the AWS options: the
// adoption preview plans with other options than the controller's.
func (o *planOptions) run(ctx context.Context, cfg *rest.Config, newProvider func(context.Context, cloudaws.Options) (cloud.Provider, error),
	stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintln(stderr, "cloudlb-controller plan:", err)
		return planError
	}
	cfg = readOnly(cfg)
	scheme := controllers.Scheme()
	manifest, err := readManifests(o.files, o.namespace, scheme)
	if err != nil {
		return fail(err)
	}
	live, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fail(err)
	}
	if o.aws.ClusterID, err = controllers.ClusterID(ctx, cfg, o.clusterID); err != nil {
		return fail(err)
	}
	if o.cfg.Provider, err = newProvider(ctx, o.aws); err != nil {
		return fail(err)
	}
	o.cfg.Scheme = scheme
	plans, err := ingress.Plan(ctx, o.cfg, client.Reader(live), manifest, o.all)
	if err != nil {
		return fail(err)
	}
	text, n := ingress.PlanText(plans)
	fmt.Fprint(stdout, text)
	// A manifest's own Ingress that translation refuses is an error in the manifest.
	var refused []string
	for _, sp := range plans {
		for name, msg := range sp.Errors {
			if slices.ContainsFunc(manifest, func(m client.Object) bool {
				_, isIngress := m.(*networkingv1.Ingress)
				return isIngress && m.GetNamespace()+"/"+m.GetName() == name
			}) {
				refused = append(refused, name+": "+msg)
			}
		}
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		return fail(fmt.Errorf("the manifest's Ingresses are refused: %s", strings.Join(refused, "; ")))
	}
	if n > 0 {
		return planChanges
	}
	return planNoChanges
}

// readManifests decodes the YAML or JSON documents of files into the objects Plan reads, in namespace when they
// name none.
func readManifests(files []string, namespace string, scheme *runtime.Scheme) ([]client.Object, error) {
	decoder := serializer.NewCodecFactory(scheme).UniversalDeserializer()
	var out []client.Object
	for _, f := range files {
		var data []byte
		var err error
		if f == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(f)
		}
		if err != nil {
			return nil, err
		}
		docs := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for i := 1; ; i++ {
			var raw runtime.RawExtension
			if err := docs.Decode(&raw); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s, document %d: %w", f, i, err)
			}
			if len(bytes.TrimSpace(raw.Raw)) == 0 || string(bytes.TrimSpace(raw.Raw)) == "null" {
				continue
			}
			obj, gvk, err := decoder.Decode(raw.Raw, nil, nil)
			if err != nil {
				return nil, fmt.Errorf("%s, document %d: %w", f, i, err)
			}
			o, ok := obj.(client.Object)
			if !ok || !slices.Contains(ingress.PlannedKinds, gvk.GroupKind()) {
				return nil, fmt.Errorf("%s, document %d: %s: plan reads Ingresses, Services, IngressClasses and IngressClassParams", f, i, gvk.Kind)
			}
			// IngressClasses and IngressClassParams are cluster-scoped.
			if gvk.Kind != "IngressClass" && gvk.Kind != "IngressClassParams" && o.GetNamespace() == "" {
				o.SetNamespace(namespace)
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// readOnly makes every request through cfg but GET, HEAD and OPTIONS fail before it is sent.
func readOnly(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	wrap := cfg.WrapTransport
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if wrap != nil {
			rt = wrap(rt)
		}
		return readOnlyTransport{rt}
	}
	return cfg
}

type readOnlyTransport struct{ next http.RoundTripper }

func (t readOnlyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return t.next.RoundTrip(req)
	}
	return nil, fmt.Errorf("%s %s refused: the plan command writes nothing to the API server", req.Method, req.URL.Path)
}
