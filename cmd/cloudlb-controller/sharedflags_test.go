package main

import (
	"flag"
	"io"
	"reflect"
	"testing"

	"github.com/cloudlb/cloudlb/controllers/ingress"
)

// plan must plan what the controller would do: the flags they share parse to the same options, defaults included.
func TestPlanSharesTheControllersFlags(t *testing.T) {
	for name, args := range map[string][]string{
		"defaults": {"--cluster-name=c"},
		"set": {"--cluster-name=c", "--cluster-id=id", "--ingress-class=alb2", "--watch-namespace=ns",
			"--disable-ingress-group-name-annotation", "--adopt-lbc-resources", "--controller-names=example.com/x",
			"--default-target-type=ip", "--default-tags=team=web", "--external-managed-tags=owner", "--aws-region=eu-west-1",
			"--aws-vpc-id=vpc-1", "--aws-endpoint-url=http://localhost:1", "--aws-backend-security-group=sg-1",
			"--enable-backend-security-group=false", "--aws-max-retries=3", "--default-ssl-policy=p", "--lb-replacement-grace=1m",
			"--target-group-health-wait=1s"},
		"backend rules": {"--cluster-name=c", "--enable-manage-backend-security-group-rules"},
	} {
		t.Run(name, func(t *testing.T) {
			fs := flag.NewFlagSet("controller", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c := bindControllerFlags(fs)
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			if err := c.finish(); err != nil {
				t.Fatal(err)
			}
			p, err := parsePlanFlags(append([]string{"--all"}, args...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			// The API rate limits pace the controller's calls only.
			want := c.AWS
			want.APIRateScale, want.APIBuckets = 0, nil
			if !reflect.DeepEqual(p.aws, want) {
				t.Errorf("plan's AWS options\n%+v\nthe controller's\n%+v", p.aws, want)
			}
			o := c.o
			wantCfg := ingress.PlanConfig{ClusterName: o.ClusterName, LegacyClass: o.LegacyIngressClass, ControllerNames: o.ControllerNames,
				AdoptLBC: o.AdoptLBC, ExternalManagedTags: o.ExternalManagedTags, DisableGroupNameAnnotation: o.DisableIngressGroupNameAnnotation,
				WatchNamespace: o.WatchNamespace, DefaultTargetType: o.DefaultTargetType, DefaultBackendRules: o.DefaultBackendRules}
			if !reflect.DeepEqual(p.cfg, wantCfg) {
				t.Errorf("plan's options\n%+v\nthe controller's\n%+v", p.cfg, wantCfg)
			}
			if p.clusterID != c.ClusterID {
				t.Errorf("plan's cluster ID %q, the controller's %q", p.clusterID, c.ClusterID)
			}
		})
	}
}

// --enable-manage-backend-security-group-rules is off by default, as in the AWS Load Balancer Controller, and, as
// there, needs the backend security group its rules come from.
func TestEnableManageBackendSecurityGroupRules(t *testing.T) {
	parse := func(args ...string) (*controllerFlags, error) {
		fs := flag.NewFlagSet("controller", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c := bindControllerFlags(fs)
		if err := fs.Parse(append([]string{"--cluster-name=c"}, args...)); err != nil {
			t.Fatal(err)
		}
		return c, c.finish()
	}
	if c, err := parse(); err != nil || c.o.DefaultBackendRules {
		t.Errorf("default: DefaultBackendRules %v, %v; want false", c.o.DefaultBackendRules, err)
	}
	if c, err := parse("--enable-manage-backend-security-group-rules"); err != nil || !c.o.DefaultBackendRules {
		t.Errorf("set: DefaultBackendRules %v, %v; want true", c.o.DefaultBackendRules, err)
	}
	if _, err := parse("--enable-manage-backend-security-group-rules", "--enable-backend-security-group=false"); err == nil {
		t.Error("accepted --enable-manage-backend-security-group-rules with --enable-backend-security-group=false")
	}
	if _, err := parsePlanFlags([]string{"--cluster-name=c", "--all", "--enable-manage-backend-security-group-rules",
		"--enable-backend-security-group=false"}, io.Discard); err == nil {
		t.Error("plan accepted --enable-manage-backend-security-group-rules with --enable-backend-security-group=false")
	}
}
