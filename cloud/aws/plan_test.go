package aws

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

// The plan tests build desired states by hand and the actual state the way AWS describes it after an apply
// (legacy Values next to the condition configs, TargetGroupArn next to ForwardConfig, redirect placeholders
// spelled out, permissions grouped per port), so that "nothing to do" is checked against the cloud's shapes
// rather than against the plan's own conversions.

const (
	testCluster   = "c1"
	testClusterID = "id1"
	testStack     = "ns/web"
	testLBName    = "k8s-web-0123456789"
	testLBARN     = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/k8s-web-0123456789/aaaa"
	testSGID      = "sg-managed"
	testSGName    = "k8s-web-sg-0123456789"
	testPolicy    = "ELBSecurityPolicy-TLS13-1-2-2021-06"
	apiID         = "ns/api:8080"
	webID         = "ns/web:80"
	apiName       = "k8s-api-1111111111"
	webName       = "k8s-web-2222222222"
	certA         = "arn:aws:acm:eu-west-1:123456789012:certificate/a"
	certB         = "arn:aws:acm:eu-west-1:123456789012:certificate/b"
	certC         = "arn:aws:acm:eu-west-1:123456789012:certificate/c"
	testHost      = "www.example.com"
)

// testNow is the plan's clock in the tests.
var testNow = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

// retiredTags are an owned resource's tags once it was retired ago before testNow.
func retiredTags(tags tagSet, ago time.Duration) tagSet {
	out := maps.Clone(tags)
	out[cloud.TagRetiredAt] = testNow.Add(-ago).Format(time.RFC3339)
	return out
}

// withReplacementLB renames the load balancer in d and adds to a its replacement, in state, with the old one's
// listeners, rules and groups, as the apply that created it left it.
func withReplacementLB(d *desired, a *actual, state elbv2types.LoadBalancerStateEnum) {
	d.lb.Name = "k8s-web-renamed"
	renamed := &lbState{lb: a.lbs[0].lb, tags: a.lbs[0].tags, listeners: a.lbs[0].listeners}
	renamed.lb.LoadBalancerArn = ptr(testLBARN + "-renamed")
	renamed.lb.LoadBalancerName = ptr(d.lb.Name)
	renamed.lb.State = &elbv2types.LoadBalancerState{Code: state}
	a.lbs = append(a.lbs, renamed)
}

// withReplacementTG adds to a the replacement, named name, of the target group with ID id.
func withReplacementTG(a *actual, id, name string, port int32, path string) *tgState {
	tg := &tgState{tg: awsTargetGroup(name, port, path), tags: ownerTags(id, map[string]string{"team": "web"})}
	a.targetGroups = append(a.targetGroups, tg)
	return tg
}

func tgARNFor(name string) string {
	return "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/" + name + "/bbbb"
}

func listenerARN(port int32) string {
	return fmt.Sprintf("arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/k8s-web-0123456789/aaaa/%d", port)
}

func ruleARN(port int32, n int) string {
	return fmt.Sprintf("arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/k8s-web-0123456789/aaaa/%d/r%d", port, n)
}

func hostPathRule(host, prefix, tgID string) cloud.Rule {
	return cloud.Rule{
		Conditions: []cloud.Condition{
			{Type: cloud.ConditionHost, Values: []string{host}},
			{Type: cloud.ConditionPath, PathMatch: cloud.PathPrefix, Values: []string{prefix}},
		},
		Action: forwardTo(tgID),
	}
}

func forwardTo(tgID string) cloud.Action {
	return cloud.Action{Type: cloud.ActionForward, Forward: []cloud.WeightedTargetGroup{{TargetGroupID: tgID, Weight: 1}}}
}

func healthCheck(path string) cloud.HealthCheck {
	return cloud.HealthCheck{Protocol: cloud.ProtocolHTTP, Port: "traffic-port", Path: path, IntervalSeconds: 15,
		TimeoutSeconds: 5, HealthyThresholdCount: 2, UnhealthyThresholdCount: 2, SuccessCodes: "200"}
}

// testDesired is what resolve would produce for a load balancer with an HTTP listener redirecting to HTTPS and
// an HTTPS listener with two certificates and two rules over two target groups.
func testDesired() *desired {
	lb := &cloud.LoadBalancer{
		Stack:         testStack,
		Name:          testLBName,
		Scheme:        cloud.SchemeInternetFacing,
		IPAddressType: cloud.IPAddressTypeIPv4,
		Tags:          map[string]string{"team": "web"},
		Listeners: []cloud.Listener{
			{Port: 80, Protocol: cloud.ProtocolHTTP, DefaultAction: cloud.Action{Type: cloud.ActionRedirect,
				Redirect: &cloud.Redirect{Protocol: "HTTPS", Port: "443", StatusCode: 301}}},
			{Port: 443, Protocol: cloud.ProtocolHTTPS, Certificates: []string{certA, certB}, SSLPolicy: testPolicy,
				DefaultAction: cloud.Action{Type: cloud.ActionFixedResponse,
					FixedResponse: &cloud.FixedResponse{StatusCode: 404, ContentType: "text/plain", Body: "not found"}},
				Rules: []cloud.Rule{hostPathRule(testHost, "/api", apiID), hostPathRule(testHost, "/", webID)}},
		},
		TargetGroups: []cloud.TargetGroup{
			{ID: apiID, Protocol: cloud.ProtocolHTTP, Port: 8080, TargetType: cloud.TargetTypeIP, HealthCheck: healthCheck("/healthz")},
			{ID: webID, Protocol: cloud.ProtocolHTTP, Port: 80, TargetType: cloud.TargetTypeIP, HealthCheck: healthCheck("/")},
		},
	}
	d := &desired{
		now:              testNow,
		replacementGrace: 5 * time.Minute,
		healthWait:       2 * time.Minute,
		lb:               lb,
		subnets:          []string{"subnet-a", "subnet-b"},
		sgName:           testSGName,
		tgNames:          map[string]string{apiID: apiName, webID: webName},
	}
	retag(d)
	for _, l := range lb.Listeners {
		d.listeners = append(d.listeners, desiredListener{Listener: l, certs: slices.Clone(l.Certificates)})
	}
	return d
}

// retag recomputes the desired stack tags from the model's user tags, as resolve does.
func retag(d *desired) {
	p := New(Clients{}, Options{ClusterName: testCluster, ClusterID: testClusterID})
	d.tags = p.tagsFor(d.lb.Tags, d.lb.Stack, "load-balancer")
	d.sgTags = p.tagsFor(d.lb.Tags, d.lb.Stack, "security-group")
	d.policy = p.tags
}

func ownerTags(resource string, user map[string]string) tagSet {
	t := tagSet{cloud.TagCluster: testCluster, cloud.TagClusterID: testClusterID, cloud.TagStack: testStack, cloud.TagResource: resource}
	maps.Copy(t, user)
	return t
}

func awsPermission(port int32, cidrs ...string) ec2types.IpPermission {
	p := ec2types.IpPermission{IpProtocol: ptr("tcp"), FromPort: ptr(port), ToPort: ptr(port)}
	for _, c := range cidrs {
		if isIPv6(c) {
			p.Ipv6Ranges = append(p.Ipv6Ranges, ec2types.Ipv6Range{CidrIpv6: ptr(c)})
		} else {
			p.IpRanges = append(p.IpRanges, ec2types.IpRange{CidrIp: ptr(c)})
		}
	}
	return p
}

func awsTargetGroup(name string, port int32, path string) elbv2types.TargetGroup {
	return elbv2types.TargetGroup{
		TargetGroupArn:             ptr(tgARNFor(name)),
		TargetGroupName:            ptr(name),
		Protocol:                   elbv2types.ProtocolEnumHttp,
		Port:                       ptr(port),
		TargetType:                 elbv2types.TargetTypeEnumIp,
		VpcId:                      ptr("vpc-1"),
		HealthCheckEnabled:         ptr(true),
		HealthCheckProtocol:        elbv2types.ProtocolEnumHttp,
		HealthCheckPort:            ptr("traffic-port"),
		HealthCheckPath:            ptr(path),
		HealthCheckIntervalSeconds: ptr(int32(15)),
		HealthCheckTimeoutSeconds:  ptr(int32(5)),
		HealthyThresholdCount:      ptr(int32(2)),
		UnhealthyThresholdCount:    ptr(int32(2)),
		Matcher:                    &elbv2types.Matcher{HttpCode: ptr("200")},
		LoadBalancerArns:           []string{testLBARN},
	}
}

// awsForward is a forward action as DescribeRules returns it: both the legacy ARN and the forward config.
func awsForward(arn string) elbv2types.Action {
	return elbv2types.Action{
		Type:           elbv2types.ActionTypeEnumForward,
		Order:          ptr(int32(1)),
		TargetGroupArn: ptr(arn),
		ForwardConfig: &elbv2types.ForwardActionConfig{
			TargetGroups:                []elbv2types.TargetGroupTuple{{TargetGroupArn: ptr(arn), Weight: ptr(int32(1))}},
			TargetGroupStickinessConfig: &elbv2types.TargetGroupStickinessConfig{Enabled: ptr(false)},
		},
	}
}

// awsForwardWaiting is a forward action to serving with weight 1 and to its replacement with weight 0.
func awsForwardWaiting(serving, replacement string) elbv2types.Action {
	a := awsForward(serving)
	a.TargetGroupArn = nil
	a.ForwardConfig.TargetGroups = append(a.ForwardConfig.TargetGroups,
		elbv2types.TargetGroupTuple{TargetGroupArn: ptr(replacement), Weight: ptr(int32(0))})
	return a
}

// assertWaitingRule fails unless the plan modifies the /api rule to forward to serving with weight 1 and to
// replacement with weight 0: AWS health-checks only target groups a listener uses.
func assertWaitingRule(t *testing.T, pl *plan, serving, replacement string) {
	t.Helper()
	lp := listenerPlanFor(t, pl, 443)
	ref := func(id string) string {
		arn, ok := pl.keepTGs[id]
		if !ok {
			arn = replacement
		}
		if old, ok := pl.tgServing[id]; ok {
			return waitingRef(old, arn)
		}
		return arn
	}
	want := fmt.Sprintf("forward:%s*1,%s*0", serving, replacement)
	if len(lp.rules.modify) != 1 || lp.rules.modify[0].arn != ruleARN(443, 1) ||
		actionsKey([]elbv2types.Action{albAction(lp.rules.modify[0].rule.Action, ref)}) != want {
		t.Errorf("rule modifies %+v, want the /api rule to %s", lp.rules.modify, want)
	}
}

