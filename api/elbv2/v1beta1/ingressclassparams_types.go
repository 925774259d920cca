package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The schema below is the AWS Load Balancer Controller's, field for field (names, JSON keys, validation and
// printer columns), so that the CRD cloudlb ships and the one that controller ships accept the same objects and
// either can own the CRD. Which fields cloudlb honours is decided in controllers/ingress/classparams.go.

// IPAddressType is the IP address type of a load balancer.
// +kubebuilder:validation:Enum=ipv4;dualstack;dualstack-without-public-ipv4
type IPAddressType string

// IP address types.
const (
	IPAddressTypeIPv4                       IPAddressType = "ipv4"
	IPAddressTypeDualStack                  IPAddressType = "dualstack"
	IPAddressTypeDualStackWithoutPublicIPv4 IPAddressType = "dualstack-without-public-ipv4"
)

// LoadBalancerScheme says whether a load balancer has public (internet-facing) or only private (internal)
// addresses.
// +kubebuilder:validation:Enum=internal;internet-facing
type LoadBalancerScheme string

// Schemes.
const (
	LoadBalancerSchemeInternal       LoadBalancerScheme = "internal"
	LoadBalancerSchemeInternetFacing LoadBalancerScheme = "internet-facing"
)

// TargetType says what a target group registers: nodes on the Service's NodePort (instance) or pod IPs (ip).
// +kubebuilder:validation:Enum=instance;ip
type TargetType string

// Target types.
const (
	TargetTypeInstance TargetType = "instance"
	TargetTypeIP       TargetType = "ip"
)

// SubnetID is the ID of an existing subnet.
// +kubebuilder:validation:Pattern=subnet-[0-9a-f]+
type SubnetID string

// SubnetSelector picks existing subnets either by ID or by tags; exactly one of the two is set.
type SubnetSelector struct {
	// IDs are the subnets' IDs. Exactly one of this or `tags` must be set.
	// +kubebuilder:validation:MinItems=1
	// +optional
	IDs []SubnetID `json:"ids,omitempty"`

	// Tags select the subnets of the load balancer's VPC that carry, for every key, one of the listed values.
	// Exactly one of this or `ids` must be set.
	// +optional
	Tags map[string][]string `json:"tags,omitempty"`
}

// IngressGroup names the IngressGroup the class's Ingresses join.
type IngressGroup struct {
	// Name is the name of the IngressGroup.
	Name string `json:"name"`
}

// Tag is an AWS tag.
type Tag struct {
	// Key is the tag's key.
	Key string `json:"key"`
	// Value is the tag's value.
	Value string `json:"value"`
}

// Attribute is a load balancer or listener attribute.
type Attribute struct {
	// Key is the attribute's key.
	Key string `json:"key"`
	// Value is the attribute's value.
	Value string `json:"value"`
}

// ListenerProtocol is the protocol of a listener.
type ListenerProtocol string

// Listener protocols.
const (
	ListenerProtocolHTTP  ListenerProtocol = "HTTP"
	ListenerProtocolHTTPS ListenerProtocol = "HTTPS"
)

// Listener sets the attributes of the listener on one protocol and port.
type Listener struct {
	// Protocol is the listener's protocol.
	Protocol ListenerProtocol `json:"protocol,omitempty"`
	// Port is the listener's port.
	Port int32 `json:"port,omitempty"`
	// ListenerAttributes are the listener's attributes.
	ListenerAttributes []Attribute `json:"listenerAttributes,omitempty"`
}

// MinimumLoadBalancerCapacity is a load balancer capacity reservation.
type MinimumLoadBalancerCapacity struct {
	// CapacityUnits is the number of capacity units reserved.
	CapacityUnits int32 `json:"capacityUnits"`
}

// IPAMConfiguration picks the IPAM pool a load balancer's addresses come from.
type IPAMConfiguration struct {
	// IPv4IPAMPoolId is the IPAM pool for the load balancer's IPv4 addresses.
	// +optional
	IPv4IPAMPoolId *string `json:"ipv4IPAMPoolId,omitempty"` //nolint:revive // the JSON key is the other controller's API
}

