package aws

import (
	"slices"
	"testing"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

func TestPickSubnetsByTags(t *testing.T) {
	sel := map[string][]string{"tier": {"web", "api"}, "env": {"prod"}}
	other := tagClusterPrefix + "c2"
	for _, tc := range []struct {
		name    string
		subnets []ec2types.Subnet
		want    []string // nil: a KindInvalidSpec error
	}{
		{"every key with one of its values, one per zone, lowest ID", []ec2types.Subnet{
			subnet("subnet-b", "az-a", "tier", "web", "env", "prod"), subnet("subnet-a", "az-a", "tier", "api", "env", "prod"),
			subnet("subnet-c", "az-b", "tier", "api", "env", "prod"),
		}, []string{"subnet-a", "subnet-c"}},
		{"a key missing or with another value does not match, whatever the filter returned", []ec2types.Subnet{
			subnet("subnet-a", "az-a", "tier", "web", "env", "prod"), subnet("subnet-b", "az-b", "tier", "web"),
			subnet("subnet-c", "az-c", "tier", "db", "env", "prod"),
		}, nil},
		{"a subnet tagged for this cluster wins its zone; another cluster's never counts", []ec2types.Subnet{
			subnet("subnet-a", "az-a", "tier", "web", "env", "prod"), subnet("subnet-z", "az-a", "tier", "web", "env", "prod", tagClusterPrefix+"c1", "shared"),
			subnet("subnet-b", "az-b", "tier", "web", "env", "prod", other, "owned"), subnet("subnet-c", "az-c", "tier", "web", "env", "prod"),
		}, []string{"subnet-c", "subnet-z"}},
		{"no role tag is needed", []ec2types.Subnet{
			subnet("subnet-a", "az-a", "tier", "web", "env", "prod"), subnet("subnet-b", "az-b", "tier", "api", "env", "prod"),
		}, []string{"subnet-a", "subnet-b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pickSubnetsByTags(tc.subnets, "c1", sel)
			if tc.want == nil {
				if !cloud.IsInvalidSpec(err) {
					t.Fatalf("pickSubnetsByTags = %v, %v; want a KindInvalidSpec error", got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("pickSubnetsByTags = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
