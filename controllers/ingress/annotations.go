package ingress

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cloudlb/cloudlb/cloud"
)

// AWS Load Balancer Controller annotation vocabulary, read as is so that existing manifests work unchanged.
const (
	albPrefix = "alb.ingress.kubernetes.io/"

	annScheme           = albPrefix + "scheme"
	annIPAddressType    = albPrefix + "ip-address-type"
	annLoadBalancerName = albPrefix + "load-balancer-name"
	annListenPorts      = albPrefix + "listen-ports"
	annCertificateARN   = albPrefix + "certificate-arn"
	annSSLPolicy        = albPrefix + "ssl-policy"
	annSubnets          = albPrefix + "subnets"
	annSecurityGroups   = albPrefix + "security-groups"
	annInboundCIDRs     = albPrefix + "inbound-cidrs"
	annTags             = albPrefix + "tags"
	annTargetType       = albPrefix + "target-type"
	annHCPath           = albPrefix + "healthcheck-path"
	annHCPort           = albPrefix + "healthcheck-port"
	annHCProtocol       = albPrefix + "healthcheck-protocol"
	annHCInterval       = albPrefix + "healthcheck-interval-seconds"
	annHCTimeout        = albPrefix + "healthcheck-timeout-seconds"
	annHealthyCount     = albPrefix + "healthy-threshold-count"
	annUnhealthyCount   = albPrefix + "unhealthy-threshold-count"
	annSuccessCodes     = albPrefix + "success-codes"
	annWAFv2ACLARN      = albPrefix + "wafv2-acl-arn"
	annLBAttributes     = albPrefix + "load-balancer-attributes"
	annTGAttributes     = albPrefix + "target-group-attributes"
	annShield           = albPrefix + "shield-advanced-protection"
	annTargetNodeLabels = albPrefix + "target-node-labels"
	annGroupName        = albPrefix + "group.name"
	annGroupOrder       = albPrefix + "group.order"

	// legacyClassAnnotation predates spec.ingressClassName; it is matched against the --ingress-class flag.
	legacyClassAnnotation = "kubernetes.io/ingress.class"
)

// AnnotationError says which annotation is wrong and why. Its text is what the user sees in the Warning Event.
type AnnotationError struct {
	Key    string
	Value  string
	Reason string
}

func (e *AnnotationError) Error() string {
	return fmt.Sprintf("annotation %s=%q: %s", e.Key, e.Value, e.Reason)
}

// annotations reads one Ingress's annotations; every getter returns the default when the key is absent and an
// *AnnotationError when the value does not parse.
type annotations map[string]string

func (a annotations) fail(key, reason string, args ...any) error {
	return &AnnotationError{Key: key, Value: a[key], Reason: fmt.Sprintf(reason, args...)}
}

func (a annotations) oneOf(key, def string, allowed ...string) (string, error) {
	v, ok := a[key]
	if !ok {
		return def, nil
	}
	v = strings.TrimSpace(v)
	for _, x := range allowed {
		if v == x {
			return v, nil
		}
	}
	return "", a.fail(key, "must be one of %s", strings.Join(allowed, ", "))
}

