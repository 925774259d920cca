package targets_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers"
	"github.com/cloudlb/cloudlb/controllers/ingress"
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
		ClusterName: "envtest", LegacyIngressClass: "cloudlb", MaxConcurrentReconciles: 2,
		TargetBatchWindow: batchWindow, MetricsBindAddress: "0", HealthProbeBindAddress: "0",
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
