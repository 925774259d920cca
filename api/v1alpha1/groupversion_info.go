// Package v1alpha1 contains the cloudlb.io/v1alpha1 API types.
// +kubebuilder:object:generate=true
// +groupName=cloudlb.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the cloudlb.io API.
	GroupVersion = schema.GroupVersion{Group: "cloudlb.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &LoadBalancer{}, &LoadBalancerList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
