package ingress_test

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers"
	"github.com/cloudlb/cloudlb/controllers/ingress"
	"github.com/cloudlb/cloudlb/test"
)

func TestIngressController(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Ingress controller (envtest)")
}

var (
	env      *envtest.Environment
	cfg      *rest.Config
	k8s      client.Client
	provider *fake.Provider
	cancel   context.CancelFunc
	mgr      ctrl.Manager
	// controllerLogs holds every line the controller logged.
	controllerLogs = &syncBuffer{}
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const clusterName = "envtest"

var _ = BeforeSuite(func() {
	// Everything the controller logs is also kept, for tests that look for what must never be logged.
	ctrl.SetLogger(zap.New(zap.WriteTo(io.MultiWriter(GinkgoWriter, controllerLogs)), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	SetDefaultConsistentlyDuration(2 * time.Second)

	var err error
	env, err = test.NewEnvironment()
	Expect(err).NotTo(HaveOccurred())
	env.WebhookInstallOptions.ValidatingWebhooks = []*admissionv1.ValidatingWebhookConfiguration{validatingWebhooks()}
	cfg, err = env.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: controllers.Scheme()})
	Expect(err).NotTo(HaveOccurred())

	Expect(k8s.Create(context.Background(), ingressClass(ourClass, ingress.ControllerName, false))).To(Succeed())
	Expect(k8s.Create(context.Background(), ingressClass("other", "example.com/other", false))).To(Succeed())

	provider = fake.New()
	var ctx context.Context
	ctx, cancel = context.WithCancel(context.Background())
	mgr, err = controllers.NewManager(ctx, cfg, provider, controllers.Options{
		ClusterName:             clusterName,
		LegacyIngressClass:      "cloudlb",
		MaxConcurrentReconciles: 2,
		MetricsBindAddress:      "0",
		HealthProbeBindAddress:  "0",
		Webhook: controllers.WebhookOptions{Port: env.WebhookInstallOptions.LocalServingPort,
			Host: env.WebhookInstallOptions.LocalServingHost, CertDir: env.WebhookInstallOptions.LocalServingCertDir},
	})
	Expect(err).NotTo(HaveOccurred())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})
