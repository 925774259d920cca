package test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

// PodsFor returns the pods that the endpoints of es name, each holding its endpoint's addresses, as the
// controller only registers an address that its pod holds.
func PodsFor(es *discoveryv1.EndpointSlice) []*corev1.Pod {
	var out []*corev1.Pod
	for _, ep := range es.Endpoints {
		if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
			continue
		}
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: es.Namespace, Name: ep.TargetRef.Name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "c:1"}}}}
		for _, a := range ep.Addresses {
			p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: a})
		}
		if len(p.Status.PodIPs) > 0 {
			p.Status.PodIP = p.Status.PodIPs[0].IP
		}
		out = append(out, p)
	}
	return out
}

// CreatePodsFor creates the pods of PodsFor(es) that do not exist yet, with their addresses in their status.
func CreatePodsFor(ctx context.Context, c client.Client, es *discoveryv1.EndpointSlice) error {
	for _, p := range PodsFor(es) {
		status := p.Status
		if err := c.Create(ctx, p); err != nil {
			if client.IgnoreAlreadyExists(err) == nil {
				continue
			}
			return err
		}
		p.Status = status
		if err := c.Status().Update(ctx, p); err != nil {
			return err
		}
	}
	return nil
}
