package chaos_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cloudlb/cloudlb/test"
)

// leaseKey is the controller's leader election Lease (controllers.NewManager) in the namespace the spec passes.
var leaseKey = types.NamespacedName{Namespace: "default", Name: "cloudlb.cloudlb.io"}

// The failover suite (in `make test`; CLOUDLB_CHAOS=full has more Ingresses) runs two replicas of the binary with
// leader election and their default lease flags, SIGKILLs the leader once its stacks are converged, and checks
// that the standby takes the Lease and re-checks every stack without one AWS write. It prints the seconds from the
// kill to the Lease's acquisition and to the first reconcile: figures, not assertions.
var _ = Describe("Two replicas when the leader is killed", Label("failover"), func() {
	It("hand the Lease to the standby, which makes no cloud write for converged stacks", func(ctx SpecContext) {
		n := size(3, 10)
		vpcID := freshCloud(ctx)
		replicas, urls, leader := twoReplicas("failover", vpcID)
		old, standby := replicas[leader], replicas[1-leader]
		w := newWorkload(ctx, n, rand.New(rand.NewPCG(seed, 4)))
		// The standby lets go of the Ingresses afterwards: it leads by then.
		watch(standby, w)

		By(fmt.Sprintf("creating %d Ingresses and letting replica %d converge them", n, leader))
		w.createAll(ctx)
		Eventually(w.converged(ctx, old)).WithTimeout(timeout()).Should(BeEmpty())
		// Converged includes the targets: a registration still batching when the leader dies is the new leader's
		// write to make.
		Eventually(func(g Gomega) {
			for p := elbv2.NewDescribeTargetGroupsPaginator(elbc, &elbv2.DescribeTargetGroupsInput{}); p.HasMorePages(); {
				page, err := p.NextPage(ctx)
				g.Expect(err).NotTo(HaveOccurred())
				for _, tg := range page.TargetGroups {
					health, err := elbc.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn})
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(health.TargetHealthDescriptions).NotTo(BeEmpty(), "targets of %s", *tg.TargetGroupName)
				}
			}
		}).WithTimeout(timeout()).Should(Succeed())
		before, err := scrape(urls[1-leader])
		Expect(err).NotTo(HaveOccurred())
		// A standby reconciles nothing and calls no cloud API, reads included.
		Expect(sum(before, "cloudlb_aws_api_calls_total", func(map[string]string) bool { return true })).To(BeZero())
		Expect(sum(before, "controller_runtime_reconcile_total", func(map[string]string) bool { return true })).To(BeZero())
		lease := &coordinationv1.Lease{}
		Expect(k8s.Get(ctx, leaseKey, lease)).To(Succeed())
		holder := *lease.Spec.HolderIdentity

		By(fmt.Sprintf("killing replica %d, the leader %s", leader, holder))
		killed := time.Now()
		old.kill(syscall.SIGKILL)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, leaseKey, lease)).To(Succeed())
			g.Expect(lease.Spec.HolderIdentity).NotTo(HaveValue(Equal(holder)))
		}).WithTimeout(time.Minute).WithPolling(100 * time.Millisecond).Should(Succeed())
		// The Lease's acquire time comes from the standby's clock, which is this machine's.
		acquired := lease.Spec.AcquireTime.Sub(killed)
		Eventually(func(g Gomega) {
			m, err := scrape(urls[1-leader])
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(gauge(m, "leader_election_master_status")).To(Equal(1.0))
			g.Expect(sum(m, "controller_runtime_reconcile_total", byController("ingress"))).To(BeNumerically(">", 0))
		}).WithTimeout(time.Minute).WithPolling(100 * time.Millisecond).Should(Succeed())
		firstReconcile := time.Since(killed)

		By("letting the new leader reconcile every stack and its targets")
		var after map[string]*dto.MetricFamily
		Eventually(func(g Gomega) {
			after, err = scrape(urls[1-leader])
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(sum(after, "controller_runtime_reconcile_total", byController("ingress"))).To(BeNumerically(">=", n))
			g.Expect(sum(after, "controller_runtime_reconcile_total", byController("targets"))).To(BeNumerically(">", 0))
			g.Expect(sum(after, "workqueue_depth", func(map[string]string) bool { return true })).To(BeZero())
			g.Expect(sum(after, "controller_runtime_active_workers", func(map[string]string) bool { return true })).To(BeZero())
		}).WithTimeout(timeout()).Should(Succeed())
		Expect(w.converged(ctx, standby)()).To(BeEmpty())
		reads := sum(after, "cloudlb_aws_api_calls_total", func(l map[string]string) bool { return !write(l["operation"]) })
		fmt.Fprintf(os.Stderr, "chaos: failover: lease acquired %.1fs after the SIGKILL, first reconcile by %.1fs; %d Ingresses re-checked with %.0f cloud reads\n",
			acquired.Seconds(), firstReconcile.Seconds(), n, reads)
		// Printed, not asserted: a wall-clock bound would fail on a loaded machine, not on a regression.
		AddReportEntry("takeover seconds", acquired.Seconds())
		writes := map[string]float64{}
		for _, m := range after["cloudlb_aws_api_calls_total"].GetMetric() {
			if l := labelsOf(m); write(l["operation"]) {
				writes[l["operation"]] += m.GetCounter().GetValue()
			}
		}
		Expect(writes).To(BeEmpty(), "cloud writes by the new leader for converged stacks")
		Expect(standby.exitedOnItsOwn()).To(Succeed())
	})
})

