package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// Certificates cloudlb requests itself (cloud.Listener.CreateCertificates). Each request is one ACM certificate
// tagged with the stack's ownership tags and, as its cloudlb.io/resource, a key of its hosts and CA: a change of
// hosts is a new key, so a new certificate, attached once issued, before the old one is detached and deleted.

// resourceTypeCert is the tagging API's type of an ACM certificate.
const resourceTypeCert = "acm:certificate"

func isCertARN(arn string) bool {
	return strings.Contains(arn, ":certificate/") && strings.Contains(arn, ":acm:")
}

// certificateKey names a request among the stack's certificates.
func certificateKey(r cloud.CertificateRequest) string {
	sum := sha256.Sum256([]byte(strings.Join(r.Hosts, ",") + "\x00" + r.CertificateAuthority))
	return "certificate/" + hex.EncodeToString(sum[:8])
}

// madeCerts remembers the certificates this process requested, by stack, which the eventually consistent tagging
// API may not list yet: without it a second Ensure could request a duplicate once the idempotency token expired.
type madeCerts struct {
	mu sync.Mutex
	m  map[string]map[string]string // stack -> ARN -> key
}

func (c *madeCerts) add(stack, arn, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]map[string]string{}
	}
	if c.m[stack] == nil {
		c.m[stack] = map[string]string{}
	}
	c.m[stack][arn] = key
}

func (c *madeCerts) of(stack string) map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]string{}
	for arn, key := range c.m[stack] {
		out[arn] = key
	}
	return out
}

func (c *madeCerts) forget(stack, arn string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m[stack], arn)
}

// certCandidates are the stack's certificates by ARN with their keys: those the tagging API lists and those this
// process made.
func (p *Provider) certCandidates(stack string, a *actual) map[string]string {
	out := p.madeCerts.of(stack)
	for arn, tags := range a.certs {
		out[arn] = tags[cloud.TagResource]
	}
	return out
}

// ensureCertificates finds or requests the certificate of every request of the HTTPS listeners, gives each listener
// the issued ones, and holds (leaves as it is, or does not create) a listener while any of its own is not issued:
// it keeps serving with the certificates it has, and never serves HTTPS without the one asked for. It returns the
// certificates' states and the ARNs in use.
func (p *Provider) ensureCertificates(ctx context.Context, d *desired, a *actual) ([]cloud.CertificateStatus, map[string]bool, bool, []string, error) {
	var statuses []cloud.CertificateStatus
	var warnings []string
	inUse := map[string]bool{}
	pending := false
	done := map[string]cloud.CertificateStatus{}
	candidates := p.certCandidates(d.lb.Stack, a)
	for i := range d.listeners {
		dl := &d.listeners[i]
		if dl.Protocol != cloud.ProtocolHTTPS || len(dl.CreateCertificates) == 0 {
			continue
		}
		var issued []string
		ready := true
		for _, req := range dl.CreateCertificates {
			key := certificateKey(req)
			st, ok := done[key]
			if !ok {
				var err error
				if st, err = p.ensureCertificate(ctx, d, req, key, candidates, a.certs); err != nil {
					return nil, nil, false, nil, err
				}
				done[key] = st
				statuses = append(statuses, st)
				switch st.State {
				case string(acmtypes.CertificateStatusIssued):
				case string(acmtypes.CertificateStatusPendingValidation):
					pending = true
				default:
					warnings = append(warnings, fmt.Sprintf("certificate %s for %s is %s and will not be issued: delete it in ACM "+
						"for cloudlb to request a new one", st.ID, strings.Join(st.Hosts, ", "), st.State))
				}
			}
			inUse[st.ID] = true
			if st.State == string(acmtypes.CertificateStatusIssued) {
				issued = append(issued, st.ID)
			} else {
				ready = false
			}
		}
		for _, arn := range issued {
			if !slices.Contains(dl.certs, arn) {
				dl.certs = append(dl.certs, arn)
			}
		}
		if !ready {
			dl.hold = true
		}
	}
	return statuses, inUse, pending, warnings, nil
}

