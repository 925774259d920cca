// Package cloud is the provider boundary: a provider-neutral model of a layer-7 load balancer, the Provider
// interface that converges a cloud to it, and typed errors. It knows nothing of Kubernetes objects, so that
// other front ends (Gateway API routes) can build the same model.
package cloud

// Scheme says where a load balancer is reachable from.
type Scheme string

// Schemes.
const (
	SchemeInternetFacing Scheme = "internet-facing"
	SchemeInternal       Scheme = "internal"
)

// IPAddressType is the address family of a load balancer.
type IPAddressType string

// Address families.
const (
	IPAddressTypeIPv4      IPAddressType = "ipv4"
	IPAddressTypeDualStack IPAddressType = "dualstack"
	// IPAddressTypeDualStackWithoutPublicIPv4 serves IPv6 only from the internet (internet-facing load balancers).
	IPAddressTypeDualStackWithoutPublicIPv4 IPAddressType = "dualstack-without-public-ipv4"
)

// Protocol is a listener, target group or health check protocol.
type Protocol string

// Protocols.
const (
	ProtocolHTTP  Protocol = "HTTP"
	ProtocolHTTPS Protocol = "HTTPS"
)

// TargetType says what a target group's targets are.
type TargetType string

// Target types.
const (
	TargetTypeInstance TargetType = "instance"
	TargetTypeIP       TargetType = "ip"
)

// LoadBalancer is the desired state of one load balancer and everything hanging off it.
type LoadBalancer struct {
	// Stack is the ownership key: the provider tags every resource with it and only ever touches resources
	// tagged with it.
	Stack string
	// Name is the load balancer's cloud name, already within the cloud's limits.
	Name          string
	Scheme        Scheme
	IPAddressType IPAddressType
	// Subnets are subnet IDs or names; empty means the provider discovers them.
	Subnets []string
	// SubnetTags select the subnets when Subnets is empty: those carrying every key with one of its values,
	// one per zone.
	SubnetTags map[string][]string `json:",omitempty"`
	// SecurityGroups replace the provider-managed frontend group when set.
	SecurityGroups []string
	// BackendRules, with SecurityGroups, also puts the provider's shared backend group on the load balancer and lets
	// the provider open the targets' security groups to it, as it does for load balancers with a managed frontend.
	BackendRules bool `json:",omitempty"`
	// InboundCIDRs are allowed on the listener ports by the managed frontend group.
	InboundCIDRs []string
	// Tags are user tags; the provider adds its ownership tags on top.
	Tags         map[string]string
	Listeners    []Listener
	TargetGroups []TargetGroup
	// Attributes are load balancer attributes to set (idle_timeout.timeout_seconds, ...); others are left alone.
	Attributes map[string]string `json:",omitempty"`
	// WAFv2ACL is the web ACL to associate: nil leaves any association alone, "" removes it.
	WAFv2ACL *string `json:",omitempty"`
	// ShieldAdvanced turns Shield Advanced protection on or off; nil leaves it alone.
	ShieldAdvanced *bool `json:",omitempty"`
	// WAFv2ACLName names the web ACL to associate, for the provider to resolve; used only when WAFv2ACL is nil.
	WAFv2ACLName string `json:",omitempty"`
	// PrefixLists are managed prefix list IDs allowed on the listener ports by the managed frontend group; with
	// them and no InboundCIDRs, no CIDR is allowed.
	PrefixLists []string `json:",omitempty"`
	// CustomerOwnedIPv4Pool is the customer-owned address pool of a load balancer on an Outpost. The cloud
	// cannot change it in place: a change replaces the load balancer, as a scheme change does.
	CustomerOwnedIPv4Pool string `json:",omitempty"`
	// IPAMIPv4Pool is the IPAM pool the load balancer's IPv4 addresses come from first; "" means none.
	IPAMIPv4Pool string `json:",omitempty"`
	// MinimumCapacityUnits is the load balancer capacity reservation: nil leaves it alone, 0 resets it.
	MinimumCapacityUnits *int32 `json:",omitempty"`
	// ClientSecrets resolve the ClientSecretHash of Authenticate steps; never encoded, so never hashed or recorded.
	ClientSecrets ClientSecrets `json:"-"`
	// AppliedClientSecrets are the ClientSecretHashes the cloud already has: the cloud never returns a client
	// secret, so an Authenticate step whose hash is not among them is written again.
	AppliedClientSecrets map[string]bool `json:"-"`
}