// awsRule is a host and path rule as DescribeRules returns it, with legacy Values beside the configs.
func awsRule(arn string, priority int32, host string, paths []string, tgARN string) elbv2types.Rule {
	return elbv2types.Rule{
		RuleArn:  ptr(arn),
		Priority: ptr(strconv.Itoa(int(priority))),
		Conditions: []elbv2types.RuleCondition{
			{Field: ptr("host-header"), Values: []string{host},
				HostHeaderConfig: &elbv2types.HostHeaderConditionConfig{Values: []string{host}}},
			{Field: ptr("path-pattern"), Values: slices.Clone(paths),
				PathPatternConfig: &elbv2types.PathPatternConditionConfig{Values: slices.Clone(paths)}},
		},
		Actions:   []elbv2types.Action{awsForward(tgARN)},
		IsDefault: ptr(false),
	}
}

// testActual is what AWS reports for testDesired once it is applied.
func testActual() *actual {
	return &actual{
		securityGroups: []ec2types.SecurityGroup{{
			GroupId:       ptr(testSGID),
			GroupName:     ptr(testSGName),
			VpcId:         ptr("vpc-1"),
			Tags:          ownerTags("security-group", map[string]string{"team": "web"}).ec2Tags(),
			IpPermissions: []ec2types.IpPermission{awsPermission(80, "0.0.0.0/0"), awsPermission(443, "0.0.0.0/0")},
			IpPermissionsEgress: []ec2types.IpPermission{{IpProtocol: ptr("-1"),
				IpRanges: []ec2types.IpRange{{CidrIp: ptr("0.0.0.0/0")}}}},
		}},
		targetGroups: []*tgState{
			{tg: awsTargetGroup(apiName, 8080, "/healthz"), tags: ownerTags(apiID, map[string]string{"team": "web"})},
			{tg: awsTargetGroup(webName, 80, "/"), tags: ownerTags(webID, map[string]string{"team": "web"})},
		},
		lbs: []*lbState{{
			lb: elbv2types.LoadBalancer{
				LoadBalancerArn:  ptr(testLBARN),
				LoadBalancerName: ptr(testLBName),
				DNSName:          ptr("k8s-web-0123456789-1.eu-west-1.elb.amazonaws.com"),
				Scheme:           elbv2types.LoadBalancerSchemeEnumInternetFacing,
				IpAddressType:    elbv2types.IpAddressTypeIpv4,
				Type:             elbv2types.LoadBalancerTypeEnumApplication,
				CreatedTime:      ptr(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)),
				AvailabilityZones: []elbv2types.AvailabilityZone{
					{ZoneName: ptr("eu-west-1b"), SubnetId: ptr("subnet-b")},
					{ZoneName: ptr("eu-west-1a"), SubnetId: ptr("subnet-a")},
				},
				SecurityGroups: []string{testSGID},
			},
			tags: ownerTags("load-balancer", map[string]string{"team": "web"}),
			listeners: []*listenerState{
				{l: elbv2types.Listener{
					ListenerArn:     ptr(listenerARN(80)),
					LoadBalancerArn: ptr(testLBARN),
					Port:            ptr(int32(80)),
					Protocol:        elbv2types.ProtocolEnumHttp,
					DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumRedirect, Order: ptr(int32(1)),
						RedirectConfig: &elbv2types.RedirectActionConfig{Protocol: ptr("HTTPS"), Port: ptr("443"),
							Host: ptr("#{host}"), Path: ptr("/#{path}"), Query: ptr("#{query}"),
							StatusCode: elbv2types.RedirectActionStatusCodeEnumHttp301}}},
				}},
				{
					l: elbv2types.Listener{
						ListenerArn:     ptr(listenerARN(443)),
						LoadBalancerArn: ptr(testLBARN),
						Port:            ptr(int32(443)),
						Protocol:        elbv2types.ProtocolEnumHttps,
						SslPolicy:       ptr(testPolicy),
						Certificates:    []elbv2types.Certificate{{CertificateArn: ptr(certA)}},
						DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumFixedResponse, Order: ptr(int32(1)),
							FixedResponseConfig: &elbv2types.FixedResponseActionConfig{StatusCode: ptr("404"),
								ContentType: ptr("text/plain"), MessageBody: ptr("not found")}}},
					},
					certs: []string{certA, certB},
					rules: []elbv2types.Rule{
						awsRule(ruleARN(443, 1), 10, testHost, []string{"/api", "/api/*"}, tgARNFor(apiName)),
						awsRule(ruleARN(443, 2), 20, testHost, []string{"/*"}, tgARNFor(webName)),
					},
				},
			},
		}},
	}
}

// planChanges names every change a plan would make, in a fixed order; an empty result means that applying
// the plan makes no mutating call.
func planChanges(pl *plan) []string {
	var out []string
	add := func(cond bool, what string) {
		if cond {
			out = append(out, what)
		}
	}
	if pl.sg != nil {
		add(pl.sg.id == "", "sg.create")
		add(len(pl.sg.authorize) > 0, "sg.authorize")
		add(len(pl.sg.revoke) > 0, "sg.revoke")
		add(len(pl.sg.setTags)+len(pl.sg.removeTags) > 0, "sg.tags")
	}
	add(len(pl.createTGs) > 0, "createTGs")
	add(slices.ContainsFunc(slices.Collect(maps.Keys(pl.copyTargets)), func(id string) bool { _, kept := pl.keepTGs[id]; return kept }),
		"copyTargets")
	add(len(pl.modifyTGs) > 0, "modifyTGs")
	add(len(pl.tgTags) > 0, "tgTags")
	add(pl.lb.existing == nil, "lb.create")
	add(pl.lb.setSubnets, "lb.setSubnets")
	add(pl.lb.setSGs, "lb.setSGs")
	add(pl.lb.setIPType, "lb.setIPType")
	add(pl.lb.tags != nil, "lb.tags")
	for _, lp := range pl.listeners {
		l := fmt.Sprintf("listener/%d.", lp.want.Port)
		add(lp.existing == nil, l+"create")
		add(lp.modify, l+"modify")
		add(len(lp.addCerts) > 0, l+"addCerts")
		add(len(lp.delCerts) > 0, l+"delCerts")
		add(len(lp.rules.moves) > 0, l+"rules.move")
		add(len(lp.rules.creates) > 0, l+"rules.create")
		add(len(lp.rules.modify) > 0, l+"rules.modify")
		add(len(lp.rules.deletes) > 0, l+"rules.delete")
	}
	add(len(pl.deleteListeners) > 0, "deleteListeners")
	add(len(pl.deleteLBs) > 0, "deleteLBs")
	add(len(pl.deleteTGs) > 0, "deleteTGs")
	add(len(pl.deleteSGs) > 0, "deleteSGs")
	add(len(pl.retire) > 0, "retire")
	return out
}

// assertNoChanges fails unless applying pl would make no mutating call.
func assertNoChanges(t *testing.T, pl *plan) {
	t.Helper()
	if c := planChanges(pl); len(c) > 0 {
		t.Fatalf("plan changes %v, want none", c)
	}
}

func mustPlan(t *testing.T, d *desired, a *actual) *plan {
	t.Helper()
	pl, err := makePlan(d, a)
	if err != nil {
		t.Fatalf("makePlan: %v", err)
	}
	return pl
}

func listenerPlanFor(t *testing.T, pl *plan, port int32) listenerPlan {
	t.Helper()
	for _, lp := range pl.listeners {
		if lp.want.Port == port {
			return lp
		}
	}
	t.Fatalf("no plan for listener %d", port)
	return listenerPlan{}
}

func permissionKeys(perms []ec2types.IpPermission) []string {
	out := make([]string, 0, len(perms))
	for _, p := range perms {
		out = append(out, permissionKey(p))
	}
	slices.Sort(out)
	return out
}

