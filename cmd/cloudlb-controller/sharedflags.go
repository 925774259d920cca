package main

import (
	"errors"
	"flag"
	"time"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/controllers/ingress"
)

// sharedFlags are the flags of the controller that `plan` takes too. Both register them here, so that a plan is
// made with the controller's defaults: a default changed for one changes for both.
type sharedFlags struct {
	ClusterName                string
	ClusterID                  string
	LegacyIngressClass         string
	WatchNamespace             string
	DisableGroupNameAnnotation bool
	AdoptLBC                   bool
	DefaultBackendRules        bool
	AWS                        cloudaws.Options

	// Set by finish from the raw values below.
	ControllerNames     []string
	DefaultTargetType   cloud.TargetType
	ExternalManagedTags []string

	controllerNames, targetType, defaultTags, externalTags string
}

func (f *sharedFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.ClusterName, "cluster-name", "", "Name of this cluster; tags every cloud resource and scopes ownership (required).")
	fs.StringVar(&f.ClusterID, "cluster-id", "",
		"Identity of this cluster on every cloud resource; defaults to the UID of the kube-system namespace. Set it only for tests and local runs.")
	fs.StringVar(&f.LegacyIngressClass, "ingress-class", "cloudlb", "Value of the legacy kubernetes.io/ingress.class annotation that cloudlb serves.")
	fs.StringVar(&f.WatchNamespace, "watch-namespace", "", "The one namespace whose Ingresses, Services and endpoints are watched; empty watches all.")
	fs.BoolVar(&f.DisableGroupNameAnnotation, "disable-ingress-group-name-annotation", false,
		"Refuse new use of the alb.ingress.kubernetes.io/group.name annotation; Ingresses already applied in a group stay in it.")
	fs.BoolVar(&f.AdoptLBC, "adopt-lbc-resources", false,
		"Take over from the AWS Load Balancer Controller: serve its IngressClasses (ingress.k8s.aws/alb) and legacy class alb, adopt its load balancers of this cluster in place, and replace its finalizers.")
	fs.StringVar(&f.controllerNames, "controller-names", ingress.ControllerName,
		"IngressClass spec.controller values served, comma-separated; --adopt-lbc-resources adds "+ingress.LBCControllerName+".")
	fs.StringVar(&f.targetType, "default-target-type", string(cloud.TargetTypeInstance),
		"Target type of backends without a target-type annotation: instance or ip.")
	fs.StringVar(&f.defaultTags, "default-tags", "", "Tags for every cloud resource, as key=value,key2=value2; they win over the tags an Ingress or its class asks for.")
	fs.StringVar(&f.externalTags, "external-managed-tags", "",
		"Tag keys, comma-separated, that something else manages: cloudlb never adds, changes or removes them, and refuses Ingresses that set them.")
	fs.StringVar(&f.AWS.Region, "aws-region", "", "AWS region; defaults to AWS_REGION, then the instance's region from IMDS.")
	fs.StringVar(&f.AWS.VPCID, "aws-vpc-id", "", "VPC of the load balancers and target groups; defaults to the instance's VPC from IMDS.")
	fs.StringVar(&f.AWS.EndpointURL, "aws-endpoint-url", "", "One endpoint for every AWS API (LocalStack, moto); AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> also work.")
	fs.StringVar(&f.AWS.BackendSecurityGroup, "aws-backend-security-group", "",
		"Security group ID attached to every load balancer with a managed frontend group instead of the shared backend group cloudlb makes; cloudlb never modifies or deletes it.")
	fs.BoolVar(&f.AWS.ManageBackendSecurityGroup, "enable-backend-security-group", true,
		"Put a shared backend security group on every load balancer with a managed frontend group, and open the targets' security groups to it on their ports.")
	fs.BoolVar(&f.DefaultBackendRules, "enable-manage-backend-security-group-rules", false,
		"Default of the manage-backend-security-group-rules annotation for load balancers with the security-groups annotation; needs --enable-backend-security-group.")
	fs.IntVar(&f.AWS.MaxRetries, "aws-max-retries", 10, "Retries of a throttled or failed AWS call.")
	fs.StringVar(&f.AWS.DefaultSSLPolicy, "default-ssl-policy", cloudaws.DefaultSSLPolicy, "Security policy of HTTPS listeners without an ssl-policy annotation.")
	fs.DurationVar(&f.AWS.ReplacementGrace, "lb-replacement-grace", 5*time.Minute,
		"How long a load balancer replaced by another (new name or scheme) keeps serving, so that DNS can follow, before it is deleted.")
	fs.DurationVar(&f.AWS.TargetGroupHealthWait, "target-group-health-wait", 2*time.Minute,
		"How long rules stay on a replaced target group while its replacement has no healthy target; then they switch with a warning.")
}

// finish checks the values parsed and derives the rest of the AWS options from them.
func (f *sharedFlags) finish() error {
	if f.ClusterName == "" {
		return errors.New("--cluster-name is required: it scopes which cloud resources are this cluster's")
	}
	if f.DefaultBackendRules && !f.AWS.ManageBackendSecurityGroup {
		// As the AWS Load Balancer Controller: the rules come from the backend security group.
		return errors.New("--enable-manage-backend-security-group-rules needs --enable-backend-security-group")
	}
	var err error
	if f.DefaultTargetType, err = parseTargetType(f.targetType); err != nil {
		return err
	}
	if f.ControllerNames, err = parseControllerNames(f.controllerNames, f.AdoptLBC); err != nil {
		return err
	}
	if f.AWS.DefaultTags, err = parseTags(f.defaultTags); err != nil {
		return err
	}
	if f.ExternalManagedTags, err = parseTagKeys(f.externalTags, f.AWS.DefaultTags); err != nil {
		return err
	}
	f.AWS.AdoptLBC, f.AWS.ExternalManagedTags, f.AWS.ClusterName = f.AdoptLBC, f.ExternalManagedTags, f.ClusterName
	return nil
}
