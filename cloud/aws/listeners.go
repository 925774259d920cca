package aws

import (
	"context"
	"fmt"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// observeListenerAttributes reads the attributes of the listeners whose port the model sets attributes on, and
// of no other: attributes cloudlb does not set are left as they are, and a model without any costs no call.
func (p *Provider) observeListenerAttributes(ctx context.Context, lb *cloud.LoadBalancer, a *actual) error {
	withAttrs := map[int32]bool{}
	for _, l := range lb.Listeners {
		withAttrs[l.Port] = len(l.Attributes) > 0
	}
	for _, st := range a.lbs {
		for _, l := range st.listeners {
			if !withAttrs[deref(l.l.Port)] {
				continue
			}
			out, err := p.c.ELBV2.DescribeListenerAttributes(ctx, &elbv2.DescribeListenerAttributesInput{ListenerArn: l.l.ListenerArn})
			if err != nil {
				return classify(err)
			}
			l.attrs = map[string]string{}
			for _, at := range out.Attributes {
				l.attrs[deref(at.Key)] = deref(at.Value)
			}
		}
	}
	return nil
}

// setListenerAttributes sets attrs, the attributes that differ, on a listener.
func (p *Provider) setListenerAttributes(ctx context.Context, arn string, attrs map[string]string) error {
	if len(attrs) == 0 {
		return nil
	}
	in := &elbv2.ModifyListenerAttributesInput{ListenerArn: ptr(arn)}
	for _, k := range sortedKeys(attrs) {
		in.Attributes = append(in.Attributes, elbv2types.ListenerAttribute{Key: ptr(k), Value: ptr(attrs[k])})
	}
	if _, err := p.c.ELBV2.ModifyListenerAttributes(ctx, in); err != nil {
		return fmt.Errorf("setting listener attributes: %w", classify(err))
	}
	return nil
}
