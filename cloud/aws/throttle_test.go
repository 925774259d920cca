package aws

import (
	"context"
	"math"
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
		// ACM publishes a rate per action.
		{"ACM", "DescribeCertificate", BucketACM + "/DescribeCertificate", BucketLimit{10, 10}},
		{"ACM", "RequestCertificate", BucketACM + "/RequestCertificate", BucketLimit{5, 5}},
		{"ACM", "ListCertificates", BucketACM + "/ListCertificates", BucketLimit{1, 1}},
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
		if d, _, ok := b.reserve(t0, false); d != 0 || !ok {
			t.Fatalf("call %d of the burst waits %s", i, d)
		}
	}
	for i := 1; i <= 3; i++ {
		if d, _, _ := b.reserve(t0, false); d != time.Duration(i)*200*time.Millisecond {
			t.Fatalf("queued call %d waits %s, want %s", i, d, time.Duration(i)*200*time.Millisecond)
		}
	}
	// 0.6 s later the three queued calls have their tokens, and the next waits a refill interval.
	if d, _, _ := b.reserve(t0.Add(600*time.Millisecond), false); d != 200*time.Millisecond {
		t.Fatalf("next call waits %s", d)
	}
	// A long idle time refills no more than the burst.
	later := t0.Add(time.Hour)
	for i := range 19 {
		if d, _, _ := b.reserve(later, false); d != 0 {
			t.Fatalf("call %d after an idle hour waits %s", i, d)
		}
	}
	if d, _, _ := b.reserve(later, false); d == 0 {
		t.Fatal("the bucket held more than its burst")
	}
}

// TestBucketAIMD checks the reaction to throttling: the rate halves once for the calls sent at the refused rate
// and again for a call refused at the halved one, never below an eighth of the limit; it comes back fast to
// most of the rate AWS refused, then slowly.
func TestBucketAIMD(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newBucket("b", BucketLimit{Burst: 20, Rate: 8}, t0)
	_, gen, _ := b.reserve(t0, false)
	b.throttled(t0, gen)
	if b.rate != 4 || b.tokens != 0 {
		t.Fatalf("after a throttle: rate %v, tokens %v; want 4 and none left", b.rate, b.tokens)
	}
	d, after, _ := b.reserve(t0, false)
	if d != 250*time.Millisecond {
		t.Fatalf("the next call waits %s, want a quarter second at the halved rate", d)
	}
	// Another call sent before the cut is refused too: that was the refused rate, already given up.
	b.throttled(t0.Add(100*time.Millisecond), gen)
	if b.rate < 4 {
		t.Fatalf("calls throttled together halved the rate twice: %v", b.rate)
	}
	// A call paced at the halved rate is refused: that rate is too much as well.
	b.throttled(t0.Add(300*time.Millisecond), after)
	if b.rate >= 4 {
		t.Fatalf("a call refused at the halved rate left it at %v", b.rate)
	}
	now := t0
	for range 10 {
		now = now.Add(time.Second)
		_, gen, _ := b.reserve(now, false)
		b.throttled(now, gen)
	}
	if b.rate != 1 {
		t.Fatalf("after ten throttles: rate %v, want the floor 1", b.rate)
	}

	// From a cut at the limit, 8 -> 4: 0.4/s a second up to 0.7 of 8, then 0.04/s a second.
	b = newBucket("b", BucketLimit{Burst: 20, Rate: 8}, t0)
	b.throttled(t0, 0)
	for _, tc := range []struct {
		after time.Duration
		rate  float64
	}{{2 * time.Second, 4.8}, {4 * time.Second, 5.6}, {14 * time.Second, 6}, {time.Hour, 8}} {
		b.advance(t0.Add(tc.after))
		if math.Abs(b.rate-tc.rate) > 1e-9 {
			t.Fatalf("%s after the throttle: rate %v, want %v", tc.after, b.rate, tc.rate)
		}
	}
}

// TestBucketBurstFollowsRate checks that after a throttle the bucket holds no more than its burst scaled by the
// current rate: the account's bucket is shared in the same proportion as its rate.
func TestBucketBurstFollowsRate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newBucket("b", BucketLimit{Burst: 20, Rate: 8}, t0) // holds 19
	b.throttled(t0, 0)
	// Idle for 10 s: the rate is back to 5.84 (4 s at 0.4/s a second, then 6 s at 0.04), the burst 19*5.84/8.
	later := t0.Add(10 * time.Second)
	free := 0
	for {
		if d, _, _ := b.reserve(later, false); d != 0 {
			break
		}
		free++
	}
	if free != 13 {
		t.Fatalf("%d calls went at once after an idle time at a reduced rate, want 13", free)
	}
}