func (a annotations) int32In(key string, def, lo, hi int32) (int32, error) {
	v, ok := a[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil || int32(n) < lo || int32(n) > hi {
		return 0, a.fail(key, "must be an integer from %d to %d", lo, hi)
	}
	return int32(n), nil
}

// list reads a comma-separated list, dropping empty items.
func (a annotations) list(key string) []string {
	var out []string
	for _, s := range strings.Split(a[key], ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// groupNameRE is the AWS Load Balancer Controller's rule for group.name: lower-case alphanumerics, '-' and '.',
// starting and ending with an alphanumeric, at most 63 characters.
var groupNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$`)

// groupName reads group.name: "" for an Ingress that is its own implicit group.
func (a annotations) groupName() (string, error) {
	v, ok := a[annGroupName]
	if !ok {
		return "", nil
	}
	if !groupNameRE.MatchString(v) {
		return "", a.fail(annGroupName, "must be at most 63 lower-case alphanumerics, '-' or '.', starting and ending with an alphanumeric")
	}
	return v, nil
}

// groupOrder reads group.order: members of a group are ordered by it, lowest first, then by namespace/name.
func (a annotations) groupOrder() (int32, error) {
	return a.int32In(annGroupOrder, 0, -1000, 1000)
}

var lbNameRE = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?$`)

func (a annotations) loadBalancerName() (string, error) {
	v, ok := a[annLoadBalancerName]
	if !ok {
		return "", nil
	}
	if !lbNameRE.MatchString(v) || strings.HasPrefix(v, "internal-") {
		return "", a.fail(annLoadBalancerName,
			"must be 1 to 32 alphanumerics or hyphens, not start or end with a hyphen, and not start with internal-")
	}
	return v, nil
}

// certificateARNRE admits ACM and IAM server certificates in any partition (aws, aws-cn, aws-us-gov, ...).
var certificateARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:(acm|iam):\S+$`)

// certificateARNs reads certificate-arn, a comma-separated list whose first entry is the default certificate.
func (a annotations) certificateARNs() ([]string, error) {
	arns := a.list(annCertificateARN)
	for _, arn := range arns {
		if !certificateARNRE.MatchString(arn) {
			return nil, a.fail(annCertificateARN, "%q is not an ACM or IAM certificate ARN", arn)
		}
	}
	return arns, nil
}

// sslPolicyRE is the shape of every predefined ELB security policy name ("ELBSecurityPolicy-TLS13-1-2-2021-06").
var sslPolicyRE = regexp.MustCompile(`^[a-zA-Z0-9-]{1,128}$`)

func (a annotations) sslPolicy() (string, error) {
	v, ok := a[annSSLPolicy]
	if !ok {
		return "", nil
	}
	if v = strings.TrimSpace(v); !sslPolicyRE.MatchString(v) {
		return "", a.fail(annSSLPolicy, "must be a security policy name such as ELBSecurityPolicy-TLS13-1-2-2021-06")
	}
	return v, nil
}

// listenPort is one entry of listen-ports.
type listenPort struct {
	Protocol cloud.Protocol
	Port     int32
}

// listenPorts parses '[{"HTTP": 80}, {"HTTPS": 443}]', as the AWS Load Balancer Controller does: an object may
// name several listeners ('[{"HTTP": 80, "HTTPS": 443}]'), and a port may be a number or a string. hasCerts
// picks the default, as there: HTTPS:443 when the Ingress or its class names certificates, HTTP:80 otherwise.
func (a annotations) listenPorts(hasCerts bool) ([]listenPort, error) {
	v, ok := a[annListenPorts]
	if !ok {
		if hasCerts {
			return []listenPort{{cloud.ProtocolHTTPS, 443}}, nil
		}
		return []listenPort{{cloud.ProtocolHTTP, 80}}, nil
	}
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &entries); err != nil {
		return nil, a.fail(annListenPorts, `must be a JSON list such as [{"HTTP": 80}, {"HTTPS": 443}]`)
	}
	var out []listenPort
	seen := map[int32]cloud.Protocol{}
	for _, e := range entries {
		// Sorted, so that an object naming several ports reports the same error on every reconcile.
		for _, proto := range slices.Sorted(maps.Keys(e)) {
			port, ok := jsonPort(e[proto])
			p := cloud.Protocol(strings.ToUpper(proto))
			switch {
			case p != cloud.ProtocolHTTP && p != cloud.ProtocolHTTPS:
				return nil, a.fail(annListenPorts, "protocol %q must be HTTP or HTTPS", proto)
			case !ok:
				return nil, a.fail(annListenPorts, "port %s must be a number from 1 to 65535", e[proto])
			case seen[port] == p:
				// The same listener twice asks for nothing new.
				continue
			case seen[port] != "":
				return nil, a.fail(annListenPorts, "port %d is listed as both %s and %s", port, seen[port], p)
			}
			seen[port] = p
			out = append(out, listenPort{p, port})
		}
	}
	// Checked after the loop, because [{}] and [null] parse but name no port.
	if len(out) == 0 {
		return nil, a.fail(annListenPorts, "must name at least one port")
	}
	return out, nil
}

// jsonPort reads a port given as a JSON number or string: 443 or "443".
func jsonPort(raw json.RawMessage) (int32, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil || n < 1 || n > 65535 {
		return 0, false
	}
	return int32(n), true
}

// maxUserTags leaves room, within ELBv2's 50 tags per resource, for the ownership tags in cloud/ownership.go.
const maxUserTags = 50 - 3

// tagCharsRE is the characters AWS allows in tag keys and values. Their lengths are counted apart: a bounded
// repeat of these Unicode classes ({1,128}, {0,256}) compiled to about 7.5 MiB of the controller's heap.
var tagCharsRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

// validTag says whether s is between least and most characters, all of them allowed in a tag.
func validTag(s string, least, most int) bool {
	n := utf8.RuneCountInString(s)
	return n >= least && n <= most && tagCharsRE.MatchString(s)
}

// ReservedTagKey says whether a tag key is under cloudlb's prefix (its ownership tags) or AWS's, which no
// Ingress, class or flag may set: a user could otherwise forge or strip ownership.
func ReservedTagKey(k string) bool {
	return strings.HasPrefix(k, "cloudlb.io/") || strings.HasPrefix(strings.ToLower(k), "aws:")
}

// tags parses "k1=v1,k2=v2". Keys under the provider's own prefixes are refused so that a user cannot forge or
// strip ownership.
func (a annotations) tags() (map[string]string, error) {
	pairs, bad := KeyValues(a[annTags])
	if bad != "" {
		return nil, a.fail(annTags, "tag %q is not a valid key=value pair", bad)
	}
	if len(pairs) == 0 {
		return nil, nil
	}
	if len(pairs) > maxUserTags {
		return nil, a.fail(annTags, "has %d tags, more than the %d allowed", len(pairs), maxUserTags)
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		switch {
		case !validTag(p.Key, 1, 128) || !validTag(p.Value, 0, 256):
			return nil, a.fail(annTags, "tag %q is not a valid key=value pair", p.Item)
		case ReservedTagKey(p.Key):
			return nil, a.fail(annTags, "tag key %q uses a reserved prefix", p.Key)
		}
		out[p.Key] = p.Value
	}
	return out, nil
}

var successCodesRE = regexp.MustCompile(`^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$`)

// healthCheck reads the health check of a target group of protocol proto and version (backends.go): its
// protocol defaults to proto, and a GRPC group's path and codes to LBC's gRPC defaults. A named port is kept as
// a name, for the backend's Service to resolve.
func (a annotations) healthCheck(proto cloud.Protocol, version string) (cloud.HealthCheck, error) {
	hc := cloud.HealthCheck{Port: "traffic-port", Path: "/", SuccessCodes: "200"}
	if version == cloud.ProtocolVersionGRPC {
		hc = cloud.HealthCheck{Port: "traffic-port", Path: grpcHealthCheckPath, GRPCCodes: "12"}
	}
	hcProto, err := a.oneOf(annHCProtocol, string(proto), "HTTP", "HTTPS")
	if err != nil {
		return hc, err
	}
	hc.Protocol = cloud.Protocol(hcProto)
	if v, ok := a[annHCPath]; ok {
		if !strings.HasPrefix(v, "/") || len(v) > 1024 {
			return hc, a.fail(annHCPath, "must start with / and be at most 1024 characters")
		}
		hc.Path = v
	}
	if v, ok := a[annHCPort]; ok && v != "traffic-port" {
		n, perr := strconv.Atoi(v)
		switch {
		case perr != nil && len(validation.IsValidPortName(v)) == 0:
			hc.Port = v
		case perr != nil || n < 1 || n > 65535:
			return hc, a.fail(annHCPort, "must be traffic-port, a port from 1 to 65535 or the name of a port of the Service")
		default:
			// Atoi accepts "+80" and "080", which the cloud does not: pass on the canonical form.
			hc.Port = strconv.Itoa(n)
		}
	}
	if hc.IntervalSeconds, err = a.int32In(annHCInterval, 15, 5, 300); err != nil {
		return hc, err
	}
	if hc.TimeoutSeconds, err = a.int32In(annHCTimeout, 5, 2, 120); err != nil {
		return hc, err
	}
	if hc.TimeoutSeconds >= hc.IntervalSeconds {
		// Blame the annotation the user wrote: with the default timeout, a short interval is the mistake.
		if _, ok := a[annHCTimeout]; ok {
			return hc, a.fail(annHCTimeout, "must be less than the interval (%d s)", hc.IntervalSeconds)
		}
		return hc, a.fail(annHCInterval, "must be more than the timeout (%d s)", hc.TimeoutSeconds)
	}
	if hc.HealthyThresholdCount, err = a.int32In(annHealthyCount, 2, 2, 10); err != nil {
		return hc, err
	}
	if hc.UnhealthyThresholdCount, err = a.int32In(annUnhealthyCount, 2, 2, 10); err != nil {
		return hc, err
	}
	if v, ok := a[annSuccessCodes]; ok && version == cloud.ProtocolVersionGRPC {
		if hc.GRPCCodes, err = a.grpcCodes(); err != nil {
			return hc, err
		}
	} else if ok {
		v = strings.ReplaceAll(v, " ", "")
		if !successCodesRE.MatchString(v) || !successCodesInRange(v) {
			return hc, a.fail(annSuccessCodes, `must be HTTP codes from 200 to 499 such as "200", "200,302" or "200-299"`)
		}
		hc.SuccessCodes = v
	}
	return hc, nil
}

// successCodesInRange checks a matcher that successCodesRE accepted against what an ALB allows: codes 200 to 499,
// ranges low to high.
func successCodesInRange(v string) bool {
	for _, item := range strings.Split(v, ",") {
		lo, hi, isRange := strings.Cut(item, "-")
		if !isRange {
			hi = lo
		}
		l, _ := strconv.Atoi(lo)
		h, _ := strconv.Atoi(hi)
		if l < 200 || h > 499 || l > h {
			return false
		}
	}
	return true
}

// wafv2ACL reads wafv2-acl-arn: an ARN to associate, "none" to remove any association, or absent to leave the
// association alone.
func (a annotations) wafv2ACL() (string, error) {
	v, ok := a[annWAFv2ACLARN]
	if !ok {
		return "", nil
	}
	v = strings.TrimSpace(v)
	if v != "none" && (!strings.HasPrefix(v, "arn:") || !strings.Contains(v, ":wafv2:")) {
		return "", a.fail(annWAFv2ACLARN, "must be a WAFv2 web ACL ARN or none")
	}
	return v, nil
}

// KeyValue is one item of a key=value list: its key and value trimmed, and the item as written, for errors.
type KeyValue struct{ Key, Value, Item string }

// KeyValues reads "key=value,key2=value2", as every key=value list of cloudlb is read (annotations, class
// values, flags), and as the AWS Load Balancer Controller reads its key=value annotations: items split at
// commas, keys and values trimmed, empty items skipped, a key's last value winning (KeyValueMap). bad is the
// first item without = or with an empty key; pairs is nil then.
func KeyValues(s string) (pairs []KeyValue, bad string) {
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if k = strings.TrimSpace(k); !ok || k == "" {
			return nil, item
		}
		pairs = append(pairs, KeyValue{Key: k, Value: strings.TrimSpace(v), Item: item})
	}
	return pairs, ""
}

// KeyValueMap is pairs by key, the last of a key winning; nil for none.
func KeyValueMap(pairs []KeyValue) map[string]string {
	if len(pairs) == 0 {
		return nil
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		out[p.Key] = p.Value
	}
	return out
}

// keyValues reads annotation key as a key=value list, refusing any pair that valid rejects; what names a pair in
// the error.
func (a annotations) keyValues(key, what string, valid func(k, v string) bool) (map[string]string, error) {
	pairs, bad := KeyValues(a[key])
	if bad != "" {
		return nil, a.fail(key, "%q is not %s", bad, what)
	}
	for _, p := range pairs {
		if !valid(p.Key, p.Value) {
			return nil, a.fail(key, "%q is not %s", p.Item, what)
		}
	}
	return KeyValueMap(pairs), nil
}

// nodeSelector reads target-node-labels.
func (a annotations) nodeSelector() (map[string]string, error) {
	return a.keyValues(annTargetNodeLabels, "a label key=value", func(k, v string) bool {
		return len(validation.IsQualifiedName(k)) == 0 && len(validation.IsValidLabelValue(v)) == 0
	})
}

var attributeKeyRE = regexp.MustCompile(`^[a-z0-9_.]{1,256}$`)

// attributes reads load-balancer-attributes or target-group-attributes. AWS checks the keys and values it
// knows; this only refuses what could never be an attribute.
func (a annotations) attributes(key string) (map[string]string, error) {
	return a.keyValues(key, "an attribute key=value", func(k, v string) bool {
		return attributeKeyRE.MatchString(k) && v != "" && len(v) <= 1024
	})
}
