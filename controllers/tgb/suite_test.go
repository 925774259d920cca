package tgb_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers"
	"github.com/cloudlb/cloudlb/test"
)

func TestTargetGroupBindings(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "TargetGroupBinding controller (envtest)")
}

var (
	env      *envtest.Environment
	k8s      client.Client
	provider *fake.Provider
	cancel   context.CancelFunc
)

// The whole manager runs, as cmd/cloudlb-controller wires it, so that the binding controller's registration and
// watches are tested too; the cloud is the in-memory fake (the AWS side is tested against moto in cloud/aws).
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

	provider = fake.New()
	var ctx context.Context
	ctx, cancel = context.WithCancel(context.Background())
	mgr, err := controllers.NewManager(ctx, cfg, provider, controllers.Options{
		ClusterName: "envtest", LegacyIngressClass: "cloudlb", MaxConcurrentReconciles: 2,
		MetricsBindAddress: "0", HealthProbeBindAddress: "0", EnableTargetGroupBinding: true,
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
