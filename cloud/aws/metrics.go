package aws

import (
	"context"
	"errors"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/cloudlb/cloudlb/cloud"
)

var (
	apiCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cloudlb_aws_api_calls_total",
		Help: "AWS API calls (each attempt, retries included) by service, operation and outcome (success or error code).",
	}, []string{"service", "operation", "outcome"})
	apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cloudlb_aws_api_call_duration_seconds",
		Help:    "Duration of AWS API call attempts.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
	}, []string{"service", "operation"})
	apiThrottled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cloudlb_aws_api_throttled_total",
		Help: "AWS API call attempts that AWS throttled.",
	}, []string{"service", "operation"})
	apiWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cloudlb_aws_api_rate_limit_wait_seconds",
		Help:    "Time calls waited for cloudlb's own client-side token bucket.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	}, []string{"service", "operation"})
)

func init() {
	metrics.Registry.MustRegister(apiCalls, apiDuration, apiThrottled, apiWait)
}

// throttleCodes are the error codes AWS services use to say "slow down".
var throttleCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true, "RequestThrottledException": true,
	"TooManyRequestsException": true, "RequestLimitExceeded": true, "RequestThrottled": true, "SlowDown": true,
	"PriorRequestNotComplete": true, "EC2ThrottledException": true,
}

// instrument adds the pacing and metrics middleware to a client. It sits after the retry middleware, so that
// every attempt, retries included, waits for a token and is counted.
func (p *pacer) instrument(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("cloudlb/instrument",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			service, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
			b := p.bucket(service, op)
			waitStart := time.Now()
			gen, err := p.wait(ctx, b, cloud.IsBackground(ctx))
			if err != nil {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, err
			}
			apiWait.WithLabelValues(service, op).Observe(time.Since(waitStart).Seconds())
			start := time.Now()
			out, md, err := next.HandleFinalize(ctx, in)
			apiDuration.WithLabelValues(service, op).Observe(time.Since(start).Seconds())
			outcome := "success"
			if err != nil {
				outcome = "error"
				var ae smithy.APIError
				if errors.As(err, &ae) {
					outcome = ae.ErrorCode()
					if throttleCodes[outcome] {
						apiThrottled.WithLabelValues(service, op).Inc()
						p.throttled(b, gen)
					}
				}
			}
			apiCalls.WithLabelValues(service, op, outcome).Inc()
			return out, md, err
		}), middleware.After)
}
