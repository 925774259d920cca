package aws_test

import (
	"context"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"github.com/aws/aws-sdk-go-v2/service/shield"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	"github.com/aws/smithy-go"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

// withHTTPS adds to lb an HTTPS listener on 443 with cert and the rules of its HTTP listener.
func withHTTPS(lb *cloud.LoadBalancer, cert string) *cloud.LoadBalancer {
	https := lb.Listeners[0]
	https.Port, https.Protocol, https.Certificates = 443, cloud.ProtocolHTTPS, []string{cert}
	lb.Listeners = append(lb.Listeners, https)
	return lb
}

var _ = Describe("Listener settings", func() {
	var (
		ctx     context.Context
		counter *test.CallCounter
		p       *cloudaws.Provider
	)
	const stack = "default/web"

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		p = newProvider(cluster, counter)
	})

	ensure := func(lb *cloud.LoadBalancer) {
		GinkgoHelper()
		_, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
	}

	It("turns an HTTP listener into an ssl-redirect with ModifyListener, before its rules go", func() {
		cert := issueCertificate("www.example.com")
		ensure(withHTTPS(model(stack, "/a", "/b"), cert))
		Expect(allRules(*listenerOn(stack, 80).ListenerArn)).To(HaveLen(2))

		redirect := withHTTPS(model(stack, "/a", "/b"), cert)
		redirect.Listeners[0].DefaultAction = cloud.Action{Type: cloud.ActionRedirect,
			Redirect: &cloud.Redirect{Protocol: "HTTPS", Port: "443", StatusCode: 301}}
		redirect.Listeners[0].Rules = nil
		counter.Reset()
		ensure(redirect)

		// Make before break: while the rules still forward, the listener's default already redirects; no listener
		// is replaced, so no path is ever without a rule or a redirect.
		calls := counter.Mutating()
		Expect(calls).To(Equal([]string{"ModifyListener", "DeleteRule", "DeleteRule"}))

		http := listenerOn(stack, 80)
		Expect(http.DefaultActions).To(HaveLen(1))
		Expect(http.DefaultActions[0].Type).To(Equal(elbv2types.ActionTypeEnumRedirect))
		r := http.DefaultActions[0].RedirectConfig
		Expect([]string{aws.ToString(r.Protocol), aws.ToString(r.Host), aws.ToString(r.Port), aws.ToString(r.Path), aws.ToString(r.Query)}).
			To(Equal([]string{"HTTPS", "#{host}", "443", "/#{path}", "#{query}"}))
		Expect(r.StatusCode).To(Equal(elbv2types.RedirectActionStatusCodeEnumHttp301))
		Expect(allRules(*http.ListenerArn)).To(BeEmpty())
		Expect(allRules(*listenerOn(stack, 443).ListenerArn)).To(HaveLen(2), "HTTPS keeps serving the rules")

		counter.Reset()
		ensure(redirect)
		Expect(counter.Mutating()).To(BeEmpty(), "the redirect converges")

		// Turning it off brings the rules back before the redirect goes.
		counter.Reset()
		ensure(withHTTPS(model(stack, "/a", "/b"), cert))
		calls = counter.Mutating()
		Expect(slices.Index(calls, "CreateRule")).To(BeNumerically("<", slices.Index(calls, "ModifyListener")))
		Expect(listenerOn(stack, 80).DefaultActions[0].Type).To(Equal(elbv2types.ActionTypeEnumFixedResponse))
	})

	It("sets only the listener attributes asked for, and only when they differ", func() {
		const server = "routing.http.response.server.enabled"
		ensure(model(stack, "/"))
		arn := *listenerOn(stack, 80).ListenerArn
		Expect(counter.Counts()).NotTo(HaveKey("DescribeListenerAttributes"), "a model without listener attributes reads none")

		// One set outside cloudlb, which it must leave alone.
		_, err := elbc.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{ListenerArn: aws.String(arn),
			Attributes: []elbv2types.ListenerAttribute{{Key: aws.String("routing.http.response.x_frame_options.header_value"), Value: aws.String("DENY")}}})
		Expect(err).NotTo(HaveOccurred())

		lb := model(stack, "/")
		lb.Listeners[0].Attributes = map[string]string{server: "false"}
		counter.Reset()
		ensure(lb)
		Expect(counter.Mutating()).To(Equal([]string{"ModifyListenerAttributes"}))
		Expect(listenerAttributes(arn)).To(HaveKeyWithValue(server, "false"))
		Expect(listenerAttributes(arn)).To(HaveKeyWithValue("routing.http.response.x_frame_options.header_value", "DENY"))

		counter.Reset()
		ensure(lb)
		Expect(counter.Mutating()).To(BeEmpty(), "unchanged attributes are not set again")
		Expect(counter.Counts()).To(HaveKeyWithValue("DescribeListenerAttributes", 1))

		// A new listener gets its attributes right after it is created.
		lb.Listeners = append(lb.Listeners, lb.Listeners[0])
		lb.Listeners[1].Port, lb.Listeners[1].Attributes = 8080, map[string]string{server: "false", "routing.http.response.x_frame_options.header_value": "SAMEORIGIN"}
		counter.Reset()
		ensure(lb)
		calls := counter.Mutating()
		Expect(calls).To(ContainElement("ModifyListenerAttributes"))
		Expect(slices.Index(calls, "CreateListener")).To(BeNumerically("<", slices.Index(calls, "ModifyListenerAttributes")))
		Expect(listenerAttributes(*listenerOn(stack, 8080).ListenerArn)).To(And(HaveKeyWithValue(server, "false"),
			HaveKeyWithValue("routing.http.response.x_frame_options.header_value", "SAMEORIGIN")))
	})

	Describe("mutual authentication", func() {
		const storeARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:truststore/my-store/0123456789abcdef"
		var elb *mtlsELB
		var cert string

		BeforeEach(func() {
			elb = &mtlsELB{stores: map[string]string{"my-store": storeARN}}
			p = elb.provider(counter)
			cert = issueCertificate("www.example.com")
		})
		mtls := func(m *cloud.MutualAuthentication) *cloud.LoadBalancer {
			lb := withHTTPS(model(stack, "/"), cert)
			lb.Listeners[1].MutualAuthentication = m
			return lb
		}

		It("sends verify with the trust store named, resolved to its ARN, and converges", func() {
			st, err := p.Ensure(ctx, mtls(&cloud.MutualAuthentication{Mode: "verify", TrustStore: "my-store", AdvertiseTrustStoreCaNames: "on"}), cloud.Known{})
			Expect(err).NotTo(HaveOccurred())
			Expect(st.Warnings).To(BeEmpty())
			Expect(elb.requests()).To(Equal([]request{{"CreateListener", 443, &elbv2types.MutualAuthenticationAttributes{Mode: aws.String("verify"),
				TrustStoreArn: aws.String(storeARN), IgnoreClientCertificateExpiry: aws.Bool(false), AdvertiseTrustStoreCaNames: "on"}}}),
				"the HTTP listener is created without it, as before")

			counter.Reset()
			ensure(mtls(&cloud.MutualAuthentication{Mode: "verify", TrustStore: storeARN, AdvertiseTrustStoreCaNames: "on"}))
			Expect(counter.Mutating()).To(BeEmpty(), "the same trust store by ARN is no change")

			ensure(mtls(&cloud.MutualAuthentication{Mode: "passthrough"}))
			Expect(elb.requests()[1:]).To(Equal([]request{{"ModifyListener", 443, &elbv2types.MutualAuthenticationAttributes{Mode: aws.String("passthrough")}}}))

			counter.Reset()
			ensure(mtls(nil))
			Expect(counter.Mutating()).To(BeEmpty(), "a model without it leaves the listener's setting alone")
		})

		It("leaves the listener as it is when the trust store cannot be found", func() {
			ensure(mtls(&cloud.MutualAuthentication{Mode: "passthrough"}))
			counter.Reset()
			st, err := p.Ensure(ctx, mtls(&cloud.MutualAuthentication{Mode: "verify", TrustStore: "gone"}), cloud.Known{})
			Expect(err).NotTo(HaveOccurred())
			Expect(st.Warnings).To(ContainElement(ContainSubstring("trust store gone of mutual-authentication not found")))
			Expect(counter.Mutating()).To(BeEmpty())
			Expect(elb.requests()).To(Equal([]request{{"CreateListener", 443, &elbv2types.MutualAuthenticationAttributes{Mode: aws.String("passthrough")}}}),
				"passthrough, as first made, is the last setting sent")

			// Nor is a new listener made without it.
			lb := mtls(&cloud.MutualAuthentication{Mode: "verify", TrustStore: "gone"})
			lb.Listeners[1].Port = 8443
			_, err = p.Ensure(ctx, lb, cloud.Known{})
			Expect(err).NotTo(HaveOccurred())
			Expect(counter.Counts()).NotTo(HaveKey("CreateListener"))
		})
	})
})