func equalSorted(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestMakePlan(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(d *desired, a *actual)
		// want is exactly the kinds of change the plan makes (see planChanges).
		want  []string
		check func(t *testing.T, d *desired, a *actual, pl *plan)
	}{
		{
			name: "everything matches",
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				assertNoChanges(t, pl)
				want := map[string]string{apiID: tgARNFor(apiName), webID: tgARNFor(webName)}
				if !maps.Equal(pl.keepTGs, want) {
					t.Errorf("keepTGs = %v, want %v", pl.keepTGs, want)
				}
			},
		},
		{
			name: "an HTTPS listener whose certificates cannot be found is held as it is",
			mutate: func(d *desired, _ *actual) {
				d.listeners[1].hold = true
				d.listeners[1].certs = nil
				d.listeners[1].Rules = nil
			},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				assertNoChanges(t, pl)
			},
		},
		{
			name: "a held HTTPS listener keeps the target groups its rules use, even ones the model dropped",
			mutate: func(d *desired, _ *actual) {
				d.listeners[1].hold = true
				d.listeners[1].certs = nil
				d.listeners[1].Rules = nil
				d.lb.TargetGroups = d.lb.TargetGroups[1:]
			},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				assertNoChanges(t, pl)
			},
		},
		{
			name:   "a held HTTPS listener that does not exist is not created",
			mutate: func(d *desired, a *actual) { *a = actual{}; d.listeners[1].hold = true },
			want:   []string{"sg.create", "sg.authorize", "createTGs", "lb.create", "listener/80.create"},
		},
		{
			name:   "nothing exists",
			mutate: func(_ *desired, a *actual) { *a = actual{} },
			want: []string{"sg.create", "sg.authorize", "createTGs", "lb.create", "listener/80.create",
				"listener/443.create", "listener/443.addCerts", "listener/443.rules.create"},
			check: func(t *testing.T, d *desired, _ *actual, pl *plan) {
				if got, want := permissionKeys(pl.sg.authorize), []string{"tcp/443/0.0.0.0/0", "tcp/80/0.0.0.0/0"}; !slices.Equal(got, want) {
					t.Errorf("authorize %v, want %v", got, want)
				}
				var ids []string
				for _, tg := range pl.createTGs {
					ids = append(ids, tg.ID)
				}
				if !equalSorted(ids, []string{apiID, webID}) {
					t.Errorf("createTGs %v", ids)
				}
				lp := listenerPlanFor(t, pl, 443)
				if !slices.Equal(lp.addCerts, []string{certB}) {
					t.Errorf("addCerts %v, want [certB] (certA is the default)", lp.addCerts)
				}
				if len(lp.rules.creates) != 2 || lp.rules.creates[0].priority != 10 || lp.rules.creates[1].priority != 20 {
					t.Fatalf("rule creates %+v, want two at 10 and 20", lp.rules.creates)
				}
				for i, c := range lp.rules.creates {
					if got, want := conditionsKey(albConditions(c.rule.Conditions)), conditionsKey(albConditions(d.lb.Listeners[1].Rules[i].Conditions)); got != want {
						t.Errorf("create %d has conditions %s, want %s", i, got, want)
					}
				}
			},
		},
		{
			name: "scheme change with a new name: replacement first, the old one kept serving and the Ingress on it",
			mutate: func(d *desired, a *actual) {
				d.lb.Scheme = cloud.SchemeInternal
				d.lb.Name = "k8s-web-internal-9999999999"
				d.sgName = "k8s-web-internal-sg-9999999999"
				d.tgNames = map[string]string{apiID: "k8s-api-internal", webID: "k8s-web-internal"}
			},
			want: []string{"sg.create", "sg.authorize", "createTGs", "lb.create", "listener/80.create", "listener/443.create", "listener/443.addCerts",
				"listener/443.rules.create"},
			check: func(t *testing.T, _ *desired, a *actual, pl *plan) {
				if len(pl.retire) > 0 || !pl.pending || len(pl.retained) != 1 || pl.lb.serving != a.lbs[0] {
					t.Errorf("retire %v pending %v retained %d serving %v: want the old one kept, serving the Ingress, not yet retired "+
						"(its replacement is not active), and the plan pending", pl.retire, pl.pending, len(pl.retained), pl.lb.serving)
				}
				if len(pl.deleteTGs)+len(pl.deleteSGs) > 0 {
					t.Errorf("deletes target groups %v and security groups %v of a load balancer still serving", pl.deleteTGs, pl.deleteSGs)
				}
				if len(pl.createTGs) != 2 || len(pl.copyTargets) != 2 {
					t.Errorf("createTGs %d copyTargets %v: the replacement has groups of its own holding the same targets", len(pl.createTGs), pl.copyTargets)
				}
				if !slices.Equal(pl.mirrors[apiID], []string{tgARNFor(apiName)}) || !slices.Equal(pl.mirrors[webID], []string{tgARNFor(webName)}) {
					t.Errorf("mirrors %v: target syncs must keep the old load balancer's groups in step", pl.mirrors)
				}
				if len(pl.warnings) > 0 {
					t.Errorf("warnings %v", pl.warnings)
				}
			},
		},
		{
			name:   "a replacement load balancer still provisioning: the old one keeps the Ingress and is not retired",
			mutate: func(d *desired, a *actual) { withReplacementLB(d, a, elbv2types.LoadBalancerStateEnumProvisioning) },
			check: func(t *testing.T, _ *desired, a *actual, pl *plan) {
				if len(pl.retire) > 0 || !pl.pending || pl.lb.serving != a.lbs[0] {
					t.Errorf("retire %v pending %v serving %v", pl.retire, pl.pending, pl.lb.serving)
				}
			},
		},
		{
			name:   "a replacement load balancer that is active: the old one is retired, the Ingress moves",
			mutate: func(d *desired, a *actual) { withReplacementLB(d, a, elbv2types.LoadBalancerStateEnumActive) },
			want:   []string{"retire"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if !slices.Equal(pl.retire, []string{testLBARN}) || !pl.pending || pl.lb.serving != nil {
					t.Errorf("retire %v pending %v serving %v", pl.retire, pl.pending, pl.lb.serving)
				}
			},
		},
		{
			name: "a replaced load balancer within its grace period is kept, its retirement time not rewritten",
			mutate: func(d *desired, a *actual) {
				d.lb.Name = "k8s-web-renamed"
				a.lbs[0].tags = retiredTags(a.lbs[0].tags, 4*time.Minute)
				d.lb.Scheme = cloud.SchemeInternal
			},
			want: []string{"lb.create", "listener/80.create", "listener/443.create", "listener/443.addCerts", "listener/443.rules.create"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if !pl.pending || len(pl.retained) != 1 || len(pl.deleteLBs) != 0 {
					t.Errorf("pending %v retained %d deleteLBs %v", pl.pending, len(pl.retained), pl.deleteLBs)
				}
			},
		},
		{
			name: "a replaced load balancer past its grace period is deleted with its groups",
			mutate: func(d *desired, a *actual) {
				d.sgName = "k8s-web-renamed-sg"
				d.tgNames = map[string]string{apiID: "k8s-api-renamed", webID: "k8s-web-renamed"}
				renamed := &lbState{lb: a.lbs[0].lb, tags: a.lbs[0].tags}
				renamed.lb.LoadBalancerArn = ptr(testLBARN + "-renamed")
				renamed.lb.LoadBalancerName = ptr("k8s-web-renamed")
				renamed.lb.SecurityGroups = nil
				a.lbs[0].tags = retiredTags(a.lbs[0].tags, 5*time.Minute)
				a.lbs = append(a.lbs, renamed)
				d.lb.Name = "k8s-web-renamed"
			},
			want: []string{"sg.create", "sg.authorize", "createTGs", "lb.setSGs", "listener/80.create", "listener/443.create", "listener/443.addCerts",
				"listener/443.rules.create", "deleteLBs", "deleteTGs", "deleteSGs"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if !slices.Equal(pl.deleteLBs, []string{testLBARN}) || pl.pending {
					t.Errorf("deleteLBs %v pending %v, want the old one deleted", pl.deleteLBs, pl.pending)
				}
				if len(pl.deleteTGs) != 2 || !slices.Equal(pl.deleteSGs, []string{testSGID}) {
					t.Errorf("deleteTGs %v deleteSGs %v", pl.deleteTGs, pl.deleteSGs)
				}
			},
		},
		{
			name: "a rename reverted within the grace period: the old one is kept again and its retirement tag removed",
			mutate: func(_ *desired, a *actual) {
				a.lbs[0].tags = retiredTags(a.lbs[0].tags, time.Minute)
			},
			want: []string{"lb.tags"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if !slices.Equal(pl.lb.tags.remove, []string{cloud.TagRetiredAt}) {
					t.Errorf("lb tags %+v", pl.lb.tags)
				}
			},
		},
		{
			name: "duplicate owned load balancers: the oldest is kept",
			mutate: func(_ *desired, a *actual) {
				// observe sorts by creation time, oldest first.
				for i := 1; i <= 2; i++ {
					dup := &lbState{lb: a.lbs[0].lb, tags: a.lbs[0].tags}
					dup.lb.LoadBalancerArn = ptr(fmt.Sprintf("%s-dup%d", testLBARN, i))
					dup.lb.CreatedTime = ptr(deref(dup.lb.CreatedTime).Add(time.Duration(i) * time.Hour))
					a.lbs = append(a.lbs, dup)
				}
			},
			want: []string{"deleteLBs"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if got := deref(pl.lb.existing.lb.LoadBalancerArn); got != testLBARN {
					t.Errorf("kept %s, want the oldest %s", got, testLBARN)
				}
				if !equalSorted(pl.deleteLBs, []string{testLBARN + "-dup1", testLBARN + "-dup2"}) {
					t.Errorf("deleteLBs %v", pl.deleteLBs)
				}
			},
		},
		{
			name:   "health check change is modified in place",
			mutate: func(d *desired, _ *actual) { d.lb.TargetGroups[0].HealthCheck.Path = "/ready" },
			want:   []string{"modifyTGs"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if len(pl.modifyTGs) != 1 || pl.modifyTGs[0].arn != tgARNFor(apiName) || pl.modifyTGs[0].want.HealthCheck.Path != "/ready" {
					t.Errorf("modifyTGs %+v", pl.modifyTGs)
				}
			},
		},
		{
			name:   "success codes change is modified in place",
			mutate: func(d *desired, _ *actual) { d.lb.TargetGroups[1].HealthCheck.SuccessCodes = "200-399" },
			want:   []string{"modifyTGs"},
		},
		{
			name:   "missing matcher counts as a health check difference",
			mutate: func(_ *desired, a *actual) { a.targetGroups[1].tg.Matcher = nil },
			want:   []string{"modifyTGs"},
		},
		{
			name: "target group replaced: created with the old one's targets, rules stay on the old one meanwhile",
			mutate: func(d *desired, _ *actual) {
				d.lb.TargetGroups[0].Port = 9090
				d.tgNames[apiID] = "k8s-api-3333333333"
			},
			want: []string{"createTGs", "listener/443.rules.modify", "retire"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				assertWaitingRule(t, pl, tgARNFor(apiName), "new:"+apiID)
				if len(pl.createTGs) != 1 || pl.createTGs[0].ID != apiID || pl.createTGs[0].Port != 9090 {
					t.Errorf("createTGs %+v", pl.createTGs)
				}
				if pl.copyTargets[apiID] != tgARNFor(apiName) {
					t.Errorf("copyTargets %v", pl.copyTargets)
				}
				if pl.tgServing[apiID] != tgARNFor(apiName) || !pl.pending || !slices.Equal(pl.retire, []string{tgARNFor(apiName)}) {
					t.Errorf("tgServing %v pending %v retire %v", pl.tgServing, pl.pending, pl.retire)
				}
			},
		},
		{
			name: "replacement target group without a healthy target, within the wait: nothing changes",
			mutate: func(d *desired, a *actual) {
				d.tgNames[apiID] = "k8s-api-3333333333"
				withReplacementTG(a, apiID, "k8s-api-3333333333", 8080, "/healthz")
				a.targetGroups[0].tags = retiredTags(a.targetGroups[0].tags, time.Minute)
				a.health = map[string]groupHealth{tgARNFor("k8s-api-3333333333"): {targets: 2}}
				a.lbs[0].listeners[1].rules[0].Actions = []elbv2types.Action{awsForwardWaiting(tgARNFor(apiName), tgARNFor("k8s-api-3333333333"))}
			},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if pl.tgServing[apiID] != tgARNFor(apiName) || !pl.pending {
					t.Errorf("tgServing %v pending %v", pl.tgServing, pl.pending)
				}
				if pl.keepTGs[apiID] != tgARNFor("k8s-api-3333333333") {
					t.Errorf("keepTGs %v: target syncs must go to the new group", pl.keepTGs)
				}
				if !slices.Equal(pl.mirrors[apiID], []string{tgARNFor(apiName)}) {
					t.Errorf("mirrors %v: target syncs must keep the serving group in step", pl.mirrors)
				}
			},
		},
		{
			name: "replacement target group with a healthy target: rules switch, the old group is deleted",
			mutate: func(d *desired, a *actual) {
				d.tgNames[apiID] = "k8s-api-3333333333"
				withReplacementTG(a, apiID, "k8s-api-3333333333", 8080, "/healthz")
				a.targetGroups[0].tags = retiredTags(a.targetGroups[0].tags, time.Second)
				a.health = map[string]groupHealth{tgARNFor("k8s-api-3333333333"): {targets: 2, healthy: 1}}
			},
			want: []string{"listener/443.rules.modify", "deleteTGs"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if !slices.Equal(pl.deleteTGs, []string{tgARNFor(apiName)}) || pl.pending || len(pl.warnings) > 0 {
					t.Errorf("deleteTGs %v pending %v warnings %v", pl.deleteTGs, pl.pending, pl.warnings)
				}
				lp := listenerPlanFor(t, pl, 443)
				if len(lp.rules.modify) != 1 || lp.rules.modify[0].arn != ruleARN(443, 1) {
					t.Errorf("rule modifies %+v, want only the /api rule, in place", lp.rules.modify)
				}
			},
		},
		{
			name: "replacement target group still unhealthy after the wait: rules switch with a warning",
			mutate: func(d *desired, a *actual) {
				d.tgNames[apiID] = "k8s-api-3333333333"
				withReplacementTG(a, apiID, "k8s-api-3333333333", 8080, "/healthz")
				a.targetGroups[0].tags = retiredTags(a.targetGroups[0].tags, 2*time.Minute)
			},
			want: []string{"listener/443.rules.modify", "deleteTGs"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if len(pl.warnings) != 1 || !strings.Contains(pl.warnings[0], "no healthy target") || pl.pending {
					t.Errorf("warnings %v pending %v", pl.warnings, pl.pending)
				}
			},
		},
		{
			name: "replacement without targets (a crash before they were copied): the old group's targets are copied",
			mutate: func(d *desired, a *actual) {
				d.tgNames[apiID] = "k8s-api-3333333333"
				withReplacementTG(a, apiID, "k8s-api-3333333333", 8080, "/healthz")
				a.targetGroups[0].tags = retiredTags(a.targetGroups[0].tags, time.Minute)
				a.health = map[string]groupHealth{tgARNFor("k8s-api-3333333333"): {}}
			},
			want: []string{"copyTargets", "listener/443.rules.modify"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				assertWaitingRule(t, pl, tgARNFor(apiName), tgARNFor("k8s-api-3333333333"))
				if pl.copyTargets[apiID] != tgARNFor(apiName) || pl.tgServing[apiID] != tgARNFor(apiName) {
					t.Errorf("copyTargets %v tgServing %v", pl.copyTargets, pl.tgServing)
				}
			},
		},
		{
			name: "replacement found with the old one not yet retired (a crash after its create): retired now",
			mutate: func(d *desired, a *actual) {
				d.tgNames[apiID] = "k8s-api-3333333333"
				withReplacementTG(a, apiID, "k8s-api-3333333333", 8080, "/healthz")
				a.health = map[string]groupHealth{tgARNFor("k8s-api-3333333333"): {targets: 2}}
			},
			want: []string{"listener/443.rules.modify", "retire"},
		},
		{
			name: "target type change of the default backend waits, then repoints the listener and its rule",
			mutate: func(d *desired, a *actual) {
				d.lb.TargetGroups[1].TargetType = cloud.TargetTypeInstance
				d.tgNames[webID] = "k8s-web-4444444444"
				d.listeners[0].DefaultAction = forwardTo(webID)
				a.lbs[0].listeners[0].l.DefaultActions = []elbv2types.Action{awsForward(tgARNFor(webName))}
				withReplacementTG(a, webID, "k8s-web-4444444444", 80, "/").tg.TargetType = elbv2types.TargetTypeEnumInstance
				a.health = map[string]groupHealth{tgARNFor("k8s-web-4444444444"): {targets: 1, healthy: 1}}
			},
			want: []string{"listener/80.modify", "listener/443.rules.modify", "deleteTGs"},
		},
		{
			name: "target type change within the wait: the old group serves but is not mirrored (its targets are of another type)",
			mutate: func(d *desired, a *actual) {
				d.lb.TargetGroups[1].TargetType = cloud.TargetTypeInstance
				d.tgNames[webID] = "k8s-web-4444444444"
				withReplacementTG(a, webID, "k8s-web-4444444444", 80, "/").tg.TargetType = elbv2types.TargetTypeEnumInstance
				a.targetGroups[1].tags = retiredTags(a.targetGroups[1].tags, time.Minute)
				a.health = map[string]groupHealth{tgARNFor("k8s-web-4444444444"): {targets: 1}}
			},
			want: []string{"listener/443.rules.modify"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if pl.tgServing[webID] != tgARNFor(webName) || len(pl.mirrors[webID]) > 0 || len(pl.deleteTGs) > 0 {
					t.Errorf("tgServing %v mirrors %v deleteTGs %v: want the old group serving, kept, not mirrored", pl.tgServing, pl.mirrors, pl.deleteTGs)
				}
			},
		},
		{
			name:   "target group tags",
			mutate: func(d *desired, _ *actual) { d.lb.TargetGroups[0].Tags = map[string]string{"tier": "backend"} },
			want:   []string{"tgTags"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				tc := pl.tgTags[0]
				if tc.arn != tgARNFor(apiName) || !maps.Equal(tc.set, tagSet{"tier": "backend"}) || len(tc.remove) != 0 {
					t.Errorf("tgTags %+v", pl.tgTags)
				}
			},
		},
		{
			name: "load balancer tags drifted",
			mutate: func(_ *desired, a *actual) {
				a.lbs[0].tags["team"] = "legacy"
				a.lbs[0].tags["stale"] = "1"
			},
			want: []string{"lb.tags"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				tc := pl.lb.tags
				if tc.arn != testLBARN || !maps.Equal(tc.set, tagSet{"team": "web"}) || !slices.Equal(tc.remove, []string{"stale"}) {
					t.Errorf("lb tags %+v, want set team=web, remove stale", tc)
				}
			},
		},
		{
			name:   "an extra load balancer tag is removed",
			mutate: func(_ *desired, a *actual) { a.lbs[0].tags["stale"] = "1" },
			want:   []string{"lb.tags"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if tc := pl.lb.tags; len(tc.set) != 0 || !slices.Equal(tc.remove, []string{"stale"}) {
					t.Errorf("lb tags %+v, want only stale removed", tc)
				}
			},
		},
		{
			name: "a stale owned security group is deleted, the managed one kept",
			mutate: func(_ *desired, a *actual) {
				a.securityGroups = append(a.securityGroups, ec2types.SecurityGroup{GroupId: ptr("sg-stale"), GroupName: ptr("k8s-old-sg")})
			},
			want: []string{"deleteSGs"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if pl.sg.id != testSGID || !slices.Equal(pl.deleteSGs, []string{"sg-stale"}) {
					t.Errorf("sg %q deleteSGs %v, want %s kept and sg-stale deleted", pl.sg.id, pl.deleteSGs, testSGID)
				}
			},
		},
		{
			name: "user tags change on every resource",
			mutate: func(d *desired, _ *actual) {
				d.lb.Tags = map[string]string{"cost": "42"}
				retag(d)
			},
			want: []string{"sg.tags", "tgTags", "lb.tags"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if !maps.Equal(pl.lb.tags.set, tagSet{"cost": "42"}) || !slices.Equal(pl.lb.tags.remove, []string{"team"}) {
					t.Errorf("lb tags %+v", pl.lb.tags)
				}
				if !maps.Equal(pl.sg.setTags, tagSet{"cost": "42"}) || !slices.Equal(pl.sg.removeTags, []string{"team"}) {
					t.Errorf("security group tags set %v remove %v, want cost=42 set and team removed", pl.sg.setTags, pl.sg.removeTags)
				}
				if len(pl.tgTags) != 2 {
					t.Errorf("tgTags %+v, want both groups", pl.tgTags)
				}
				for _, tc := range pl.tgTags {
					if slices.Contains(tc.remove, cloud.TagResource) || slices.Contains(tc.remove, cloud.TagCluster) {
						t.Errorf("ownership tags removed: %+v", tc)
					}
				}
			},
		},
		{
			name: "external-managed keys are never added, changed or removed, wherever they come from",
			mutate: func(d *desired, a *actual) {
				d.lb.Tags = map[string]string{"team": "web", "owner": "ingress"}
				d.lb.TargetGroups[0].Tags = map[string]string{"owner": "service"}
				retag(d)
				d.policy = newTagPolicy(nil, []string{"owner", "billing"})
				d.tags = d.policy.merge(d.tags, nil)
				d.sgTags = d.policy.merge(d.sgTags, nil)
				a.lbs[0].tags["billing"] = "finance"
				a.targetGroups[0].tags["owner"] = "someone"
				a.securityGroups[0].Tags = append(a.securityGroups[0].Tags, ec2types.Tag{Key: ptr("billing"), Value: ptr("x")})
			},
			want: nil,
		},
		{
			name:   "subnets change",
			mutate: func(d *desired, _ *actual) { d.subnets = []string{"subnet-a", "subnet-c"} },
			want:   []string{"lb.setSubnets"},
		},
		{
			name:   "subnets in another order",
			mutate: func(d *desired, _ *actual) { d.subnets = []string{"subnet-b", "subnet-a"} },
		},
		{
			name:   "user security groups replace the managed one",
			mutate: func(d *desired, _ *actual) { d.userSGs = []string{"sg-user1", "sg-user2"} },
			want:   []string{"lb.setSGs", "deleteSGs"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if pl.sg != nil {
					t.Errorf("sg plan %+v, want none with user groups", pl.sg)
				}
				if !slices.Equal(pl.deleteSGs, []string{testSGID}) {
					t.Errorf("deleteSGs %v", pl.deleteSGs)
				}
			},
		},
		{
			name: "user security groups already in place",
			mutate: func(d *desired, a *actual) {
				d.userSGs = []string{"sg-user1", "sg-user2"}
				a.securityGroups = nil
				a.lbs[0].lb.SecurityGroups = []string{"sg-user2", "sg-user1"}
			},
		},
		{
			name: "back from user security groups to a managed one",
			mutate: func(_ *desired, a *actual) {
				a.securityGroups = nil
				a.lbs[0].lb.SecurityGroups = []string{"sg-user1"}
			},
			want: []string{"sg.create", "sg.authorize", "lb.setSGs"},
		},
		{
			name:   "inbound CIDRs change: exactly the difference, IPv6 as Ipv6Ranges",
			mutate: func(d *desired, _ *actual) { d.lb.InboundCIDRs = []string{"10.0.0.0/8", "2001:db8::/32"} },
			want:   []string{"sg.authorize", "sg.revoke"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				wantAuth := []string{"tcp/443/10.0.0.0/8", "tcp/443/2001:db8::/32", "tcp/80/10.0.0.0/8", "tcp/80/2001:db8::/32"}
				if got := permissionKeys(pl.sg.authorize); !slices.Equal(got, wantAuth) {
					t.Errorf("authorize %v, want %v", got, wantAuth)
				}
				if got, want := permissionKeys(pl.sg.revoke), []string{"tcp/443/0.0.0.0/0", "tcp/80/0.0.0.0/0"}; !slices.Equal(got, want) {
					t.Errorf("revoke %v, want %v", got, want)
				}
				for _, p := range pl.sg.authorize {
					v6 := len(p.Ipv6Ranges) == 1 && isIPv6(deref(p.Ipv6Ranges[0].CidrIpv6))
					v4 := len(p.IpRanges) == 1 && !isIPv6(deref(p.IpRanges[0].CidrIp))
					if v6 == v4 {
						t.Errorf("permission %s: IpRanges %d, Ipv6Ranges %d; want one range of the right family",
							permissionKey(p), len(p.IpRanges), len(p.Ipv6Ranges))
					}
				}
			},
		},
		{
			name: "inbound CIDRs swap one of two",
			mutate: func(d *desired, a *actual) {
				d.lb.InboundCIDRs = []string{"10.0.0.0/8", "192.168.0.0/16"}
				a.securityGroups[0].IpPermissions = []ec2types.IpPermission{
					awsPermission(80, "10.0.0.0/8", "172.16.0.0/12"), awsPermission(443, "10.0.0.0/8", "172.16.0.0/12")}
			},
			want: []string{"sg.authorize", "sg.revoke"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if got, want := permissionKeys(pl.sg.authorize), []string{"tcp/443/192.168.0.0/16", "tcp/80/192.168.0.0/16"}; !slices.Equal(got, want) {
					t.Errorf("authorize %v, want %v", got, want)
				}
				if got, want := permissionKeys(pl.sg.revoke), []string{"tcp/443/172.16.0.0/12", "tcp/80/172.16.0.0/12"}; !slices.Equal(got, want) {
					t.Errorf("revoke %v, want %v", got, want)
				}
			},
		},
		{
			name: "grouped permissions with both families match",
			mutate: func(d *desired, a *actual) {
				d.lb.InboundCIDRs = []string{"10.0.0.0/8", "::/0"}
				a.securityGroups[0].IpPermissions = []ec2types.IpPermission{
					awsPermission(443, "::/0", "10.0.0.0/8"), awsPermission(80, "10.0.0.0/8", "::/0")}
			},
		},
		{
			name:   "dualstack opens ::/0 by default",
			mutate: func(d *desired, _ *actual) { d.lb.IPAddressType = cloud.IPAddressTypeDualStack },
			want:   []string{"sg.authorize", "lb.setIPType"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if got, want := permissionKeys(pl.sg.authorize), []string{"tcp/443/::/0", "tcp/80/::/0"}; !slices.Equal(got, want) {
					t.Errorf("authorize %v, want %v", got, want)
				}
			},
		},
		{
			name:   "default certificate change",
			mutate: func(d *desired, _ *actual) { d.listeners[1].certs = []string{certC, certB} },
			want:   []string{"listener/443.modify"},
		},
		{
			name: "default certificate becomes an extra one",
			// certA was only the default; ModifyListener drops it, so it must be added to the list.
			mutate: func(d *desired, _ *actual) { d.listeners[1].certs = []string{certC, certA, certB} },
			want:   []string{"listener/443.modify", "listener/443.addCerts"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if lp := listenerPlanFor(t, pl, 443); !slices.Equal(lp.addCerts, []string{certA}) {
					t.Errorf("addCerts %v, want [certA]", lp.addCerts)
				}
			},
		},
		{
			name:   "extra certificate added",
			mutate: func(d *desired, _ *actual) { d.listeners[1].certs = []string{certA, certB, certC} },
			want:   []string{"listener/443.addCerts"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if lp := listenerPlanFor(t, pl, 443); !slices.Equal(lp.addCerts, []string{certC}) {
					t.Errorf("addCerts %v, want [certC]", lp.addCerts)
				}
			},
		},
		{
			name:   "extra certificate removed",
			mutate: func(d *desired, _ *actual) { d.listeners[1].certs = []string{certA} },
			want:   []string{"listener/443.delCerts"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if lp := listenerPlanFor(t, pl, 443); !slices.Equal(lp.delCerts, []string{certB}) {
					t.Errorf("delCerts %v, want [certB]", lp.delCerts)
				}
			},
		},
		{
			name:   "SSL policy change",
			mutate: func(d *desired, _ *actual) { d.listeners[1].SSLPolicy = "ELBSecurityPolicy-TLS13-1-3-2021-06" },
			want:   []string{"listener/443.modify"},
		},
		{
			name:   "SSL policy on an HTTP listener is ignored",
			mutate: func(d *desired, _ *actual) { d.listeners[0].SSLPolicy = "ELBSecurityPolicy-TLS13-1-3-2021-06" },
		},
		{
			name: "default action change",
			mutate: func(d *desired, _ *actual) {
				d.listeners[0].DefaultAction.Redirect = &cloud.Redirect{Protocol: "HTTPS", Port: "443", StatusCode: 302}
			},
			want: []string{"listener/80.modify"},
		},
		{
			name:   "listener no longer wanted",
			mutate: func(d *desired, _ *actual) { d.listeners = d.listeners[1:] },
			want:   []string{"sg.revoke", "deleteListeners"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				if !slices.Equal(pl.deleteListeners, []string{listenerARN(80)}) {
					t.Errorf("deleteListeners %v", pl.deleteListeners)
				}
				if got, want := permissionKeys(pl.sg.revoke), []string{"tcp/80/0.0.0.0/0"}; !slices.Equal(got, want) {
					t.Errorf("revoke %v, want %v", got, want)
				}
			},
		},
		{
			name: "listener added",
			mutate: func(d *desired, _ *actual) {
				d.listeners = append(d.listeners, desiredListener{Listener: cloud.Listener{Port: 8080, Protocol: cloud.ProtocolHTTP,
					DefaultAction: forwardTo(webID)}})
			},
			want: []string{"sg.authorize", "listener/8080.create"},
		},
		{
			name: "rule path added",
			mutate: func(d *desired, _ *actual) {
				d.listeners[1].Rules = slices.Insert(slices.Clone(d.listeners[1].Rules), 1, hostPathRule(testHost, "/static", webID))
			},
			want: []string{"listener/443.rules.create"},
			check: func(t *testing.T, _ *desired, _ *actual, pl *plan) {
				c := listenerPlanFor(t, pl, 443).rules.creates
				if len(c) != 1 || c[0].priority <= 10 || c[0].priority >= 20 {
					t.Errorf("creates %+v, want one between 10 and 20", c)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, a := testDesired(), testActual()
			if tc.mutate != nil {
				tc.mutate(d, a)
			}
			pl := mustPlan(t, d, a)
			if got := planChanges(pl); !slices.Equal(got, tc.want) {
				t.Errorf("changes = %v, want %v", got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, d, a, pl)
			}
		})
	}
}