// twoReplicas starts two replicas of the binary with leader election and their default lease flags (those are
// what a takeover is measured with), stopped when the spec ends, and waits for one of them to lead. It returns
// them, their metrics URLs, and the leader's index.
func twoReplicas(name, vpcID string) (replicas []*controller, urls []string, leader int) {
	GinkgoHelper()
	replicas, urls = make([]*controller, 2), make([]string, 2)
	for i := range replicas {
		port, err := test.FreePort()
		Expect(err).NotTo(HaveOccurred())
		urls[i] = fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
		replicas[i] = newController(fmt.Sprintf("%s-%d", name, i), fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", port),
			"--metrics-secure=false", "--cloud-provider=aws", "--aws-endpoint-url="+moto.URL, "--aws-vpc-id="+vpcID,
			"--cluster-name=chaos-"+name, "--target-batch-window=500ms", "--leader-elect", "--leader-election-namespace="+leaseKey.Namespace)
		replicas[i].start()
		DeferCleanup(replicas[i].stop)
	}
	By("waiting for one replica to lead")
	Eventually(func(g Gomega) {
		leading := []int{}
		for i, u := range urls {
			m, err := scrape(u)
			g.Expect(err).NotTo(HaveOccurred())
			if gauge(m, "leader_election_master_status") == 1 {
				leading = append(leading, i)
			}
		}
		g.Expect(leading).To(HaveLen(1))
		leader = leading[0]
	}).WithTimeout(time.Minute).Should(Succeed())
	return replicas, urls, leader
}

// write is whether an AWS operation can change the cloud: everything but Describe, Get and List calls.
func write(op string) bool {
	return !strings.HasPrefix(op, "Describe") && !strings.HasPrefix(op, "Get") && !strings.HasPrefix(op, "List")
}

// scrape reads a controller's Prometheus metrics.
func scrape(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func byController(name string) func(map[string]string) bool {
	return func(l map[string]string) bool { return l["controller"] == name || l["name"] == name }
}

// sum adds up the counters or gauges of a family whose labels match.
func sum(fams map[string]*dto.MetricFamily, name string, match func(map[string]string) bool) float64 {
	var out float64
	for _, m := range fams[name].GetMetric() {
		if match(labelsOf(m)) {
			out += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}

// gauge is the value of a gauge without labels that matter here (leader_election_master_status has the Lease's name).
func gauge(fams map[string]*dto.MetricFamily, name string) float64 {
	return sum(fams, name, func(map[string]string) bool { return true })
}