// Listener accepts traffic on one port.
type Listener struct {
	Port     int32
	Protocol Protocol
	// Certificates are certificate IDs (ARNs on AWS); the first is the default certificate.
	Certificates []string
	// CertificateHosts are the host names to find certificates for when Certificates is empty.
	CertificateHosts []string
	SSLPolicy        string
	DefaultAction    Action
	// Rules are evaluated in ascending Priority.
	Rules []Rule
	// Attributes are listener attributes to set (routing.http.response.server.enabled, ...); others are left
	// alone.
	Attributes map[string]string `json:",omitempty"`
	// MutualAuthentication is the listener's client certificate (mTLS) setting; nil leaves it as it is.
	MutualAuthentication *MutualAuthentication `json:",omitempty"`
	// CreateCertificates ask the provider to make, keep and attach a certificate for each request's hosts; until
	// every one is issued the listener is left as it is (or not created), and Ensure reports Pending.
	CreateCertificates []CertificateRequest `json:",omitempty"`
}

// Mutual authentication modes.
const (
	MutualAuthenticationOff         = "off"
	MutualAuthenticationPassthrough = "passthrough"
	MutualAuthenticationVerify      = "verify"
)

// MutualAuthentication says whether and how a listener asks clients for certificates.
type MutualAuthentication struct {
	// Mode is off, passthrough or verify.
	Mode string
	// TrustStore is the trust store that verifies client certificates, by ARN or by name; verify only.
	TrustStore string `json:",omitempty"`
	// IgnoreClientCertificateExpiry accepts expired client certificates; verify only.
	IgnoreClientCertificateExpiry bool `json:",omitempty"`
	// AdvertiseTrustStoreCaNames is "on" to send the trust store's CA names to clients; verify only, "" is off.
	AdvertiseTrustStoreCaNames string `json:",omitempty"`
}

// CertificateRequest is a certificate the provider makes and deletes itself.
type CertificateRequest struct {
	// Hosts are the names the certificate covers; the first is its subject.
	Hosts []string
	// CertificateAuthority is the ID (ARN on AWS) of a private CA to issue it; "" means a public certificate
	// validated through DNS.
	CertificateAuthority string `json:",omitempty"`
}

// Rule routes requests that match all of its conditions.
type Rule struct {
	// Priority orders the rules of a listener; lower wins. Providers keep the order, not the numbers.
	Priority   int32
	Conditions []Condition
	Action     Action
	// Transforms rewrite the request's host header or URL before it is forwarded.
	Transforms []Transform `json:",omitempty"`
}

// TransformType is what a Transform rewrites.
type TransformType string

// Transform types.
const (
	TransformHostHeader TransformType = "host-header-rewrite"
	TransformURL        TransformType = "url-rewrite"
)

// Transform rewrites one part of a request with regular expressions.
type Transform struct {
	Type     TransformType
	Rewrites []Rewrite
}

// Rewrite replaces what Regex matches with Replace, which may refer to capture groups ($1).
type Rewrite struct {
	Regex   string
	Replace string
}

// ConditionType is what a Condition matches on.
type ConditionType string

// Condition types.
const (
	ConditionHost     ConditionType = "host"
	ConditionPath     ConditionType = "path"
	ConditionHeader   ConditionType = "header"
	ConditionQuery    ConditionType = "query"
	ConditionMethod   ConditionType = "method"
	ConditionSourceIP ConditionType = "source-ip"
)

// PathMatch says how a path condition's values match.
type PathMatch string

// Path matches.
const (
	PathExact  PathMatch = "Exact"
	PathPrefix PathMatch = "Prefix"
	// PathPattern values are the cloud's own wildcard patterns, used as they are.
	PathPattern PathMatch = "Pattern"
)

// Condition matches when a request matches any one of Values.
type Condition struct {
	Type      ConditionType
	Values    []string
	PathMatch PathMatch `json:",omitempty"`
	// HeaderName is the header a ConditionHeader matches.
	HeaderName string `json:",omitempty"`
	// Query holds key=value pairs for a ConditionQuery; an empty key matches the value alone.
	Query []QueryMatch `json:",omitempty"`
	// Regex says Values are regular expressions rather than wildcard patterns (host, path and header only).
	Regex bool `json:",omitempty"`
}

// QueryMatch is one query string key and value.
type QueryMatch struct {
	Key   string
	Value string
}

// ActionType is what a rule or listener does with a request.
type ActionType string

// Action types.
const (
	ActionForward       ActionType = "forward"
	ActionRedirect      ActionType = "redirect"
	ActionFixedResponse ActionType = "fixed-response"
)

// Action is one of forward, redirect or fixed response.
type Action struct {
	Type          ActionType
	Forward       []WeightedTargetGroup `json:",omitempty"`
	Redirect      *Redirect             `json:",omitempty"`
	FixedResponse *FixedResponse        `json:",omitempty"`
	// Stickiness keeps a client on the target group it was first forwarded to for this many seconds; 0 is off.
	Stickiness int32 `json:",omitempty"`
	// Authenticate, when set, signs the user in before the action is taken.
	Authenticate *Authenticate `json:",omitempty"`
}

