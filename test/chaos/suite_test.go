// Package chaos_test runs the controller binary, as its own process, against envtest and moto while the cloud
// fails calls (the fault-injection suite) or the process is killed at random moments (the crash suite), and
// checks that every Ingress converges and that the cloud ends up holding exactly what the Ingresses ask for.
//
// Both run in a reduced form in `make test`; CLOUDLB_CHAOS=full (`make test-faults`, `make test-crash`) runs
// the full form. CLOUDLB_CHAOS_SEED replays a run: every random choice comes from that seed.
package chaos_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cloudlb/cloudlb/test"
)

func TestChaos(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Faults and crashes (controller binary + envtest + moto)")
}

const (
	region         = "us-east-1"
	className      = "cloudlb"
	controllerName = "cloudlb.io/alb"
)

var (
	controllerBin string
	// logDir keeps the controllers' logs; it is removed after the suite unless a spec failed.
	logDir string
	env    *envtest.Environment
	cfg    *rest.Config
	k8s    client.Client
	moto   *test.Moto
	// elbc and ec2c talk to moto directly, never through a fault proxy: they are the test's view of the cloud.
	elbc *elbv2.Client
	ec2c *ec2.Client
	// full selects the full form of the suites.
	full bool
	seed uint64
)

var _ = BeforeSuite(func() {
	SetDefaultEventuallyPollingInterval(time.Second)
	ctx := context.Background()

	full = os.Getenv("CLOUDLB_CHAOS") == "full"
	seed = uint64(time.Now().UnixNano())
	if s := os.Getenv("CLOUDLB_CHAOS_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		Expect(err).NotTo(HaveOccurred(), "CLOUDLB_CHAOS_SEED")
	}
	form := "reduced"
	if full {
		form = "full"
	}
	// Printed where `go test` shows it even without -v, so that a failed run can be replayed.
	fmt.Fprintf(os.Stderr, "chaos: %s form, seed %d (replay with CLOUDLB_CHAOS_SEED=%d)\n", form, seed, seed)
	AddReportEntry("seed", seed)

	var err error
	logDir, err = os.MkdirTemp("", "cloudlb-chaos-")
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
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	Expect(err).NotTo(HaveOccurred())
	awsCfg.BaseEndpoint = aws.String(moto.URL)
	elbc = elbv2.NewFromConfig(awsCfg)
	ec2c = ec2.NewFromConfig(awsCfg)
})

var suiteFailed bool

var _ = ReportAfterEach(func(r SpecReport) {
	if r.Failed() {
		suiteFailed = true
	}
})

var _ = AfterSuite(func() {
	if moto != nil {
		moto.Stop()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
	if suiteFailed {
		fmt.Fprintf(os.Stderr, "chaos: controller logs kept in %s (seed %d)\n", logDir, seed)
	} else if logDir != "" {
		Expect(os.RemoveAll(logDir)).To(Succeed())
	}
})
