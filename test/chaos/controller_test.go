package chaos_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cloudlb/cloudlb/test"
)

// controller runs the controller binary as a process, restarts it after a kill, and notices when it exits on
// its own, which is a bug whatever the workload.
type controller struct {
	args []string
	env  []string
	log  *os.File

	mu   sync.Mutex
	cur  *run
	runs int
	died error
}

// run is one process of the controller.
type run struct {
	cmd    *exec.Cmd
	done   chan struct{}
	n      int
	killed bool
}

// newController prepares the binary's command line for one spec: a kubeconfig of envtest, moto's dummy
// credentials and args. Every run appends to one log file.
func newController(name string, args ...string) *controller {
	GinkgoHelper()
	kubeconfig := filepath.Join(logDir, name+".kubeconfig")
	Expect(test.WriteKubeconfig(cfg, "", kubeconfig)).To(Succeed())
	log, err := os.Create(filepath.Join(logDir, name+".log"))
	Expect(err).NotTo(HaveOccurred())
	// Defaults first: of a flag given twice, the last counts.
	defaults := []string{"--metrics-bind-address=0", "--health-probe-bind-address=0", "--aws-region=" + region}
	c := &controller{log: log, args: append(append(defaults, args...), "--kubeconfig="+kubeconfig)}
	c.env = os.Environ()
	for k, v := range moto.Credentials() {
		c.env = append(c.env, k+"="+v)
	}
	fmt.Fprintf(GinkgoWriter, "controller %s: %s %s, log %s\n", name, controllerBin, strings.Join(c.args, " "), log.Name())
	return c
}

// start runs the binary once more.
func (c *controller) start() {
	GinkgoHelper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runs++
	fmt.Fprintf(c.log, "\n=== run %d at %s ===\n", c.runs, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(controllerBin, c.args...)
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = c.log, c.log
	Expect(cmd.Start()).To(Succeed())
	r := &run{cmd: cmd, done: make(chan struct{}), n: c.runs}
	c.cur = r
	go func() {
		err := cmd.Wait()
		if err == nil {
			err = errors.New("exit status 0")
		}
		c.mu.Lock()
		if !r.killed && c.died == nil {
			c.died = fmt.Errorf("the controller exited on its own (run %d): %w", r.n, err)
		}
		c.mu.Unlock()
		close(r.done)
	}()
}

// kill ends the running process with sig and waits for it to be gone.
func (c *controller) kill(sig syscall.Signal) {
	c.mu.Lock()
	r := c.cur
	if r != nil {
		r.killed = true
	}
	c.mu.Unlock()
	if r == nil {
		return
	}
	_ = r.cmd.Process.Signal(sig)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// stop ends the controller as Kubernetes would, and closes the log.
func (c *controller) stop() {
	c.kill(syscall.SIGTERM)
	_ = c.log.Close()
}

// exitedOnItsOwn returns an error once a run of the controller has ended without being killed by the test.
func (c *controller) exitedOnItsOwn() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.died
}

// exitCode is the exit status of the last run once it has ended: -1 before, or when a signal ended it.
func (c *controller) exitCode() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return -1
	}
	select {
	case <-c.cur.done:
		return c.cur.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// tail returns the last n lines of the controller's log.
func (c *controller) tail(n int) string {
	data, err := os.ReadFile(c.log.Name())
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// throttledBy scrapes the controller's metrics at url and returns cloudlb_aws_api_throttled_total summed by
// service: the calls the SDK recognised as throttled.
func throttledBy(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, m := range families["cloudlb_aws_api_throttled_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "service" {
				out[l.GetValue()] += m.GetCounter().GetValue()
			}
		}
	}
	return out, nil
}