// TestMakePlanAccountsForEveryOwnedResource checks that every owned resource the plan does not keep is deleted,
// and that nothing is deleted that actual did not list (actual holds only resources found by ownership tags).
func TestMakePlanAccountsForEveryOwnedResource(t *testing.T) {
	d, a := testDesired(), testActual()
	d.lb.Scheme = cloud.SchemeInternal
	d.lb.Name = "k8s-web-internal"
	a.lbs[0].tags = retiredTags(a.lbs[0].tags, time.Hour)
	d.userSGs = []string{"sg-user"}
	d.tgNames[apiID] = "k8s-api-5555555555"
	extra := &lbState{lb: a.lbs[0].lb, tags: a.lbs[0].tags}
	extra.lb.LoadBalancerArn = ptr(testLBARN + "-2")
	a.lbs = append(a.lbs, extra)
	pl := mustPlan(t, d, a)

	owned := map[string]bool{}
	for _, lb := range a.lbs {
		owned[deref(lb.lb.LoadBalancerArn)] = true
	}
	for _, tg := range a.targetGroups {
		owned[deref(tg.tg.TargetGroupArn)] = true
	}
	for _, sg := range a.securityGroups {
		owned[deref(sg.GroupId)] = true
	}
	deleted := append(slices.Clone(pl.deleteLBs), pl.deleteTGs...)
	deleted = append(deleted, pl.deleteSGs...)
	kept := slices.Collect(maps.Values(pl.keepTGs))
	if pl.lb.existing != nil {
		kept = append(kept, deref(pl.lb.existing.lb.LoadBalancerArn))
	}
	for _, id := range deleted {
		if !owned[id] {
			t.Errorf("deletes %s, which is not among the owned resources", id)
		}
		if slices.Contains(kept, id) {
			t.Errorf("both keeps and deletes %s", id)
		}
	}
	for id := range owned {
		if !slices.Contains(deleted, id) && !slices.Contains(kept, id) {
			t.Errorf("owned %s is neither kept nor deleted", id)
		}
	}
}

