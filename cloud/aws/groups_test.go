package aws_test

import (
	"context"
	"strconv"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/controllers/ingress"
	"github.com/cloudlb/cloudlb/test"
)

// An Ingress group translated as the controller translates it, applied to moto: a member that joins or leaves
// changes only its own rules (and its own target groups), never another member's priority.
var _ = Describe("Ingress groups on AWS", func() {
	const group = "shared"
	var (
		ctx      context.Context
		counter  *test.CallCounter
		p        *cloudaws.Provider
		services map[types.NamespacedName]*corev1.Service
	)

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		p = newProvider(cluster, counter)
		services = map[types.NamespacedName]*corev1.Service{}
	})

	member := func(ns, name string, order int, paths ...string) *networkingv1.Ingress {
		key := types.NamespacedName{Namespace: ns, Name: "web"}
		services[key] = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}, Spec: corev1.ServiceSpec{
			Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, TargetPort: intstr.FromInt32(8080)}}}}
		var hp []networkingv1.HTTPIngressPath
		for _, path := range paths {
			hp = append(hp, networkingv1.HTTPIngressPath{Path: path, PathType: new(networkingv1.PathTypeExact),
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web",
					Port: networkingv1.ServiceBackendPort{Number: 80}}}})
		}
		return &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{
				"alb.ingress.kubernetes.io/group.name":  group,
				"alb.ingress.kubernetes.io/group.order": strconv.Itoa(order),
				"alb.ingress.kubernetes.io/scheme":      "internet-facing",
			}},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: hp}}}}},
		}
	}
	ensure := func(ings ...*networkingv1.Ingress) {
		GinkgoHelper()
		out := ingress.Translate(ingress.Input{ClusterName: cluster, Stack: group, Ingresses: ings, Services: services})
		Expect(out.Errors).To(BeEmpty())
		_, err := p.Ensure(ctx, out.LoadBalancer, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
	}
	// priorities maps each rule's path to its priority, and lists the paths in priority order.
	priorities := func() (map[string]string, []string) {
		GinkgoHelper()
		byPath := map[string]string{}
		var order []string
		for _, r := range sortedRules(*listenerOn(group, 80).ListenerArn) {
			path := conditionValues(r, "path-pattern")[0]
			byPath[path] = *r.Priority
			order = append(order, path)
		}
		return byPath, order
	}
	count := func(calls []string, op string) int {
		n := 0
		for _, c := range calls {
			if c == op {
				n++
			}
		}
		return n
	}

	It("serves a group of 3 from one ALB; a member joins or leaves with its own rules only", func() {
		a := member("ns1", "a", -1, "/a1", "/a2")
		b := member("ns2", "b", 0, "/b1", "/b2")
		c := member("ns1", "c", 5, "/c1")
		ensure(a, b, c)
		Expect(ownedLoadBalancers(group)).To(HaveLen(1))
		before, order := priorities()
		Expect(order).To(Equal([]string{"/a1", "/a2", "/b1", "/b2", "/c1"}))

		By("a member joining in the middle of the group order")
		counter.Reset()
		d := member("ns2", "d", 0, "/d1", "/d2")
		ensure(a, b, c, d)
		after, order := priorities()
		Expect(order).To(Equal([]string{"/a1", "/a2", "/b1", "/b2", "/d1", "/d2", "/c1"}))
		for path, prio := range before {
			Expect(after[path]).To(Equal(prio), "rule %s keeps its priority", path)
		}
		writes := counter.Mutating()
		Expect(count(writes, "CreateRule")).To(Equal(2), "%v", writes)
		for _, op := range writes {
			Expect(op).To(BeElementOf("CreateRule", "CreateTargetGroup", "AddTags", "ModifyTargetGroupAttributes"),
				"only the new member's rules and target group are written: %v", writes)
		}
		Expect(count(writes, "CreateTargetGroup")).To(Equal(1), "%v", writes)

		By("a member leaving")
		counter.Reset()
		ensure(a, c, d)
		left, order := priorities()
		Expect(order).To(Equal([]string{"/a1", "/a2", "/d1", "/d2", "/c1"}))
		for path, prio := range left {
			Expect(prio).To(Equal(after[path]), "rule %s keeps its priority", path)
		}
		writes = counter.Mutating()
		Expect(count(writes, "DeleteRule")).To(Equal(2), "%v", writes)
		for _, op := range writes {
			Expect(op).To(BeElementOf("DeleteRule", "DeleteTargetGroup"), "only the leaving member's rules and target group go: %v", writes)
		}
	})
})
