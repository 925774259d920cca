package aws_test

import (
	"context"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/test"
)

var _ = Describe("Inventory", func() {
	It("lists each stack's load balancer and target groups, by the cloud IDs Ensure reported, in the one read Stacks makes", func() {
		ctx := context.Background()
		resetCloud()
		counter := &test.CallCounter{}
		p := newProvider(cluster, counter)
		const stack = "default/web"
		lb := model(stack, "/api", "/")
		st, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		Expect(st.TargetGroups).To(HaveLen(len(lb.TargetGroups)))
		other := newProvider("another-cluster", nil)
		foreign := model("default/other", "/")
		foreign.Name = "k8s-default-other"
		_, err = other.Ensure(ctx, foreign, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())

		counter.Reset()
		inv, err := p.Inventory(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(counter.Calls()).To(Equal([]string{"GetResources"}))
		Expect(inv).To(HaveLen(1), "another cluster's stacks are not this one's")
		res := inv[stack]
		Expect(res.LoadBalancers).To(Equal([]string{st.ID}))
		Expect(res.TargetGroups).To(HaveLen(len(lb.TargetGroups)))
		for _, tg := range lb.TargetGroups {
			Expect(res.TargetGroups[cloud.TagValue(tg.ID)]).To(Equal([]string{st.TargetGroups[tg.ID]}), tg.ID)
		}

		By("a load balancer and a target group deleted out of band are no longer listed")
		_, err = elbc.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: &st.ID})
		Expect(err).NotTo(HaveOccurred())
		gone := lb.TargetGroups[0].ID
		arn := st.TargetGroups[gone]
		_, err = elbc.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: &arn})
		Expect(err).NotTo(HaveOccurred())
		inv, err = p.Inventory(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(inv[stack].LoadBalancers).To(BeEmpty())
		Expect(inv[stack].TargetGroups).NotTo(HaveKey(cloud.TagValue(gone)))
		Expect(inv[stack].TargetGroups).To(HaveKey(cloud.TagValue(lb.TargetGroups[1].ID)))
	})
})
