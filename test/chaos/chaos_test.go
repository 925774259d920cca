package chaos_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/test"
)

// timeout bounds each wait for convergence; the full form has four times the Ingresses.
func timeout() time.Duration {
	if full {
		return 15 * time.Minute
	}
	return 4 * time.Minute
}

// size picks the reduced or the full form of a number.
func size(reduced, fullSize int) int {
	if full {
		return fullSize
	}
	return reduced
}

// freshCloud wipes moto and prepares its default VPC; it returns the VPC's ID.
func freshCloud(ctx context.Context) string {
	GinkgoHelper()
	Expect(moto.Reset()).To(Succeed())
	vpcID, _, err := test.PrepareVPC(ctx, ec2c)
	Expect(err).NotTo(HaveOccurred())
	return vpcID
}

// watch shows the tail of the controller's log when the spec fails, and afterwards lets go of the Ingresses
// that are left: through the controller when all went well, by removing the finalizers otherwise, so that the
// next spec's controller does not find them. Register it after the controller's stop, so that it runs before.
func watch(c *controller, w *workload) {
	// Not the spec's context, which is cancelled when the spec ends.
	ctx := context.Background()
	DeferCleanup(func() {
		if !CurrentSpecReport().Failed() {
			w.cleanup(ctx, c)
			return
		}
		fmt.Fprintf(GinkgoWriter, "\n--- last lines of %s ---\n%s\n", c.log.Name(), c.tail(120))
		for _, ing := range w.ings {
			got := &networkingv1.Ingress{}
			if k8s.Get(ctx, client.ObjectKeyFromObject(ing), got) != nil {
				continue
			}
			controllerutil.RemoveFinalizer(got, cloud.Finalizer)
			_ = k8s.Update(ctx, got)
			_ = k8s.Delete(ctx, got)
		}
	})
}

