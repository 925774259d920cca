package aws

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/smithy-go/middleware"

	"github.com/cloudlb/cloudlb/cloud"
)

// A TargetGroupBinding may name a target group of another account, reached through a role of that account
// (iamRoleArnToAssume, with assumeRoleExternalId). As in the AWS Load Balancer Controller, only the calls on the
// target group go through the role (DescribeTargetGroups, DescribeTargetHealth, RegisterTargets,
// DeregisterTargets); the targets' security groups are the cluster's. Each role gets one client, kept for the
// life of the process, whose credentials the SDK renews before they expire. The other account has its own API
// buckets, so its calls are paced by buckets of its own, one set per account.

type assumedRoles struct {
	mu      sync.Mutex
	clients map[cloud.Role]ELBV2
	pacers  map[string]*pacer
	// newClient builds a role's client paced by pace; nil when the provider was not built from an SDK
	// configuration (tests with stub clients).
	newClient func(role cloud.Role, pace *pacer) ELBV2
}

// roleClients returns the constructor of role clients: base is the SDK configuration as loaded, before the
// cluster account's buckets; the role is assumed through the cluster's own STS client.
func roleClients(base aws.Config, client STS, o Options) func(cloud.Role, *pacer) ELBV2 {
	session := roleSessionName(o.ClusterName)
	return func(role cloud.Role, pace *pacer) ELBV2 {
		cfg := base.Copy()
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, role.ARN, func(ao *stscreds.AssumeRoleOptions) {
			ao.RoleSessionName = session
			if role.ExternalID != "" {
				ao.ExternalID = aws.String(role.ExternalID)
			}
		}))
		// A new slice: base's backing array is the cluster clients' too, and appending in place would change theirs.
		cfg.APIOptions = slices.Concat(base.APIOptions, []func(*middleware.Stack) error{pace.instrument, refuseWritesWhilePlanning}, o.APIOptions)
		return elbv2.NewFromConfig(cfg)
	}
}

var notInSessionName = regexp.MustCompile(`[^\w+=,.@-]`)

// roleSessionName names the sessions in the other account's CloudTrail after the cluster, within STS's 64
// characters.
func roleSessionName(cluster string) string {
	name := "cloudlb-" + notInSessionName.ReplaceAllString(cluster, "")
	return name[:min(len(name), 64)]
}

// boundELB returns the client that reaches a bound target group: the role's, when the context names one.
func (p *Provider) boundELB(ctx context.Context) (ELBV2, error) {
	role := cloud.RoleOf(ctx)
	if role.ARN == "" {
		return p.c.ELBV2, nil
	}
	account := roleAccount(role.ARN)
	if account == "" {
		return nil, cloud.Errorf(cloud.KindInvalidSpec, "iamRoleArnToAssume %q is not the ARN of an IAM role (arn:aws:iam::ACCOUNT:role/NAME)", role.ARN)
	}
	r := &p.roles
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[role]; ok {
		return c, nil
	}
	if r.newClient == nil {
		return nil, cloud.Errorf(cloud.KindInvalidSpec, "this provider cannot assume roles (iamRoleArnToAssume %s)", role.ARN)
	}
	pace, ok := r.pacers[account]
	if !ok {
		var err error
		if pace, err = newPacer(p.opts.APIRateScale, p.opts.APIBuckets); err != nil {
			return nil, err
		}
		pace.account = account + "/"
		if r.pacers == nil {
			r.pacers, r.clients = map[string]*pacer{}, map[cloud.Role]ELBV2{}
		}
		r.pacers[account] = pace
	}
	c := r.newClient(role, pace)
	r.clients[role] = c
	return c, nil
}

// roleAccount returns the account of a role's ARN, or "" when arn is not a role's.
func roleAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || len(parts[4]) != 12 || !strings.HasPrefix(parts[5], "role/") {
		return ""
	}
	return parts[4]
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
