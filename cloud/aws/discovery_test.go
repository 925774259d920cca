package aws

import (
	"slices"
	"testing"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

func subnet(id, az string, tags ...string) ec2types.Subnet {
	s := ec2types.Subnet{SubnetId: ptr(id), AvailabilityZone: ptr(az), VpcId: ptr("vpc-1")}
	for i := 0; i+1 < len(tags); i += 2 {
		s.Tags = append(s.Tags, ec2types.Tag{Key: ptr(tags[i]), Value: ptr(tags[i+1])})
	}
	return s
}

func TestPickSubnets(t *testing.T) {
	const (
		role  = tagRoleELB
		ours  = tagClusterPrefix + "c1"
		other = tagClusterPrefix + "c2"
	)
	cases := []struct {
		name    string
		subnets []ec2types.Subnet
		role    string
		want    []string // nil: want a KindInvalidSpec error
	}{
		{
			name: "one per zone, lowest ID",
			subnets: []ec2types.Subnet{
				subnet("subnet-c", "az-a", role, "1"), subnet("subnet-b", "az-a", role, "1"),
				subnet("subnet-e", "az-b", role, "1"), subnet("subnet-d", "az-b", role, "1"),
			},
			role: role,
			want: []string{"subnet-b", "subnet-d"},
		},
		{
			name: "a subnet tagged for this cluster wins its zone",
			subnets: []ec2types.Subnet{
				subnet("subnet-a", "az-a", role, "1"), subnet("subnet-z", "az-a", role, "1", ours, "owned"),
				subnet("subnet-b", "az-b", role, "1"),
			},
			role: role,
			want: []string{"subnet-b", "subnet-z"},
		},
		{
			name: "subnets of another cluster are excluded",
			subnets: []ec2types.Subnet{
				subnet("subnet-a", "az-a", role, "1", other, "owned"), subnet("subnet-b", "az-a", role, "1"),
				subnet("subnet-c", "az-b", role, "1"), subnet("subnet-d", "az-c", role, "1", other, "shared"),
			},
			role: role,
			want: []string{"subnet-b", "subnet-c"},
		},
		{
			name: "a subnet shared with another cluster is ours too",
			subnets: []ec2types.Subnet{
				subnet("subnet-a", "az-a", role, "1", ours, "shared", other, "shared"),
				subnet("subnet-b", "az-b", role, "1", other, "shared", ours, "shared"),
			},
			role: role,
			want: []string{"subnet-a", "subnet-b"},
		},
		{
			name: "role tag value empty or 1",
			subnets: []ec2types.Subnet{
				subnet("subnet-a", "az-a", role, ""), subnet("subnet-b", "az-b", role, "1"),
			},
			role: role,
			want: []string{"subnet-a", "subnet-b"},
		},
		{
			name: "other role tag values are rejected",
			subnets: []ec2types.Subnet{
				subnet("subnet-a", "az-a", role, "0"), subnet("subnet-b", "az-b", role, "true"),
				subnet("subnet-c", "az-c", role, "1"), subnet("subnet-d", "az-d", role, "yes"),
			},
			role: role,
		},
		{
			name: "the other role does not count",
			subnets: []ec2types.Subnet{
				subnet("subnet-a", "az-a", tagRoleInternalELB, "1"), subnet("subnet-b", "az-b", tagRoleInternalELB, "1"),
				subnet("subnet-c", "az-c", role, "1"),
			},
			role: role,
		},
		{
			name: "internal role",
			subnets: []ec2types.Subnet{
				subnet("subnet-a", "az-a", tagRoleInternalELB, "1"), subnet("subnet-b", "az-b", tagRoleInternalELB, ""),
				subnet("subnet-c", "az-c", role, "1"),
			},
			role: tagRoleInternalELB,
			want: []string{"subnet-a", "subnet-b"},
		},
		{
			name:    "one zone is not enough",
			subnets: []ec2types.Subnet{subnet("subnet-a", "az-a", role, "1"), subnet("subnet-b", "az-a", role, "1")},
			role:    role,
		},
		{name: "none", role: role},
		{
			name: "three zones",
			subnets: []ec2types.Subnet{
				subnet("subnet-3", "az-c", role, "1"), subnet("subnet-1", "az-a", role, "1"), subnet("subnet-2", "az-b", role, "1"),
			},
			role: role,
			want: []string{"subnet-1", "subnet-2", "subnet-3"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pickSubnets(tc.subnets, "c1", tc.role)
			if tc.want == nil {
				if err == nil || !cloud.IsInvalidSpec(err) {
					t.Fatalf("pickSubnets = %v, %v; want a KindInvalidSpec error", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("pickSubnets: %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("pickSubnets = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("input order does not matter", func(t *testing.T) {
		in := cases[2].subnets
		want, _ := pickSubnets(in, "c1", role)
		rev := slices.Clone(in)
		slices.Reverse(rev)
		if got, _ := pickSubnets(rev, "c1", role); !slices.Equal(got, want) {
			t.Errorf("reversed input gives %v, want %v", got, want)
		}
	})
}

func TestForeignCluster(t *testing.T) {
	cases := []struct {
		tags tagSet
		want bool
	}{
		{tagSet{}, false},
		{tagSet{"Name": "x", tagRoleELB: "1"}, false},
		{tagSet{tagClusterPrefix + "c1": "owned"}, false},
		{tagSet{tagClusterPrefix + "c2": "owned"}, true},
		{tagSet{tagClusterPrefix + "c10": "owned"}, true},
		{tagSet{tagClusterPrefix + "c2": "shared", tagClusterPrefix + "c1": "shared"}, false},
	}
	for _, tc := range cases {
		if got := foreignCluster(tc.tags, "c1"); got != tc.want {
			t.Errorf("foreignCluster(%v, c1) = %v, want %v", tc.tags, got, tc.want)
		}
	}
}

func TestMatchCertificate(t *testing.T) {
	const (
		exact    = "arn:aws:acm:r:1:certificate/exact"
		wild     = "arn:aws:acm:r:1:certificate/wild"
		deep     = "arn:aws:acm:r:1:certificate/deep"
		apex     = "arn:aws:acm:r:1:certificate/apex"
		sanFirst = "arn:aws:acm:r:1:certificate/0-san"
		sanLast  = "arn:aws:acm:r:1:certificate/9-san"
	)
	cases := []struct {
		name  string
		certs map[string][]string
		host  string
		want  string
	}{
		{"exact", map[string][]string{exact: {"www.example.com"}}, "www.example.com", exact},
		{"wildcard", map[string][]string{wild: {"*.example.com"}}, "www.example.com", wild},
		{"exact beats wildcard", map[string][]string{wild: {"*.example.com"}, exact: {"www.example.com"}}, "www.example.com", exact},
		{"exact beats wildcard whatever the ARN order", map[string][]string{"arn:z": {"www.example.com"}, "arn:a": {"*.example.com"}},
			"www.example.com", "arn:z"},
		{"wildcard covers one label only", map[string][]string{wild: {"*.example.com"}}, "a.b.example.com", ""},
		{"deeper wildcard for a deeper host", map[string][]string{wild: {"*.example.com"}, deep: {"*.b.example.com"}}, "a.b.example.com", deep},
		{"wildcard does not cover the apex", map[string][]string{wild: {"*.example.com"}}, "example.com", ""},
		{"apex by exact name", map[string][]string{wild: {"*.example.com"}, apex: {"example.com", "*.example.com"}}, "example.com", apex},
		{"host case-insensitive", map[string][]string{exact: {"www.example.com"}}, "WWW.Example.COM", exact},
		{"certificate name case-insensitive", map[string][]string{wild: {"*.EXAMPLE.com"}}, "www.example.com", wild},
		{"subject alternative name", map[string][]string{exact: {"other.example.org", "www.example.com"}}, "www.example.com", exact},
		{"tie goes to the lowest ARN", map[string][]string{sanLast: {"www.example.com"}, sanFirst: {"www.example.com"}}, "www.example.com", sanFirst},
		{"wildcard tie goes to the lowest ARN", map[string][]string{sanLast: {"*.example.com"}, sanFirst: {"*.example.com"}}, "x.example.com", sanFirst},
		{"no match", map[string][]string{exact: {"www.example.com"}}, "api.example.com", ""},
		{"other domain's wildcard", map[string][]string{wild: {"*.example.org"}}, "www.example.com", ""},
		{"suffix is not a label", map[string][]string{wild: {"*.ample.com"}}, "www.example.com", ""},
		{"wildcard host needs an exact wildcard name", map[string][]string{wild: {"*.example.com"}}, "*.example.com", wild},
		{"single-label host", map[string][]string{wild: {"*.localhost"}}, "localhost", ""},
		{"no certificates", nil, "www.example.com", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := matchCertificate(tc.certs, tc.host); got != tc.want {
				t.Errorf("matchCertificate(%v, %q) = %q, want %q", tc.certs, tc.host, got, tc.want)
			}
		})
	}
	t.Run("deterministic", func(t *testing.T) {
		certs := map[string][]string{}
		for _, c := range []string{"e", "b", "d", "a", "c"} {
			certs["arn:"+c] = []string{"*.example.com", "www.example.com"}
		}
		for range 50 {
			if got := matchCertificate(certs, "www.example.com"); got != "arn:a" {
				t.Fatalf("matchCertificate = %s, want arn:a every time", got)
			}
		}
	})
}
