// Package helm_test tests charts/cloudlb with the real tools: helm renders it, a real API server (envtest)
// validates and creates every object, and the real controller binary runs with the chart's RBAC.
package helm_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cloudlb/cloudlb/controllers"
	"github.com/cloudlb/cloudlb/test"
)

func TestChart(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Helm chart (helm + envtest + controller binary)")
}

var (
	helmBin       string
	controllerBin string
	env           *envtest.Environment
	cfg           *rest.Config
	// k8s creates objects with strict field validation, so that a misspelt or misplaced field in a template
	// is an error instead of being silently dropped.
	k8s client.Client
)

var _ = BeforeSuite(func() {
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	SetDefaultConsistentlyPollingInterval(100 * time.Millisecond)

	helmBin = os.Getenv("CLOUDLB_HELM")
	if helmBin == "" {
		helmBin = filepath.Join(test.RepoRoot(), "bin", "helm-v3.22.0")
	}
	Expect(helmBin).To(BeAnExistingFile(), "no helm binary: run `make helm` or set CLOUDLB_HELM")

	var err error
	controllerBin, err = test.ControllerBinary(GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())

	env, err = test.NewEnvironment()
	Expect(err).NotTo(HaveOccurred())
	// cloudlb's own CRDs must come from the chart, so the server starts with only the third-party CRDs that
	// optional chart objects need (ServiceMonitor, cert-manager).
	env.CRDDirectoryPaths = []string{filepath.Join("testdata", "crds")}
	cfg, err = env.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: controllers.Scheme(), FieldValidation: "Strict"})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})