// simRule is a rule on a simulated listener.
type simRule struct{ arn, conds, actions string }

// simulateRules applies a rule plan to a listener holding have, in applyRules' order, failing on anything the
// API would refuse; before the deletes, every path that had a rule must still have one. It returns the rules
// by ascending priority.
func simulateRules(t *testing.T, have []elbv2types.Rule, rp rulePlan, tgRef func(string) string) []simRule {
	t.Helper()
	byPrio := map[int32]simRule{}
	prioOf := map[string]int32{}
	before := map[string]bool{}
	for _, r := range have {
		p := rulePriority(r)
		byPrio[p] = simRule{deref(r.RuleArn), conditionsKey(r.Conditions), actionsKey(r.Actions)}
		prioOf[deref(r.RuleArn)] = p
		before[conditionsKey(r.Conditions)] = true
	}
	for _, m := range rp.moves {
		if r, held := byPrio[m.priority]; held {
			t.Fatalf("move of %s onto priority %d held by %s", m.arn, m.priority, r.arn)
		}
	}
	moved := map[int32]simRule{}
	for _, m := range rp.moves {
		p, ok := prioOf[m.arn]
		if !ok {
			t.Fatalf("move of unknown rule %s", m.arn)
		}
		moved[m.priority] = byPrio[p]
		delete(byPrio, p)
	}
	for p, r := range moved {
		if _, dup := byPrio[p]; dup {
			t.Fatalf("two rules moved to %d", p)
		}
		byPrio[p] = r
		prioOf[r.arn] = p
	}
	for i, c := range rp.creates {
		if r, held := byPrio[c.priority]; held {
			t.Fatalf("create at priority %d held by %s", c.priority, r.arn)
		}
		arn := fmt.Sprintf("created-%d", i)
		byPrio[c.priority] = simRule{arn, conditionsKey(albConditions(c.rule.Conditions)),
			actionsKey([]elbv2types.Action{albAction(c.rule.Action, tgRef)})}
		prioOf[arn] = c.priority
	}
	for _, m := range rp.modify {
		p, ok := prioOf[m.arn]
		if !ok {
			t.Fatalf("modify of unknown rule %s", m.arn)
		}
		r := byPrio[p]
		r.actions = actionsKey([]elbv2types.Action{albAction(m.rule.Action, tgRef)})
		byPrio[p] = r
	}
	present := map[string]bool{}
	for _, r := range byPrio {
		present[r.conds] = true
	}
	for _, arn := range rp.deletes {
		p, ok := prioOf[arn]
		if !ok {
			t.Fatalf("delete of unknown rule %s", arn)
		}
		delete(byPrio, p)
		delete(prioOf, arn)
	}
	out := make([]simRule, 0, len(byPrio))
	for _, p := range slices.Sorted(maps.Keys(byPrio)) {
		out = append(out, byPrio[p])
	}
	stillWanted := map[string]bool{}
	for _, r := range out {
		stillWanted[r.conds] = true
	}
	for conds := range before {
		if stillWanted[conds] && !present[conds] {
			t.Fatalf("path %s had no rule between the creates and the deletes", conds)
		}
	}
	return out
}

