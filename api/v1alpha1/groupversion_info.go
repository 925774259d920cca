// Package v1alpha1 contains the cloudlb.io/v1alpha1 API types.
// +kubebuilder:object:generate=true
// +groupName=cloudlb.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the cloudlb.io API.
	GroupVersion = schema.GroupVersion{Group: "cloudlb.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
