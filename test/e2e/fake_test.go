package e2e_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
)

// Issue 2's black-box check: the binary with the in-memory cloud, only the documented flags, and a deadline of
// 30 s for each of the two things a user waits for.
var _ = Describe("The controller binary with the fake cloud", func() {
	It("gives an Ingress an address within 30 s, and lets a deleted Ingress go within 30 s", func() {
		ctx := context.Background()
		startController("fake", nil, "--cloud-provider=fake", "--cluster-name=e2e-fake",
			"--metrics-bind-address=0", "--health-probe-bind-address=0")

		ns := newNamespace()
		// The default target type is instance, which routes to a NodePort.
		Expect(k8s.Create(ctx, service(ns, corev1.ServiceTypeNodePort))).To(Succeed())
		ing := ingressFor(ns, nil)
		Expect(k8s.Create(ctx, ing)).To(Succeed())

		Eventually(hostname).WithArguments(ing).WithTimeout(30*time.Second).
			Should(MatchRegexp(`^[a-z0-9.-]+\.[a-z]+$`), "an address in status.loadBalancer.ingress[0].hostname")
		// The finalizer is what makes the deletion wait for the controller; without it the check below could
		// not fail.
		Expect(finalizers(ing)).NotTo(BeEmpty())

		Expect(k8s.Delete(ctx, ing)).To(Succeed())
		Eventually(gone).WithArguments(ing).WithTimeout(30*time.Second).Should(BeTrue(), "the Ingress is still there")
	})
})