// IngressClassParamsSpec is the policy an IngressClass sets for all its Ingresses.
// +kubebuilder:validation:XValidation:rule="!(has(self.prefixListsIDs) && has(self.PrefixListsIDs))", message="cannot specify both 'prefixListsIDs' and 'PrefixListsIDs' fields"
type IngressClassParamsSpec struct {
	// LoadBalancerName is the name of the load balancer of the class's Ingresses.
	// +optional
	LoadBalancerName string `json:"loadBalancerName,omitempty"`

	// CertificateArn lists the certificates of the class's Ingresses' HTTPS listeners.
	// +optional
	CertificateArn []string `json:"certificateArn,omitempty"`

	// NamespaceSelector restricts the namespaces whose Ingresses may use the class; absent or empty selects all.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// Group puts every Ingress of the class in one IngressGroup.
	// +optional
	Group *IngressGroup `json:"group,omitempty"`

	// Scheme is the scheme of the class's load balancers.
	// +optional
	Scheme *LoadBalancerScheme `json:"scheme,omitempty"`

	// InboundCIDRs are the client CIDRs allowed to reach the class's load balancers.
	// +optional
	InboundCIDRs []string `json:"inboundCIDRs,omitempty"`

	// SSLPolicy is the security policy of the class's HTTPS listeners.
	// +optional
	SSLPolicy string `json:"sslPolicy,omitempty"`

	// SSLRedirectPort is the HTTPS port that the class's HTTP listeners redirect to.
	// +optional
	SSLRedirectPort string `json:"sslRedirectPort,omitempty"`

	// Subnets are the subnets of the class's load balancers.
	// +optional
	Subnets *SubnetSelector `json:"subnets,omitempty"`

	// IPAddressType is the IP address type of the class's load balancers.
	// +optional
	IPAddressType *IPAddressType `json:"ipAddressType,omitempty"`

	// Tags are added to the AWS resources of the class's Ingresses.
	Tags []Tag `json:"tags,omitempty"`

	// TargetType is the target type of the class's target groups.
	// +optional
	TargetType TargetType `json:"targetType,omitempty"`

	// LoadBalancerAttributes are set on the class's load balancers.
	// +optional
	LoadBalancerAttributes []Attribute `json:"loadBalancerAttributes,omitempty"`

	// Listeners set listener attributes by protocol and port.
	// +optional
	Listeners []Listener `json:"listeners,omitempty"`

	// MinimumLoadBalancerCapacity reserves capacity on the class's load balancers.
	// +optional
	MinimumLoadBalancerCapacity *MinimumLoadBalancerCapacity `json:"minimumLoadBalancerCapacity,omitempty"`

	// IPAMConfiguration sets the IPAM pools of the class's load balancers.
	// +optional
	IPAMConfiguration *IPAMConfiguration `json:"ipamConfiguration,omitempty"`

	// PrefixListsIDsLegacy is the older spelling of prefixListsIDs; prefer that one.
	// +optional
	PrefixListsIDsLegacy []string `json:"PrefixListsIDs,omitempty"`

	// PrefixListsIDs are managed prefix lists allowed to reach the class's load balancers.
	// +optional
	PrefixListsIDs []string `json:"prefixListsIDs,omitempty"`

	// WAFv2ACLArn is the ARN of the WAFv2 web ACL associated with the class's load balancers.
	// +optional
	WAFv2ACLArn string `json:"wafv2AclArn"`

	// WAFv2ACLName is the name of the WAFv2 web ACL associated with the class's load balancers.
	// +optional
	WAFv2ACLName string `json:"wafv2AclName"`

	// ManageBackendSecurityGroupRules, for the class's load balancers with their own security groups (the
	// security-groups annotation), asks for the shared backend security group and rules from it on the targets'
	// security groups, as the manage-backend-security-group-rules annotation does, and overrides it. A cloudlb
	// extension: the AWS Load Balancer Controller has no such field.
	// +optional
	ManageBackendSecurityGroupRules *bool `json:"manageBackendSecurityGroupRules,omitempty"`
}

// IngressClassParams is the AWS Load Balancer Controller's class-level policy, referenced by an IngressClass's
// spec.parameters.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,singular=ingressclassparam
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="GROUP-NAME",type="string",JSONPath=".spec.group.name",description="The Ingress Group name"
// +kubebuilder:printcolumn:name="SCHEME",type="string",JSONPath=".spec.scheme",description="The AWS Load Balancer scheme"
// +kubebuilder:printcolumn:name="IP-ADDRESS-TYPE",type="string",JSONPath=".spec.ipAddressType",description="The AWS Load Balancer ipAddressType"
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
type IngressClassParams struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec IngressClassParamsSpec `json:"spec,omitempty"`
}

// IngressClassParamsList is a list of IngressClassParams.
// +kubebuilder:object:root=true
type IngressClassParamsList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IngressClassParams `json:"items"`
}
