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
//     their own; cloudlb's figures for those two (20 at 4, the AWS Load Balancer Controller's client-side limit
//     for registration, and 20 at 5) are its own defaults: the page's table of them could not be read back.
//   - EC2: https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html
//     Each action has a bucket of its own ("each API is evaluated individually"), sized by its category:
//     non-mutating 100 tokens at 20 per second (the page's figures for DescribeHosts, a non-mutating action);
//     mutating actions, the security group actions among them, 200 at 5 (cloudlb's default, not read back from
//     the page's table, which also sets some actions' resource-token buckets apart).
//   - ACM: https://docs.aws.amazon.com/acm/latest/userguide/acm-limits.html ("API rate quotas", read through a
//     quotation of the page's table) gives each action a rate in requests per second and no burst:
//     DescribeCertificate, DeleteCertificate, GetCertificate and ListTagsForCertificate 10,
//     RequestCertificate, AddTagsToCertificate and RemoveTagsFromCertificate 5, ListCertificates and the
//     others 1. cloudlb's bucket for each holds one second of its rate.
//   - Resource Groups Tagging API (GetResources) https://docs.aws.amazon.com/general/latest/gr/arg.html, WAFv2
//     and Shield: no bucket could be read back from AWS's pages; 20 at 10 per second are cloudlb's defaults.
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
	// actions are the limits of the actions whose bucket is not of the group's size.
	actions map[string]BucketLimit
}

var apiBuckets = map[string]bucketSpec{
	BucketELBv2Describe:     {BucketLimit: BucketLimit{Burst: 40, Rate: 10}},
	BucketELBv2Registration: {BucketLimit: BucketLimit{Burst: 20, Rate: 4}},
	BucketELBv2Mutating:     {BucketLimit: BucketLimit{Burst: 20, Rate: 5}},
	BucketEC2Describe:       {BucketLimit: BucketLimit{Burst: 100, Rate: 20}, perAction: true},
	BucketEC2Mutating:       {BucketLimit: BucketLimit{Burst: 200, Rate: 5}, perAction: true},
	BucketTagging:           {BucketLimit: BucketLimit{Burst: 20, Rate: 10}},
	BucketACM: {BucketLimit: BucketLimit{Burst: 1, Rate: 1}, perAction: true, actions: map[string]BucketLimit{
		"DescribeCertificate": {10, 10}, "DeleteCertificate": {10, 10}, "GetCertificate": {10, 10}, "ListTagsForCertificate": {10, 10},
		"RequestCertificate": {5, 5}, "AddTagsToCertificate": {5, 5}, "RemoveTagsFromCertificate": {5, 5},
	}},
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
	if !spec.perAction {
		return group, spec.BucketLimit
	}
	if l, ok := spec.actions[op]; ok {
		return group + "/" + op, l
	}
	return group + "/" + op, spec.BucketLimit
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
	// aimdDecrease multiplies a bucket's rate when AWS throttles a call sent at that rate.
	aimdDecrease = 0.5
	// aimdFloor is the lowest rate, as a share of the bucket's limit: calls keep flowing, slowly.
	aimdFloor = 1.0 / 8
	// After a throttle the rate comes back by aimdIncrease of the limit's rate per second up to aimdResume of the
	// rate AWS refused, then by aimdProbe per second: the account's spare capacity lies below the refused rate,
	// and probing towards it fast was refused again every seven seconds (with half of each bucket spent by other
	// tools, a call in 40).
	aimdIncrease = 0.05
	aimdResume   = 0.7
	aimdProbe    = 0.005
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
	// burst is what cloudlb lets itself hold at the limit's rate: a little less than AWS's bucket, so that calls
	// a network delay brings closer together still find tokens there. At a lower rate it holds as much less: an
	// account whose rate other tools share shares its bucket with them too.
	burst  float64
	rate   float64
	tokens float64
	last   time.Time
	// refused is the rate at which AWS last throttled a call; zero before it ever did.
	refused float64
	// gen counts the cuts of the rate. A call paced in an earlier generation waited for a rate AWS refused: it
	// is paced again at the new rate before it is sent, and its throttling, if it was sent before the cut, says
	// nothing new.
	gen uint64
}

func newBucket(key string, limit BucketLimit, now time.Time) *bucket {
	burst := max(1, limit.Burst-max(1, math.Floor(limit.Burst/20)))
	if limit.Burst < 2 {
		burst = limit.Burst
	}
	return &bucket{key: key, limit: limit, burst: burst, rate: limit.Rate, tokens: burst, last: now}
}

// capacity is the burst at the current rate.
func (b *bucket) capacity() float64 {
	return min(b.burst, max(1, b.burst*b.rate/b.limit.Rate))
}

// advance refills the bucket up to now, raising the rate towards the limit on the way.
func (b *bucket) advance(now time.Time) {
	dt := now.Sub(b.last).Seconds()
	if dt <= 0 {
		return
	}
	rate := b.grow(dt)
	// The rate grew linearly (or nearly) over the interval: refill by its mean.
	tokens := b.tokens + dt*(b.rate+rate)/2
	b.rate, b.last = rate, now
	b.tokens = min(b.capacity(), tokens)
}