func listenerAttributes(arn string) map[string]string {
	GinkgoHelper()
	out, err := elbc.DescribeListenerAttributes(context.Background(), &elbv2.DescribeListenerAttributesInput{ListenerArn: aws.String(arn)})
	Expect(err).NotTo(HaveOccurred())
	attrs := map[string]string{}
	for _, a := range out.Attributes {
		attrs[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	return attrs
}

// mtlsELB is moto's ELBv2 with what moto lacks for mutual authentication: it has no trust stores
// (DescribeTrustStores), and it neither keeps nor reports a listener's MutualAuthentication. It records the
// MutualAuthentication of every CreateListener and ModifyListener request the provider sends, and reports the
// last one back on DescribeListeners, as AWS does.
type mtlsELB struct {
	cloudaws.ELBV2
	stores map[string]string // name -> ARN

	mu   sync.Mutex
	sent []request
	byLS map[string]*elbv2types.MutualAuthenticationAttributes
}

type request struct {
	op   string
	port int32
	mtls *elbv2types.MutualAuthenticationAttributes
}

func (e *mtlsELB) provider(counter *test.CallCounter) *cloudaws.Provider {
	cfg := awsCfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, counter.Middleware)
	e.ELBV2 = elbv2.NewFromConfig(cfg)
	return cloudaws.New(cloudaws.Clients{ELBV2: e, EC2: ec2.NewFromConfig(cfg), ACM: acm.NewFromConfig(cfg),
		Tagging: resourcegroupstaggingapi.NewFromConfig(cfg), WAFv2: wafv2.NewFromConfig(cfg), Shield: shield.NewFromConfig(cfg)},
		cloudaws.Options{ClusterName: cluster, VPCID: vpcID})
}

func (e *mtlsELB) record(op string, port int32, arn string, m *elbv2types.MutualAuthenticationAttributes) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m == nil {
		return
	}
	e.sent = append(e.sent, request{op, port, m})
	if e.byLS == nil {
		e.byLS = map[string]*elbv2types.MutualAuthenticationAttributes{}
	}
	e.byLS[arn] = m
}

