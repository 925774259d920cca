package test

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// EndpointSlice is a slice of a Service as the EndpointSlice controller writes it: its labels, the Service's
// port name, the number its target port resolves to, and ready endpoints of pods at addrs.
func EndpointSlice(ns, name, service, portName string, port int32, addrs ...string) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service,
			discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(portName), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	SetEndpoints(es, addrs)
	return es
}

// SetEndpoints replaces a slice's endpoints with ready ones at addrs, of pods named pod-<addr>.
func SetEndpoints(es *discoveryv1.EndpointSlice, addrs []string) {
	es.Endpoints = nil
	for _, a := range addrs {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{a},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: es.Namespace, Name: "pod-" + a},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}})
	}
}

// IPs returns prefix+from .. prefix+to.
func IPs(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}
