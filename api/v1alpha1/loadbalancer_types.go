package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LoadBalancerSpec names the stack a LoadBalancer record stands for. The controller writes it; users read it.
type LoadBalancerSpec struct {
	// Stack is the key of the Ingress group this load balancer serves: "namespace/name" for a single Ingress, the
	// group name for an explicit group (alb.ingress.kubernetes.io/group.name).
	Stack string `json:"stack"`
}

// LoadBalancerStatus is what the controller last applied to the cloud for one stack.
type LoadBalancerStatus struct {
	// DNSName is the load balancer's DNS name, as written into the member Ingresses' status.
	// +optional
	DNSName string `json:"dnsName,omitempty"`
	// ID is the cloud's identifier of the load balancer: its ARN on AWS.
	// +optional
	ID string `json:"id,omitempty"`
	// Name is the load balancer's name in the cloud, recorded before the first call that can create it, so that
	// a delete finds the load balancer even when its ID was never recorded.
	// +optional
	Name string `json:"name,omitempty"`
	// Scheme is internet-facing or internal.
	// +optional
	Scheme string `json:"scheme,omitempty"`
	// Ingresses are the members ("namespace/name") that the last applied model was built from.
	// +optional
	Ingresses []string `json:"ingresses,omitempty"`
	// Members are every Ingress of the stack ("namespace/name") and whether the load balancer serves it: a
	// member left out (invalid, conflicting with the group, or with a missing backend) has Applied false and a
	// message saying why. Members already applied take precedence in a conflict over group-wide settings.
	// +optional
	// +listType=map
	// +listMapKey=name
	Members []MemberStatus `json:"members,omitempty"`
	// AppliedHash is the hash of the last model the provider converged to. A reconcile whose model hashes the
	// same makes no cloud call.
	// +optional
	AppliedHash string `json:"appliedHash,omitempty"`
	// LastAppliedTime is when the provider last converged this stack; drift checks count from it.
	// +optional
	LastAppliedTime *metav1.Time `json:"lastAppliedTime,omitempty"`
	// TargetGroups bind each target group of the load balancer to the Service whose endpoints feed it.
	// +optional
	// +listType=map
	// +listMapKey=id
	TargetGroups []TargetGroupBinding `json:"targetGroups,omitempty"`
	// TargetsSynced maps a target group ID to a digest of the targets last registered in it, and of its cloud ID,
	// so that a pass with nothing changed, even after a restart, makes no cloud call. Each entry is written on its
	// own by the targets controller, without a lock: entries of other target groups are never in contention.
	// +optional
	TargetsSynced map[string]string `json:"targetsSynced,omitempty"`
	// Conditions: Ready is True when the cloud matches the last valid model; DeletionBlocked is True while a
	// deletion waits on something outside cloudlb's ownership, which its message names.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Certificates are the certificates cloudlb requested for the create-acm-cert annotation, with the DNS
	// records to create for those that await validation.
	// +optional
	Certificates []CertificateStatus `json:"certificates,omitempty"`
	// Plan is what applying the stack would change in the cloud, one change a line, sorted, while a member carries
	// cloudlb.io/dry-run: "true" (the DryRun condition says so); empty otherwise.
	// +optional
	Plan []string `json:"plan,omitempty"`
}

// CertificateStatus is one certificate cloudlb requested.
type CertificateStatus struct {
	// Hosts are the names the certificate covers.
	Hosts []string `json:"hosts"`
	// ID is the certificate's ARN.
	// +optional
	ID string `json:"id,omitempty"`
	// State is ACM's status of the certificate: PENDING_VALIDATION until the validation records resolve, then
	// ISSUED, when cloudlb attaches it.
	// +optional
	State string `json:"state,omitempty"`
	// ValidationRecords are the DNS records that prove control of the hosts (for you or external-dns to create).
	// +optional
	ValidationRecords []DNSRecord `json:"validationRecords,omitempty"`
}

// DNSRecord is a DNS record to create.
type DNSRecord struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// MemberStatus is one Ingress of a stack.
type MemberStatus struct {
	// Name is the Ingress's "namespace/name".
	Name string `json:"name"`
	// Applied is true when the model the provider last converged to includes this member.
	Applied bool `json:"applied"`
	// Message says why the member is left out, or why it is served as it was last applied.
	// +optional
	Message string `json:"message,omitempty"`
	// Model is what the member contributed to the last applied model (gzipped JSON, base64), kept so that a
	// member that becomes invalid or conflicting keeps its rules as they were until it is valid again, across
	// restarts too. It is the controller's, not an interface.
	// +optional
	Model string `json:"model,omitempty"`
}

// TargetGroupBinding says which Service port feeds a target group, and how.
type TargetGroupBinding struct {
	// ID is the target group's ID in its stack.
	ID string `json:"id"`
	// ServiceNamespace and ServiceName name the backend Service.
	ServiceNamespace string `json:"serviceNamespace"`
	ServiceName      string `json:"serviceName"`
	// ServicePort is the Service port number.
	ServicePort int32 `json:"servicePort"`
	// TargetType is instance or ip.
	TargetType string `json:"targetType"`
	// NodeSelector restricts instance targets to nodes with these labels.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// IPAddressType is ipv6 for a target group of IPv6 addresses; empty is ipv4.
	// +optional
	IPAddressType string `json:"ipAddressType,omitempty"`
	// CloudID is the target group's cloud ID (its ARN on AWS) as last applied. The digest of its synced targets
	// covers it, so that a group made anew is synced again and an apply that keeps the group is not.
	// +optional
	CloudID string `json:"cloudID,omitempty"`
}

// LoadBalancer is the controller's record of one cloud load balancer: a read-only view for kubectl.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=clb
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Stack",type=string,JSONPath=`.spec.stack`
// +kubebuilder:printcolumn:name="DNS",type=string,JSONPath=`.status.dnsName`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.id`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type LoadBalancer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LoadBalancerSpec   `json:"spec,omitempty"`
	Status LoadBalancerStatus `json:"status,omitempty"`
}

// LoadBalancerList is a list of LoadBalancer records.
// +kubebuilder:object:root=true
type LoadBalancerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LoadBalancer `json:"items"`
}
