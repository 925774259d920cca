package e2e_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cloudlb/cloudlb/test"
)

// controller is one run of the controller binary.
type controller struct {
	session *gexec.Session
	log     string
}

// running is the controller of the current spec. Only one runs at a time: two controllers of the same
// IngressClass would both claim every Ingress.
var running *controller

// startController runs the controller binary with args, a kubeconfig for the envtest API server and extra
// environment variables, its output in a file under logDir. It is stopped when the calling node's cleanup runs
// (the spec, or the Ordered container for BeforeAll).
func startController(name string, env []string, args ...string) *controller {
	GinkgoHelper()
	Expect(running).To(BeNil(), "a controller is already running")
	kubeconfig := filepath.Join(logDir, name+".kubeconfig")
	Expect(test.WriteKubeconfig(cfg, "", kubeconfig)).To(Succeed())
	logFile, err := os.Create(filepath.Join(logDir, name+".log"))
	Expect(err).NotTo(HaveOccurred())

	cmd := exec.Command(controllerBin, append(args, "--kubeconfig="+kubeconfig)...)
	cmd.Env = append(os.Environ(), env...)
	session, err := gexec.Start(cmd, logFile, logFile)
	Expect(err).NotTo(HaveOccurred())
	running = &controller{session: session, log: logFile.Name()}
	fmt.Fprintf(GinkgoWriter, "controller %s: %s, log %s\n", name, strings.Join(cmd.Args, " "), running.log)
	DeferCleanup(func() {
		Eventually(session.Terminate()).Should(gexec.Exit())
		running = nil
		Expect(logFile.Close()).To(Succeed())
	})
	return running
}

// After every spec, the controller must still be running: a crash that the spec's assertions did not notice is
// still a bug. On failure its log's tail goes to the spec's output.
var _ = AfterEach(func() {
	if running == nil {
		return
	}
	exited := running.session.ExitCode() != -1
	if exited || CurrentSpecReport().Failed() {
		suiteFailed = true
		fmt.Fprintf(GinkgoWriter, "\n--- last lines of %s ---\n%s\n", running.log, tail(running.log, 80))
	}
	Expect(exited).To(BeFalse(), "the controller exited with code %d", running.session.ExitCode())
})

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

type metricFamilies = map[string]*dto.MetricFamily

// scrape reads the Prometheus text exposition at url.
func scrape(url string) (metricFamilies, error) {
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

// samples returns the values of the samples of family name whose labels include every label in match.
func samples(families metricFamilies, name string, match map[string]string) []float64 {
	f := families[name]
	if f == nil {
		return nil
	}
	var out []float64
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range match {
			ok = ok && labels[k] == v
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			out = append(out, m.GetCounter().GetValue())
		case m.Gauge != nil:
			out = append(out, m.GetGauge().GetValue())
		}
	}
	return out
}
