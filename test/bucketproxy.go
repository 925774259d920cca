package test

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Classify names the token bucket AWS takes a call's token from, by the SDK's service ID ("Elastic Load
// Balancing v2", "EC2", ...) and the action, with the bucket's size and refill rate per second. The proxy calls
// it under its lock.
type Classify func(service, action string) (bucket string, burst, rate float64)

// BucketProxy sits in front of an AWS endpoint (moto, which never throttles) and enforces AWS's per-account
// token buckets: a call that finds its bucket empty is answered with the service's throttling error, as AWS
// answers it, and is not forwarded. Buckets start full and refill continuously.
type BucketProxy struct {
	URL string

	srv      *httptest.Server
	mu       sync.Mutex
	classify Classify
	buckets  map[string]*proxyBucket
	// accepted and throttled count calls by "service:action"; perBucket counts accepted calls by bucket.
	accepted, throttled, perBucket map[string]int
}

type proxyBucket struct {
	burst, rate, tokens float64
	last                time.Time
}

// sdkServices maps the service a request is signed for to the SDK's service ID.
var sdkServices = map[string]string{
	"elasticloadbalancing": "Elastic Load Balancing v2", "ec2": "EC2", "tagging": "Resource Groups Tagging API",
	"acm": "ACM", "wafv2": "WAFV2", "shield": "Shield",
}

// NewBucketProxy proxies to target, enforcing the buckets classify names.
func NewBucketProxy(target string, classify Classify) *BucketProxy {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	p := &BucketProxy{classify: classify, buckets: map[string]*proxyBucket{},
		accepted: map[string]int{}, throttled: map[string]int{}, perBucket: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		svc := sdkServices[service(r)]
		op, err := action(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if !p.take(svc, op, time.Now()) {
			writeThrottle(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	p.URL = p.srv.URL
	return p
}

// action is the API action of a request: the Action form field of the query protocols (ELBv2, EC2), or the
// operation in X-Amz-Target of the JSON protocols.
func action(r *http.Request) (string, error) {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return t[strings.LastIndex(t, ".")+1:], nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return "", err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", err
	}
	return form.Get("Action"), nil
}

func (p *BucketProxy) take(svc, op string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	name, burst, rate := p.classify(svc, op)
	b, ok := p.buckets[name]
	if !ok {
		b = &proxyBucket{burst: burst, rate: rate, tokens: burst, last: now}
		p.buckets[name] = b
	}
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	call := svc + ":" + op
	if b.tokens < 1 {
		p.throttled[call]++
		return false
	}
	b.tokens--
	p.accepted[call]++
	p.perBucket[name]++
	return true
}

// Counts returns the calls the proxy forwarded and those it throttled, by "service:action", and the calls it
// forwarded by bucket.
func (p *BucketProxy) Counts() (accepted, throttled, perBucket map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.accepted), maps.Clone(p.throttled), maps.Clone(p.perBucket)
}

// Close stops the proxy.
func (p *BucketProxy) Close() { p.srv.Close() }
