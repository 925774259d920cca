package targets_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers"
	"github.com/cloudlb/cloudlb/controllers/ingress"
	"github.com/cloudlb/cloudlb/controllers/targets"
	"github.com/cloudlb/cloudlb/test"
)

func TestTargets(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Targets controller (envtest)")
}

// batchWindow is long enough for a test to make 50 changes inside one window on a loaded 2-core machine.
const batchWindow = 3 * time.Second

var (
	env      *envtest.Environment
	k8s      client.Client
	provider *fake.Provider
	cancel   context.CancelFunc
)

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)

	var err error
	env, err = test.NewEnvironment()
	Expect(err).NotTo(HaveOccurred())
	env.WebhookInstallOptions.MutatingWebhooks = []*admissionv1.MutatingWebhookConfiguration{gateWebhookConfiguration()}
	cfg, err := env.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: controllers.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Create(context.Background(), &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "cloudlb"},
		Spec: networkingv1.IngressClassSpec{Controller: ingress.ControllerName}})).To(Succeed())

	provider = fake.New()
	var ctx context.Context
	ctx, cancel = context.WithCancel(context.Background())
	mgr, err := controllers.NewManager(ctx, cfg, provider, controllers.Options{
		ClusterName: "envtest", LegacyIngressClass: "cloudlb", MaxConcurrentReconciles: 2, AdoptLBC: true,
		TargetBatchWindow: batchWindow, MetricsBindAddress: "0", HealthProbeBindAddress: "0",
		Webhook: controllers.WebhookOptions{Port: env.WebhookInstallOptions.LocalServingPort,
			Host: env.WebhookInstallOptions.LocalServingHost, CertDir: env.WebhookInstallOptions.LocalServingCertDir},
	})
	Expect(err).NotTo(HaveOccurred())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

// gateWebhookConfiguration is the generated webhook configuration with the namespace opt-in the chart adds.
func gateWebhookConfiguration() *admissionv1.MutatingWebhookConfiguration {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(test.RepoRoot(), "config", "webhook", "manifests.yaml"))
	Expect(err).NotTo(HaveOccurred())
	// The file also holds the validating webhooks (controllers/ingress/admission.go).
	first, _, _ := strings.Cut(strings.TrimPrefix(string(data), "---\n"), "\n---\n")
	cfg := &admissionv1.MutatingWebhookConfiguration{}
	Expect(yaml.Unmarshal([]byte(first), cfg)).To(Succeed())
	Expect(cfg.Kind).To(Equal("MutatingWebhookConfiguration"))
	Expect(cfg.Webhooks).To(HaveLen(1))
	cfg.Webhooks[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{targets.GateNamespaceLabel: "enabled"}}
	return cfg
}

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})
