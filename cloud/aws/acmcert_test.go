package aws_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

// stubACM is moto's ACM with two rules of AWS that moto does not keep: a requested public certificate stays
// PENDING_VALIDATION until its DNS records exist (here: until validate), and a certificate attached to any
// listener cannot be deleted (ResourceInUseException).
type stubACM struct {
	cloudaws.ACM
	mu        sync.Mutex
	validated map[string]bool
	requested map[string]bool
}

func (s *stubACM) validate(arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.validated[arn] = true
}

func (s *stubACM) RequestCertificate(ctx context.Context, in *acm.RequestCertificateInput, o ...func(*acm.Options)) (*acm.RequestCertificateOutput, error) {
	out, err := s.ACM.RequestCertificate(ctx, in, o...)
	if err == nil {
		s.mu.Lock()
		s.requested[aws.ToString(out.CertificateArn)] = in.CertificateAuthorityArn == nil
		s.mu.Unlock()
	}
	return out, err
}

func (s *stubACM) DescribeCertificate(ctx context.Context, in *acm.DescribeCertificateInput, o ...func(*acm.Options)) (*acm.DescribeCertificateOutput, error) {
	out, err := s.ACM.DescribeCertificate(ctx, in, o...)
	if err != nil {
		return out, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	arn := aws.ToString(in.CertificateArn)
	if s.requested[arn] && !s.validated[arn] {
		out.Certificate.Status = acmtypes.CertificateStatusPendingValidation
		for i := range out.Certificate.DomainValidationOptions {
			out.Certificate.DomainValidationOptions[i].ValidationStatus = acmtypes.DomainStatusPendingValidation
		}
	}
	return out, nil
}

func (s *stubACM) DeleteCertificate(ctx context.Context, in *acm.DeleteCertificateInput, o ...func(*acm.Options)) (*acm.DeleteCertificateOutput, error) {
	if certificateAttached(ctx, aws.ToString(in.CertificateArn)) {
		return nil, &smithy.GenericAPIError{Code: "ResourceInUseException", Message: "certificate is in use"}
	}
	return s.ACM.DeleteCertificate(ctx, in, o...)
}

// certificateAttached reports whether any listener in moto serves arn.
func certificateAttached(ctx context.Context, arn string) bool {
	GinkgoHelper()
	lbs, err := elbc.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
	Expect(err).NotTo(HaveOccurred())
	for _, lb := range lbs.LoadBalancers {
		for _, l := range listenersOf(aws.ToString(lb.LoadBalancerArn)) {
			if slices.Contains(listenerCertificates(aws.ToString(l.ListenerArn)), arn) {
				return true
			}
		}
	}
	return false
}

func certificateExists(arn string) bool {
	GinkgoHelper()
	_, err := acmc.DescribeCertificate(context.Background(), &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "ResourceNotFoundException" {
		return false
	}
	Expect(err).NotTo(HaveOccurred())
	return true
}

func certificateTags(arn string) map[string]string {
	GinkgoHelper()
	out, err := acmc.ListTagsForCertificate(context.Background(), &acm.ListTagsForCertificateInput{CertificateArn: aws.String(arn)})
	Expect(err).NotTo(HaveOccurred())
	tags := map[string]string{}
	for _, t := range out.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags
}

// withCreatedCertificate adds to lb an HTTPS listener on 443 with the rules of its HTTP listener and a certificate
// to make for hosts.
func withCreatedCertificate(lb *cloud.LoadBalancer, ca string, hosts ...string) *cloud.LoadBalancer {
	https := lb.Listeners[0]
	https.Port, https.Protocol = 443, cloud.ProtocolHTTPS
	https.CreateCertificates = []cloud.CertificateRequest{{Hosts: hosts, CertificateAuthority: ca}}
	lb.Listeners = append(lb.Listeners, https)
	return lb
}

var _ = Describe("Created certificates", func() {
	var (
		ctx     context.Context
		counter *test.CallCounter
		stub    *stubACM
	)
	const stack = "default/web"

	provider := func() *cloudaws.Provider {
		c := motoClients(counter.Middleware)
		stub.ACM = c.ACM
		c.ACM = stub
		return cloudaws.New(c, providerOptions())
	}

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		stub = &stubACM{validated: map[string]bool{}, requested: map[string]bool{}}
	})

	ensure := func(p *cloudaws.Provider, lb *cloud.LoadBalancer) cloud.Status {
		GinkgoHelper()
		st, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		return st
	}

	It("requests one tagged certificate, serves no HTTPS until it is issued, then attaches it", func() {
		p := provider()
		lb := withCreatedCertificate(model(stack, "/a"), "", "a.example.com", "b.example.com")
		st := ensure(p, lb)
		Expect(st.Pending).To(BeTrue(), "Ensure is to be called again until the certificate is issued")
		Expect(counter.Counts()["RequestCertificate"]).To(Equal(1))
		Expect(st.Certificates).To(HaveLen(1))
		cert := st.Certificates[0]
		Expect(cert.State).To(Equal("PENDING_VALIDATION"))
		Expect(cert.Hosts).To(Equal([]string{"a.example.com", "b.example.com"}))
		Expect(cert.Validation).To(HaveLen(2))
		for _, r := range cert.Validation {
			Expect(r.Type).To(Equal("CNAME"))
			Expect(r.Name).NotTo(BeEmpty())
			Expect(r.Value).NotTo(BeEmpty())
		}
		Expect(certificateTags(cert.ID)).To(HaveKeyWithValue(cloud.TagCluster, cluster))
		Expect(certificateTags(cert.ID)).To(HaveKeyWithValue(cloud.TagClusterID, clusterID))
		Expect(certificateTags(cert.ID)).To(HaveKeyWithValue(cloud.TagStack, stack))
		// Fail closed: no HTTPS listener without the certificate asked for.
		Expect(listenersOf(*ownedLoadBalancers(stack)[0].LoadBalancerArn)).To(HaveLen(1))

		counter.Reset()
		Expect(ensure(p, lb).Pending).To(BeTrue())
		Expect(counter.Counts()["RequestCertificate"]).To(BeZero(), "the same process finds its certificate")
		restarted := provider()
		counter.Reset()
		Expect(ensure(restarted, lb).Pending).To(BeTrue())
		Expect(counter.Counts()["RequestCertificate"]).To(BeZero(), "a restarted process finds it by its tags")

		stub.validate(cert.ID)
		st = ensure(restarted, lb)
		Expect(st.Pending).To(BeFalse())
		Expect(st.Certificates[0].State).To(Equal("ISSUED"))
		Expect(st.Certificates[0].Validation).To(BeEmpty())
		Expect(aws.ToString(listenerOn(stack, 443).Certificates[0].CertificateArn)).To(Equal(cert.ID))

		counter.Reset()
		ensure(restarted, lb)
		Expect(counter.Mutating()).To(BeEmpty(), "an issued, attached certificate converges")
	})

	It("makes no second certificate after a restart while the tagging API does not list the first", func() {
		blind := func() *cloudaws.Provider {
			c := motoClients(counter.Middleware)
			c.Tagging = &laggingTagging{Tagging: c.Tagging, lag: 1000}
			stub.ACM = c.ACM
			c.ACM = stub
			return cloudaws.New(c, providerOptions())
		}
		lb := withCreatedCertificate(model(stack, "/a"), "", "a.example.com")
		first := ensure(blind(), lb).Certificates[0].ID
		counter.Reset()
		again := ensure(blind(), lb).Certificates[0].ID
		Expect(counter.Counts()["RequestCertificate"]).To(Equal(1), "the restarted process cannot see the first one, so asks again")
		Expect(again).To(Equal(first), "with the same idempotency token, which ACM answers with the same certificate")
		all, err := acmc.ListCertificates(ctx, &acm.ListCertificatesInput{})
		Expect(err).NotTo(HaveOccurred())
		Expect(all.CertificateSummaryList).To(HaveLen(1))
	})

	It("requests no certificate for a listener that the certificates to make would take over AWS's quota", func() {
		// AWS refuses a 26th certificate on a listener (TooManyCertificates), which moto does not: the quota is
		// checked before anything is requested, counting the certificates still to make.
		lb := withCreatedCertificate(model(stack, "/a"), "", "a.example.com")
		https := &lb.Listeners[len(lb.Listeners)-1]
		https.CreateCertificates = append(https.CreateCertificates, cloud.CertificateRequest{Hosts: []string{"b.example.com"}})
		for i := range 24 {
			https.Certificates = append(https.Certificates, fmt.Sprintf("arn:aws:acm:us-east-1:123456789012:certificate/given-%d", i))
		}
		_, err := provider().Ensure(ctx, lb, cloud.Known{})
		Expect(cloud.IsInvalidSpec(err)).To(BeTrue(), "Ensure: %v", err)
		Expect(err.Error()).To(ContainSubstring("quota of 25 certificates per listener"))
		Expect(counter.Mutating()).To(BeEmpty(), "no certificate requested, nothing made")
	})

	It("replaces the certificate when the hosts change: the new one is attached before the old is deleted", func() {
		p := provider()
		ensure(p, withCreatedCertificate(model(stack, "/a"), "", "a.example.com"))
		old := ensure(p, withCreatedCertificate(model(stack, "/a"), "", "a.example.com")).Certificates[0].ID
		stub.validate(old)
		ensure(p, withCreatedCertificate(model(stack, "/a"), "", "a.example.com"))
		Expect(aws.ToString(listenerOn(stack, 443).Certificates[0].CertificateArn)).To(Equal(old))

		changed := withCreatedCertificate(model(stack, "/a"), "", "a.example.com", "c.example.com")
		counter.Reset()
		st := ensure(p, changed)
		Expect(st.Pending).To(BeTrue())
		Expect(counter.Counts()["RequestCertificate"]).To(Equal(1))
		renewed := st.Certificates[0].ID
		Expect(renewed).NotTo(Equal(old))
		Expect(aws.ToString(listenerOn(stack, 443).Certificates[0].CertificateArn)).To(Equal(old), "the listener keeps serving the old one")
		Expect(certificateExists(old)).To(BeTrue())

		stub.validate(renewed)
		counter.Reset()
		Expect(ensure(p, changed).Pending).To(BeFalse())
		Expect(aws.ToString(listenerOn(stack, 443).Certificates[0].CertificateArn)).To(Equal(renewed))
		Expect(certificateExists(old)).To(BeFalse())
		Expect(counter.Mutating()).To(Equal([]string{"ModifyListener", "DeleteCertificate"}))
	})

	It("attaches a private CA's certificate at once and deletes it with the stack, never a certificate not its own", func() {
		p := provider()
		const ca = "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/12345678-1234-1234-1234-123456789012"
		st := ensure(p, withCreatedCertificate(model(stack, "/a"), ca, "a.internal"))
		Expect(st.Pending).To(BeFalse())
		mine := st.Certificates[0].ID
		Expect(aws.ToString(listenerOn(stack, 443).Certificates[0].CertificateArn)).To(Equal(mine))
		described, err := acmc.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(mine)})
		Expect(err).NotTo(HaveOccurred())
		Expect(aws.ToString(described.Certificate.CertificateAuthorityArn)).To(Equal(ca))

		// Someone else's certificate for the same stack name, and one of ours whose tags someone took away.
		other, err := acmc.RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String("a.internal"),
			Tags: []acmtypes.Tag{{Key: aws.String(cloud.TagCluster), Value: aws.String("other")}, {Key: aws.String(cloud.TagStack), Value: aws.String(stack)}}})
		Expect(err).NotTo(HaveOccurred())
		st = ensure(p, withCreatedCertificate(model(stack, "/a"), ca, "b.internal"))
		second := st.Certificates[0].ID
		Expect(second).NotTo(Equal(mine))
		Expect(certificateExists(mine)).To(BeFalse(), "replaced, and no longer attached")
		_, err = acmc.RemoveTagsFromCertificate(ctx, &acm.RemoveTagsFromCertificateInput{CertificateArn: aws.String(second),
			Tags: []acmtypes.Tag{{Key: aws.String(cloud.TagClusterID), Value: aws.String(clusterID)}}})
		Expect(err).NotTo(HaveOccurred())

		Expect(p.Delete(ctx, stack, cloud.Known{})).To(Succeed())
		Expect(certificateExists(second)).To(BeTrue(), "its tags, read right before the delete, are no longer this cluster's")
		Expect(certificateExists(*other.CertificateArn)).To(BeTrue())
	})

	It("leaves a certificate still attached to a listener for a later try, and never detaches it", func() {
		p := provider()
		const ca = "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/12345678-1234-1234-1234-123456789012"
		mine := ensure(p, withCreatedCertificate(model(stack, "/a"), ca, "a.internal")).Certificates[0].ID
		// The user attaches it to a load balancer of their own.
		theirs, err := elbc.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("theirs"), Subnets: subnets[:2]})
		Expect(err).NotTo(HaveOccurred())
		_, err = elbc.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: theirs.LoadBalancers[0].LoadBalancerArn,
			Port: aws.Int32(443), Protocol: "HTTPS", Certificates: []elbv2types.Certificate{{CertificateArn: aws.String(mine)}},
			DefaultActions: listenerOn(stack, 443).DefaultActions})
		Expect(err).NotTo(HaveOccurred())

		err = p.Delete(ctx, stack, cloud.Known{})
		Expect(cloud.IsPending(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring(mine))
		Expect(certificateExists(mine)).To(BeTrue())
		Expect(certificateAttached(ctx, mine)).To(BeTrue())

		_, err = elbc.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: theirs.LoadBalancers[0].LoadBalancerArn})
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Delete(ctx, stack, cloud.Known{})).To(Succeed())
		Expect(certificateExists(mine)).To(BeFalse())
	})
})
