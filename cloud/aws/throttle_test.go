package aws

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/smithy-go/middleware"
)

const elbService = "Elastic Load Balancing v2"

// TestAPIBuckets pins which of AWS's buckets each call draws from, and their documented sizes.
func TestAPIBuckets(t *testing.T) {
	for _, tc := range []struct {
		service, op, key string
		limit            BucketLimit
	}{
		{elbService, "DescribeTargetHealth", BucketELBv2Describe, BucketLimit{40, 10}},
		{elbService, "DescribeRules", BucketELBv2Describe, BucketLimit{40, 10}},
		{elbService, "RegisterTargets", BucketELBv2Registration, BucketLimit{20, 4}},
		{elbService, "DeregisterTargets", BucketELBv2Registration, BucketLimit{20, 4}},
		{elbService, "CreateRule", BucketELBv2Mutating, BucketLimit{20, 5}},
		{elbService, "CreateLoadBalancer", BucketELBv2Mutating, BucketLimit{20, 5}},
		{elbService, "AddTags", BucketELBv2Mutating, BucketLimit{20, 5}},
		// EC2 keeps a bucket per action.
		{"EC2", "DescribeSubnets", BucketEC2Describe + "/DescribeSubnets", BucketLimit{100, 20}},
		{"EC2", "AuthorizeSecurityGroupIngress", BucketEC2Mutating + "/AuthorizeSecurityGroupIngress", BucketLimit{200, 5}},
		{"EC2", "CreateSecurityGroup", BucketEC2Mutating + "/CreateSecurityGroup", BucketLimit{200, 5}},
		{"Resource Groups Tagging API", "GetResources", BucketTagging, BucketLimit{20, 10}},
		{"ACM", "DescribeCertificate", BucketACM + "/DescribeCertificate", BucketLimit{5, 5}},
		{"WAFV2", "AssociateWebACL", BucketOther, BucketLimit{20, 10}},
	} {
		key, limit := APIBucket(tc.service, tc.op)
		if key != tc.key || limit != tc.limit {
			t.Errorf("%s:%s: bucket %s %+v, want %s %+v", tc.service, tc.op, key, limit, tc.key, tc.limit)
		}
	}
	p, err := newPacer(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.bucket(elbService, "RegisterTargets") != p.bucket(elbService, "DeregisterTargets") {
		t.Error("register and deregister must share one bucket, as they do at AWS")
	}
	if p.bucket("EC2", "CreateSecurityGroup") == p.bucket("EC2", "AuthorizeSecurityGroupIngress") {
		t.Error("EC2 actions must have a bucket each, as they do at AWS")
	}
}

// TestBucketPaces checks that a fresh bucket lets its burst through at once, less a small margin for network
// jitter, and then spaces calls at its rate.
func TestBucketPaces(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newBucket("b", BucketLimit{Burst: 20, Rate: 5}, t0)
	for i := range 19 {
		if d, ok := b.reserve(t0, false); d != 0 || !ok {
			t.Fatalf("call %d of the burst waits %s", i, d)
		}
	}
	for i := 1; i <= 3; i++ {
		if d, _ := b.reserve(t0, false); d != time.Duration(i)*200*time.Millisecond {
			t.Fatalf("queued call %d waits %s, want %s", i, d, time.Duration(i)*200*time.Millisecond)
		}
	}
	// 0.6 s later the three queued calls have their tokens, and the next waits a refill interval.
	if d, _ := b.reserve(t0.Add(600*time.Millisecond), false); d != 200*time.Millisecond {
		t.Fatalf("next call waits %s", d)
	}
	// A long idle time refills no more than the burst.
	later := t0.Add(time.Hour)
	for i := range 19 {
		if d, _ := b.reserve(later, false); d != 0 {
			t.Fatalf("call %d after an idle hour waits %s", i, d)
		}
	}
	if d, _ := b.reserve(later, false); d == 0 {
		t.Fatal("the bucket held more than its burst")
	}
}

// TestBucketAIMD checks the reaction to throttling: the rate halves (once for calls throttled together),
// never below an eighth of the limit, and grows back to the limit while AWS throttles nothing.
func TestBucketAIMD(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newBucket("b", BucketLimit{Burst: 20, Rate: 8}, t0)
	b.throttled(t0)
	if b.rate != 4 || b.tokens > 0 {
		t.Fatalf("after a throttle: rate %v, tokens %v; want 4 and none left", b.rate, b.tokens)
	}
	if d, _ := b.reserve(t0, false); d != 250*time.Millisecond {
		t.Fatalf("the next call waits %s, want a quarter second at the halved rate", d)
	}
	b.throttled(t0.Add(100 * time.Millisecond))
	if b.rate < 4 {
		t.Fatalf("calls throttled together halved the rate twice: %v", b.rate)
	}
	now := t0
	for range 10 {
		now = now.Add(time.Second)
		b.throttled(now)
	}
	if b.rate != 1 {
		t.Fatalf("after ten throttles a second apart: rate %v, want the floor 1", b.rate)
	}
	// Additive increase: 0.4/s a second, 17.5 s from the floor to the limit.
	b.advance(now.Add(5 * time.Second))
	if b.rate != 3 {
		t.Fatalf("5 s after the last throttle: rate %v, want 3", b.rate)
	}
	b.advance(now.Add(20 * time.Second))
	if b.rate != 8 {
		t.Fatalf("20 s after the last throttle: rate %v, want the limit 8", b.rate)
	}
}

// TestBackgroundUsesSpareCapacity checks that background calls leave a reserve of the burst, and wait while
// work a user waits for is queued.
func TestBackgroundUsesSpareCapacity(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newBucket("b", BucketLimit{Burst: 20, Rate: 5}, t0) // holds 19; the reserve is 4
	for i := range 15 {
		if d, ok := b.reserve(t0, true); d != 0 || !ok {
			t.Fatalf("background call %d of a full bucket waits %s", i, d)
		}
	}
	if _, ok := b.reserve(t0, true); ok {
		t.Fatal("a background call took from the reserve")
	}
	for i := range 4 {
		if d, _ := b.reserve(t0, false); d != 0 {
			t.Fatalf("foreground call %d waits %s with the reserve there", i, d)
		}
	}
	// A foreground call queues; background calls wait until it went and the reserve refilled.
	if d, _ := b.reserve(t0, false); d != 200*time.Millisecond {
		t.Fatalf("queued foreground call waits %s", d)
	}
	if d, ok := b.reserve(t0.Add(200*time.Millisecond), true); ok || d != time.Second {
		t.Fatalf("background call with a foreground one just served: ok %v, wait %s; want to wait for 5 tokens", ok, d)
	}
	if _, ok := b.reserve(t0.Add(1200*time.Millisecond), true); !ok {
		t.Fatal("background call refused with the reserve refilled and nothing queued")
	}
}

func TestPacerOptions(t *testing.T) {
	p, err := newPacer(0.25, map[string]BucketLimit{BucketELBv2Mutating: {Burst: 100, Rate: 50}})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.bucket(elbService, "DescribeRules").limit; got != (BucketLimit{Burst: 10, Rate: 2.5}) {
		t.Errorf("scaled describe bucket %+v", got)
	}
	if got := p.bucket(elbService, "CreateRule").limit; got != (BucketLimit{Burst: 100, Rate: 50}) {
		t.Errorf("overridden mutating bucket %+v", got)
	}
	if _, err := newPacer(-1, nil); err == nil {
		t.Error("a negative scale was accepted")
	}
	got, err := ParseAPIBuckets("elbv2-mutating=40:10, ec2-mutating=400:10")
	if err != nil || len(got) != 2 || got[BucketELBv2Mutating] != (BucketLimit{40, 10}) || got[BucketEC2Mutating] != (BucketLimit{400, 10}) {
		t.Errorf("ParseAPIBuckets: %v, %v", got, err)
	}
	for _, bad := range []string{"elbv2=40:10", "elbv2-mutating=40", "elbv2-mutating=0:10", "elbv2-mutating=40:0", "elbv2-mutating=x:1", "elbv2-mutating=40:NaN"} {
		if _, err := ParseAPIBuckets(bad); err == nil {
			t.Errorf("ParseAPIBuckets(%q) accepted", bad)
		}
	}
}

// TestThrottlingLowersTheRate checks, through the SDK's own error parsing, that an ELBv2 Throttling answer
// halves the rate of the bucket the call drew from, and of no other.
func TestThrottlingLowersTheRate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>`))
	}))
	defer srv.Close()
	pace, err := newPacer(0.5, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := elbv2.New(elbv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		APIOptions:  []func(*middleware.Stack) error{pace.instrument}})
	if _, err := c.DescribeListeners(context.Background(), &elbv2.DescribeListenersInput{}); err == nil {
		t.Fatal("no error from a throttling endpoint")
	}
	if got := pace.bucket(elbService, "DescribeRules").rate; got != 2.5 {
		t.Errorf("describe bucket rate %v after a throttle, want half of 5", got)
	}
	if got := pace.bucket(elbService, "CreateRule").rate; got != 2.5 {
		t.Errorf("mutating bucket rate %v, want its limit 2.5", got)
	}
	// The provider is built with the same options, and refuses bad ones.
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	if _, err := NewFromConfig(context.Background(), Options{ClusterName: "c", ClusterID: "id", Region: "us-east-1", VPCID: "vpc-1",
		APIRateScale: -1}); err == nil {
		t.Error("NewFromConfig accepted a negative rate scale")
	}
}
