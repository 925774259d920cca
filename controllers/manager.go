// Package controllers wires cloudlb's reconcilers into a controller-runtime manager. The cloud provider is
// passed in, so that this package never depends on a particular cloud.
package controllers

import (
	"context"
	"crypto/tls"
	"maps"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	elbv2v1beta1 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/controllers/ingress"
	"github.com/cloudlb/cloudlb/controllers/targets"
	"github.com/cloudlb/cloudlb/controllers/tgb"
)

// Options configure the manager and its reconcilers.
type Options struct {
	ClusterName             string
	LegacyIngressClass      string
	MaxConcurrentReconciles int
	DriftCheckInterval      time.Duration
	// TargetBatchWindow coalesces endpoint changes into one registration call per target group.
	TargetBatchWindow time.Duration
	// ServiceDeletionGrace is how long the targets of a deleted backend Service stay registered.
	ServiceDeletionGrace time.Duration
	// Webhook serves the pod readiness gate and validating webhooks when Port is set.
	Webhook WebhookOptions
	// GCInterval is how often orphaned cloud stacks are collected; zero disables collection.
	GCInterval time.Duration
	// GCConfirmAfter is how long a stack stays orphaned before it is collected; zero means GCInterval.
	GCConfirmAfter time.Duration
	// GCMaxDeletions caps the stacks collected per pass; zero means ingress.DefaultGCMaxDeletions.
	GCMaxDeletions int
	// DefaultTargetType is the target type of backends without a target-type annotation; empty means instance.
	DefaultTargetType cloud.TargetType
	// DefaultBackendRules is manage-backend-security-group-rules where no member of a group sets it.
	DefaultBackendRules bool
	// ReconcileTimeout bounds each reconcile of a stack; zero means no deadline.
	ReconcileTimeout        time.Duration
	LeaderElection          bool
	LeaderElectionNamespace string
	// LeaseDuration, RenewDeadline and RetryPeriod time leader election; zero means controller-runtime's default.
	// A standby takes over a killed leader's Lease within about LeaseDuration + 2*1.2*RetryPeriod (jittered polls).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	MetricsBindAddress                        string
	// MetricsSecure serves metrics over HTTPS to clients that the API server authenticates (TokenReview) and
	// authorises (SubjectAccessReview of get on /metrics); otherwise over plain HTTP to anyone.
	MetricsSecure bool
	// MetricsCertDir holds the metrics server's tls.crt and tls.key; empty means a self-signed certificate.
	MetricsCertDir         string
	HealthProbeBindAddress string
	// ExternalManagedTags are tag keys cloudlb never sets; Ingresses that ask for one are refused.
	ExternalManagedTags []string
	// WatchNamespace, when set, is the one namespace whose Ingresses, Services, EndpointSlices and pods are
	// watched; garbage collection then considers only the stacks of that namespace.
	WatchNamespace string
	// DisableIngressGroupNameAnnotation refuses new use of the group.name annotation.
	DisableIngressGroupNameAnnotation bool
	// EnableTargetGroupBinding serves TargetGroupBindings.
	EnableTargetGroupBinding bool
	// MoveGrace is how long the stack an Ingress left keeps serving it once its new stack does.
	MoveGrace time.Duration
	// EnableHTTP2 lets the metrics and webhook servers negotiate HTTP/2, which is off by default because of its
	// denial-of-service weaknesses (CVE-2023-44487 rapid reset, CVE-2023-39325).
	EnableHTTP2 bool
	// ControllerNames are the IngressClass spec.controller values served; empty means ingress.ControllerName.
	ControllerNames []string
	// AdoptLBC takes over from the AWS Load Balancer Controller: its classes, legacy class and finalizers.
	AdoptLBC bool
	// LBCLease is the AWS Load Balancer Controller's leader election Lease, which holds the takeover while held;
	// empty means ingress.DefaultLBCLease.
	LBCLease types.NamespacedName
}

// WebhookOptions configure the webhook server.
type WebhookOptions struct {
	// Port is the HTTPS port; zero disables the webhook server.
	Port int
	// Host is the address to bind; empty binds all.
	Host string
	// CertDir holds tls.crt and tls.key.
	CertDir string
}

