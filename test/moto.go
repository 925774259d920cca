package test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go/middleware"
)

// Moto is a moto server (the AWS API emulator) on a free loopback port.
type Moto struct {
	URL string
	cmd *exec.Cmd
}

// StartMoto starts the moto server that `make moto` installs. It fails, rather than skips, when it is missing.
func StartMoto() (*Moto, error) {
	bin := os.Getenv("CLOUDLB_MOTO_SERVER")
	if bin == "" {
		matches, _ := filepath.Glob(filepath.Join(RepoRoot(), "bin", "moto-*", "bin", "moto_server"))
		if len(matches) == 0 {
			return nil, errors.New("no moto_server: run `make moto` or set CLOUDLB_MOTO_SERVER")
		}
		bin = matches[len(matches)-1]
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Env = append(os.Environ(), "MOTO_ACM_VALIDATION_WAIT=0", "MOTO_EC2_LOAD_DEFAULT_AMIS=false")
	logFile, err := os.CreateTemp("", "moto-*.log")
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	m := &Moto{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(m.URL + "/moto-api/")
		if err == nil {
			_ = resp.Body.Close()
			return m, nil
		}
		if time.Now().After(deadline) {
			m.Stop()
			return nil, fmt.Errorf("moto did not answer on %s within 60s (log: %s)", m.URL, logFile.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Reset wipes all of moto's state.
func (m *Moto) Reset() error {
	resp, err := http.Post(m.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("moto reset: %s", resp.Status)
	}
	return nil
}

// Stop ends the server.
func (m *Moto) Stop() {
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
		_ = m.cmd.Wait()
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// CallCounter counts AWS API calls by operation, through SDK middleware. Counts, unlike timings, do not depend
// on the machine, so tests and benchmarks can gate on them.
type CallCounter struct {
	mu    sync.Mutex
	calls []string
}

// Middleware returns the API option that feeds the counter; it counts each attempt.
func (c *CallCounter) Middleware(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("test/count",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			c.mu.Lock()
			c.calls = append(c.calls, awsmiddleware.GetOperationName(ctx))
			c.mu.Unlock()
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

// Reset forgets all counted calls.
func (c *CallCounter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}

// Calls returns the operations called, in order.
func (c *CallCounter) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// Counts returns calls by operation.
func (c *CallCounter) Counts() map[string]int {
	out := map[string]int{}
	for _, op := range c.Calls() {
		out[op]++
	}
	return out
}

// Mutating returns the calls, in order, that may change the cloud: everything but Describe, Get and List.
func (c *CallCounter) Mutating() []string {
	var out []string
	for _, op := range c.Calls() {
		if !IsReadOnly(op) {
			out = append(out, op)
		}
	}
	return out
}

// IsReadOnly reports whether an AWS operation only reads.
func IsReadOnly(op string) bool {
	return strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "Get") || strings.HasPrefix(op, "List")
}

// Summary renders counts as "Op=n" sorted by operation, for benchmark output and failure messages.
func Summary(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, counts[k])
	}
	return strings.Join(parts, " ")
}

// FailOperation returns an API option that fails the first n calls of op, as a crash or outage at that
// point would, to leave a stack applied halfway.
func FailOperation(op string, n int) func(*middleware.Stack) error {
	return FailOperationWith(op, n, fmt.Errorf("injected failure of %s", op))
}

// FailOperationWith fails the first n calls of op with err, such as an API error AWS returns where moto does
// not (a security group still attached to network interfaces being released).
func FailOperationWith(op string, n int, err error) func(*middleware.Stack) error {
	var mu sync.Mutex
	failed := 0
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("test/fail-"+op,
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if awsmiddleware.GetOperationName(ctx) == op {
					mu.Lock()
					fail := failed < n
					failed++
					mu.Unlock()
					if fail {
						return middleware.InitializeOutput{}, middleware.Metadata{}, err
					}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}

// Credentials are the dummy static credentials every moto client uses.
func (m *Moto) Credentials() map[string]string {
	return map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true"}
}

// PrepareVPC finds moto's default VPC and tags its subnets for load balancer discovery, as an EKS cluster's
// subnets are tagged. It returns the VPC ID and the subnet IDs.
func PrepareVPC(ctx context.Context, c *ec2.Client) (string, []string, error) {
	vpcs, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
	if err != nil {
		return "", nil, err
	}
	if len(vpcs.Vpcs) == 0 {
		return "", nil, errors.New("moto has no default VPC")
	}
	vpcID := aws.ToString(vpcs.Vpcs[0].VpcId)
	out, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}}})
	if err != nil {
		return "", nil, err
	}
	var subnets []string
	for _, s := range out.Subnets {
		subnets = append(subnets, aws.ToString(s.SubnetId))
	}
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: subnets, Tags: []ec2types.Tag{
		{Key: aws.String("kubernetes.io/role/elb"), Value: aws.String("1")},
		{Key: aws.String("kubernetes.io/role/internal-elb"), Value: aws.String("1")},
	}})
	return vpcID, subnets, err
}
