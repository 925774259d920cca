package targets_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
)

var _ = Describe("Target sync priorities", func() {
	It("registers targets as work a user waits for, and polls the health of settling ones as background work", func() {
		ctx := context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "prio-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns := n.Name
		Expect(k8s.Create(ctx, service(ns, corev1.ServiceTypeClusterIP))).To(Succeed())
		Expect(k8s.Create(ctx, ingressFor(ns, "ip"))).To(Succeed())
		stack, tgID := ns+"/app", ns+"/app/web:80"
		target := cloud.Target{ID: "10.12.0.1", Port: 8080}
		provider.SetHealth(target, cloud.TargetInitial)
		Expect(k8s.Create(ctx, endpointSlice(ns, "web-1", 8080, "10.12.0.1"))).To(Succeed())
		Eventually(provider.Targets).WithArguments(stack, tgID).Should(Equal([]cloud.Target{target}))

		syncs := func() []fake.Call {
			var out []fake.Call
			for _, c := range provider.Calls() {
				if c.Method == fake.MethodSyncTargets && c.Stack == stack && c.Targets > 0 {
					out = append(out, c)
				}
			}
			return out
		}
		// The target settles: the reconciler looks at its health again, with the same targets.
		Eventually(syncs).WithTimeout(15 * time.Second).Should(HaveLen(2))
		calls := syncs()
		Expect(calls[0].Background).To(BeFalse(), "registering the targets")
		Expect(calls[1].Background).To(BeTrue(), "polling the health of a settling target")
	})
})