// Scheme holds every type cloudlb reads or writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	_ = elbv2v1beta1.AddToScheme(s)
	return s
}

// NewManager returns a manager with every cloudlb reconciler registered against provider.
func NewManager(ctx context.Context, cfg *rest.Config, provider cloud.Provider, o Options) (ctrl.Manager, error) {
	metrics, webhooks := serverOptions(o)
	// Only pods that carry a cloudlb readiness gate: EndpointSlices carry what everything else needs. The AWS Load
	// Balancer Controller's gates come with no label to select by: in a takeover every pod is watched, and those
	// without a gate are cached as a name only (stripPod).
	pods := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{targets.GatedPodLabel: "true"}), Transform: stripPod}
	if o.AdoptLBC {
		pods.Label = nil
	}
	var namespaces map[string]cache.Config
	if o.WatchNamespace != "" {
		// Cluster-scoped objects (classes, nodes, namespaces, LoadBalancer records) are still cached whole.
		namespaces = map[string]cache.Config{o.WatchNamespace: {}}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  Scheme(),
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        "cloudlb.cloudlb.io",
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		LeaseDuration:           nonZero(o.LeaseDuration),
		RenewDeadline:           nonZero(o.RenewDeadline),
		RetryPeriod:             nonZero(o.RetryPeriod),
		Metrics:                 metrics,
		HealthProbeBindAddress:  o.HealthProbeBindAddress,
		WebhookServer:           webhook.NewServer(webhooks),
		Cache: cache.Options{
			// managedFields are a large share of every cached object and nothing here reads them.
			DefaultTransform:  cache.TransformStripManagedFields(),
			DefaultNamespaces: namespaces,
			ByObject: map[client.Object]cache.ByObject{
				&corev1.Service{}:            {Transform: stripService},
				secretMetadata():             {Transform: stripSecretMetadata},
				&corev1.Node{}:               {Transform: stripNode},
				&discoveryv1.EndpointSlice{}: {Transform: stripEndpointSlice},
				&corev1.Pod{}:                pods,
			},
		},
		// A leader stopped by SIGTERM (a rolling update) releases the Lease, so that a standby takes over at its
		// next retry instead of after the lease duration. The release comes once every runnable has returned, and
		// the binary exits right after Start returns, as controller-runtime requires: no reconcile runs after it.
		// Runnables get all the time they need to stop; one that hangs is ended by the kubelet's SIGKILL, and then
		// the Lease is not released, only left to expire.
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       ptr.To(time.Duration(-1)),
	})
	if err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	locks := &ingress.StackLocks{}
	// The start-up check rides on garbage collection's first read of the cloud.
	var suspects *ingress.Suspects
	if o.GCInterval > 0 {
		suspects = &ingress.Suspects{}
	}
	r := &ingress.Reconciler{
		Client:              mgr.GetClient(),
		APIReader:           mgr.GetAPIReader(),
		Provider:            provider,
		Recorder:            mgr.GetEventRecorder("cloudlb"),
		ClusterName:         o.ClusterName,
		LegacyClass:         o.LegacyIngressClass,
		ControllerNames:     o.ControllerNames,
		AdoptLBC:            o.AdoptLBC,
		LBCLease:            o.LBCLease,
		DriftCheckInterval:  o.DriftCheckInterval,
		Timeout:             o.ReconcileTimeout,
		Locks:               locks,
		DefaultTargetType:   o.DefaultTargetType,
		DefaultBackendRules: o.DefaultBackendRules,

		ExternalManagedTags:        o.ExternalManagedTags,
		DisableGroupNameAnnotation: o.DisableIngressGroupNameAnnotation,
		MoveGrace:                  o.MoveGrace,
		WatchNamespace:             o.WatchNamespace,
		Suspects:                   suspects,
	}
	if err := r.SetupWithManager(ctx, mgr, o.MaxConcurrentReconciles); err != nil {
		return nil, err
	}
	t := &targets.Reconciler{
		Client:               mgr.GetClient(),
		APIReader:            mgr.GetAPIReader(),
		Provider:             provider,
		Recorder:             mgr.GetEventRecorder("cloudlb"),
		BatchWindow:          o.TargetBatchWindow,
		ServiceDeletionGrace: o.ServiceDeletionGrace,
		AdoptLBC:             o.AdoptLBC,
	}
	if err := t.SetupWithManager(ctx, mgr, o.MaxConcurrentReconciles); err != nil {
		return nil, err
	}
	if o.EnableTargetGroupBinding {
		b := &tgb.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Provider: provider,
			Recorder: mgr.GetEventRecorder("cloudlb"), BatchWindow: o.TargetBatchWindow}
		if err := b.SetupWithManager(ctx, mgr, o.MaxConcurrentReconciles); err != nil {
			return nil, err
		}
	}
	if o.Webhook.Port != 0 {
		mgr.GetWebhookServer().Register(targets.GateWebhookPath, &webhook.Admission{
			Handler: &targets.GateInjector{Client: mgr.GetClient(), Decoder: admission.NewDecoder(mgr.GetScheme())},
		})
		// Validation reads the same cache as r. The server's CertDir is watched (certwatcher): a renewed
		// certificate is served without a restart.
		v := ingress.NewValidator(r, mgr.GetScheme())
		mgr.GetWebhookServer().Register(ingress.IngressWebhookPath, &webhook.Admission{Handler: v.IngressHandler()})
		mgr.GetWebhookServer().Register(ingress.ParamsWebhookPath, &webhook.Admission{Handler: v.ParamsHandler()})
		if err := ingress.WarmCache(ctx, mgr.GetCache()); err != nil {
			return nil, err
		}
	}
	if err := warmCache(ctx, mgr.GetCache()); err != nil {
		return nil, err
	}
	if o.GCInterval > 0 {
		gc := &ingress.Collector{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Provider: provider,
			LegacyClass: o.LegacyIngressClass, ControllerNames: o.ControllerNames, AdoptLBC: o.AdoptLBC, Interval: o.GCInterval, ConfirmAfter: o.GCConfirmAfter,
			MaxDeletions: o.GCMaxDeletions, Locks: locks, WatchNamespace: o.WatchNamespace, Suspects: suspects}
		if err := mgr.Add(gc); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// warmCache starts, with the cache and so on every replica, the informers that the controllers watch, which
// otherwise start on the leader only: a standby that takes over then reconciles from a synced cache at once,
// instead of listing every Ingress, Service, EndpointSlice, Node and gated Pod first. (IndexField already started
// the Ingress and LoadBalancer informers.) A cluster without an optional CRD has no informer of it to start.
func warmCache(ctx context.Context, c cache.Informers) error {
	for _, o := range []client.Object{&networkingv1.Ingress{}, &networkingv1.IngressClass{}, &corev1.Service{},
		&discoveryv1.EndpointSlice{}, &corev1.Node{}, &corev1.Pod{}, secretMetadata(), &v1alpha1.LoadBalancer{},
		&elbv2v1beta1.IngressClassParams{}} {
		if _, err := c.GetInformer(ctx, o); err != nil && !meta.IsNoMatchError(err) {
			return err
		}
	}
	return nil
}

// nonZero is nil for zero, which leaves controller-runtime's default.
func nonZero(d time.Duration) *time.Duration {
	if d == 0 {
		return nil
	}
	return &d
}

// The metrics server asks the API server who a scraper is and whether it may get /metrics.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// serverOptions configure the metrics and webhook servers: HTTP/2 only when enabled, and metrics behind the API
// server's authentication and authorisation when secure.
func serverOptions(o Options) (metricsserver.Options, webhook.Options) {
	var tlsOpts []func(*tls.Config)
	if !o.EnableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metrics := metricsserver.Options{BindAddress: o.MetricsBindAddress, SecureServing: o.MetricsSecure, CertDir: o.MetricsCertDir, TLSOpts: tlsOpts}
	if o.MetricsSecure {
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return metrics, webhook.Options{Port: o.Webhook.Port, Host: o.Webhook.Host, CertDir: o.Webhook.CertDir, TLSOpts: tlsOpts}
}

// secretMetadata is the type of the Secret watch, which holds metadata only (ingress/auth.go).
func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

// stripSecretMetadata keeps a Secret's name only: its annotations can hold its data (kubectl's
// last-applied-configuration), and the watch needs nothing but the name.
func stripSecretMetadata(o any) (any, error) {
	m, ok := o.(*metav1.PartialObjectMetadata)
	if !ok {
		return o, nil
	}
	m.ManagedFields, m.Annotations, m.Labels, m.OwnerReferences = nil, nil, nil, nil
	return m, nil
}

// stripService keeps what is read of a Service: its type and ports, its selector for readiness gates, its IP
// families (IPv6 target groups), its alb.ingress.kubernetes.io/ annotations (overrides of the Ingress's), and its
// UID (a re-created Service). Every Service of the cluster is cached, served or not: its labels and owners go.
func stripService(o any) (any, error) {
	svc, ok := o.(*corev1.Service)
	if !ok {
		return o, nil
	}
	maps.DeleteFunc(svc.Annotations, func(k, _ string) bool { return !strings.HasPrefix(k, "alb.ingress.kubernetes.io/") })
	return &corev1.Service{
		TypeMeta: svc.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, UID: svc.UID, ResourceVersion: svc.ResourceVersion,
			DeletionTimestamp: svc.DeletionTimestamp, Annotations: svc.Annotations},
		Spec: corev1.ServiceSpec{Type: svc.Spec.Type, Ports: svc.Spec.Ports, Selector: svc.Spec.Selector, IPFamilies: svc.Spec.IPFamilies},
	}, nil
}

// stripNode keeps what target selection reads of a Node: labels, provider ID, taints and deletion. Its status
// (image lists dwarf everything else in the cache) is not read.
func stripNode(o any) (any, error) {
	n, ok := o.(*corev1.Node)
	if !ok {
		return o, nil
	}
	out := &corev1.Node{
		TypeMeta: n.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels, ResourceVersion: n.ResourceVersion,
			DeletionTimestamp: n.DeletionTimestamp, UID: n.UID},
		Spec: corev1.NodeSpec{ProviderID: n.Spec.ProviderID, Taints: n.Spec.Taints},
	}
	return out, nil
}

