package tgb_test

import (
	"context"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
	"github.com/cloudlb/cloudlb/controllers/tgb"
	"github.com/cloudlb/cloudlb/test"
)

var _ = Describe("TargetGroupBinding", func() {
	var (
		ctx context.Context
		ns  string
	)

	BeforeEach(func() {
		ctx = context.Background()
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tgb-"}}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ns = n.Name
	})

	arnOf := func(name string) string {
		return "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/" + name + "/0123456789abcdef"
	}
	ipGroup := func(name string, targets ...cloud.Target) string {
		provider.AddBoundTargetGroup(name, cloud.BoundTargetGroup{ARN: arnOf(name), TargetType: cloud.TargetTypeIP, VPCID: "vpc-1"}, targets...)
		return arnOf(name)
	}
	service := func(name string, ports ...corev1.ServicePort) {
		GinkgoHelper()
		if len(ports) == 0 {
			ports = []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("web")}}
		}
		Expect(k8s.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: ports, Selector: map[string]string{"app": name}}})).To(Succeed())
	}
	binding := func(name string, spec elbv2.TargetGroupBindingSpec) *elbv2.TargetGroupBinding {
		GinkgoHelper()
		b := &elbv2.TargetGroupBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
		Expect(k8s.Create(ctx, b)).To(Succeed())
		return b
	}
	ips := func(port int32, addrs ...string) []cloud.Target {
		var out []cloud.Target
		for _, a := range addrs {
			out = append(out, cloud.Target{ID: a, Port: port})
		}
		return out
	}
	ready := func(b *elbv2.TargetGroupBinding) func(Gomega) string {
		return func(g Gomega) string {
			cur := &elbv2.TargetGroupBinding{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), cur)).To(Succeed())
			c := meta.FindStatusCondition(cur.Status.Conditions, tgb.ConditionReady)
			if c == nil {
				return ""
			}
			return string(c.Status) + " " + c.Reason
		}
	}
	warnings := func(b *elbv2.TargetGroupBinding) func(Gomega) []string {
		return func(g Gomega) []string {
			var list eventsv1.EventList
			g.Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			var out []string
			for _, e := range list.Items {
				if e.Regarding.Name == b.Name && e.Type == corev1.EventTypeWarning {
					out = append(out, e.Reason+": "+e.Note)
				}
			}
			return out
		}
	}
	gone := func(o client.Object) func() bool {
		return func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(o), o)) }
	}

	It("registers a Service's pods into an IP target group named by ARN, follows its endpoints, and deregisters them on delete", func() {
		arn := ipGroup(ns + "-ip")
		service("web")
		es := test.EndpointSlice(ns, "web-1", "web", "http", 8080, "10.0.0.1", "10.0.0.2")
		Expect(k8s.Create(ctx, es)).To(Succeed())
		b := binding("web", elbv2.TargetGroupBindingSpec{TargetGroupARN: arn, ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}})

		Eventually(func() []cloud.Target { return provider.BoundTargets(arn) }).Should(Equal(ips(8080, "10.0.0.1", "10.0.0.2")))
		Eventually(ready(b)).Should(Equal("True Synced"))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
		Expect(b.Finalizers).To(ContainElement("elbv2.k8s.aws/resources"))

		test.SetEndpoints(es, []string{"10.0.0.2", "10.0.0.3"})
		Expect(k8s.Update(ctx, es)).To(Succeed())
		Eventually(func() []cloud.Target { return provider.BoundTargets(arn) }).Should(Equal(ips(8080, "10.0.0.2", "10.0.0.3")))

		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Eventually(gone(b)).Should(BeTrue())
		Expect(provider.BoundTargets(arn)).To(BeEmpty())
	})

	It("moves the targets when the binding is pointed at another target group", func() {
		first, second := ipGroup(ns+"-first"), ipGroup(ns+"-second")
		service("web")
		Expect(k8s.Create(ctx, test.EndpointSlice(ns, "web-1", "web", "http", 8080, "10.0.0.1"))).To(Succeed())
		b := binding("web", elbv2.TargetGroupBindingSpec{TargetGroupARN: first, ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}})
		Eventually(func() []cloud.Target { return provider.BoundTargets(first) }).Should(Equal(ips(8080, "10.0.0.1")))

		Eventually(func() error {
			cur := &elbv2.TargetGroupBinding{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(b), cur); err != nil {
				return err
			}
			cur.Spec.TargetGroupARN = second
			return k8s.Update(ctx, cur)
		}).Should(Succeed())
		Eventually(func() []cloud.Target { return provider.BoundTargets(second) }).Should(Equal(ips(8080, "10.0.0.1")))
		Expect(provider.BoundTargets(first)).To(BeEmpty(), "the first group no longer holds targets nobody keeps in step")

		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Eventually(gone(b)).Should(BeTrue())
		Expect(provider.BoundTargets(second)).To(BeEmpty())
	})

	It("registers, in instance mode with a nodeSelector, only the selected nodes, by target group name", func() {
		name := ns + "-instance"
		provider.AddBoundTargetGroup(name, cloud.BoundTargetGroup{ARN: arnOf(name), TargetType: cloud.TargetTypeInstance, VPCID: "vpc-1"})
		service("nodes", corev1.ServicePort{Name: "http", Port: 80, NodePort: 30000 + int32(len(ns)%2000)})
		svc := &corev1.Service{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "nodes"}, svc)).To(Succeed())
		nodePort := svc.Spec.Ports[0].NodePort
		node := func(id string, labels map[string]string) {
			GinkgoHelper()
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + id, Labels: labels},
				Spec: corev1.NodeSpec{ProviderID: "aws:///us-east-1a/" + id}}
			Expect(k8s.Create(ctx, n)).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(context.Background(), n))).To(Succeed()) })
		}
		pool := map[string]string{"pool-" + ns: "web"}
		node("i-0000000000000000a", pool)
		node("i-0000000000000000b", map[string]string{"pool-" + ns: "batch"})
		node("i-0000000000000000c", map[string]string{"pool-" + ns: "web", "node-role.kubernetes.io/master": ""})
		b := binding("nodes", elbv2.TargetGroupBindingSpec{TargetGroupName: name, TargetType: ptr.To(elbv2.TargetTypeInstance),
			NodeSelector: &metav1.LabelSelector{MatchLabels: pool}, ServiceRef: elbv2.ServiceReference{Name: "nodes", Port: intstr.FromString("http")}})

		Eventually(func() []cloud.Target { return provider.BoundTargets(arnOf(name)) }).Should(
			Equal([]cloud.Target{{ID: "i-0000000000000000a", Port: nodePort}}), "the batch node is not selected, the control-plane node never is")

		node("i-0000000000000000d", pool)
		Eventually(func() []cloud.Target { return provider.BoundTargets(arnOf(name)) }).Should(
			Equal([]cloud.Target{{ID: "i-0000000000000000a", Port: nodePort}, {ID: "i-0000000000000000d", Port: nodePort}}))
		Expect(ready(b)(Default)).To(Equal("True Synced"))
	})

	It("keeps, in a multi-cluster group, the targets it did not register, records its own, and deregisters only those", func() {
		others := ips(8080, "10.9.0.1", "10.9.0.2")
		arn := ipGroup(ns+"-shared", others...)
		service("web")
		es := test.EndpointSlice(ns, "web-1", "web", "http", 8080, "10.0.0.1", "10.0.0.2")
		Expect(k8s.Create(ctx, es)).To(Succeed())
		b := binding("shared", elbv2.TargetGroupBindingSpec{TargetGroupARN: arn, MultiClusterTargetGroup: true,
			ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}})

		ours := ips(8080, "10.0.0.1", "10.0.0.2")
		Eventually(func() []cloud.Target { return provider.BoundTargets(arn) }).Should(ConsistOf(slices.Concat(others, ours)))
		record := &corev1.ConfigMap{}
		Eventually(func() error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "aws-lbc-targets-shared"}, record)
		}).Should(Succeed())
		Expect(record.Data).To(HaveKeyWithValue("targets", "10.0.0.1:8080,10.0.0.2:8080"), "laid out as the AWS Load Balancer Controller lays it out")

		test.SetEndpoints(es, []string{"10.0.0.2"})
		Expect(k8s.Update(ctx, es)).To(Succeed())
		Eventually(func() []cloud.Target { return provider.BoundTargets(arn) }).Should(ConsistOf(slices.Concat(others, ours[1:])))
		Eventually(func() map[string]string {
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(record), record)).To(Succeed())
			return record.Data
		}).Should(HaveKeyWithValue("targets", "10.0.0.2:8080"), "the record shrinks once the deregistration is done")

		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Eventually(gone(b)).Should(BeTrue())
		Expect(provider.BoundTargets(arn)).To(ConsistOf(others))
		Expect(gone(record)()).To(BeTrue(), "the record goes with the binding")
	})

	It("deregisters the targets its record, written before a restart, names, and no other", func() {
		others := ips(8080, "10.9.0.1")
		// 10.0.0.7 was registered by this binding before (its pod is gone since), as its record says.
		arn := ipGroup(ns+"-restart", slices.Concat(others, ips(8080, "10.0.0.7"))...)
		Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "aws-lbc-targets-restart"},
			Data: map[string]string{"targets": "10.0.0.7:8080"}})).To(Succeed())
		service("web")
		b := binding("restart", elbv2.TargetGroupBindingSpec{TargetGroupARN: arn, MultiClusterTargetGroup: true,
			ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}})
		Eventually(func() []cloud.Target { return provider.BoundTargets(arn) }).Should(ConsistOf(others))
		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Eventually(gone(b)).Should(BeTrue())
		Expect(provider.BoundTargets(arn)).To(ConsistOf(others))
	})

	It("refuses a second binding of a target group another binding holds, and deleting it deregisters nothing", func() {
		arn := ipGroup(ns + "-taken")
		service("web")
		service("api")
		Expect(k8s.Create(ctx, test.EndpointSlice(ns, "web-1", "web", "http", 8080, "10.0.0.1"))).To(Succeed())
		Expect(k8s.Create(ctx, test.EndpointSlice(ns, "api-1", "api", "http", 8080, "10.0.0.2"))).To(Succeed())
		first := binding("first", elbv2.TargetGroupBindingSpec{TargetGroupARN: arn, ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}})
		Eventually(ready(first)).Should(Equal("True Synced"))
		Expect(provider.BoundTargets(arn)).To(Equal(ips(8080, "10.0.0.1")))

		// Each binding owns the whole target list of a group it does not share: two would deregister each other's.
		second := binding("second", elbv2.TargetGroupBindingSpec{TargetGroupARN: arn, ServiceRef: elbv2.ServiceReference{Name: "api", Port: intstr.FromInt32(80)}})
		Eventually(ready(second)).Should(Equal("False TargetGroupInUse"))
		Eventually(warnings(second)).Should(ContainElement(ContainSubstring(first.Name)))
		Expect(provider.BoundTargets(arn)).To(Equal(ips(8080, "10.0.0.1")))

		Expect(k8s.Delete(ctx, second)).To(Succeed())
		Eventually(gone(second)).Should(BeTrue())
		Expect(provider.BoundTargets(arn)).To(Equal(ips(8080, "10.0.0.1")), "the first binding's targets stay")
		Expect(ready(first)(Default)).To(Equal("True Synced"))
	})

	It("lets a binding go, deregistering nothing, once cloudlb manages its target group for an Ingress", func() {
		arn := ipGroup(ns + "-claimed")
		service("web")
		Expect(k8s.Create(ctx, test.EndpointSlice(ns, "web-1", "web", "http", 8080, "10.0.0.1"))).To(Succeed())
		b := binding("claimed", elbv2.TargetGroupBindingSpec{TargetGroupARN: arn, ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}})
		Eventually(ready(b)).Should(Equal("True Synced"))

		// A takeover claimed the group: its target list is the targets reconciler's now.
		provider.ManageBoundTargetGroup(arn)
		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Eventually(gone(b)).Should(BeTrue())
		Expect(provider.BoundTargets(arn)).To(Equal(ips(8080, "10.0.0.1")))
	})

	It("refuses a target group that a binding of the AWS Load Balancer Controller's Ingresses names", func() {
		arn := ipGroup(ns+"-lbc-ingress", ips(8080, "10.0.0.9")...)
		service("web")
		Expect(k8s.Create(ctx, test.EndpointSlice(ns, "web-1", "web", "http", 8080, "10.0.0.1"))).To(Succeed())
		// The Ingress's group: LBC feeds it, or cloudlb once it takes the Ingress over.
		Expect(k8s.Create(ctx, &elbv2.TargetGroupBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "k8s-web-ingress",
			Labels: map[string]string{"ingress.k8s.aws/stack-namespace": ns, "ingress.k8s.aws/stack-name": "web"}},
			Spec: elbv2.TargetGroupBindingSpec{TargetGroupARN: arn, ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}}})).To(Succeed())
		b := binding("user", elbv2.TargetGroupBindingSpec{TargetGroupARN: arn, ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}})
		Eventually(ready(b)).Should(Equal("False TargetGroupInUse"))
		Expect(provider.BoundTargets(arn)).To(Equal(ips(8080, "10.0.0.9")))
	})

	It("says, in a Warning Event and the Ready condition, why a target group cannot be bound, and registers nothing", func() {
		service("web")
		missing := binding("missing", elbv2.TargetGroupBindingSpec{TargetGroupName: ns + "-nowhere",
			ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}})
		Eventually(ready(missing)).Should(Equal("False TargetGroupNotFound"))
		Eventually(warnings(missing)).Should(ContainElement(ContainSubstring("TargetGroupNotFound")))

		arn := ipGroup(ns + "-ip")
		wrongType := binding("wrong-type", elbv2.TargetGroupBindingSpec{TargetGroupARN: arn, TargetType: ptr.To(elbv2.TargetTypeInstance),
			ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}})
		Eventually(ready(wrongType)).Should(Equal("False InvalidTargetGroup"))
		Eventually(warnings(wrongType)).Should(ContainElement(ContainSubstring("has target type ip")))

		wrongPort := binding("wrong-port", elbv2.TargetGroupBindingSpec{TargetGroupARN: arn,
			ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(81)}})
		Eventually(warnings(wrongPort)).Should(ContainElement(ContainSubstring("has no port 81")))
		Expect(provider.CallCount(fake.MethodSyncBoundTargets, arn)).To(BeZero())

		// A binding that cannot be served is deleted at once: it never registered anything.
		Expect(k8s.Delete(ctx, wrongType)).To(Succeed())
		Eventually(gone(wrongType)).Should(BeTrue())
	})

	It("lets the binding's networking peers in on the pods' port, a named port resolved through the Service", func() {
		arn := ipGroup(ns + "-net")
		service("web")
		Expect(k8s.Create(ctx, test.EndpointSlice(ns, "web-1", "web", "http", 8080, "10.0.0.1"))).To(Succeed())
		b := binding("net", elbv2.TargetGroupBindingSpec{TargetGroupARN: arn, ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)},
			Networking: &elbv2.TargetGroupBindingNetworking{Ingress: []elbv2.NetworkingIngressRule{{
				From:  []elbv2.NetworkingPeer{{SecurityGroup: &elbv2.SecurityGroup{GroupID: "sg-lb"}}, {IPBlock: &elbv2.IPBlock{CIDR: "10.1.0.0/16"}}},
				Ports: []elbv2.NetworkingPort{{Port: ptr.To(intstr.FromString("web"))}, {Protocol: ptr.To(elbv2.NetworkingProtocolUDP), Port: ptr.To(intstr.FromInt32(53))}},
			}}}})
		all := []cloud.IngressPermission{
			{SecurityGroup: "sg-lb", Protocol: "tcp", Port: 8080},
			{SecurityGroup: "sg-lb", Protocol: "udp", Port: 53},
			{CIDR: "10.1.0.0/16", Protocol: "tcp", Port: 8080},
			{CIDR: "10.1.0.0/16", Protocol: "udp", Port: 53}}
		Eventually(func() []cloud.IngressPermission { return provider.BoundIngress(arn) }).Should(ConsistOf(all))
		// The provider is told which binding the rules are for, and that no other binding asks for any.
		Expect(provider.BindingRules()).To(Equal(map[string][]cloud.IngressPermission{ns + "/net": all}))

		// A binding that cannot leave its group (claimed for an Ingress since) still says, on its way out, that it
		// needs no rule any more.
		claimed := ipGroup(ns + "-claimed")
		gone := binding("gone", elbv2.TargetGroupBindingSpec{TargetGroupARN: claimed, ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)},
			Networking: &elbv2.TargetGroupBindingNetworking{Ingress: []elbv2.NetworkingIngressRule{{
				From: []elbv2.NetworkingPeer{{IPBlock: &elbv2.IPBlock{CIDR: "10.2.0.0/16"}}}, Ports: []elbv2.NetworkingPort{{Port: ptr.To(intstr.FromInt32(80))}}}}}})
		Eventually(provider.BindingRules).Should(HaveKey(ns + "/gone"))
		provider.ManageBoundTargetGroup(claimed)
		Expect(k8s.Delete(ctx, gone)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(gone), gone)) }).Should(BeTrue())
		Expect(provider.BindingRules()).To(Equal(map[string][]cloud.IngressPermission{ns + "/net": all}))

		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Eventually(provider.BindingRules).Should(BeEmpty())
	})

	It("reaches another account's target group through the role the binding names, in IP mode only", func() {
		arn := ipGroup(ns + "-central")
		service("web")
		Expect(k8s.Create(ctx, test.EndpointSlice(ns, "web-1", "web", "http", 8080, "10.0.0.1"))).To(Succeed())
		role := "arn:aws:iam::222222222222:role/tg-owner"
		binding("central", elbv2.TargetGroupBindingSpec{TargetGroupARN: arn, ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)},
			IamRoleArnToAssume: role, AssumeRoleExternalId: "ext-1"})
		Eventually(func() []cloud.Target { return provider.BoundTargets(arn) }).Should(Equal(ips(8080, "10.0.0.1")))
		Expect(provider.BoundRole(arn)).To(Equal(cloud.Role{ARN: role, ExternalID: "ext-1"}))

		instances := arnOf(ns + "-central-instances")
		provider.AddBoundTargetGroup(ns+"-central-instances", cloud.BoundTargetGroup{ARN: instances, TargetType: cloud.TargetTypeInstance, VPCID: "vpc-1"})
		b := binding("central-instances", elbv2.TargetGroupBindingSpec{TargetGroupARN: instances, ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)},
			IamRoleArnToAssume: role})
		Eventually(ready(b)).Should(Equal("False InvalidTargetGroup"))
		Expect(provider.CallCount(fake.MethodSyncBoundTargets, instances)).To(BeZero())
	})

	It("leaves alone the bindings the AWS Load Balancer Controller made for its Ingresses", func() {
		arn := ipGroup(ns + "-lbc")
		service("web")
		Expect(k8s.Create(ctx, test.EndpointSlice(ns, "web-1", "web", "http", 8080, "10.0.0.1"))).To(Succeed())
		lbc := &elbv2.TargetGroupBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "k8s-web-lbc",
			Labels: map[string]string{"ingress.k8s.aws/stack-namespace": ns, "ingress.k8s.aws/stack-name": "web"}},
			Spec: elbv2.TargetGroupBindingSpec{TargetGroupARN: arn, ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}}}
		Expect(k8s.Create(ctx, lbc)).To(Succeed())
		// A binding of the same Service that is served, as the witness that the events were processed.
		witness := ipGroup(ns + "-witness")
		binding("witness", elbv2.TargetGroupBindingSpec{TargetGroupARN: witness, ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}})
		Eventually(func() []cloud.Target { return provider.BoundTargets(witness) }).ShouldNot(BeEmpty())
		Expect(provider.CallCount(fake.MethodSyncBoundTargets, arn)).To(BeZero())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(lbc), lbc)).To(Succeed())
		Expect(lbc.Finalizers).To(BeEmpty())
		Expect(lbc.Status.Conditions).To(BeEmpty())
	})
})