// TestSchemeChangeUnderAFixedNameIsRefused checks that no plan deletes the serving load balancer before its
// replacement exists: AWS holds one load balancer per name, so the user must change the name with the scheme.
func TestSchemeChangeUnderAFixedNameIsRefused(t *testing.T) {
	for _, dup := range []bool{false, true} {
		d, a := testDesired(), testActual()
		d.lb.Scheme = cloud.SchemeInternal
		if dup {
			// Emulators do not dedupe names.
			extra := *a.lbs[0]
			extra.lb.LoadBalancerArn = ptr(testLBARN + "-dup")
			a.lbs = append(a.lbs, &extra)
		}
		pl, err := makePlan(d, a)
		if err == nil || !strings.Contains(err.Error(), "change load-balancer-name together with scheme") {
			t.Errorf("duplicates %v: plan %v, error %v; want a refusal naming load-balancer-name", dup, pl, err)
		}
	}
}

// TestLongTargetGroupIDs checks that resource IDs over the 256 characters of a tag value, which tags hold
// hashed, match their groups everywhere in the plan.
func TestLongTargetGroupIDs(t *testing.T) {
	long := "ns/" + strings.Repeat("x", 300) + ":8080"
	setup := func() (*desired, *actual) {
		d, a := testDesired(), testActual()
		d.lb.TargetGroups[0].ID = long
		d.tgNames = map[string]string{long: apiName, webID: webName}
		d.listeners[1].Rules = []cloud.Rule{hostPathRule(testHost, "/api", long), hostPathRule(testHost, "/", webID)}
		a.targetGroups[0].tags = ownerTags(cloud.TagValue(long), map[string]string{"team": "web"})
		return d, a
	}
	d, a := setup()
	pl := mustPlan(t, d, a)
	assertNoChanges(t, pl)
	if pl.keepTGs[long] != tgARNFor(apiName) || len(pl.mirrors) > 0 {
		t.Errorf("keepTGs %v mirrors %v", pl.keepTGs, pl.mirrors)
	}

	// A protocol change waiting for the new group's health.
	d, a = setup()
	d.tgNames[long] = "k8s-api-3333333333"
	tg := withReplacementTG(a, long, "k8s-api-3333333333", 8080, "/healthz")
	tg.tags[cloud.TagResource] = cloud.TagValue(long)
	a.targetGroups[0].tags = retiredTags(a.targetGroups[0].tags, time.Minute)
	if got := healthChecks(d, a); !slices.Equal(got, []string{tgARNFor("k8s-api-3333333333")}) {
		t.Errorf("healthChecks %v, want the new group's health read", got)
	}
	a.health = map[string]groupHealth{tgARNFor("k8s-api-3333333333"): {targets: 1}}
	pl = mustPlan(t, d, a)
	if pl.tgServing[long] != tgARNFor(apiName) || !slices.Equal(pl.mirrors[long], []string{tgARNFor(apiName)}) || len(pl.deleteTGs) > 0 {
		t.Errorf("tgServing %v mirrors %v deleteTGs %v: want the old group serving and kept in step", pl.tgServing, pl.mirrors, pl.deleteTGs)
	}
}

