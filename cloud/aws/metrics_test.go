package aws

import (
	"testing"

	"golang.org/x/time/rate"
)

// TestTokenBuckets pins the client-side pacing: target registration, which a rollout can burst, gets the
// tightest bucket, and every other ELBv2 call shares one no looser than the ELBv2 API allows.
func TestTokenBuckets(t *testing.T) {
	const elb = "Elastic Load Balancing v2"
	for _, tc := range []struct {
		service, op string
		qps         rate.Limit
		burst       int
	}{
		{elb, "RegisterTargets", 4, 20},
		{elb, "DeregisterTargets", 4, 20},
		{elb, "DescribeTargetHealth", 10, 40},
		{elb, "CreateRule", 10, 40},
		{"EC2", "DescribeSubnets", 20, 40},
		{"Resource Groups Tagging API", "GetResources", 10, 20},
	} {
		b := bucketFor(tc.service, tc.op)
		if b == nil || b.Limit() != tc.qps || b.Burst() != tc.burst {
			t.Errorf("%s:%s: bucket %v", tc.service, tc.op, b)
		}
	}
	if bucketFor(elb, "RegisterTargets") != bucketFor(elb, "DeregisterTargets") {
		t.Error("register and deregister must share one bucket, so that a rollout's two together stay under it")
	}
}
