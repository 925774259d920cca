package aws

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// AWS throttles each API per account and region with token buckets: a bucket holds at most its burst of tokens,
// every call takes one, and tokens come back at the refill rate. cloudlb keeps a bucket of its own for each of
// them, so that its calls stay within the account's and are not refused and retried. Sources:
//
//   - ELBv2: https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-throttling.html
//     Non-mutating (Describe*) actions share a bucket of 40 tokens refilled at 10 per second, as the page
//     states. Registration (RegisterTargets, DeregisterTargets) and the other, mutating actions have buckets of
//     their own; cloudlb's figures for those two (20 at 4, and 20 at 5) are deliberately low and were not
//     checked against the page's table: --aws-api-buckets sets them.
//   - EC2: https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html
//     Each action has a bucket of its own ("each API is evaluated individually"), sized by its category:
//     non-mutating 100 tokens at 20 per second (as the page states); mutating actions, the security group
//     actions among them, 200 at 5 (cloudlb's figure, not checked against the page's table).
//   - ACM: https://docs.aws.amazon.com/general/latest/gr/acm.html publishes a request rate per action; cloudlb
//     paces each action at 5 per second, without a burst above it, as low as it takes the lowest to be.
//   - Resource Groups Tagging API: https://docs.aws.amazon.com/general/latest/gr/arg.html (no published
//     bucket; 10 per second with a burst of 20, as before).
//
// --aws-api-rate-scale scales them all (an account shared with other tools), --aws-api-buckets sets any of
// them (an account whose limits AWS raised).

// BucketLimit is a token bucket: at most Burst tokens, refilled at Rate tokens per second.
type BucketLimit struct {
	Burst float64
	Rate  float64
}

// The buckets, by the name --aws-api-buckets knows them by.
const (
	BucketELBv2Describe     = "elbv2-describe"
	BucketELBv2Registration = "elbv2-registration"
	BucketELBv2Mutating     = "elbv2-mutating"
	BucketEC2Describe       = "ec2-describe"
	BucketEC2Mutating       = "ec2-mutating"
	BucketTagging           = "tagging"
	BucketACM               = "acm"
	BucketOther             = "other"
)

type bucketSpec struct {
	BucketLimit
	// perAction: AWS keeps a bucket of this size for each action of the group, not one for them all.
	perAction bool
}

var apiBuckets = map[string]bucketSpec{
	BucketELBv2Describe:     {BucketLimit: BucketLimit{Burst: 40, Rate: 10}},
	BucketELBv2Registration: {BucketLimit: BucketLimit{Burst: 20, Rate: 4}},
	BucketELBv2Mutating:     {BucketLimit: BucketLimit{Burst: 20, Rate: 5}},
	BucketEC2Describe:       {BucketLimit: BucketLimit{Burst: 100, Rate: 20}, perAction: true},
	BucketEC2Mutating:       {BucketLimit: BucketLimit{Burst: 200, Rate: 5}, perAction: true},
	BucketTagging:           {BucketLimit: BucketLimit{Burst: 20, Rate: 10}},
	BucketACM:               {BucketLimit: BucketLimit{Burst: 5, Rate: 5}, perAction: true},
	// WAFv2 and Shield, called once per load balancer change at most.
	BucketOther: {BucketLimit: BucketLimit{Burst: 20, Rate: 10}},
}

// bucketGroup names the bucket group of a call, by the SDK's service ID and operation name.
func bucketGroup(service, op string) string {
	describe := strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "List") || strings.HasPrefix(op, "Get")
	switch service {
	case "Elastic Load Balancing v2":
		switch {
		case describe:
			return BucketELBv2Describe
		case op == "RegisterTargets" || op == "DeregisterTargets":
			return BucketELBv2Registration
		}
		return BucketELBv2Mutating
	case "EC2":
		if describe {
			return BucketEC2Describe
		}
		return BucketEC2Mutating
	case "Resource Groups Tagging API":
		return BucketTagging
	case "ACM":
		return BucketACM
	}
	return BucketOther
}