// TestServicePortChangeIsAReplacement checks that a target group whose ID changes only in the Service port
// replaces the old one with the health-gated switch instead of taking traffic empty.
func TestServicePortChangeIsAReplacement(t *testing.T) {
	const newID, newName = "ns/api:9090", "k8s-api-9090"
	portChange := func() (*desired, *actual) {
		d, a := testDesired(), testActual()
		d.lb.TargetGroups[0].ID = newID
		d.tgNames = map[string]string{newID: newName, webID: webName}
		d.listeners[1].Rules = []cloud.Rule{hostPathRule(testHost, "/api", newID), hostPathRule(testHost, "/", webID)}
		return d, a
	}
	old := tgARNFor(apiName)

	d, a := portChange()
	pl := mustPlan(t, d, a)
	if got, want := planChanges(pl), []string{"createTGs", "listener/443.rules.modify", "retire"}; !slices.Equal(got, want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	assertWaitingRule(t, pl, old, "new:"+newID)
	if len(pl.copyTargets) > 0 || pl.tgServing[newID] != old || !pl.pending || !slices.Equal(pl.mirrors[newID], []string{old}) {
		t.Errorf("copyTargets %v tgServing %v pending %v mirrors %v: want the old group serving, kept in step, nothing copied",
			pl.copyTargets, pl.tgServing, pl.pending, pl.mirrors)
	}

	d, a = portChange()
	a.targetGroups[0].tags = retiredTags(a.targetGroups[0].tags, time.Minute)
	withReplacementTG(a, newID, newName, 8080, "/healthz")
	a.lbs[0].listeners[1].rules[0].Actions = []elbv2types.Action{awsForwardWaiting(old, tgARNFor(newName))}
	if got := healthChecks(d, a); !slices.Equal(got, []string{tgARNFor(newName)}) {
		t.Errorf("healthChecks %v, want the new group's health read", got)
	}
	a.health = map[string]groupHealth{tgARNFor(newName): {targets: 1}}
	if pl := mustPlan(t, d, a); len(planChanges(pl)) > 0 || !pl.pending {
		t.Errorf("no healthy target yet: changes %v pending %v, want none, pending", planChanges(pl), pl.pending)
	}
	a.health = map[string]groupHealth{tgARNFor(newName): {targets: 1, healthy: 1}}
	pl = mustPlan(t, d, a)
	if got, want := planChanges(pl), []string{"listener/443.rules.modify", "deleteTGs"}; !slices.Equal(got, want) || pl.pending {
		t.Errorf("healthy: changes %v pending %v, want %v", got, pl.pending, want)
	}

	// Two ports of one Service wanted: which one replaces the old port is a guess, so there is no switch.
	d, a = portChange()
	d.lb.TargetGroups = append(d.lb.TargetGroups, cloud.TargetGroup{ID: "ns/api:7070", Protocol: cloud.ProtocolHTTP, Port: 7070,
		TargetType: cloud.TargetTypeIP, HealthCheck: healthCheck("/")})
	d.tgNames["ns/api:7070"] = "k8s-api-7070"
	if pl := mustPlan(t, d, a); len(pl.tgServing) > 0 {
		t.Errorf("tgServing %v, want no switch for an ambiguous match", pl.tgServing)
	}
}

func TestPlanRules(t *testing.T) {
	tgRef := func(id string) string { return "arn:tg/" + id }
	rule := func(n int, prio int32, paths []string, tg string) elbv2types.Rule {
		return awsRule(ruleARN(443, n), prio, testHost, paths, tgRef(tg))
	}
	api := hostPathRule(testHost, "/api", "api")
	web := hostPathRule(testHost, "/", "web")
	static := hostPathRule(testHost, "/static", "web")
	haveAPI := rule(1, 10, []string{"/api", "/api/*"}, "api")
	haveWeb := rule(2, 20, []string{"/*"}, "web")
	haveStatic := rule(3, 30, []string{"/static", "/static/*"}, "web")

	type counts struct{ moves, creates, modify, deletes int }
	cases := []struct {
		name  string
		want  []cloud.Rule
		have  []elbv2types.Rule
		count counts
		check func(t *testing.T, rp rulePlan)
	}{
		{name: "identical", want: []cloud.Rule{api, web}, have: []elbv2types.Rule{haveAPI, haveWeb}},
		{name: "host in other case and values reordered", want: []cloud.Rule{
			{Conditions: []cloud.Condition{
				{Type: cloud.ConditionPath, PathMatch: cloud.PathPattern, Values: []string{"/api/*", "/api"}},
				{Type: cloud.ConditionHost, Values: []string{"WWW.Example.com"}}}, Action: forwardTo("api")},
			web}, have: []elbv2types.Rule{haveAPI, haveWeb}},
		{name: "action change only is modified in place", want: []cloud.Rule{hostPathRule(testHost, "/api", "web"), web},
			have: []elbv2types.Rule{haveAPI, haveWeb}, count: counts{modify: 1},
			check: func(t *testing.T, rp rulePlan) {
				if rp.modify[0].arn != ruleARN(443, 1) {
					t.Errorf("modified %s, want the /api rule", rp.modify[0].arn)
				}
			}},
		{name: "weights change is modified in place", want: []cloud.Rule{{Conditions: api.Conditions, Action: cloud.Action{
			Type: cloud.ActionForward, Forward: []cloud.WeightedTargetGroup{{TargetGroupID: "api", Weight: 80}, {TargetGroupID: "web", Weight: 20}}}}, web},
			have: []elbv2types.Rule{haveAPI, haveWeb}, count: counts{modify: 1}},
		{name: "condition change creates the new rule beside the old, then deletes the old",
			want: []cloud.Rule{hostPathRule(testHost, "/v2", "api"), web}, have: []elbv2types.Rule{haveAPI, haveWeb},
			count: counts{creates: 1, deletes: 1},
			check: func(t *testing.T, rp rulePlan) {
				if !slices.Equal(rp.deletes, []string{ruleARN(443, 1)}) {
					t.Errorf("deletes %v, want the old /api rule", rp.deletes)
				}
				if c := rp.creates[0].priority; c == 10 || c == 20 {
					t.Errorf("create at %d, a priority still held", c)
				}
			}},
		{name: "condition change of the last rule needs no move",
			want: []cloud.Rule{api, hostPathRule(testHost, "/app", "web")}, have: []elbv2types.Rule{haveAPI, haveWeb},
			count: counts{creates: 1, deletes: 1}},
		{name: "insert in the middle creates one rule and renumbers nothing",
			want: []cloud.Rule{api, static, web}, have: []elbv2types.Rule{haveAPI, haveWeb}, count: counts{creates: 1},
			check: func(t *testing.T, rp rulePlan) {
				if p := rp.creates[0].priority; p <= 10 || p >= 20 {
					t.Errorf("inserted at %d, want between 10 and 20", p)
				}
			}},
		{name: "append", want: []cloud.Rule{api, web, static}, have: []elbv2types.Rule{haveAPI, haveWeb}, count: counts{creates: 1}},
		{name: "delete", want: []cloud.Rule{api, static}, have: []elbv2types.Rule{haveAPI, haveWeb, haveStatic}, count: counts{deletes: 1}},
		{name: "reverse moves through free priorities", want: []cloud.Rule{static, web, api},
			have: []elbv2types.Rule{haveAPI, haveWeb, haveStatic}, count: counts{moves: 2}},
		{name: "duplicate existing rules: the extra one is deleted", want: []cloud.Rule{api, web},
			have:  []elbv2types.Rule{haveAPI, haveWeb, rule(9, 40, []string{"/api/*", "/api"}, "api")},
			count: counts{deletes: 1},
			check: func(t *testing.T, rp rulePlan) {
				if !slices.Equal(rp.deletes, []string{ruleARN(443, 9)}) {
					t.Errorf("deletes %v, want the later duplicate", rp.deletes)
				}
			}},
		{name: "legacy-only existing conditions match", want: []cloud.Rule{api}, have: []elbv2types.Rule{{
			RuleArn: ptr(ruleARN(443, 1)), Priority: ptr("10"),
			Conditions: []elbv2types.RuleCondition{{Field: ptr("host-header"), Values: []string{testHost}},
				{Field: ptr("path-pattern"), Values: []string{"/api/*", "/api"}}},
			Actions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, TargetGroupArn: ptr(tgRef("api"))}},
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rp, err := planRules(tc.want, tc.have, tgRef, nil)
			if err != nil {
				t.Fatalf("planRules: %v", err)
			}
			got := counts{len(rp.moves), len(rp.creates), len(rp.modify), len(rp.deletes)}
			if got != tc.count {
				t.Errorf("moves/creates/modify/deletes = %+v, want %+v (plan %+v)", got, tc.count, rp)
			}
			if tc.check != nil && got == tc.count {
				tc.check(t, rp)
			}
			final := simulateRules(t, tc.have, rp, tgRef)
			if len(final) != len(tc.want) {
				t.Fatalf("listener ends with %d rules, want %d", len(final), len(tc.want))
			}
			for i, r := range tc.want {
				wc := conditionsKey(albConditions(r.Conditions))
				wa := actionsKey([]elbv2types.Action{albAction(r.Action, tgRef)})
				if final[i].conds != wc || final[i].actions != wa {
					t.Errorf("rule %d = %s -> %s, want %s -> %s", i, final[i].conds, final[i].actions, wc, wa)
				}
			}
		})
	}
}

func TestPlanListenerDedupesDesiredRules(t *testing.T) {
	tgRef := func(id string) string { return "arn:tg/" + id }
	first := hostPathRule(testHost, "/api", "api")
	// Same conditions, another order and host case: the ALB would never reach it.
	dup := cloud.Rule{Conditions: []cloud.Condition{first.Conditions[1],
		{Type: cloud.ConditionHost, Values: []string{"WWW.EXAMPLE.COM"}}}, Action: forwardTo("web")}
	want := desiredListener{Listener: cloud.Listener{Port: 80, Protocol: cloud.ProtocolHTTP,
		DefaultAction: forwardTo("web"), Rules: []cloud.Rule{first, dup, hostPathRule(testHost, "/", "web")}}}

	t.Run("new listener", func(t *testing.T) {
		lp, err := planListener(want, nil, tgRef)
		if err != nil {
			t.Fatal(err)
		}
		if len(lp.rules.creates) != 2 {
			t.Fatalf("creates %+v, want 2 (duplicate dropped)", lp.rules.creates)
		}
		if got := actionsKey([]elbv2types.Action{albAction(lp.rules.creates[0].rule.Action, tgRef)}); got != "forward:arn:tg/api*1" {
			t.Errorf("kept rule forwards %s, want the first one (to api)", got)
		}
	})
	t.Run("existing listener", func(t *testing.T) {
		have := &listenerState{
			l: elbv2types.Listener{ListenerArn: ptr(listenerARN(80)), Port: ptr(int32(80)), Protocol: elbv2types.ProtocolEnumHttp,
				DefaultActions: []elbv2types.Action{awsForward(tgRef("web"))}},
			rules: []elbv2types.Rule{awsRule(ruleARN(80, 1), 10, testHost, []string{"/api", "/api/*"}, tgRef("api"))},
		}
		lp, err := planListener(want, have, tgRef)
		if err != nil {
			t.Fatal(err)
		}
		if lp.modify || len(lp.rules.creates) != 1 || len(lp.rules.modify)+len(lp.rules.deletes)+len(lp.rules.moves) != 0 {
			t.Errorf("plan %+v, want only the / rule created", lp)
		}
	})
}

// TestPlanAttributes checks that only the attributes the model names are compared and set, on kept and new
// resources alike.
func TestPlanAttributes(t *testing.T) {
	if got := diffAttributes(map[string]string{"a": "1", "b": "2"}, map[string]string{"a": "1"}); got != nil {
		t.Errorf("an attribute the model leaves out must not be touched; got %v", got)
	}
	if got := diffAttributes(map[string]string{"a": "1"}, map[string]string{"a": "2", "c": "3"}); len(got) != 2 || got["a"] != "2" || got["c"] != "3" {
		t.Errorf("changed and missing attributes must be set; got %v", got)
	}
	if got := diffAttributes(nil, nil); got != nil {
		t.Errorf("no attributes, no change; got %v", got)
	}
}

// pathRules are n host and prefix rules, /p<from> onwards, as the model has them and as AWS reports them.
func pathRules(host string, from, n int) ([]cloud.Rule, []elbv2types.Rule) {
	var want []cloud.Rule
	var have []elbv2types.Rule
	for i := from; i < from+n; i++ {
		path := fmt.Sprintf("/p%d", i)
		want = append(want, hostPathRule(host, path, apiID))
		have = append(have, awsRule(ruleARN(443, i), int32(10*(i+1)), host, []string{path, path + "/*"}, tgARNFor(apiName)))
	}
	return want, have
}