// ensureCertificate returns the stack's certificate for req, requesting it when the stack has none, and keeps
// its tags in step (listed are the tags the tagging API lists, by ARN).
func (p *Provider) ensureCertificate(ctx context.Context, d *desired, req cloud.CertificateRequest, key string, candidates map[string]string,
	listed map[string]tagSet) (cloud.CertificateStatus, error) {
	var arns []string
	for arn, k := range candidates {
		if k == cloud.TagValue(key) {
			arns = append(arns, arn)
		}
	}
	slices.Sort(arns)
	for _, arn := range arns {
		out, err := p.c.ACM.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: ptr(arn)})
		if hasCode(err, "ResourceNotFoundException") {
			// Deleted, while the tagging API still lists it.
			p.madeCerts.forget(d.lb.Stack, arn)
			continue
		}
		if err != nil {
			return cloud.CertificateStatus{}, classify(err)
		}
		if err := p.syncCertificateTags(ctx, d, arn, key, listed[arn]); err != nil {
			return cloud.CertificateStatus{}, err
		}
		return certificateStatus(req, out.Certificate), nil
	}
	in := &acm.RequestCertificateInput{
		DomainName: ptr(req.Hosts[0]),
		// Within an hour AWS answers a repeated token with the same certificate, so that a crash between this call
		// and the tagging API listing its result makes no second certificate.
		IdempotencyToken: ptr(p.certificateToken(d.lb.Stack, key)),
	}
	if len(req.Hosts) > 1 {
		in.SubjectAlternativeNames = req.Hosts
	}
	if req.CertificateAuthority != "" {
		in.CertificateAuthorityArn = ptr(req.CertificateAuthority)
	} else {
		in.ValidationMethod = acmtypes.ValidationMethodDns
	}
	tags := p.tagsFor(d.lb.Tags, d.lb.Stack, key)
	for _, k := range sortedKeys(tags) {
		in.Tags = append(in.Tags, acmtypes.Tag{Key: ptr(k), Value: ptr(tags[k])})
	}
	if rec := planning(ctx); rec != nil {
		// Requested now, a certificate awaits validation: the listener it is for is held, as it will be.
		rec.add(cloud.Change{Action: cloud.ActionCreate, Kind: kindCert, Resource: strings.Join(req.Hosts, ","), New: orDefault(req.CertificateAuthority, "DNS validation")})
		return cloud.CertificateStatus{Hosts: req.Hosts, State: string(acmtypes.CertificateStatusPendingValidation)}, nil
	}
	out, err := p.c.ACM.RequestCertificate(ctx, in)
	if err != nil {
		return cloud.CertificateStatus{}, classify(fmt.Errorf("requesting a certificate for %s: %w", strings.Join(req.Hosts, ", "), err))
	}
	arn := deref(out.CertificateArn)
	p.madeCerts.add(d.lb.Stack, arn, cloud.TagValue(key))
	desc, err := p.c.ACM.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: ptr(arn)})
	if hasCode(err, "ResourceNotFoundException") {
		// The token of a request for the same hosts, within the hour, whose certificate was deleted since (hosts
		// changed and changed back): AWS keeps answering with it until the hour is over.
		p.madeCerts.forget(d.lb.Stack, arn)
		return cloud.CertificateStatus{}, cloud.Errorf(cloud.KindPending, "ACM answers the request for %s with %s, deleted since: "+
			"a new certificate is requested once the request's idempotency token expires (an hour)", strings.Join(req.Hosts, ", "), arn)
	}
	if err != nil {
		return cloud.CertificateStatus{}, classify(err)
	}
	return certificateStatus(req, desc.Certificate), nil
}

// certificateToken is the request's idempotency token: at most 32 word characters, one per stack and request.
func (p *Provider) certificateToken(stack, key string) string {
	sum := sha256.Sum256([]byte(p.opts.ClusterID + "\x00" + stack + "\x00" + key))
	return hex.EncodeToString(sum[:16])
}

func certificateStatus(req cloud.CertificateRequest, c *acmtypes.CertificateDetail) cloud.CertificateStatus {
	st := cloud.CertificateStatus{Hosts: req.Hosts}
	if c == nil {
		return st
	}
	st.ID, st.State = deref(c.CertificateArn), string(c.Status)
	if c.Status != acmtypes.CertificateStatusPendingValidation {
		return st
	}
	// ACM fills the records in a few seconds after the request; until then there are none to show.
	for _, o := range c.DomainValidationOptions {
		if r := o.ResourceRecord; r != nil && o.ValidationStatus != acmtypes.DomainStatusSuccess {
			rec := cloud.DNSRecord{Name: deref(r.Name), Type: string(r.Type), Value: deref(r.Value)}
			if !slices.Contains(st.Validation, rec) {
				st.Validation = append(st.Validation, rec)
			}
		}
	}
	return st
}

// deleteCertificates deletes the stack's certificates that are not in use, each only once its tags, read right
// before, show it is this cluster's and this stack's. It returns those still attached somewhere (AWS refuses to
// delete them then): the caller tries again later, and never detaches them by force.
func (p *Provider) deleteCertificates(ctx context.Context, stack string, a *actual, inUse map[string]bool) ([]string, error) {
	var blocked []string
	for _, arn := range sortedKeys(p.certCandidates(stack, a)) {
		if inUse[arn] {
			continue
		}
		out, err := p.c.ACM.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: ptr(arn)})
		if hasCode(err, "ResourceNotFoundException") {
			p.madeCerts.forget(stack, arn)
			continue
		}
		if err != nil {
			return nil, classify(err)
		}
		tags := tagSet{}
		for _, t := range out.Tags {
			tags[deref(t.Key)] = deref(t.Value)
		}
		if !p.owns(tags, stack) {
			continue
		}
		if rec := planning(ctx); rec != nil {
			rec.add(cloud.Change{Action: cloud.ActionDelete, Kind: kindCert, Resource: arn})
			continue
		}
		_, err = p.c.ACM.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: ptr(arn)})
		switch {
		case hasCode(err, "ResourceInUseException"):
			blocked = append(blocked, arn)
		case hasCode(err, "ResourceNotFoundException"), err == nil:
			p.madeCerts.forget(stack, arn)
		default:
			return nil, classify(err)
		}
	}
	return blocked, nil
}
