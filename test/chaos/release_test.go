package chaos_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiwatch "k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// A rolling update stops the leader with SIGTERM. The leader then stops every reconcile, releases its Lease
// (holder cleared, duration 1 s) and exits 0; the standby takes the Lease at its next retry, not a lease
// duration after the leader's last renewal, and finishes the work the leader left.
var _ = Describe("Two replicas when the leader is stopped", Label("failover"), func() {
	It("release the Lease once the leader stopped, and the standby takes over before it would have expired", func(ctx SpecContext) {
		n := size(3, 10)
		vpcID := freshCloud(ctx)
		replicas, urls, leader := twoReplicas("release", vpcID)
		old, standby := replicas[leader], replicas[1-leader]
		w := newWorkload(ctx, n, rand.New(rand.NewPCG(seed, 5)))
		watch(standby, w)

		By(fmt.Sprintf("creating %d Ingresses and stopping replica %d while it converges them", n, leader))
		w.createAll(ctx)
		Eventually(func(g Gomega) {
			m, err := scrape(urls[leader])
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(sum(m, "controller_runtime_reconcile_total", byController("ingress"))).To(BeNumerically(">", 0))
		}).WithTimeout(time.Minute).WithPolling(100 * time.Millisecond).Should(Succeed())
		cs, err := kubernetes.NewForConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
		leases := cs.CoordinationV1().Leases(leaseKey.Namespace)
		lease, err := leases.Get(ctx, leaseKey.Name, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		holder := ptr.Deref(lease.Spec.HolderIdentity, "")
		// Every change from here on, in order: the leader's renewals, its release, the standby's acquisition.
		changes, err := leases.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + leaseKey.Name, ResourceVersion: lease.ResourceVersion})
		Expect(err).NotTo(HaveOccurred())
		defer changes.Stop()

		old.kill(syscall.SIGTERM)
		Expect(old.exitCode()).To(Equal(0), "the stopped leader's exit status\n%s", old.tail(40))
		// controller-runtime logs this once every runnable, reconcilers included, has returned; only then is
		// the Lease released.
		log, err := os.ReadFile(old.log.Name())
		Expect(err).NotTo(HaveOccurred())
		Expect(string(log)).To(ContainSubstring("Wait completed, proceeding to shutdown the manager"))

		lastRenew, released := lease.Spec.RenewTime.Time, false
		var taken *coordinationv1.Lease
		for taken == nil {
			var ev apiwatch.Event
			Eventually(changes.ResultChan()).WithTimeout(time.Minute).Should(Receive(&ev))
			l, ok := ev.Object.(*coordinationv1.Lease)
			Expect(ok).To(BeTrue(), "watch event %v", ev)
			switch ptr.Deref(l.Spec.HolderIdentity, "") {
			case holder:
				lastRenew = l.Spec.RenewTime.Time
			case "":
				Expect(ptr.Deref(l.Spec.LeaseDurationSeconds, 0)).To(BeEquivalentTo(1))
				released = true
			default:
				taken = l
			}
		}
		Expect(released).To(BeTrue(), "the stopped leader released the Lease before the standby took it")
		// Had the Lease not been released, the standby could take it only a lease duration after the last renewal
		// it saw; the acquisition time comes from the standby's clock, the renewal's from the old leader's, both
		// this machine's.
		duration := time.Duration(ptr.Deref(lease.Spec.LeaseDurationSeconds, 0)) * time.Second
		took := taken.Spec.AcquireTime.Sub(lastRenew)
		Expect(took).To(BeNumerically("<", duration), "the standby took the Lease %s after the leader's last renewal", took)
		fmt.Fprintf(os.Stderr, "chaos: release: the standby took the released Lease %.1fs after the leader's last renewal (lease duration %s)\n", took.Seconds(), duration)
		AddReportEntry("takeover after release seconds", took.Seconds())

		By("letting the new leader finish what the stopped one left")
		Eventually(w.converged(ctx, standby)).WithTimeout(timeout()).Should(BeEmpty())
		Expect(standby.exitedOnItsOwn()).To(Succeed())
	})
})
