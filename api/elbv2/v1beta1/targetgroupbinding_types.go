package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The TargetGroupBinding schema is the AWS Load Balancer Controller's v1beta1, field for field (names, JSON keys,
// validation and printer columns), so that objects written for that controller, and its CRD, work with cloudlb.
// Which fields cloudlb honours is decided in controllers/tgb.

// TargetGroupIPAddressType is the address family of a target group's IP targets.
// +kubebuilder:validation:Enum=ipv4;ipv6
type TargetGroupIPAddressType string

// Target group address families.
const (
	TargetGroupIPAddressTypeIPv4 TargetGroupIPAddressType = "ipv4"
	TargetGroupIPAddressTypeIPv6 TargetGroupIPAddressType = "ipv6"
)

// TargetGroupProtocol is the protocol of a target group.
type TargetGroupProtocol string

// ServiceReference names a Service of the binding's namespace and one of its ports.
type ServiceReference struct {
	// Name is the name of the Service.
	Name string `json:"name"`

	// Port is the port of the ServicePort.
	Port intstr.IntOrString `json:"port"`
}

// IPBlock is a CIDR peer of a networking rule.
type IPBlock struct {
	// CIDR is the network CIDR.
	// Both IPV4 or IPV6 CIDR are accepted.
	CIDR string `json:"cidr"`
}

// SecurityGroup is a security group peer of a networking rule.
type SecurityGroup struct {
	// GroupID is the EC2 SecurityGroupID.
	GroupID string `json:"groupID"`
}

// NetworkingPeer is the source of a networking rule: one of its fields is set.
type NetworkingPeer struct {
	// IPBlock defines an IPBlock peer.
	// If specified, none of the other fields can be set.
	// +optional
	IPBlock *IPBlock `json:"ipBlock,omitempty"`

	// SecurityGroup defines a SecurityGroup peer.
	// If specified, none of the other fields can be set.
	// +optional
	SecurityGroup *SecurityGroup `json:"securityGroup,omitempty"`
}

// NetworkingProtocol is the protocol of a networking rule.
// +kubebuilder:validation:Enum=TCP;UDP
type NetworkingProtocol string

// Networking protocols.
const (
	NetworkingProtocolTCP NetworkingProtocol = "TCP"
	NetworkingProtocolUDP NetworkingProtocol = "UDP"
)

// NetworkingPort is the port and protocol of a networking rule.
type NetworkingPort struct {
	// The protocol which traffic must match.
	// If protocol is unspecified, it defaults to TCP.
	Protocol *NetworkingProtocol `json:"protocol,omitempty"`

	// The port which traffic must match.
	// When NodePort endpoints(instance TargetType) is used, this must be a numerical port.
	// When Port endpoints(ip TargetType) is used, this can be either numerical or named port on pods.
	// if port is unspecified, it defaults to all ports.
	// +optional
	Port *intstr.IntOrString `json:"port,omitempty"`
}

// NetworkingIngressRule is traffic allowed into the targets' security groups.
type NetworkingIngressRule struct {
	// List of peers which should be able to access the targets in TargetGroup.
	// At least one NetworkingPeer should be specified.
	From []NetworkingPeer `json:"from"`

	// List of ports which should be made accessible on the targets in TargetGroup.
	// If ports is empty or unspecified, it defaults to all ports with TCP.
	Ports []NetworkingPort `json:"ports"`
}

// TargetGroupBindingNetworking are the rules that let the load balancer reach the targets.
type TargetGroupBindingNetworking struct {
	// List of ingress rules to allow ELBV2 LoadBalancer to access targets in TargetGroup.
	// +optional
	Ingress []NetworkingIngressRule `json:"ingress,omitempty"`
}

// TargetGroupBindingSpec binds a Service's endpoints to a target group made outside Kubernetes.
type TargetGroupBindingSpec struct {
	// targetGroupARN is the Amazon Resource Name (ARN) for the TargetGroup.
	// +optional
	TargetGroupARN string `json:"targetGroupARN,omitempty"`

	// targetGroupName is the Name of the TargetGroup.
	// +optional
	TargetGroupName string `json:"targetGroupName,omitempty"`

	// MultiClusterTargetGroup Denotes if the TargetGroup is shared among multiple clusters
	// +optional
	MultiClusterTargetGroup bool `json:"multiClusterTargetGroup,omitempty"`

	// targetType is the TargetType of TargetGroup. If unspecified, it will be automatically inferred.
	// +optional
	TargetType *TargetType `json:"targetType,omitempty"`

	// targetGroupProtocol is the Protocol of the TargetGroup. If unspecified, it will be automatically inferred.
	// +optional
	// +kubebuilder:validation:Enum=HTTP;HTTPS;TCP;TLS;UDP;TCP_UDP;QUIC;TCP_QUIC
	TargetGroupProtocol *TargetGroupProtocol `json:"targetGroupProtocol,omitempty"`

	// serviceRef is a reference to a Kubernetes Service and ServicePort.
	ServiceRef ServiceReference `json:"serviceRef"`

	// networking defines the networking rules to allow ELBV2 LoadBalancer to access targets in TargetGroup.
	// +optional
	Networking *TargetGroupBindingNetworking `json:"networking,omitempty"`

	// node selector for instance type target groups to only register certain nodes
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// ipAddressType specifies whether the target group is of type IPv4 or IPv6. If unspecified, it will be automatically inferred.
	// +optional
	IPAddressType *TargetGroupIPAddressType `json:"ipAddressType,omitempty"`

	// VpcID is the VPC of the TargetGroup. If unspecified, it will be automatically inferred.
	// +optional
	VpcID string `json:"vpcID,omitempty"`

	// IAM Role ARN to assume when calling AWS APIs. Useful if the target group is in a different AWS account
	// +optional
	IamRoleArnToAssume string `json:"iamRoleArnToAssume,omitempty"`

	// IAM Role ARN to assume when calling AWS APIs. Needed to assume a role in another account and prevent the confused deputy problem. https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html
	// +optional
	AssumeRoleExternalId string `json:"assumeRoleExternalId,omitempty"` //nolint:revive // the AWS Load Balancer Controller's field name
}

// TargetGroupBindingStatus is what the controller observed of a binding.
type TargetGroupBindingStatus struct {
	// The generation observed by the TargetGroupBinding controller.
	// +optional
	ObservedGeneration *int64 `json:"observedGeneration,omitempty"`

	// Conditions describe the current conditions of the TargetGroupBinding.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// TargetGroupBinding registers the endpoints of a Service into a target group made outside Kubernetes.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="SERVICE-NAME",type="string",JSONPath=".spec.serviceRef.name",description="The Kubernetes Service's name"
// +kubebuilder:printcolumn:name="SERVICE-PORT",type="string",JSONPath=".spec.serviceRef.port",description="The Kubernetes Service's port"
// +kubebuilder:printcolumn:name="TARGET-TYPE",type="string",JSONPath=".spec.targetType",description="The AWS TargetGroup's TargetType"
// +kubebuilder:printcolumn:name="ARN",type="string",JSONPath=".spec.targetGroupARN",description="The AWS TargetGroup's Amazon Resource Name",priority=1
// +kubebuilder:printcolumn:name="NAME",type="string",JSONPath=".spec.targetGroupName",description="The AWS TargetGroup's Name",priority=2
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
type TargetGroupBinding struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TargetGroupBindingSpec   `json:"spec,omitempty"`
	Status TargetGroupBindingStatus `json:"status,omitempty"`
}

// TargetGroupBindingList is a list of TargetGroupBindings.
// +kubebuilder:object:root=true
type TargetGroupBindingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TargetGroupBinding `json:"items"`
}
