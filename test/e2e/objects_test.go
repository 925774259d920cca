package e2e_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudlb/cloudlb/test"
)

// newNamespace creates a namespace of its own for a spec. envtest runs no namespace controller, so namespaces
// are never deleted; fresh names keep specs apart.
func newNamespace() string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
	Expect(k8s.Create(context.Background(), ns)).To(Succeed())
	return ns.Name
}

// service is the Service "web": port 80 named http, to the pods' port named web.
func service(ns string, typ corev1.ServiceType) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: corev1.ServiceSpec{Type: typ, Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("web"), Protocol: corev1.ProtocolTCP},
		}},
	}
}

// ingressFor is the Ingress "app" of cloudlb's class, routing / to the Service web by port name.
func ingressFor(ns string, annotations map[string]string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app", Annotations: annotations},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To(className),
			Rules: []networkingv1.IngressRule{{IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Name: "http"}},
				}}},
			}}}},
		},
	}
}

// endpointSlice is a slice of the Service web, whose port http resolves to port on the pods.
func endpointSlice(ns, name string, port int32, addrs []string) *discoveryv1.EndpointSlice {
	return test.EndpointSlice(ns, name, "web", "http", port, addrs...)
}

var (
	setEndpoints = test.SetEndpoints
	ips          = test.IPs
)

// hostname is the first address in the Ingress's status, or "".
func hostname(ing *networkingv1.Ingress) (string, error) {
	got := &networkingv1.Ingress{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(ing), got); err != nil {
		return "", err
	}
	if lb := got.Status.LoadBalancer.Ingress; len(lb) > 0 {
		return lb[0].Hostname, nil
	}
	return "", nil
}

// finalizers are the Ingress's finalizers.
func finalizers(ing *networkingv1.Ingress) ([]string, error) {
	got := &networkingv1.Ingress{}
	err := k8s.Get(context.Background(), client.ObjectKeyFromObject(ing), got)
	return got.Finalizers, err
}

// gone reports whether the object no longer exists.
func gone(o client.Object) bool {
	err := k8s.Get(context.Background(), client.ObjectKeyFromObject(o), o.DeepCopyObject().(client.Object))
	return apierrors.IsNotFound(err)
}
