package ingress

import (
	"strconv"
	"strings"

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
