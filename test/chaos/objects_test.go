package chaos_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudlb/cloudlb/test"
)

const annHCPath = "alb.ingress.kubernetes.io/healthcheck-path"

// workload is a namespace with the Services web and api, with endpoints, and n Ingresses that start routing /
// to web and are then edited to route /api to api as well.
type workload struct {
	ns   string
	ings []*networkingv1.Ingress
	// gone are the Ingresses the workload deleted.
	gone map[string]bool
	rng  *rand.Rand
}

func newWorkload(ctx context.Context, n int, rng *rand.Rand) *workload {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "chaos-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	w := &workload{ns: ns.Name, gone: map[string]bool{}, rng: rng}
	for i, svc := range []string{"web", "api"} {
		Expect(k8s.Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: svc},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": svc}, Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP},
			}},
		})).To(Succeed())
		// Pod IPs in the default VPC's first subnet, as the VPC CNI gives them: AWS refuses IP targets outside it.
		Expect(k8s.Create(ctx, test.EndpointSlice(w.ns, svc+"-a", svc, "http", 8080, test.IPs(fmt.Sprintf("172.31.%d.", i), 11, 12)...))).To(Succeed())
	}
	for i := range n {
		w.ings = append(w.ings, &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: fmt.Sprintf("app-%02d", i), Annotations: map[string]string{
				"alb.ingress.kubernetes.io/target-type": "ip",
				"alb.ingress.kubernetes.io/scheme":      "internet-facing",
				annHCPath:                               "/",
			}},
			Spec: networkingv1.IngressSpec{IngressClassName: ptr.To(className), Rules: []networkingv1.IngressRule{{
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{path("/", "web")},
				}},
			}}},
		})
	}
	return w
}

func path(p, svc string) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: p, PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Name: "http"}},
	}}
}

// shuffled returns the workload's Ingresses that still exist, in a random order.
func (w *workload) shuffled() []*networkingv1.Ingress {
	var out []*networkingv1.Ingress
	for _, ing := range w.ings {
		if !w.gone[ing.Name] {
			out = append(out, ing)
		}
	}
	w.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// createAll creates every Ingress, in a random order.
func (w *workload) createAll(ctx context.Context) {
	GinkgoHelper()
	for _, ing := range w.shuffled() {
		Expect(k8s.Create(ctx, ing)).To(Succeed())
	}
}

// editAll adds the path /api, when missing, to every remaining Ingress and sets its health check path, in a
// random order. A merge patch needs no resourceVersion, so the controller's own writes never conflict with it.
func (w *workload) editAll(ctx context.Context, hcPath string) {
	GinkgoHelper()
	for _, ing := range w.shuffled() {
		before := ing.DeepCopy()
		ing.Annotations[annHCPath] = hcPath
		rule := ing.Spec.Rules[0].HTTP
		if len(rule.Paths) == 1 {
			rule.Paths = append(rule.Paths, path("/api", "api"))
		}
		Expect(k8s.Patch(ctx, ing, client.MergeFrom(before))).To(Succeed())
	}
}

// deleteSome deletes n of the remaining Ingresses, chosen at random.
func (w *workload) deleteSome(ctx context.Context, n int) {
	GinkgoHelper()
	for _, ing := range w.shuffled()[:n] {
		Expect(k8s.Delete(ctx, ing)).To(Succeed())
		w.gone[ing.Name] = true
	}
}

// replace deletes n of the remaining Ingresses, chosen at random, and creates each anew under the same name as
// soon as the name is free (the old one's finalizer is gone), as `kubectl replace --force` does.
func (w *workload) replace(ctx context.Context, n int) {
	GinkgoHelper()
	for _, ing := range w.shuffled()[:n] {
		Expect(k8s.Delete(ctx, ing)).To(Succeed())
		fresh := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ing.Namespace, Name: ing.Name,
			Annotations: ing.Annotations}, Spec: ing.Spec}
		Eventually(func() error { return k8s.Create(ctx, fresh) }).WithTimeout(timeout()).WithPolling(50 * time.Millisecond).Should(Succeed())
		*ing = *fresh
	}
}

// stuck returns the deleted Ingresses that still exist: a finalizer holds them.
func (w *workload) stuck(ctx context.Context) ([]string, error) {
	var out []string
	for _, ing := range w.ings {
		if !w.gone[ing.Name] {
			continue
		}
		err := k8s.Get(ctx, client.ObjectKeyFromObject(ing), &networkingv1.Ingress{})
		switch {
		case err == nil:
			out = append(out, ing.Name)
		case !apierrors.IsNotFound(err):
			return nil, err
		}
	}
	return out, nil
}

// wants is what the cloud must hold for the remaining Ingresses, read back from the API server for their
// addresses.
func (w *workload) wants(ctx context.Context) (map[string]want, error) {
	out := map[string]want{}
	for _, ing := range w.ings {
		if w.gone[ing.Name] {
			continue
		}
		got := &networkingv1.Ingress{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(ing), got); err != nil {
			return nil, err
		}
		wt := want{hcPath: got.Annotations[annHCPath], tgs: len(got.Spec.Rules[0].HTTP.Paths)}
		if lbs := got.Status.LoadBalancer.Ingress; len(lbs) > 0 {
			wt.host = lbs[0].Hostname
		}
		for _, p := range got.Spec.Rules[0].HTTP.Paths {
			if p.Path != "/" {
				wt.paths = append(wt.paths, p.Path)
			}
		}
		out[got.Namespace+"/"+got.Name] = wt
	}
	return out, nil
}

// converged returns what still differs between the cloud and the workload: the cloud's problems and the
// deleted Ingresses still held by a finalizer. It stops the polling once the controller has died.
func (w *workload) converged(ctx context.Context, c *controller) func() ([]string, error) {
	return func() ([]string, error) {
		if err := c.exitedOnItsOwn(); err != nil {
			return nil, StopTrying(err.Error() + "\n" + c.tail(40))
		}
		wants, err := w.wants(ctx)
		if err != nil {
			return nil, err
		}
		st, err := readCloud(ctx)
		if err != nil {
			return nil, err
		}
		out := problems(st, wants)
		stuck, err := w.stuck(ctx)
		if err != nil {
			return nil, err
		}
		for _, name := range stuck {
			out = append(out, "deleted Ingress "+name+" is still there")
		}
		return out, nil
	}
}

// cleanup deletes the remaining Ingresses and waits for the controller to let them go, so that the next
// container's controller does not find them.
func (w *workload) cleanup(ctx context.Context, c *controller) {
	GinkgoHelper()
	for _, ing := range w.shuffled() {
		Expect(client.IgnoreNotFound(k8s.Delete(ctx, ing))).To(Succeed())
		w.gone[ing.Name] = true
	}
	Eventually(w.converged(ctx, c)).WithTimeout(timeout()).Should(BeEmpty())
}