// APIBucket returns the bucket AWS takes a call's token from, by the SDK's service ID and operation name: its
// key (the group's name, followed by the action for groups that have a bucket per action) and its documented
// limit. The benchmark's throttling proxy enforces the same buckets.
func APIBucket(service, op string) (key string, limit BucketLimit) {
	group := bucketGroup(service, op)
	spec := apiBuckets[group]
	if spec.perAction {
		return group + "/" + op, spec.BucketLimit
	}
	return group, spec.BucketLimit
}

// ParseAPIBuckets parses --aws-api-buckets: name=burst:rate pairs separated by commas, for example
// "elbv2-mutating=40:10,ec2-mutating=400:10".
func ParseAPIBuckets(s string) (map[string]BucketLimit, error) {
	out := map[string]BucketLimit{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		name, value, ok := strings.Cut(item, "=")
		burst, rate, ok2 := strings.Cut(value, ":")
		if !ok || !ok2 {
			return nil, fmt.Errorf("%q: want name=burst:rate", item)
		}
		if _, known := apiBuckets[name]; !known {
			return nil, fmt.Errorf("%q: unknown bucket %q; known: %s", item, name, strings.Join(slices.Sorted(maps.Keys(apiBuckets)), ", "))
		}
		b, err1 := strconv.ParseFloat(burst, 64)
		r, err2 := strconv.ParseFloat(rate, 64)
		if err1 != nil || err2 != nil || !(b >= 1) || !(r > 0) || math.IsInf(b, 0) || math.IsInf(r, 0) {
			return nil, fmt.Errorf("%q: want a burst of at least 1 and a positive rate", item)
		}
		out[name] = BucketLimit{Burst: b, Rate: r}
	}
	return out, nil
}

const (
	// aimdDecrease multiplies a bucket's rate when AWS throttles a call from it, at most once per aimdHold.
	aimdDecrease = 0.5
	aimdHold     = time.Second
	// aimdFloor is the lowest rate, as a share of the bucket's limit: calls keep flowing, slowly.
	aimdFloor = 1.0 / 8
	// aimdIncrease is how much of the limit's rate comes back per second without throttling: from half the
	// rate to all of it in ten seconds.
	aimdIncrease = 0.05
	// backgroundReserve is the share of a bucket's burst that background calls leave for work a user waits for.
	backgroundReserve = 0.25
)

var apiRate = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "cloudlb_aws_api_rate_limit",
	Help: "Refill rate, in calls per second, of cloudlb's client-side token bucket; lower than the bucket's limit after AWS throttled calls.",
}, []string{"bucket"})

func init() { metrics.Registry.MustRegister(apiRate) }

// bucket is one of cloudlb's token buckets, shared by every worker of the process. Its tokens go negative when
// calls are queued: each took a token that refills later, and waits until then.
type bucket struct {
	key   string
	limit BucketLimit
	// burst is what cloudlb lets itself hold: a little less than AWS's bucket, so that calls a network delay
	// brings closer together still find tokens there.
	burst  float64
	rate   float64
	tokens float64
	last   time.Time
	cut    time.Time
}

func newBucket(key string, limit BucketLimit, now time.Time) *bucket {
	burst := max(1, limit.Burst-max(1, math.Floor(limit.Burst/20)))
	if limit.Burst < 2 {
		burst = limit.Burst
	}
	return &bucket{key: key, limit: limit, burst: burst, rate: limit.Rate, tokens: burst, last: now}
}

// advance refills the bucket up to now, raising the rate towards the limit on the way.
func (b *bucket) advance(now time.Time) {
	dt := now.Sub(b.last).Seconds()
	if dt <= 0 {
		return
	}
	rate := min(b.limit.Rate, b.rate+aimdIncrease*b.limit.Rate*dt)
	// The rate grew linearly over the interval: refill by its mean.
	b.tokens = min(b.burst, b.tokens+dt*(b.rate+rate)/2)
	b.rate, b.last = rate, now
}

