package helm_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
)

const tgbCRD = "targetgroupbindings.elbv2.k8s.aws"

var _ = Describe("TargetGroupBindings", func() {
	const namespace = "cloudlb-system"
	sa := "system:serviceaccount:" + namespace + ":cloudlb"

	It("ships the CRD in crds/, which helm install leaves as it is when the cluster already has one", func() {
		ctx := context.Background()
		objs := render(install, "--set", "ingressClassParams.installCRD=false")
		crd := named(objs, "CustomResourceDefinition", tgbCRD)
		// The AWS Load Balancer Controller's copy, as its own chart installed it. cloudlb's own CRDs are there too
		// (from an earlier install), so that the spec deletes everything the install would otherwise leave.
		crd.SetAnnotations(map[string]string{"installed-by": "aws-load-balancer-controller"})
		var crds []*unstructured.Unstructured
		for _, o := range objs {
			if o.GetKind() == "CustomResourceDefinition" {
				crds = append(crds, o)
			}
		}
		apply(crds)

		kubeconfig := writeKubeconfig("")
		_, err := helm("install", "tgbcheck", "charts/cloudlb", "--namespace", "tgb-check", "--create-namespace", "--kubeconfig", kubeconfig,
			"--set", "clusterName=my-cluster", "--set", "ingressClass.name=tgbcheck", "--set", "ingressClassParams.installCRD=false")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			_, err := helm("uninstall", "tgbcheck", "--namespace", "tgb-check", "--kubeconfig", kubeconfig)
			Expect(err).NotTo(HaveOccurred())
		})
		got := crd.DeepCopy()
		Expect(k8s.Get(ctx, types.NamespacedName{Name: tgbCRD}, got)).To(Succeed())
		Expect(got.GetAnnotations()).To(HaveKeyWithValue("installed-by", "aws-load-balancer-controller"))
		Expect(got.GetAnnotations()).NotTo(HaveKey("meta.helm.sh/release-name"))
	})

	It("lets the controller serve a binding: finalizer, status, Warning Event, and release on delete", func() {
		ctx := context.Background()
		objs := render(install, "--set", "cloudProvider=fake")
		apply(objs)
		waitForIngressRBAC(sa, "patch", "ingresses/status", true)
		controller := runController(objs, sa, namespace)

		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tgb-"}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())
		// The in-memory cloud has no such group: the binding is refused, which is what there is to see here.
		b := &elbv2.TargetGroupBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "web"},
			Spec: elbv2.TargetGroupBindingSpec{TargetGroupName: "terraform-web", MultiClusterTargetGroup: true,
				ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}}}
		Expect(k8s.Create(ctx, b)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
			g.Expect(b.Finalizers).To(ContainElement("elbv2.k8s.aws/resources"))
			g.Expect(meta.IsStatusConditionFalse(b.Status.Conditions, "Ready")).To(BeTrue())
		}).WithTimeout(time.Minute).Should(Succeed())
		Eventually(func(g Gomega) []string {
			var list eventsv1.EventList
			g.Expect(k8s.List(ctx, &list, client.InNamespace(ns.Name))).To(Succeed())
			var out []string
			for _, e := range list.Items {
				out = append(out, e.Reason)
			}
			return out
		}).Should(ContainElement("TargetGroupNotFound"))

		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(b), b)) }).Should(BeTrue())
		Expect(forbidden(controller.Err.Contents())).To(BeEmpty())
		Expect(controller).NotTo(gexec.Exit(), "the controller stopped")
	})

	It("leaves bindings to another controller with --enable-target-group-binding=false", func() {
		ctx := context.Background()
		objs := render(install, "--set", "cloudProvider=fake", "--set-json", `extraArgs=["--enable-target-group-binding=false"]`)
		apply(objs)
		waitForIngressRBAC(sa, "patch", "ingresses/status", true)
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tgb-"}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())
		b := &elbv2.TargetGroupBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "web"},
			Spec: elbv2.TargetGroupBindingSpec{TargetGroupName: "terraform-web", ServiceRef: elbv2.ServiceReference{Name: "web", Port: intstr.FromInt32(80)}}}
		Expect(k8s.Create(ctx, b)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(context.Background(), b))).To(Succeed()) })

		controller := runController(objs, sa, namespace)
		// The controller has started and served an Ingress: a binding it served would carry the finalizer by now.
		ing := createIngress(ctx)
		Eventually(hostname).WithArguments(ing).WithTimeout(time.Minute).ShouldNot(BeEmpty())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
		Expect(b.Finalizers).To(BeEmpty())
		Expect(b.Status.Conditions).To(BeEmpty())
		Expect(controller).NotTo(gexec.Exit(), "the controller stopped")
	})
})