// TestQueuedCallPacedAgainAfterCut checks that a call waiting for a token when another call is throttled waits
// again at the new rate before it is sent, and is sent in the new generation.
func TestQueuedCallPacedAgainAfterCut(t *testing.T) {
	p, err := newPacer(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	p.now = func() time.Time { return now }
	b := p.bucket(elbService, "CreateRule") // 19 tokens at 5/s
	for range 19 {
		b.reserve(now, false)
	}
	var slept []time.Duration
	p.sleep = func(_ context.Context, d time.Duration) error {
		if len(slept) == 0 {
			b.throttled(now, b.gen) // another call, sent earlier, is refused while this one waits
		}
		slept = append(slept, d)
		now = now.Add(d)
		return nil
	}
	gen, err := p.wait(context.Background(), b, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(slept) != 2 || slept[0] != 200*time.Millisecond || slept[1] < 150*time.Millisecond || gen != 1 {
		t.Fatalf("slept %v, sent in generation %d; want 200ms at 5/s, then again at 2.5/s, in generation 1", slept, gen)
	}
}

// TestSharedAccountFewRefusals plays, on a fake clock, three workers making writes back to back against an
// account whose bucket holds half of what cloudlb assumes (10 tokens at 2.5/s for elbv2-mutating's 20 at 5), with
// the SDK retrying a refused call after a second. Once the bucket has learnt the account's share, at most one
// call in 30 s may be refused (before: one every 7 s), and the writes must take at most 1.2 times as long as the
// account allows.
func TestSharedAccountFewRefusals(t *testing.T) {
	const (
		workers = 3
		writes  = 220
		latency = 50 * time.Millisecond
		retry   = time.Second
	)
	t0 := time.Unix(1000, 0)
	b := newBucket("b", BucketLimit{Burst: 20, Rate: 5}, t0)
	account := struct {
		tokens float64
		last   time.Time
	}{10, t0}
	take := func(now time.Time) bool {
		account.tokens = min(10, account.tokens+now.Sub(account.last).Seconds()*2.5)
		account.last = now
		if account.tokens < 1 {
			return false
		}
		account.tokens--
		return true
	}
	const (
		want = iota
		waiting
		sent
	)
	type worker struct {
		at    time.Time
		state int
		gen   uint64
		ok    bool
	}
	ws := make([]*worker, workers)
	for i := range ws {
		ws[i] = &worker{at: t0}
	}
	// The first refusals teach the bucket the account's share: its burst is smaller, then its rate.
	const learn = 10 * time.Second
	done, refused, late := 0, 0, 0
	var end time.Time
	for done < writes {
		w := ws[0]
		for _, o := range ws[1:] {
			if o.at.Before(w.at) {
				w = o
			}
		}
		switch w.state {
		case want:
			d, gen, _ := b.reserve(w.at, false)
			w.at, w.gen, w.state = w.at.Add(d), gen, waiting
		case waiting:
			if w.gen != b.gen { // cut while it waited: paced again, as pacer.wait does
				w.state = want
				continue
			}
			w.ok, w.at, w.state = take(w.at), w.at.Add(latency), sent
		case sent:
			w.state = want
			if !w.ok {
				refused++
				if w.at.Sub(t0) > learn {
					late++
				}
				b.throttled(w.at, w.gen)
				w.at = w.at.Add(retry)
				continue
			}
			done++
			end = w.at
		}
	}
	bound := float64(writes-10) / 2.5
	took := end.Sub(t0).Seconds()
	t.Logf("%d writes in %.1f s (bound %.1f s, %.2f×), %d refused, %d after the first %s", writes, took, bound, took/bound, refused, late, learn)
	if span := took - learn.Seconds(); float64(late)*30 > span {
		t.Errorf("%d calls refused in the %.0f s after the first %s, want at most one per 30 s", late, span, learn)
	}
	if took > 1.2*bound {
		t.Errorf("%.1f s for the writes, more than 1.2 × the bound %.1f s", took, bound)
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
	if got := p.bucket("ACM", "DescribeCertificate").limit; got != (BucketLimit{Burst: 3, Rate: 2.5}) {
		t.Errorf("scaled ACM action bucket %+v", got)
	}
	p, err = newPacer(1, map[string]BucketLimit{BucketACM: {Burst: 4, Rate: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.bucket("ACM", "DescribeCertificate").limit; got != (BucketLimit{Burst: 4, Rate: 2}) {
		t.Errorf("an acm override leaves DescribeCertificate's bucket at %+v", got)
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

// TestBackgroundReserveFollowsRate checks that at a cut rate a background call waits for the reserve of the
// bucket it holds now, not of its full burst, which a cut bucket cannot hold: background work still flows.
func TestBackgroundReserveFollowsRate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newBucket("b", BucketLimit{Burst: 20, Rate: 8}, t0) // holds 19, a background call leaves 4
	for i := range 4 {
		_, gen, _ := b.reserve(t0, false)
		b.throttled(t0.Add(time.Duration(i)*time.Millisecond), gen)
	}
	if b.rate != 1 || b.capacity() >= 5 {
		t.Fatalf("after four throttles: rate %v, capacity %v; want the floor 1 and less than 5", b.rate, b.capacity())
	}
	now := t0
	for {
		d, _, ok := b.reserve(now, true)
		if ok {
			break
		}
		now = now.Add(d)
		if now.Sub(t0) > 10*time.Second {
			t.Fatalf("a background call still waits %s after the cut: the bucket holds %v of %v", now.Sub(t0), b.tokens, b.capacity())
		}
	}
	// It left a token for a call a user waits for.
	if d, _, _ := b.reserve(now, false); d != 0 {
		t.Fatalf("a foreground call after the background one waits %s", d)
	}
}
