package test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBucketProxy checks that the proxy forwards calls while their bucket holds tokens, then answers with
// ELBv2's throttling error without forwarding, and that buckets are separate.
func TestBucketProxy(t *testing.T) {
	forwarded := 0
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { forwarded++ }))
	defer backend.Close()
	p := NewBucketProxy(backend.URL, func(_, action string) (string, float64, float64) {
		if strings.HasPrefix(action, "Describe") {
			return "describe", 5, 1e-9
		}
		return "mutating", 2, 1e-9
	})
	defer p.Close()
	call := func(action string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, p.URL, strings.NewReader("Action="+action+"&Version=2015-12-01"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for range 2 {
		if code, _ := call("CreateRule"); code != http.StatusOK {
			t.Fatalf("a call within the burst: HTTP %d", code)
		}
	}
	code, body := call("CreateRule")
	if code != http.StatusBadRequest || !strings.Contains(body, "<Code>Throttling</Code>") {
		t.Fatalf("a call past the burst: HTTP %d %s", code, body)
	}
	if code, _ := call("DescribeRules"); code != http.StatusOK {
		t.Fatalf("a call of another bucket: HTTP %d", code)
	}
	accepted, throttled, perBucket := p.Counts()
	if forwarded != 3 || accepted["Elastic Load Balancing v2:CreateRule"] != 2 || throttled["Elastic Load Balancing v2:CreateRule"] != 1 ||
		perBucket["mutating"] != 2 || perBucket["describe"] != 1 {
		t.Fatalf("forwarded %d; accepted %v, throttled %v, by bucket %v", forwarded, accepted, throttled, perBucket)
	}
}
