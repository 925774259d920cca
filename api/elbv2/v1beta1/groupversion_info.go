// Package v1beta1 holds the AWS Load Balancer Controller's elbv2.k8s.aws/v1beta1 IngressClassParams and
// TargetGroupBinding, with the same schema, so that objects written for that controller work unchanged with cloudlb.
// cloudlb only reads IngressClassParams; it serves TargetGroupBindings (finalizer and status).
// +kubebuilder:object:generate=true
// +groupName=elbv2.k8s.aws
package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the AWS Load Balancer Controller's elbv2 API.
	GroupVersion = schema.GroupVersion{Group: "elbv2.k8s.aws", Version: "v1beta1"}

	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &IngressClassParams{}, &IngressClassParamsList{}, &TargetGroupBinding{}, &TargetGroupBindingList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
