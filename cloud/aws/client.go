package aws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"github.com/aws/aws-sdk-go-v2/service/shield"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	"github.com/aws/smithy-go/middleware"
)

// Options configure the AWS provider.
type Options struct {
	// ClusterName scopes ownership: only resources tagged with it are ever modified or deleted.
	ClusterName string
	// ClusterID is this cluster's identity (the UID of its kube-system namespace), which two clusters cannot
	// share: only resources tagged with it as well are ever modified or deleted.
	ClusterID string
	// Region, when empty, comes from the environment (AWS_REGION) and then from IMDS.
	Region string
	// VPCID, when empty, is read from IMDS (the VPC of the instance the controller runs on).
	VPCID string
	// EndpointURL points every client at one endpoint (LocalStack, moto). AWS_ENDPOINT_URL and
	// AWS_ENDPOINT_URL_<SERVICE> work too, through the SDK's own configuration.
	EndpointURL string
	// MaxRetries is how often the SDK retries a throttled or failed call.
	MaxRetries int
	// BackendSecurityGroup, when set, is attached to every load balancer that has a managed frontend group. With
	// ManageBackendSecurityGroup it is the source of the rules on the targets' groups instead of a shared group
	// cloudlb makes; either way cloudlb never modifies, nor deletes, the group itself.
	BackendSecurityGroup string
	// ManageBackendSecurityGroup puts a shared backend security group on every load balancer with a managed
	// frontend group (or BackendRules) and opens the targets' security groups to it on their ports.
	ManageBackendSecurityGroup bool
	// DefaultTags go on every resource, over the user's own tags.
	DefaultTags map[string]string
	// ExternalManagedTags are tag keys that someone else manages: never added, changed or removed.
	ExternalManagedTags []string
	// DefaultSSLPolicy is the security policy of HTTPS listeners without one of their own; empty means
	// DefaultSSLPolicy (the package constant).
	DefaultSSLPolicy string
	// ReplacementGrace is how long a load balancer replaced by another (a new name or scheme) keeps serving, so
	// that DNS can follow, before it is deleted with its target groups and security group; zero means 5 minutes.
	ReplacementGrace time.Duration
	// TargetGroupHealthWait bounds how long rules stay on a replaced target group while its replacement reports
	// no healthy target; zero means 2 minutes.
	TargetGroupHealthWait time.Duration
	// Now is the clock; nil means time.Now (tests set it).
	Now func() time.Time
	// CertificateCacheTTL is how long the list of ACM certificates is reused; zero means 5 minutes.
	CertificateCacheTTL time.Duration
	// APIRateScale scales AWS's documented API buckets (throttle.go) that cloudlb paces its calls by; zero
	// means 1. APIBuckets replaces some of them, by name, unscaled.
	APIRateScale float64
	APIBuckets   map[string]BucketLimit
	// APIOptions are added to every client's middleware stack (tests count calls with them).
	APIOptions []func(*middleware.Stack) error
	// AdoptLBC makes the stacks' resources that the AWS Load Balancer Controller made for this cluster name, and
	// that carry no cloudlb tag, this cluster's: they are tagged as cloudlb's and kept in place (adopt.go).
	AdoptLBC bool
}

// NewFromConfig builds the provider from the SDK's default configuration chain: credentials from the
// environment, shared files, IRSA web identity, EKS Pod Identity or IMDS.
func NewFromConfig(ctx context.Context, o Options) (*Provider, error) {
	if o.ClusterName == "" {
		return nil, errors.New("aws: a cluster name is required")
	}
	if o.ClusterID == "" {
		return nil, errors.New("aws: a cluster ID is required")
	}
	loadOpts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.MaxRetries + 1
				so.MaxBackoff = 20 * time.Second
				// The client-side token bucket below paces calls; the SDK's retry quota would only fail
				// calls early during a burst of throttling.
				so.RateLimiter = ratelimit.None
			})
		}),
	}
	if o.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("aws: loading configuration: %w", err)
	}
	if o.EndpointURL != "" {
		cfg.BaseEndpoint = aws.String(o.EndpointURL)
	}
	if cfg.Region == "" || o.VPCID == "" {
		md := imds.NewFromConfig(cfg)
		if cfg.Region == "" {
			region, err := imdsRegion(ctx, md)
			if err != nil {
				return nil, fmt.Errorf("aws: no region: set --aws-region or AWS_REGION (IMDS: %w)", err)
			}
			cfg.Region = region
		}
		if o.VPCID == "" {
			if o.VPCID, err = imdsVPC(ctx, md); err != nil {
				return nil, fmt.Errorf("aws: no VPC: set --aws-vpc-id (IMDS: %w)", err)
			}
		}
	}
	pace, err := newPacer(o.APIRateScale, o.APIBuckets)
	if err != nil {
		return nil, err
	}
	// Another account's clients get their own buckets (assumerole.go): they start from the configuration as loaded.
	base := cfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, pace.instrument)
	cfg.APIOptions = append(cfg.APIOptions, refuseWritesWhilePlanning)
	cfg.APIOptions = append(cfg.APIOptions, o.APIOptions...)
	clients := Clients{
		ELBV2:   elbv2.NewFromConfig(cfg),
		EC2:     ec2.NewFromConfig(cfg),
		ACM:     acm.NewFromConfig(cfg),
		Tagging: resourcegroupstaggingapi.NewFromConfig(cfg),
		WAFv2:   wafv2.NewFromConfig(cfg),
		Shield:  shield.NewFromConfig(cfg),
		STS:     sts.NewFromConfig(cfg),
	}
	p := New(clients, o)
	p.roles.newClient = roleClients(base, clients.STS, o)
	return p, nil
}

func imdsRegion(ctx context.Context, md *imds.Client) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := md.GetRegion(ctx, &imds.GetRegionInput{})
	if err != nil {
		return "", err
	}
	return out.Region, nil
}

func imdsVPC(ctx context.Context, md *imds.Client) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	get := func(path string) (string, error) {
		out, err := md.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
		if err != nil {
			return "", err
		}
		defer func() { _ = out.Content.Close() }()
		b, err := io.ReadAll(io.LimitReader(out.Content, 256))
		return string(b), err
	}
	mac, err := get("mac")
	if err != nil {
		return "", err
	}
	return get("network/interfaces/macs/" + mac + "/vpc-id")
}