// grow returns the rate dt seconds from now without throttling.
func (b *bucket) grow(dt float64) float64 {
	rate, fast := b.rate, b.refused*aimdResume
	if rate < fast {
		step := min(dt, (fast-rate)/(aimdIncrease*b.limit.Rate))
		rate += aimdIncrease * b.limit.Rate * step
		dt -= step
	}
	return min(b.limit.Rate, rate+aimdProbe*b.limit.Rate*dt)
}

// reserve takes a token for a call at now, and returns how long the call must wait before it is sent, and the
// generation it was paced in. A background call takes one only when the bucket holds its reserve besides, which
// it never does while calls are queued; otherwise it takes none, and ok is false: it must look again after the
// wait.
func (b *bucket) reserve(now time.Time, background bool) (wait time.Duration, gen uint64, ok bool) {
	b.advance(now)
	if background {
		c := b.capacity()
		need := 1 + math.Max(1, math.Floor(c*backgroundReserve))
		if c < 2 {
			need = 1
		}
		if b.tokens < need {
			return seconds((need - b.tokens) / b.rate), b.gen, false
		}
		b.tokens--
		return 0, b.gen, true
	}
	b.tokens--
	if b.tokens >= 0 {
		return 0, b.gen, true
	}
	return seconds(-b.tokens / b.rate), b.gen, true
}

// cancel gives back the token of a call of generation gen that was never sent.
func (b *bucket) cancel(now time.Time, gen uint64) {
	b.advance(now)
	if gen == b.gen {
		b.tokens = min(b.capacity(), b.tokens+1)
	}
}

// throttled lowers the rate after AWS refused a call of generation gen for lack of tokens: the account's bucket
// is empty, shared with other callers, or smaller than cloudlb's. The bucket is taken for empty, and the calls
// queued are paced again at the new rate. A call sent before the last cut was refused at a rate already given
// up: it changes nothing.
func (b *bucket) throttled(now time.Time, gen uint64) {
	b.advance(now)
	if gen != b.gen {
		return
	}
	b.gen++
	b.refused = b.rate
	b.rate = max(b.rate*aimdDecrease, b.limit.Rate*aimdFloor)
	b.tokens = 0
}

func seconds(s float64) time.Duration {
	return time.Duration(math.Ceil(s * float64(time.Second)))
}

// pacer holds the buckets of one provider, created as calls need them.
type pacer struct {
	// account prefixes the buckets' names ("" for the cluster's own account; assumerole.go).
	account   string
	mu        sync.Mutex
	scale     float64
	overrides map[string]BucketLimit
	buckets   map[string]*bucket
	now       func() time.Time
	// sleep waits d or until ctx ends; tests replace it with a fake clock's.
	sleep func(ctx context.Context, d time.Duration) error
}

// newPacer scales the documented buckets by scale (zero means 1), then applies overrides as they are.
func newPacer(scale float64, overrides map[string]BucketLimit) (*pacer, error) {
	if scale == 0 {
		scale = 1
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		return nil, fmt.Errorf("aws: --aws-api-rate-scale=%v: must be positive", scale)
	}
	for name := range overrides {
		if _, ok := apiBuckets[name]; !ok {
			return nil, fmt.Errorf("aws: unknown API bucket %q", name)
		}
	}
	return &pacer{scale: scale, overrides: overrides, buckets: map[string]*bucket{}, now: time.Now, sleep: sleep}, nil
}

// bucket returns the bucket of a call: AWS's, scaled, unless an override sets the group's (all its actions').
// It runs before every AWS call: the limit is worked out only for a bucket not made yet.
func (p *pacer) bucket(service, op string) *bucket {
	key, limit := APIBucket(service, op)
	key = p.account + key
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.buckets[key]
	if !ok {
		if l, ok := p.overrides[bucketGroup(service, op)]; ok {
			limit = l
		} else {
			limit = BucketLimit{Burst: max(1, math.Round(limit.Burst*p.scale)), Rate: limit.Rate * p.scale}
		}
		b = newBucket(key, limit, p.now())
		p.buckets[key] = b
		apiRate.WithLabelValues(key).Set(b.rate)
	}
	return b
}

// wait blocks until b lets a call through, background calls after the others, and returns the generation the
// call is sent in. A call queued when the rate is cut is paced again at the new rate.
func (p *pacer) wait(ctx context.Context, b *bucket, background bool) (uint64, error) {
	for {
		p.mu.Lock()
		d, gen, ok := b.reserve(p.now(), background)
		rate := b.rate
		p.mu.Unlock()
		apiRate.WithLabelValues(b.key).Set(rate)
		if d <= 0 {
			return gen, nil
		}
		if err := p.sleep(ctx, d); err != nil {
			if ok {
				p.mu.Lock()
				b.cancel(p.now(), gen)
				p.mu.Unlock()
			}
			return 0, err
		}
		p.mu.Lock()
		cut := b.gen != gen
		p.mu.Unlock()
		if ok && !cut {
			return gen, nil
		}
	}
}

func (p *pacer) throttled(b *bucket, gen uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b.throttled(p.now(), gen)
	apiRate.WithLabelValues(b.key).Set(b.rate)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
