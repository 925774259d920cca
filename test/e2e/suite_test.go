// Package e2e_test runs the real controller binary, as its own process, against a real API server (envtest) and
// a real AWS API emulator (moto), and checks what a user would see: Ingress status, and what the AWS APIs report.
package e2e_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cloudlb/cloudlb/test"
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "End to end (controller binary + envtest + moto)")
}

const (
	region = "us-east-1"
	// className is the IngressClass every spec uses. Its controller is spelt out rather than taken from the
	// code, since it is the contract with users' manifests.
	className      = "cloudlb"
	controllerName = "cloudlb.io/alb"
)

var (
	controllerBin string
	// logDir keeps the controllers' logs; it is removed after the suite unless a spec failed.
	logDir  string
	env     *envtest.Environment
	cfg     *rest.Config
	k8s     client.Client
	moto    *test.Moto
	vpcID   string
	elbc    *elbv2.Client
	ec2c    *ec2.Client
	tagging *resourcegroupstaggingapi.Client
)

var _ = BeforeSuite(func() {
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	ctx := context.Background()

	var err error
	logDir, err = os.MkdirTemp("", "cloudlb-e2e-")
	Expect(err).NotTo(HaveOccurred())
	controllerBin, err = test.ControllerBinary(GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())

	env, err = test.NewEnvironment()
	Expect(err).NotTo(HaveOccurred())
	cfg, err = env.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Create(ctx, &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: className},
		Spec: networkingv1.IngressClassSpec{Controller: controllerName}})).To(Succeed())

	moto, err = test.StartMoto()
	Expect(err).NotTo(HaveOccurred())
	// The test's own clients get credentials passed in, not through the environment, which the controller
	// process inherits.
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	Expect(err).NotTo(HaveOccurred())
	awsCfg.BaseEndpoint = aws.String(moto.URL)
	elbc = elbv2.NewFromConfig(awsCfg)
	ec2c = ec2.NewFromConfig(awsCfg)
	tagging = resourcegroupstaggingapi.NewFromConfig(awsCfg)
	vpcID, _, err = test.PrepareVPC(ctx, ec2c)
	Expect(err).NotTo(HaveOccurred())
})

var suiteFailed bool

var _ = AfterSuite(func() {
	// Normally every controller is already stopped by its spec's cleanup; this catches an interrupted run.
	gexec.KillAndWait()
	if moto != nil {
		moto.Stop()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
	if !suiteFailed && logDir != "" {
		Expect(os.RemoveAll(logDir)).To(Succeed())
	}
})
