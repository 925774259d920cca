package test

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// FaultProxy sits in front of an AWS endpoint and answers some requests itself with AWS-shaped errors, so that
// tests exercise the real SDK retryer and the controller's handling of calls that fail after every retry.
type FaultProxy struct {
	URL string

	srv      *httptest.Server
	mu       sync.Mutex
	decide   func(r *http.Request) fault
	seen     int
	injected map[fault]int
}

type fault int

const (
	none fault = iota
	throttled
	serverError
	// lost forwards the request, then answers with an HTTP 500 as if the response had been lost on the way back:
	// the call took effect, and the client's retry must not do it twice.
	lost
)

// NewFaultProxy proxies to target and injects a fault on every nth request, alternately an HTTP 500 and a
// throttling error.
func NewFaultProxy(target string, n int) *FaultProxy {
	f := &FaultProxy{}
	f.decide = func(*http.Request) fault {
		if f.seen%n != 0 {
			return none
		}
		if (f.injected[throttled]+f.injected[serverError])%2 == 1 {
			return throttled
		}
		return serverError
	}
	return f.start(target)
}

// NewRandomFaultProxy proxies to target and fails ELBv2 and EC2 requests at random, from a generator seeded
// with seed: a fraction throttle of them with the service's throttling error, a fraction fail with an HTTP 500,
// half of which come after the request was forwarded (a lost response). Requests to other services pass through.
func NewRandomFaultProxy(target string, seed uint64, throttle, fail float64) *FaultProxy {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	f := &FaultProxy{}
	f.decide = func(r *http.Request) fault {
		if svc := service(r); svc != "ec2" && svc != "elasticloadbalancing" {
			return none
		}
		switch x := rng.Float64(); {
		case x < throttle:
			return throttled
		case x < throttle+fail/2:
			return serverError
		case x < throttle+fail:
			return lost
		}
		return none
	}
	return f.start(target)
}

func (f *FaultProxy) start(target string) *FaultProxy {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	f.injected = map[fault]int{}
	rp := httputil.NewSingleHostReverseProxy(u)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen++
		what := f.decide(r)
		if what != none {
			f.injected[what]++
		}
		f.mu.Unlock()
		switch what {
		case throttled:
			writeThrottle(w, r)
		case serverError:
			http.Error(w, "injected fault", http.StatusInternalServerError)
		case lost:
			rp.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "injected fault after the request was forwarded", http.StatusInternalServerError)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	f.URL = f.srv.URL
	return f
}

// service is the AWS service a request is signed for, from the credential scope of its SigV4 Authorization
// header (".../us-east-1/elasticloadbalancing/aws4_request"); moto routes on the same.
func service(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	_, scope, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	scope, _, _ = strings.Cut(scope, ",")
	parts := strings.Split(scope, "/")
	if len(parts) < 5 {
		return ""
	}
	return parts[len(parts)-2]
}

// writeThrottle answers with a throttling error in the wire format of the service the request is signed for.
func writeThrottle(w http.ResponseWriter, r *http.Request) {
	switch service(r) {
	case "ec2":
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>fault</RequestID></Response>`))
	case "elasticloadbalancing":
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault</RequestId></ErrorResponse>`))
	default: // JSON protocols: tagging, ACM, WAFv2, Shield
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", "ThrottlingException")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"ThrottlingException","message":"Rate exceeded"}`))
	}
}

// Injected returns how many faults were injected.
func (f *FaultProxy) Injected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected[throttled] + f.injected[serverError] + f.injected[lost]
}

// Counts returns how many requests the proxy saw, how many it answered with a throttling error, with an HTTP
// 500 without forwarding them, and with an HTTP 500 after forwarding them.
func (f *FaultProxy) Counts() (seen, throttles, serverErrors, lostResponses int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen, f.injected[throttled], f.injected[serverError], f.injected[lost]
}

// Close stops the proxy.
func (f *FaultProxy) Close() { f.srv.Close() }
