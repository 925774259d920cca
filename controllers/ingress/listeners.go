package ingress

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/cloud"
)

// Listener annotations of the AWS Load Balancer Controller beyond listen-ports, certificates and ssl-policy.
const (
	annSSLRedirect = albPrefix + "ssl-redirect"
)

// sslRedirect reads ssl-redirect, the HTTPS port that every HTTP listener of the group redirects to: "" when
// absent, else the port in canonical form, so that members writing "443" and " 443" agree.
func (a annotations) sslRedirect() (string, error) {
	v, ok := a[annSSLRedirect]
	if !ok {
		return "", nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil || n < 1 || n > 65535 {
		return "", a.fail(annSSLRedirect, "must be the port of an HTTPS listener, from 1 to 65535")
	}
	return strconv.FormatInt(n, 10), nil
}

// sslRedirectTarget checks that port, the value of ssl-redirect, is an HTTPS listener among listeners: a
// redirect to a port that does not serve HTTPS would send every HTTP client nowhere.
func sslRedirectTarget(port string, listeners map[int32]cloud.Protocol) error {
	n, _ := strconv.ParseInt(port, 10, 32)
	switch p, ok := listeners[int32(n)]; {
	case !ok:
		return &AnnotationError{Key: annSSLRedirect, Value: port, Reason: "no listener of the load balancer listens on this port " +
			"(ssl-redirect, or the class's sslRedirectPort, must name an HTTPS port of listen-ports)"}
	case p != cloud.ProtocolHTTPS:
		return &AnnotationError{Key: annSSLRedirect, Value: port, Reason: "the listener on this port is " + string(p) + ", not HTTPS " +
			"(ssl-redirect, or the class's sslRedirectPort, must name an HTTPS port of listen-ports)"}
	}
	return nil
}

// sslRedirectAction is what an HTTP listener does under ssl-redirect, as in the AWS Load Balancer Controller:
// a permanent redirect to HTTPS on port, keeping the host, path and query (the provider's defaults).
func sslRedirectAction(port string) cloud.Action {
	return cloud.Action{Type: cloud.ActionRedirect, Redirect: &cloud.Redirect{Protocol: string(cloud.ProtocolHTTPS), Port: port, StatusCode: 301}}
}

// listenerSettings reads the listener annotations beyond listen-ports onto the member's listeners.
func (a annotations) listenerSettings(own annotations, listeners []cloud.Listener) error {
	if err := a.listenerAttributes(own, listeners); err != nil {
		return err
	}
	return a.mutualAuthentication(listeners)
}

// annListenerAttributes prefixes listener-attributes.${Protocol}-${Port}: the attributes of one listener.
const annListenerAttributes = albPrefix + "listener-attributes."

var listenerKeyRE = regexp.MustCompile(`^(HTTP|HTTPS)-([0-9]{1,5})$`)

// listenerAttributes reads every listener-attributes.${Protocol}-${Port} key into the attributes of the
// member's listener on that protocol and port. A key the Ingress itself carries must name one of its listeners:
// attributes it asks for would otherwise be dropped. One that only its class sets (IngressClassParams
// listeners) applies where the Ingress has that listener, as a class sets policy for listeners that exist.
func (a annotations) listenerAttributes(own annotations, listeners []cloud.Listener) error {
	for _, key := range slices.Sorted(maps.Keys(a)) {
		suffix, ok := strings.CutPrefix(key, annListenerAttributes)
		if !ok {
			continue
		}
		m := listenerKeyRE.FindStringSubmatch(suffix)
		if m == nil {
			return a.fail(key, "the key must end in HTTP-<port> or HTTPS-<port>, e.g. %sHTTPS-443", annListenerAttributes)
		}
		attrs, err := a.attributes(key)
		if err != nil {
			return err
		}
		port, _ := strconv.Atoi(m[2])
		i := slices.IndexFunc(listeners, func(l cloud.Listener) bool { return string(l.Protocol) == m[1] && int(l.Port) == port })
		switch _, asked := own[key]; {
		case i < 0 && asked:
			return a.fail(key, "this Ingress has no %s listener on port %d: add it to listen-ports", m[1], port)
		case i < 0 || len(attrs) == 0:
			continue
		}
		listeners[i].Attributes = attrs
	}
	return nil
}

// listenerConflicts refuses a member whose listener l sets a listener setting differently from h, the group's
// listener on the same port, which the member other set.
func listenerConflicts(l, h cloud.Listener, other types.NamespacedName, conflict func(what, mine, theirs string, other types.NamespacedName) error) error {
	for _, k := range slices.Sorted(maps.Keys(l.Attributes)) {
		if v, ok := h.Attributes[k]; ok && v != l.Attributes[k] {
			return conflict(fmt.Sprintf("annotation %s%s-%d key %s", annListenerAttributes, l.Protocol, l.Port, k), l.Attributes[k], v, other)
		}
	}
	if l.MutualAuthentication != nil && h.MutualAuthentication != nil && *l.MutualAuthentication != *h.MutualAuthentication {
		return conflict(fmt.Sprintf("annotation %s on port %d", annMutualAuthentication, l.Port),
			fmt.Sprintf("%+v", *l.MutualAuthentication), fmt.Sprintf("%+v", *h.MutualAuthentication), other)
	}
	return nil
}

// mergeListener adds to h, the group's listener, the listener settings of a member's listener l on the same
// port, which listenerConflicts found to agree.
func mergeListener(h, l cloud.Listener) cloud.Listener {
	if len(l.Attributes) > 0 {
		attrs := maps.Clone(h.Attributes)
		if attrs == nil {
			attrs = map[string]string{}
		}
		maps.Copy(attrs, l.Attributes)
		h.Attributes = attrs
	}
	if h.MutualAuthentication == nil {
		h.MutualAuthentication = l.MutualAuthentication
	}
	return h
}

// listenerGroupWide sums up the listener settings a group must agree on, for member.groupWide.
func listenerGroupWide(l cloud.Listener) string {
	var b strings.Builder
	if len(l.Attributes) > 0 {
		fmt.Fprintf(&b, "/%v", l.Attributes)
	}
	if l.MutualAuthentication != nil {
		fmt.Fprintf(&b, "/%+v", *l.MutualAuthentication)
	}
	return b.String()
}

// classListenerAttributes turns IngressClassParams listeners into the listener-attributes annotations they stand
// for, by key; entries for the same listener add up.
func classListenerAttributes(ls []elbv2.Listener, fail func(field, reason, event string, args ...any) error) (map[string][]pair, error) {
	out := map[string][]pair{}
	for _, l := range ls {
		if (l.Protocol != elbv2.ListenerProtocolHTTP && l.Protocol != elbv2.ListenerProtocolHTTPS) || l.Port < 1 || l.Port > 65535 {
			return nil, fail("listeners", "%s-%d: a listener is HTTP or HTTPS on a port from 1 to 65535", reasonParamsInvalid, l.Protocol, l.Port)
		}
		key := fmt.Sprintf("%s%s-%d", annListenerAttributes, l.Protocol, l.Port)
		for _, at := range l.ListenerAttributes {
			out[key] = append(out[key], pair{at.Key, at.Value})
		}
	}
	return out, nil
}

// annMutualAuthentication is the mTLS setting of HTTPS listeners, a JSON list with one entry per port.
const annMutualAuthentication = albPrefix + "mutual-authentication"

// mtlsEntry is one entry of mutual-authentication. JSON field names match in any case, as LBC reads them.
type mtlsEntry struct {
	Port                          json.RawMessage `json:"port"`
	Mode                          string          `json:"mode"`
	TrustStore                    *string         `json:"trustStore"`
	IgnoreClientCertificateExpiry *bool           `json:"ignoreClientCertificateExpiry"`
	AdvertiseTrustStoreCaNames    *string         `json:"advertiseTrustStoreCaNames"`
}

// mutualAuthentication reads mutual-authentication onto the member's HTTPS listeners, with the rules of the AWS
// Load Balancer Controller: mode off, passthrough or verify; a trust store (ARN or name) with verify only, and
// required there; ignoreClientCertificateExpiry and advertiseTrustStoreCaNames ("on" or "off") with verify only.
// Each port must be one of the Ingress's HTTPS listeners, as LBC documents.
func (a annotations) mutualAuthentication(listeners []cloud.Listener) error {
	v, ok := a[annMutualAuthentication]
	if !ok {
		return nil
	}
	var entries []mtlsEntry
	if err := json.Unmarshal([]byte(v), &entries); err != nil {
		return a.fail(annMutualAuthentication, `must be a JSON list such as [{"port": 443, "mode": "verify", "trustStore": "my-store"}]`)
	}
	if len(entries) == 0 {
		return a.fail(annMutualAuthentication, "must name at least one port")
	}
	seen := map[int32]bool{}
	for _, e := range entries {
		port, ok := jsonPort(e.Port)
		if !ok {
			return a.fail(annMutualAuthentication, "port %s must be a number from 1 to 65535", e.Port)
		}
		i := slices.IndexFunc(listeners, func(l cloud.Listener) bool { return l.Port == port && l.Protocol == cloud.ProtocolHTTPS })
		switch {
		case seen[port]:
			return a.fail(annMutualAuthentication, "port %d is listed twice", port)
		case i < 0:
			return a.fail(annMutualAuthentication, "port %d is not an HTTPS port of listen-ports", port)
		}
		seen[port] = true
		m := &cloud.MutualAuthentication{Mode: e.Mode}
		verify := e.Mode == cloud.MutualAuthenticationVerify
		switch {
		case e.Mode != cloud.MutualAuthenticationOff && e.Mode != cloud.MutualAuthenticationPassthrough && !verify:
			return a.fail(annMutualAuthentication, "port %d: mode must be off, passthrough or verify", port)
		case verify && strings.TrimSpace(ptr.Deref(e.TrustStore, "")) == "":
			return a.fail(annMutualAuthentication, "port %d: mode verify needs a trustStore (an ARN or a name)", port)
		case !verify && (e.TrustStore != nil || e.IgnoreClientCertificateExpiry != nil || e.AdvertiseTrustStoreCaNames != nil):
			return a.fail(annMutualAuthentication, "port %d: trustStore, ignoreClientCertificateExpiry and advertiseTrustStoreCaNames go with mode verify only", port)
		case e.AdvertiseTrustStoreCaNames != nil && *e.AdvertiseTrustStoreCaNames != "on" && *e.AdvertiseTrustStoreCaNames != "off":
			return a.fail(annMutualAuthentication, "port %d: advertiseTrustStoreCaNames must be on or off", port)
		}
		if verify {
			m.TrustStore = strings.TrimSpace(*e.TrustStore)
			m.IgnoreClientCertificateExpiry = ptr.Deref(e.IgnoreClientCertificateExpiry, false)
			if ptr.Deref(e.AdvertiseTrustStoreCaNames, "") == "on" {
				m.AdvertiseTrustStoreCaNames = "on"
			}
		}
		listeners[i].MutualAuthentication = m
	}
	return nil
}

// tlsWithoutHTTPS warns about an Ingress whose spec.tls asks for TLS that the load balancer does not serve: as in
// the AWS Load Balancer Controller, spec.tls alone does not make HTTPS the default listener.
func tlsWithoutHTTPS(a annotations, ing *networkingv1.Ingress, ports []listenPort) string {
	if len(ing.Spec.TLS) == 0 || slices.ContainsFunc(ports, func(p listenPort) bool { return p.Protocol == cloud.ProtocolHTTPS }) {
		return ""
	}
	if _, ok := a[annListenPorts]; ok {
		return ""
	}
	return fmt.Sprintf("spec.tls is set but the load balancer listens on HTTP:80 only: as with the AWS Load Balancer Controller, HTTPS "+
		"needs %s or %s such as [{\"HTTPS\": 443}] (certificates are then found by host)", annCertificateARN, annListenPorts)
}

// keepsOldTLSDefault says whether ing, which relies on the listen-ports default with spec.tls but no named
// certificate, was applied with the HTTPS:443 listener that cloudlb's default gave such an Ingress before it
// followed the AWS Load Balancer Controller's (HTTP:80). Switching it would drop its HTTPS traffic on upgrade, so
// it keeps HTTPS:443 (with a Warning) until its manifest says which listeners it wants.
func keepsOldTLSDefault(in Input, ing *networkingv1.Ingress, a annotations, ports []listenPort) bool {
	if len(ing.Spec.TLS) == 0 || len(ports) != 1 || ports[0] != (listenPort{cloud.ProtocolHTTP, 80}) {
		return false
	}
	if _, ok := a[annListenPorts]; ok {
		return false
	}
	kept := in.keptMember(types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name})
	if kept == nil || len(kept.listeners) != 1 {
		return false
	}
	l := kept.listeners[0]
	return l.Port == 443 && l.Protocol == cloud.ProtocolHTTPS
}
