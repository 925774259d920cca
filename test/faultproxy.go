package test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// FaultProxy sits in front of an AWS endpoint and answers every nth request itself, alternately with an HTTP
// 500 and an ELBv2-style Throttling error, so that tests exercise the real SDK retryer.
type FaultProxy struct {
	URL string

	srv      *httptest.Server
	mu       sync.Mutex
	n        int
	seen     int
	injected int
}

// NewFaultProxy proxies to target and injects a fault on every nth request.
func NewFaultProxy(target string, n int) *FaultProxy {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	f := &FaultProxy{n: n}
	rp := httputil.NewSingleHostReverseProxy(u)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen++
		fault := f.seen%f.n == 0
		throttle := fault && f.injected%2 == 1
		if fault {
			f.injected++
		}
		f.mu.Unlock()
		switch {
		case throttle:
			writeThrottle(w, r)
		case fault:
			http.Error(w, "injected fault", http.StatusInternalServerError)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	f.URL = f.srv.URL
	return f
}

// writeThrottle answers with a throttling error in the wire format of the service the request is signed for.
func writeThrottle(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	switch {
	case strings.Contains(auth, "/ec2/aws4_request"):
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>fault</RequestID></Response>`))
	case strings.Contains(auth, "/elasticloadbalancing/aws4_request"):
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
	return f.injected
}

// Close stops the proxy.
func (f *FaultProxy) Close() { f.srv.Close() }