func TestRuleStepsRespectTheRuleQuota(t *testing.T) {
	cases := []struct {
		name string
		// mutate sets listener 443's desired and actual rules (and anything else).
		mutate func(d *desired, a *actual)
		// earlyDeletes is how many rules must go before the creates are done.
		earlyDeletes int
		// superseded says each early delete must be followed at once by the create of the same path.
		superseded bool
	}{
		{
			name: "host rename of 60 paths: 40 creates fit, then each create follows the delete of the rule it supersedes",
			mutate: func(d *desired, a *actual) {
				d.listeners[1].Rules, _ = pathRules("new.example.com", 0, 60)
				_, a.lbs[0].listeners[1].rules = pathRules(testHost, 0, 60)
			},
			earlyDeletes: 20, superseded: true,
		},
		{
			name: "host rename of 40 paths fits beside the old rules: nothing is deleted first",
			mutate: func(d *desired, a *actual) {
				d.listeners[1].Rules, _ = pathRules("new.example.com", 0, 40)
				_, a.lbs[0].listeners[1].rules = pathRules(testHost, 0, 40)
			},
		},
		{
			name: "20 paths replace 10 removed ones next to 80 kept, up to exactly 100",
			mutate: func(d *desired, a *actual) {
				kept, _ := pathRules(testHost, 0, 80)
				added, _ := pathRules(testHost, 100, 20)
				d.listeners[1].Rules = append(kept, added...)
				_, a.lbs[0].listeners[1].rules = pathRules(testHost, 0, 90)
			},
			earlyDeletes: 10,
		},
		{
			name: "60 paths move to another listener: room comes from the rules of the listener going away",
			mutate: func(d *desired, a *actual) {
				d.listeners = d.listeners[1:]
				d.listeners[0].Rules, _ = pathRules(testHost, 0, 60)
				a.lbs[0].listeners[1].rules = nil
				_, rules := pathRules(testHost, 0, 60)
				for i := range rules {
					rules[i].RuleArn = ptr(ruleARN(80, i))
				}
				a.lbs[0].listeners[0].rules = rules
			},
			earlyDeletes: 20,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, a := testDesired(), testActual()
			tc.mutate(d, a)
			if err := checkQuotas(d); err != nil {
				t.Fatalf("checkQuotas: %v", err)
			}
			pl := mustPlan(t, d, a)
			rules := map[string]string{} // ARN -> path conditions
			count := 0
			for _, l := range a.lbs[0].listeners {
				for _, r := range l.rules {
					_, rules[deref(r.RuleArn)] = splitConditions(r.Conditions)
					count++
				}
			}
			early := 0
			for i, s := range pl.ruleSteps {
				if s.del == "" {
					if count++; count > ruleQuota {
						t.Fatalf("step %d: the load balancer would hold %d rules", i, count)
					}
					continue
				}
				early++
				count--
				next := pl.ruleSteps[min(i+1, len(pl.ruleSteps)-1)]
				if next.create == nil {
					t.Fatalf("step %d: delete of %s is not followed by the create that needs the room", i, s.del)
				}
				if _, rest := splitConditions(albConditions(next.create.rule.Conditions)); tc.superseded && rest != rules[s.del] {
					t.Errorf("step %d: deleted %s but then created %s, leaving the path without a rule", i, rules[s.del], rest)
				}
			}
			if early != tc.earlyDeletes {
				t.Errorf("%d rules deleted before the creates were done, want %d", early, tc.earlyDeletes)
			}
			creates := 0
			for _, lp := range pl.listeners {
				creates += len(lp.rules.creates)
			}
			if got := len(pl.ruleSteps) - early; got != creates {
				t.Errorf("%d creates in the steps, want every one of %d", got, creates)
			}
		})
	}
}

func TestCheckQuotas(t *testing.T) {
	rule := func(conds ...cloud.Condition) cloud.Rule {
		return cloud.Rule{Conditions: conds, Action: forwardTo(apiID)}
	}
	host := func(v ...string) cloud.Condition { return cloud.Condition{Type: cloud.ConditionHost, Values: v} }
	prefix := func(v ...string) cloud.Condition {
		return cloud.Condition{Type: cloud.ConditionPath, PathMatch: cloud.PathPrefix, Values: v}
	}
	cases := []struct {
		name   string
		mutate func(d *desired)
		// want is a substring of the error naming the quota; empty: the model fits.
		want string
	}{
		{name: "the test model fits"},
		{name: "100 rules fit", mutate: func(d *desired) { d.listeners[1].Rules, _ = pathRules(testHost, 0, 100) }},
		{name: "101 rules over two listeners", mutate: func(d *desired) {
			d.listeners[1].Rules, _ = pathRules(testHost, 0, 60)
			d.listeners[0].Rules, _ = pathRules(testHost, 100, 41)
		}, want: "quota of 100 rules per load balancer"},
		{name: "repeated rules count once", mutate: func(d *desired) {
			rules, _ := pathRules(testHost, 0, 100)
			d.listeners[1].Rules = append(rules, rules[:10]...)
		}},
		{name: "5 condition values: three hosts and a prefix", mutate: func(d *desired) {
			d.listeners[1].Rules = []cloud.Rule{rule(host(testHost, "b.example.com", "c.example.com"), prefix("/a"))}
		}},
		{name: "5 condition values, but two prefixes are 4 path values in one condition", mutate: func(d *desired) {
			d.listeners[1].Rules = []cloud.Rule{rule(host(testHost), prefix("/a", "/b"))}
		}, want: "quota of 3 match evaluations per condition"},
		{name: "6 condition values", mutate: func(d *desired) {
			d.listeners[1].Rules = []cloud.Rule{rule(host(testHost, "b.example.com"), prefix("/a", "/b"))}
		}, want: "quota of 5 condition values per rule"},
		{name: "6 wildcards in 4 values", mutate: func(d *desired) {
			d.listeners[1].Rules = []cloud.Rule{rule(host("*.a.example.com", "*.b.example.com"),
				cloud.Condition{Type: cloud.ConditionPath, PathMatch: cloud.PathPattern, Values: []string{"/x/*/*", "/y/?/*"}})}
		}, want: "quota of 5 wildcards per rule"},
		{name: "regexes count as values, not wildcards", mutate: func(d *desired) {
			d.listeners[1].Rules = []cloud.Rule{rule(cloud.Condition{Type: cloud.ConditionHost, Regex: true, Values: []string{".*a*", ".*b*"}},
				cloud.Condition{Type: cloud.ConditionPath, Regex: true, Values: []string{"^/x*?$", "^/y*?$", "^/z*?$"}})}
		}},
		{name: "6 values with regexes", mutate: func(d *desired) {
			d.listeners[1].Rules = []cloud.Rule{rule(cloud.Condition{Type: cloud.ConditionHost, Regex: true, Values: []string{".*a*", ".*b*"}},
				cloud.Condition{Type: cloud.ConditionHeader, HeaderName: "h", Regex: true, Values: []string{"1", "2", "3", "4"}})}
		}, want: "quota of 5 condition values per rule"},
		{name: "3 values in one condition fit", mutate: func(d *desired) {
			d.listeners[1].Rules = []cloud.Rule{rule(host("a.example.com", "b.example.com", "c.example.com"))}
		}},
		{name: "4 hosts in one condition", mutate: func(d *desired) {
			d.listeners[1].Rules = []cloud.Rule{rule(host("a.example.com", "b.example.com", "c.example.com", "d.example.com"))}
		}, want: "quota of 3 match evaluations per condition"},
		{name: "4 source CIDRs in one condition", mutate: func(d *desired) {
			d.listeners[1].Rules = []cloud.Rule{rule(cloud.Condition{Type: cloud.ConditionSourceIP,
				Values: []string{"10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"}})}
		}, want: "quota of 3 match evaluations per condition"},
		{name: "5 target groups in a forward fit", mutate: func(d *desired) {
			r := rule(host(testHost))
			r.Action.Forward = slices.Repeat(r.Action.Forward, 5)
			d.listeners[1].Rules = []cloud.Rule{r}
		}},
		{name: "6 target groups in a forward", mutate: func(d *desired) {
			r := rule(host(testHost))
			r.Action.Forward = slices.Repeat(r.Action.Forward, 6)
			d.listeners[1].Rules = []cloud.Rule{r}
		}, want: "quota of 5 target groups per forward action"},
		{name: "26 certificates on a listener", mutate: func(d *desired) {
			for i := range 24 {
				d.listeners[1].certs = append(d.listeners[1].certs, fmt.Sprintf("%s%d", certC, i))
			}
		}, want: "quota of 25 certificates per listener"},
		{name: "26 certificates on a listener, 2 of them to make", mutate: func(d *desired) {
			for i := range 22 {
				d.listeners[1].certs = append(d.listeners[1].certs, fmt.Sprintf("%s%d", certC, i))
			}
			d.listeners[1].CreateCertificates = []cloud.CertificateRequest{{Hosts: []string{"a.example.com"}}, {Hosts: []string{"b.example.com"}}}
		}, want: "quota of 25 certificates per listener"},
		{name: "25 certificates on a listener: a request repeated is one certificate", mutate: func(d *desired) {
			for i := range 22 {
				d.listeners[1].certs = append(d.listeners[1].certs, fmt.Sprintf("%s%d", certC, i))
			}
			d.listeners[1].CreateCertificates = []cloud.CertificateRequest{{Hosts: []string{"a.example.com"}}, {Hosts: []string{"a.example.com"}}}
		}},
		{name: "51 listeners", mutate: func(d *desired) {
			d.userSGs = []string{"sg-user"}
			for i := range 49 {
				d.listeners = append(d.listeners, desiredListener{Listener: cloud.Listener{Port: int32(8000 + i), Protocol: cloud.ProtocolHTTP}})
			}
		}, want: "quota of 50 listeners per load balancer"},
		{name: "61 inbound rules: 2 ports and 31 CIDRs", mutate: func(d *desired) {
			for i := range 31 {
				d.lb.InboundCIDRs = append(d.lb.InboundCIDRs, fmt.Sprintf("10.%d.0.0/16", i))
			}
		}, want: "quota of 60 inbound rules per security group"},
		{name: "60 inbound rules per family fit: 2 ports, 30 IPv4 and 30 IPv6 CIDRs", mutate: func(d *desired) {
			for i := range 30 {
				d.lb.InboundCIDRs = append(d.lb.InboundCIDRs, fmt.Sprintf("10.%d.0.0/16", i), fmt.Sprintf("2001:db8:%x::/48", i))
			}
		}},
		{name: "the user's security groups are not counted", mutate: func(d *desired) {
			d.userSGs = []string{"sg-user"}
			for i := range 31 {
				d.lb.InboundCIDRs = append(d.lb.InboundCIDRs, fmt.Sprintf("10.%d.0.0/16", i))
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := testDesired()
			if tc.mutate != nil {
				tc.mutate(d)
			}
			err := checkQuotas(d)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}