// reserve takes a token for a call at now, and returns how long the call must wait before it is sent. A
// background call takes one only when the bucket holds its reserve besides, which it never does while calls
// are queued; otherwise it takes none, and ok is false: it must look again after the wait.
func (b *bucket) reserve(now time.Time, background bool) (wait time.Duration, ok bool) {
	b.advance(now)
	if background {
		need := 1 + math.Max(1, math.Floor(b.burst*backgroundReserve))
		if b.burst < 2 {
			need = 1
		}
		if b.tokens < need {
			return seconds((need - b.tokens) / b.rate), false
		}
		b.tokens--
		return 0, true
	}
	b.tokens--
	if b.tokens >= 0 {
		return 0, true
	}
	return seconds(-b.tokens / b.rate), true
}

// cancel gives back the token of a call that was never sent.
func (b *bucket) cancel(now time.Time) {
	b.advance(now)
	b.tokens = min(b.burst, b.tokens+1)
}

// throttled lowers the rate after AWS refused a call for lack of tokens: the account's bucket is empty, shared
// with other callers, or smaller than cloudlb's. Calls throttled together count once.
func (b *bucket) throttled(now time.Time) {
	b.advance(now)
	b.tokens = min(b.tokens, 0)
	if !b.cut.IsZero() && now.Sub(b.cut) < aimdHold {
		return
	}
	b.cut = now
	b.rate = max(b.rate*aimdDecrease, b.limit.Rate*aimdFloor)
}

func seconds(s float64) time.Duration {
	return time.Duration(math.Ceil(s * float64(time.Second)))
}

// pacer holds the buckets of one provider, created as calls need them.
type pacer struct {
	// account prefixes the buckets' names ("" for the cluster's own account; assumerole.go).
	account string
	mu      sync.Mutex
	limits  map[string]BucketLimit
	buckets map[string]*bucket
	now     func() time.Time
}

// newPacer scales the documented buckets by scale (zero means 1), then applies overrides as they are.
func newPacer(scale float64, overrides map[string]BucketLimit) (*pacer, error) {
	if scale == 0 {
		scale = 1
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		return nil, fmt.Errorf("aws: --aws-api-rate-scale=%v: must be positive", scale)
	}
	limits := map[string]BucketLimit{}
	for name, spec := range apiBuckets {
		limits[name] = BucketLimit{Burst: max(1, math.Round(spec.Burst*scale)), Rate: spec.Rate * scale}
	}
	for name, l := range overrides {
		if _, ok := apiBuckets[name]; !ok {
			return nil, fmt.Errorf("aws: unknown API bucket %q", name)
		}
		limits[name] = l
	}
	return &pacer{limits: limits, buckets: map[string]*bucket{}, now: time.Now}, nil
}

func (p *pacer) bucket(service, op string) *bucket {
	group := bucketGroup(service, op)
	key := p.account + group
	if apiBuckets[group].perAction {
		key += "/" + op
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.buckets[key]
	if !ok {
		b = newBucket(key, p.limits[group], p.now())
		p.buckets[key] = b
		apiRate.WithLabelValues(key).Set(b.rate)
	}
	return b
}

// wait blocks until b lets a call through, background calls after the others.
func (p *pacer) wait(ctx context.Context, b *bucket, background bool) error {
	for {
		p.mu.Lock()
		d, ok := b.reserve(p.now(), background)
		rate := b.rate
		p.mu.Unlock()
		apiRate.WithLabelValues(b.key).Set(rate)
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			if ok {
				p.mu.Lock()
				b.cancel(p.now())
				p.mu.Unlock()
			}
			return ctx.Err()
		case <-t.C:
		}
		if ok {
			return nil
		}
	}
}

func (p *pacer) throttled(b *bucket) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b.throttled(p.now())
	apiRate.WithLabelValues(b.key).Set(b.rate)
}