// WeightedTargetGroup is a forward destination, referring to a TargetGroup by ID, or to a target group the
// stack does not own by External.
type WeightedTargetGroup struct {
	TargetGroupID string
	Weight        int32
	// External is the ARN or name of a target group created outside the stack: the provider forwards to it and
	// never creates, modifies, tags or deletes it.
	External string `json:",omitempty"`
}

// Redirect answers with an HTTP redirect. Empty fields keep the request's value.
type Redirect struct {
	Protocol   string `json:",omitempty"`
	Host       string `json:",omitempty"`
	Port       string `json:",omitempty"`
	Path       string `json:",omitempty"`
	Query      string `json:",omitempty"`
	StatusCode int32
}

// FixedResponse answers directly.
type FixedResponse struct {
	StatusCode  int32
	ContentType string `json:",omitempty"`
	Body        string `json:",omitempty"`
}

// TargetGroup is a set of targets behind one port and health check.
type TargetGroup struct {
	// ID is stable across reconciles and unique within the stack; actions refer to it.
	ID          string
	Protocol    Protocol
	Port        int32
	TargetType  TargetType
	HealthCheck HealthCheck
	Tags        map[string]string `json:",omitempty"`
	// Attributes are target group attributes to set (deregistration_delay.timeout_seconds, ...); others are
	// left alone.
	Attributes map[string]string `json:",omitempty"`
	// ProtocolVersion is HTTP2 or GRPC; empty is HTTP1, the cloud's default.
	ProtocolVersion string `json:",omitempty"`
	// IPAddressType is ipv6 for a group of IPv6 targets; empty is ipv4.
	IPAddressType string `json:",omitempty"`
}

// Target group protocol versions and address types besides the defaults.
const (
	ProtocolVersionHTTP2 = "HTTP2"
	ProtocolVersionGRPC  = "GRPC"
	TargetIPv6           = "ipv6"
)

// HealthCheck says how a target group probes its targets.
type HealthCheck struct {
	Protocol Protocol
	// Port is a port number or "traffic-port".
	Port                    string
	Path                    string
	IntervalSeconds         int32
	TimeoutSeconds          int32
	HealthyThresholdCount   int32
	UnhealthyThresholdCount int32
	// SuccessCodes are HTTP codes such as "200" or "200-299" or "200,302".
	SuccessCodes string
	// GRPCCodes are gRPC status codes ("12", "0-99", "0,12") for a GRPC group; when set, they are the matcher and
	// SuccessCodes is unused.
	GRPCCodes string `json:",omitempty"`
}

// Target is one member of a target group: an IP address or an instance ID, on a port.
type Target struct {
	ID   string
	Port int32
}

// TargetState is a target's health as the load balancer sees it.
type TargetState string

// Target states.
const (
	TargetInitial   TargetState = "initial"
	TargetHealthy   TargetState = "healthy"
	TargetUnhealthy TargetState = "unhealthy"
	// TargetUnused is a target the load balancer does not send traffic to and does not health-check: one in an
	// Availability Zone the load balancer does not span, or in a target group no listener or rule uses.
	TargetUnused TargetState = "unused"
	// TargetUnknown covers the cloud's other states (unused, unavailable).
	TargetUnknown TargetState = "unknown"
)

// TargetHealth is one target and its state.
type TargetHealth struct {
	Target Target
	State  TargetState
}

// Status is what a provider observed after converging a load balancer.
type Status struct {
	DNSName string
	// ID is the cloud's identifier of the load balancer (an ARN on AWS).
	ID string
	// Warnings are non-fatal findings (a host with no certificate) for the user to see.
	Warnings []string
	// Pending says the load balancer serves the model but the cloud is still releasing resources it replaced;
	// Ensure should be called again shortly to finish the clean-up.
	Pending bool
	// Certificates are the certificates the provider made for CreateCertificates, issued or not.
	Certificates []CertificateStatus
	// TargetGroups maps each target group's ID in the stack to its cloud ID (an ARN on AWS), the one target syncs
	// register in. A new cloud ID means the group was made anew and its targets must be synced again; an ID
	// missing means unknown, and every apply re-syncs it as before.
	TargetGroups map[string]string `json:",omitempty"`
	// Adopted says what this call adopted from another controller (the AWS Load Balancer Controller) and what it
	// then changed on the adopted stack, for an Event; empty when it adopted nothing.
	Adopted []string `json:",omitempty"`
}

// CertificateStatus is one certificate made for a CertificateRequest.
type CertificateStatus struct {
	Hosts []string
	// ID is the certificate's cloud ID (an ARN on AWS).
	ID string
	// State is the cloud's own status of the certificate (ISSUED, PENDING_VALIDATION, ... on AWS).
	State string
	// Validation are the DNS records that prove control of the hosts, while the certificate awaits them.
	Validation []DNSRecord
}

// DNSRecord is one DNS record to create.
type DNSRecord struct {
	Name  string
	Type  string
	Value string
}