var _ = Describe("The controller against a cloud that throttles and fails", Label("faults"), func() {
	It("converges Ingresses, applies their edits, and deletes them leaving nothing in the cloud", func(ctx SpecContext) {
		n := size(3, 20)
		vpcID := freshCloud(ctx)
		// 30% of ELBv2 and EC2 calls throttled, 5% failed with an HTTP 500 (half of them after moto applied them).
		proxy := test.NewRandomFaultProxy(moto.URL, seed, 0.30, 0.05)
		DeferCleanup(proxy.Close)
		port, err := test.FreePort()
		Expect(err).NotTo(HaveOccurred())
		c := newController("faults", fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", port), "--metrics-secure=false", "--cloud-provider=aws", "--aws-endpoint-url="+proxy.URL, "--aws-vpc-id="+vpcID,
			"--cluster-name=chaos-faults", "--target-batch-window=500ms", "--gc-interval=10s", "--drift-check-interval=1m")
		c.start()
		DeferCleanup(c.stop)
		w := newWorkload(ctx, n, rand.New(rand.NewPCG(seed, 1)))
		watch(c, w)

		By(fmt.Sprintf("creating %d Ingresses", n))
		w.createAll(ctx)
		Eventually(w.converged(ctx, c)).WithTimeout(timeout()).Should(BeEmpty())

		By("adding a path and changing the health check path of each")
		w.editAll(ctx, "/healthz")
		Eventually(w.converged(ctx, c)).WithTimeout(timeout()).Should(BeEmpty())

		By("deleting them all")
		w.deleteSome(ctx, n)
		// With every Ingress gone, converged means no load balancer, target group or cloudlb security group left.
		Eventually(w.converged(ctx, c)).WithTimeout(timeout()).Should(BeEmpty())

		seen, throttles, failures, lost := proxy.Counts()
		fmt.Fprintf(os.Stderr, "chaos: faults: %d requests, %d throttled, %d failed with HTTP 500, %d more after moto applied them (seed %d)\n",
			seen, throttles, failures, lost, seed)
		// Proof that the run went through faults of both kinds (each 500 has even odds of being a lost response).
		Expect(throttles).To(BeNumerically(">", 10*n))
		Expect(failures + lost).To(BeNumerically(">", 0))
		// Proof that the errors have AWS's shape: the SDK and the controller took them for throttling.
		throttled, err := throttledBy(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
		Expect(err).NotTo(HaveOccurred())
		Expect(throttled).To(HaveKeyWithValue("Elastic Load Balancing v2", BeNumerically(">", 0)))
		Expect(throttled).To(HaveKeyWithValue("EC2", BeNumerically(">", 0)))
		Expect(c.exitedOnItsOwn()).To(Succeed())
	})
})

var _ = Describe("The controller killed at random moments", Label("crash"), func() {
	It("leaves the cloud holding exactly the resources of the remaining Ingresses", func(ctx SpecContext) {
		n, minKills := size(5, 20), size(6, 30)
		vpcID := freshCloud(ctx)
		c := newController("crash", "--cloud-provider=aws", "--aws-endpoint-url="+moto.URL, "--aws-vpc-id="+vpcID,
			"--cluster-name=chaos-crash", "--target-batch-window=500ms", "--gc-interval=3s", "--drift-check-interval=15s")
		c.start()
		DeferCleanup(c.stop)
		w := newWorkload(ctx, n, rand.New(rand.NewPCG(seed, 2)))
		watch(c, w)

		// The killer sends SIGKILL after a random 0.3 to 4 seconds, and restarts the controller after up to
		// half a second more, until it is stopped.
		var kills atomic.Int32
		stop, stopped := make(chan struct{}), make(chan struct{})
		krng := rand.New(rand.NewPCG(seed, 3))
		go func() {
			defer GinkgoRecover()
			defer close(stopped)
			for {
				select {
				case <-stop:
					return
				case <-time.After(300*time.Millisecond + time.Duration(krng.Int64N(int64(3700*time.Millisecond)))):
				}
				c.kill(syscall.SIGKILL)
				kills.Add(1)
				time.Sleep(time.Duration(krng.Int64N(int64(500 * time.Millisecond))))
				c.start()
			}
		}()
		stopKiller := sync.OnceFunc(func() { close(stop); <-stopped })
		DeferCleanup(stopKiller)

		By(fmt.Sprintf("creating %d Ingresses", n))
		w.createAll(ctx)
		Eventually(w.converged(ctx, c)).WithTimeout(timeout()).Should(BeEmpty())

		By("adding a path and changing the health check path of each")
		w.editAll(ctx, "/healthz")
		Eventually(w.converged(ctx, c)).WithTimeout(timeout()).Should(BeEmpty())

		By("deleting half of them")
		w.deleteSome(ctx, n/2)
		Eventually(w.converged(ctx, c)).WithTimeout(timeout()).Should(BeEmpty())

		By("deleting Ingresses and creating them again under the same names")
		w.replace(ctx, size(1, 3))
		Eventually(w.converged(ctx, c)).WithTimeout(timeout()).Should(BeEmpty())

		// More edits until enough kills have landed, so that every kill falls while there is work to do.
		for hc := "/ready"; kills.Load() < int32(minKills); {
			By(fmt.Sprintf("changing the health check path to %s after %d kills", hc, kills.Load()))
			w.editAll(ctx, hc)
			Eventually(w.converged(ctx, c)).WithTimeout(timeout()).Should(BeEmpty())
			hc = map[string]string{"/ready": "/healthz", "/healthz": "/ready"}[hc]
		}
		stopKiller()

		By("checking the cloud once more with the last controller left running")
		Eventually(w.converged(ctx, c)).WithTimeout(timeout()).Should(BeEmpty())
		fmt.Fprintf(os.Stderr, "chaos: crash: %d kills, %d runs, %d Ingresses left (seed %d)\n", kills.Load(), c.runs, n-len(w.gone), seed)
		Expect(kills.Load()).To(BeNumerically(">=", minKills))
		Expect(c.exitedOnItsOwn()).To(Succeed())
	})
})
