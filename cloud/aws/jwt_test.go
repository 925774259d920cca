package aws_test

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

// jwtELBV2 is moto's ELBv2, which refuses jwt-validation actions: it keeps each CreateRule that carries one as
// sent, and lets moto make the rule without it, so that the rest of the load balancer is built.
type jwtELBV2 struct {
	cloudaws.ELBV2
	mu   sync.Mutex
	sent []*elbv2.CreateRuleInput
}

func (s *jwtELBV2) CreateRule(ctx context.Context, in *elbv2.CreateRuleInput, o ...func(*elbv2.Options)) (*elbv2.CreateRuleOutput, error) {
	var kept []elbv2types.Action
	for _, a := range in.Actions {
		if a.Type != elbv2types.ActionTypeEnumJwtValidation {
			kept = append(kept, a)
		}
	}
	if len(kept) == len(in.Actions) {
		return s.ELBV2.CreateRule(ctx, in, o...)
	}
	s.mu.Lock()
	s.sent = append(s.sent, in)
	s.mu.Unlock()
	without := *in
	without.Actions = kept
	for i := range without.Actions {
		without.Actions[i].Order = aws.Int32(int32(i + 1))
	}
	return s.ELBV2.CreateRule(ctx, &without, o...)
}

var _ = Describe("jwt-validation", func() {
	It("sends CreateRule the validation LBC's annotation asks for, before the forward, with the rule's conditions", func() {
		ctx := context.Background()
		resetCloud()
		// The annotation as the AWS Load Balancer Controller's documentation gives it.
		const annotation = `{"jwksEndpoint":"https://example-endpoint.com","issuer":"https://example-issuer.com","additionalClaims":[` +
			`{"name":"admin","format":"single-string","values":["true"]},{"name":"ver","format":"string-array","values":["6","19"]},` +
			`{"name":"scope","format":"space-separated-values","values":["read:api","write","email"]}]}`
		prefix := networkingv1.PathTypePrefix
		ing := &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "app", Annotations: map[string]string{
				"alb.ingress.kubernetes.io/listen-ports":    `[{"HTTPS": 443}]`,
				"alb.ingress.kubernetes.io/certificate-arn": issueCertificate("api.example.com"),
				"alb.ingress.kubernetes.io/target-type":     "ip",
				"alb.ingress.kubernetes.io/jwt-validation":  annotation,
			}},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "api.example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/api", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
		}
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
		out := ingress.Translate(ingress.Input{ClusterName: cluster, Stack: "ns/app", Ingresses: []*networkingv1.Ingress{ing},
			Services: map[types.NamespacedName]*corev1.Service{{Namespace: "ns", Name: "web"}: svc}})
		Expect(out.Errors).To(BeEmpty())
		Expect(out.LoadBalancer).NotTo(BeNil())

		stub := &jwtELBV2{}
		c := motoClients()
		stub.ELBV2, c.ELBV2 = c.ELBV2, stub
		st, err := cloudaws.New(c, providerOptions()).Ensure(ctx, out.LoadBalancer, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		tg := st.TargetGroups[out.LoadBalancer.TargetGroups[0].ID]
		Expect(tg).NotTo(BeEmpty())

		Expect(stub.sent).To(HaveLen(1))
		sent := stub.sent[0]
		Expect(sent.ListenerArn).To(Equal(listenerOn("ns/app", 443).ListenerArn))
		Expect(sent.Actions).To(Equal([]elbv2types.Action{
			{Type: elbv2types.ActionTypeEnumJwtValidation, Order: aws.Int32(1), JwtValidationConfig: &elbv2types.JwtValidationActionConfig{
				JwksEndpoint: aws.String("https://example-endpoint.com"), Issuer: aws.String("https://example-issuer.com"),
				AdditionalClaims: []elbv2types.JwtValidationActionAdditionalClaim{
					{Name: aws.String("admin"), Format: elbv2types.JwtValidationActionAdditionalClaimFormatEnumSingleString, Values: []string{"true"}},
					{Name: aws.String("ver"), Format: elbv2types.JwtValidationActionAdditionalClaimFormatEnumStringArray, Values: []string{"6", "19"}},
					{Name: aws.String("scope"), Format: elbv2types.JwtValidationActionAdditionalClaimFormatEnumSpaceSeparatedValues,
						Values: []string{"read:api", "write", "email"}},
				}}},
			{Type: elbv2types.ActionTypeEnumForward, Order: aws.Int32(2), ForwardConfig: sent.Actions[1].ForwardConfig, TargetGroupArn: sent.Actions[1].TargetGroupArn},
		}))
		forwardsTo := aws.ToString(sent.Actions[1].TargetGroupArn)
		if fc := sent.Actions[1].ForwardConfig; fc != nil {
			Expect(fc.TargetGroups).To(HaveLen(1))
			forwardsTo = aws.ToString(fc.TargetGroups[0].TargetGroupArn)
		}
		Expect(forwardsTo).To(Equal(tg))
		var conditions []string
		for _, cond := range sent.Conditions {
			switch {
			case cond.HostHeaderConfig != nil:
				for _, v := range cond.HostHeaderConfig.Values {
					conditions = append(conditions, aws.ToString(cond.Field)+"="+v)
				}
			case cond.PathPatternConfig != nil:
				for _, v := range cond.PathPatternConfig.Values {
					conditions = append(conditions, aws.ToString(cond.Field)+"="+v)
				}
			default:
				Fail("unexpected condition " + aws.ToString(cond.Field))
			}
		}
		Expect(conditions).To(ConsistOf("host-header=api.example.com", "path-pattern=/api", "path-pattern=/api/*"))
	})
})
