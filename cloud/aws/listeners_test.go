package aws_test

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
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