func (e *mtlsELB) requests() []request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.sent)
}

func (e *mtlsELB) CreateListener(ctx context.Context, in *elbv2.CreateListenerInput, opts ...func(*elbv2.Options)) (*elbv2.CreateListenerOutput, error) {
	out, err := e.ELBV2.CreateListener(ctx, in, opts...)
	if err == nil {
		e.record("CreateListener", aws.ToInt32(in.Port), aws.ToString(out.Listeners[0].ListenerArn), in.MutualAuthentication)
	}
	return out, err
}

func (e *mtlsELB) ModifyListener(ctx context.Context, in *elbv2.ModifyListenerInput, opts ...func(*elbv2.Options)) (*elbv2.ModifyListenerOutput, error) {
	out, err := e.ELBV2.ModifyListener(ctx, in, opts...)
	if err == nil {
		e.record("ModifyListener", aws.ToInt32(in.Port), aws.ToString(in.ListenerArn), in.MutualAuthentication)
	}
	return out, err
}

func (e *mtlsELB) DescribeListeners(ctx context.Context, in *elbv2.DescribeListenersInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeListenersOutput, error) {
	out, err := e.ELBV2.DescribeListeners(ctx, in, opts...)
	if err == nil {
		e.mu.Lock()
		for i := range out.Listeners {
			out.Listeners[i].MutualAuthentication = e.byLS[aws.ToString(out.Listeners[i].ListenerArn)]
		}
		e.mu.Unlock()
	}
	return out, err
}

func (e *mtlsELB) DescribeTrustStores(_ context.Context, in *elbv2.DescribeTrustStoresInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeTrustStoresOutput, error) {
	out := &elbv2.DescribeTrustStoresOutput{}
	for name, arn := range e.stores {
		if slices.Contains(in.Names, name) || slices.Contains(in.TrustStoreArns, arn) {
			out.TrustStores = append(out.TrustStores, elbv2types.TrustStore{Name: aws.String(name), TrustStoreArn: aws.String(arn)})
		}
	}
	if len(out.TrustStores) == 0 {
		return nil, &smithy.GenericAPIError{Code: "TrustStoreNotFound", Message: "no such trust store"}
	}
	return out, nil
}
