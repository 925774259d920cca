package aws_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

// TestREADMEPolicyListsExactlyTheCalledActions keeps the documented IAM policy equal to the SDK calls the
// provider can make: a call added without its permission, or a permission granted for nothing, fails here.
func TestREADMEPolicyListsExactlyTheCalledActions(t *testing.T) {
	prefixes := map[reflect.Type]string{
		reflect.TypeFor[cloudaws.ELBV2]():   "elasticloadbalancing",
		reflect.TypeFor[cloudaws.EC2]():     "ec2",
		reflect.TypeFor[cloudaws.ACM]():     "acm",
		reflect.TypeFor[cloudaws.Tagging](): "tag",
		reflect.TypeFor[cloudaws.WAFv2]():   "wafv2",
		reflect.TypeFor[cloudaws.Shield]():  "shield",
	}
	clients := reflect.TypeFor[cloudaws.Clients]()
	if clients.NumField() != len(prefixes) {
		t.Fatalf("Clients has %d fields but %d are mapped to IAM prefixes", clients.NumField(), len(prefixes))
	}
	// Tagging a security group as it is created is authorised as ec2:CreateTags.
	want := []string{"ec2:CreateTags"}
	for typ, prefix := range prefixes {
		for i := range typ.NumMethod() {
			want = append(want, prefix+":"+typ.Method(i).Name)
		}
	}

	readme, err := os.ReadFile(filepath.Join(test.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- iam-policy -->")
	block, _, ok2 := strings.Cut(rest, "<!-- /iam-policy -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no <!-- iam-policy --> block")
	}
	block = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(block), "```json")), "```"))
	var policy struct {
		Statement []struct {
			Action []string
		}
	}
	if err := json.Unmarshal([]byte(block), &policy); err != nil {
		t.Fatalf("README IAM policy is not valid JSON: %v", err)
	}
	var got []string
	for _, s := range policy.Statement {
		got = append(got, s.Action...)
	}
	slices.Sort(got)
	got = slices.Compact(got)
	slices.Sort(want)
	want = slices.Compact(want)
	if !slices.Equal(got, want) {
		t.Errorf("README IAM policy actions differ from the provider's calls\n missing: %v\n extra:   %v", minus(want, got), minus(got, want))
	}
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