// stripEndpointSlice keeps what target selection reads of a slice: its Service and writer (the only labels
// read), address type, ports, and each endpoint's addresses, conditions and pod. Every slice of the cluster is
// cached, served or not: the labels copied from its Service, its owner and per-endpoint topology go.
func stripEndpointSlice(o any) (any, error) {
	es, ok := o.(*discoveryv1.EndpointSlice)
	if !ok {
		return o, nil
	}
	var labels map[string]string
	for _, k := range []string{discoveryv1.LabelServiceName, discoveryv1.LabelManagedBy} {
		if v, ok := es.Labels[k]; ok {
			if labels == nil {
				labels = map[string]string{}
			}
			labels[k] = v
		}
	}
	for i := range es.Endpoints {
		ep := &es.Endpoints[i]
		ep.Hints, ep.DeprecatedTopology, ep.NodeName, ep.Zone, ep.Hostname = nil, nil, nil, nil, nil
		if r := ep.TargetRef; r != nil {
			ep.TargetRef = &corev1.ObjectReference{Kind: r.Kind, APIVersion: r.APIVersion, Namespace: r.Namespace, Name: r.Name}
		}
	}
	return &discoveryv1.EndpointSlice{
		TypeMeta: es.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Name: es.Name, Namespace: es.Namespace, UID: es.UID, ResourceVersion: es.ResourceVersion,
			DeletionTimestamp: es.DeletionTimestamp, Labels: labels},
		AddressType: es.AddressType, Endpoints: es.Endpoints, Ports: es.Ports,
	}, nil
}

// stripPod keeps what the readiness gate reads of a Pod: labels, gates and conditions; of a pod without a gate,
// which can never get one (gates are set at creation), only its name.
func stripPod(o any) (any, error) {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return o, nil
	}
	if !targets.GatedPod(p) {
		return &corev1.Pod{TypeMeta: p.TypeMeta, ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID,
			ResourceVersion: p.ResourceVersion, DeletionTimestamp: p.DeletionTimestamp}}, nil
	}
	return &corev1.Pod{
		TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, Labels: p.Labels, UID: p.UID,
			ResourceVersion: p.ResourceVersion, DeletionTimestamp: p.DeletionTimestamp},
		Spec:   corev1.PodSpec{ReadinessGates: p.Spec.ReadinessGates},
		Status: corev1.PodStatus{Conditions: p.Status.Conditions},
	}, nil
}
