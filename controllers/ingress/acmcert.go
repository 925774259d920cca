package ingress

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

// Certificates cloudlb requests in ACM for an Ingress, as the AWS Load Balancer Controller does.
const (
	annCreateACMCert = albPrefix + "create-acm-cert"
	annACMPCAARN     = albPrefix + "acm-pca-arn"
)

// pcaARNRE admits an ACM Private CA's ARN in any partition.
var pcaARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:acm-pca:[a-z0-9-]+:[0-9]{12}:certificate-authority/[0-9A-Za-z-]+$`)

// maxCertificateNames is the most names ACM puts on one certificate (its quota's upper bound).
const maxCertificateNames = 100

// certificateRequest reads create-acm-cert and acm-pca-arn: the certificate to make for the Ingress's hosts, or
// nil. As in the AWS Load Balancer Controller, certificates named by certificate-arn (explicit) win and none is
// made, and the hosts are those of the rules and the TLS section, sorted, the first being the subject.
func (a annotations) certificateRequest(ing *networkingv1.Ingress, explicit bool) (*cloud.CertificateRequest, error) {
	create := false
	if v, ok := a[annCreateACMCert]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return nil, a.fail(annCreateACMCert, "want true or false")
		}
		create = b
	}
	ca := strings.TrimSpace(a[annACMPCAARN])
	if _, ok := a[annACMPCAARN]; ok && !pcaARNRE.MatchString(ca) {
		return nil, a.fail(annACMPCAARN, "not the ARN of an ACM Private CA (arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID)")
	}
	if !create || explicit {
		return nil, nil
	}
	hosts := certificateHosts(ing)
	slices.Sort(hosts)
	if len(hosts) == 0 {
		return nil, a.fail(annCreateACMCert, "the Ingress names no host (spec.rules[].host or spec.tls[].hosts) to request a certificate for")
	}
	if len(hosts) > maxCertificateNames {
		return nil, a.fail(annCreateACMCert, "%d hosts: an ACM certificate covers at most %d", len(hosts), maxCertificateNames)
	}
	for _, h := range hosts {
		// Rule hosts are checked by the API server; TLS hosts are not.
		if len(validation.IsDNS1123Subdomain(strings.TrimPrefix(h, "*."))) > 0 {
			return nil, a.fail(annCreateACMCert, "host %q of spec.tls is not a DNS name a certificate can cover", h)
		}
	}
	return &cloud.CertificateRequest{Hosts: hosts, CertificateAuthority: ca}, nil
}

// appendNewRequests appends the requests not yet in to, for members that share a listener.
func appendNewRequests(to []cloud.CertificateRequest, reqs ...cloud.CertificateRequest) []cloud.CertificateRequest {
	for _, r := range reqs {
		if !slices.ContainsFunc(to, func(h cloud.CertificateRequest) bool {
			return h.CertificateAuthority == r.CertificateAuthority && slices.Equal(h.Hosts, r.Hosts)
		}) {
			to = append(to, r)
		}
	}
	return to
}

// certificateRecords are the provider's certificates as the LoadBalancer record shows them.
func certificateRecords(certs []cloud.CertificateStatus) []v1alpha1.CertificateStatus {
	var out []v1alpha1.CertificateStatus
	for _, c := range certs {
		s := v1alpha1.CertificateStatus{Hosts: c.Hosts, ID: c.ID, State: c.State}
		for _, r := range c.Validation {
			s.ValidationRecords = append(s.ValidationRecords, v1alpha1.DNSRecord{Name: r.Name, Type: r.Type, Value: r.Value})
		}
		out = append(out, s)
	}
	return out
}

// certificateEvents are the messages of the Normal Events that tell which DNS records validate a certificate,
// each once: only for records the LoadBalancer record did not show yet.
func certificateEvents(shown []v1alpha1.CertificateStatus, now []cloud.CertificateStatus) []string {
	var out []string
	for _, c := range certificateRecords(now) {
		if len(c.ValidationRecords) == 0 || slices.ContainsFunc(shown, func(s v1alpha1.CertificateStatus) bool {
			return s.ID == c.ID && slices.Equal(s.ValidationRecords, c.ValidationRecords)
		}) {
			continue
		}
		var recs []string
		for _, r := range c.ValidationRecords {
			recs = append(recs, fmt.Sprintf("%s %s %s", r.Name, r.Type, r.Value))
		}
		out = append(out, fmt.Sprintf("certificate %s for %s awaits DNS validation; HTTPS is served once it is issued. Create: %s",
			c.ID, strings.Join(c.Hosts, ", "), strings.Join(recs, "; ")))
	}
	return out
}

// pendingCertificates says which certificates are not issued yet, for the record's Ready condition.
func pendingCertificates(certs []cloud.CertificateStatus) string {
	var out []string
	for _, c := range certs {
		if c.State != "ISSUED" {
			out = append(out, fmt.Sprintf("certificate %s for %s is %s: its HTTPS listeners wait for it", c.ID, strings.Join(c.Hosts, ", "), c.State))
		}
	}
	return strings.Join(out, "; ")
}
