package aws

import (
	"context"
	"fmt"
	"strings"

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

// resolveTrustStore finds the trust store of a listener's verify MutualAuthentication, named by ARN or by name.
// One that cannot be found holds the listener as it is (or creates none), with a warning: a listener that should
// verify client certificates must not serve without them, nor lose the trust store it has.
func (p *Provider) resolveTrustStore(ctx context.Context, dl *desiredListener) (string, error) {
	m := dl.MutualAuthentication
	if m == nil || m.Mode != cloud.MutualAuthenticationVerify {
		return "", nil
	}
	in := &elbv2.DescribeTrustStoresInput{Names: []string{m.TrustStore}}
	if strings.HasPrefix(m.TrustStore, "arn:") {
		in = &elbv2.DescribeTrustStoresInput{TrustStoreArns: []string{m.TrustStore}}
	}
	out, err := p.c.ELBV2.DescribeTrustStores(ctx, in)
	if err != nil && !hasCode(err, "TrustStoreNotFound") {
		return "", classify(err)
	}
	if err != nil || out == nil || len(out.TrustStores) == 0 || deref(out.TrustStores[0].TrustStoreArn) == "" {
		dl.hold = true
		return fmt.Sprintf("HTTPS listener on port %d: trust store %s of mutual-authentication not found, so the listener is left "+
			"as it is (or not created)", dl.Port, m.TrustStore), nil
	}
	dl.trustStore = deref(out.TrustStores[0].TrustStoreArn)
	return "", nil
}

// albMutualAuthentication is the listener's MutualAuthentication as ELBv2 takes it; nil when the model leaves it
// alone.
func albMutualAuthentication(l desiredListener) *elbv2types.MutualAuthenticationAttributes {
	m := l.MutualAuthentication
	if m == nil {
		return nil
	}
	out := &elbv2types.MutualAuthenticationAttributes{Mode: ptr(m.Mode)}
	if m.Mode == cloud.MutualAuthenticationVerify {
		out.TrustStoreArn = ptr(l.trustStore)
		out.IgnoreClientCertificateExpiry = ptr(m.IgnoreClientCertificateExpiry)
		out.AdvertiseTrustStoreCaNames = elbv2types.AdvertiseTrustStoreCaNamesEnum(orDefault(m.AdvertiseTrustStoreCaNames, "off"))
	}
	return out
}

// mutualAuthenticationDiffers reports whether a listener's MutualAuthentication must change; AWS reports a listener
// that never had one as nil, which is off.
func mutualAuthenticationDiffers(have *elbv2types.MutualAuthenticationAttributes, want desiredListener) bool {
	m := want.MutualAuthentication
	if m == nil {
		return false
	}
	if have == nil {
		have = &elbv2types.MutualAuthenticationAttributes{}
	}
	if orDefault(deref(have.Mode), cloud.MutualAuthenticationOff) != m.Mode {
		return true
	}
	return m.Mode == cloud.MutualAuthenticationVerify && (deref(have.TrustStoreArn) != want.trustStore ||
		deref(have.IgnoreClientCertificateExpiry) != m.IgnoreClientCertificateExpiry ||
		orDefault(string(have.AdvertiseTrustStoreCaNames), "off") != orDefault(m.AdvertiseTrustStoreCaNames, "off"))
}
