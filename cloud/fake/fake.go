// Package fake is a stateful in-memory cloud.Provider for controller tests, fault injection and the local run.
// It keeps the last model ensured per stack, records every call, and can fail or delay any method on demand.
package fake

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudlb/cloudlb/cloud"
)

// Method names, as recorded in Calls and as keys for fault injection.
const (
	MethodEnsure      = "Ensure"
	MethodDelete      = "Delete"
	MethodStacks      = "Stacks"
	MethodSyncTargets = "SyncTargets"
)

// Call is one recorded provider call.
type Call struct {
	Method string
	Stack  string
	// TargetGroup and Targets are set for SyncTargets.
	TargetGroup string
	Targets     int
	// Background is whether the call was marked background work (cloud.Background).
	Background bool
	// NoAdoption is whether the call was forbidden to adopt (cloud.WithoutAdoption).
	NoAdoption bool
}

// Provider is the in-memory cloud. The zero value is not usable; call New.
type Provider struct {
	mu      sync.Mutex
	lbs     map[string]*cloud.LoadBalancer
	targets map[tgKey][]cloud.Target
	health  map[cloud.Target]cloud.TargetState
	calls   []Call
	errs    map[string][]error
	inject  map[string]func(stack string) error
	latency map[string]time.Duration
	// certs are the certificates made for CreateCertificates, by stack and request.
	certs map[string]map[string]*cloud.CertificateStatus
	// issued are the certificate IDs issued (IssueCertificates); private CAs issue at once.
	issued  map[string]bool
	certSeq int
	// applied are the changes each stack's last Ensure made (plan.go).
	applied map[string]cloud.Plan
	// bound are the target groups cloudlb does not own, for TargetGroupBindings, by ARN.
	bound map[string]*boundGroup
	// bindingRules are the rules each TargetGroupBinding asks for (binding.go).
	bindingRules map[string][]cloud.IngressPermission
	// adopt is what the next Ensure of a stack reports as adopted from another controller (AdoptOnNextEnsure).
	adopt map[string][]string
	// tgGen counts the times each target group was made anew, and tgCloud is its cloud ID, which changes with it.
	tgGen   map[tgKey]int
	tgCloud map[tgKey]string
}

var _ cloud.Provider = (*Provider)(nil)

// New returns an empty fake cloud.
func New() *Provider {
	p := &Provider{}
	p.Reset()
	return p
}

// Reset forgets all state, calls, injected errors and latency.
func (p *Provider) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lbs = map[string]*cloud.LoadBalancer{}
	p.targets = map[tgKey][]cloud.Target{}
	p.health = map[cloud.Target]cloud.TargetState{}
	p.calls = nil
	p.errs = map[string][]error{}
	p.inject = map[string]func(string) error{}
	p.latency = map[string]time.Duration{}
	p.certs = map[string]map[string]*cloud.CertificateStatus{}
	p.issued = map[string]bool{}
	p.applied = map[string]cloud.Plan{}
	p.bound = map[string]*boundGroup{}
	p.bindingRules = nil
	p.adopt = map[string][]string{}
	p.tgGen = map[tgKey]int{}
	p.tgCloud = map[tgKey]string{}
}

// FailNext makes the next len(errs) calls of method return these errors, in order.
func (p *Provider) FailNext(method string, errs ...error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs[method] = append(p.errs[method], errs...)
}

// Inject makes every later call of method return fn(stack) when that is not nil, until Inject(method, nil).
// Unlike FailNext, it can fail one stack for as long as a test needs, whatever else runs.
func (p *Provider) Inject(method string, fn func(stack string) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if fn == nil {
		delete(p.inject, method)
		return
	}
	p.inject[method] = fn
}

// SetLatency delays every later call of method by d.
func (p *Provider) SetLatency(method string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency[method] = d
}

// Calls returns a copy of the calls made so far.
func (p *Provider) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// CallCount returns how many calls of method were made for stack ("" for any stack).
func (p *Provider) CallCount(method, stack string) int {
	n := 0
	for _, c := range p.Calls() {
		if c.Method == method && (stack == "" || c.Stack == stack) {
			n++
		}
	}
	return n
}

// LoadBalancer returns a copy of the model last ensured for stack, or nil.
func (p *Provider) LoadBalancer(stack string) *cloud.LoadBalancer {
	p.mu.Lock()
	defer p.mu.Unlock()
	lb, ok := p.lbs[stack]
	if !ok {
		return nil
	}
	return clone(lb)
}

// Stacks returns the stacks that have a load balancer, sorted.
func (p *Provider) Stacks(ctx context.Context) ([]string, error) {
	if err := p.enter(ctx, MethodStacks, ""); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.lbs))
	for s := range p.lbs {
		out = append(out, s)
	}
	slices.Sort(out)
	return out, nil
}

// Ensure stores lb and returns a DNS name derived from its name and stack.
func (p *Provider) Ensure(ctx context.Context, lb *cloud.LoadBalancer, _ cloud.Known) (cloud.Status, error) {
	if err := p.enter(ctx, MethodEnsure, lb.Stack); err != nil {
		return cloud.Status{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applied[lb.Stack] = diff(p.lbs[lb.Stack], lb)
	prev := p.lbs[lb.Stack]
	p.lbs[lb.Stack] = clone(lb)
	st := cloud.Status{DNSName: DNSName(lb), ID: "fake://" + lb.Stack, TargetGroups: map[string]string{}}
	for _, tg := range lb.TargetGroups {
		k := tgKey{lb.Stack, tg.ID}
		if prev == nil || !slices.ContainsFunc(prev.TargetGroups, func(t cloud.TargetGroup) bool { return t.ID == tg.ID }) {
			p.tgGen[k]++
			p.tgCloud[k] = fmt.Sprintf("fake-tg://%s/%s#%d", lb.Stack, tg.ID, p.tgGen[k])
			delete(p.targets, k)
		}
		st.TargetGroups[tg.ID] = p.tgCloud[k]
	}
	st.Certificates, st.Pending = p.ensureCertificates(lb)
	st.Adopted = p.adopt[lb.Stack]
	delete(p.adopt, lb.Stack)
	return st, nil
}

// AdoptOnNextEnsure makes the next Ensure of stack report notes as what it adopted, as the AWS provider does when
// it takes a stack over from the AWS Load Balancer Controller.
func (p *Provider) AdoptOnNextEnsure(stack string, notes ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.adopt[stack] = notes
}

// ensureCertificates makes a certificate per request once, pending DNS validation until IssueCertificates, and
// forgets those no longer requested once every one requested is issued, as the AWS provider deletes them.
func (p *Provider) ensureCertificates(lb *cloud.LoadBalancer) ([]cloud.CertificateStatus, bool) {
	have := p.certs[lb.Stack]
	want := map[string]*cloud.CertificateStatus{}
	var out []cloud.CertificateStatus
	pending := false
	for _, l := range lb.Listeners {
		for _, r := range l.CreateCertificates {
			key := strings.Join(r.Hosts, ",") + "|" + r.CertificateAuthority
			if _, ok := want[key]; ok {
				continue
			}
			c, ok := have[key]
			if !ok {
				p.certSeq++
				c = &cloud.CertificateStatus{Hosts: slices.Clone(r.Hosts), ID: fmt.Sprintf("fake-cert://%s/%d", lb.Stack, p.certSeq)}
				if r.CertificateAuthority != "" {
					p.issued[c.ID] = true
				}
			}
			c.State, c.Validation = "ISSUED", nil
			if !p.issued[c.ID] {
				c.State, pending = "PENDING_VALIDATION", true
				for _, h := range r.Hosts {
					c.Validation = append(c.Validation, cloud.DNSRecord{Name: "_v." + strings.TrimPrefix(h, "*.") + ".", Type: "CNAME", Value: "_v.acm-validations.aws."})
				}
			}
			want[key] = c
			out = append(out, *c)
		}
	}
	if pending {
		maps.Copy(want, have)
	}
	p.certs[lb.Stack] = want
	return out, pending
}

// IssueCertificates issues every certificate made so far.
func (p *Provider) IssueCertificates() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, certs := range p.certs {
		for _, c := range certs {
			p.issued[c.ID] = true
		}
	}
}

// Certificates returns the IDs of the certificates stack holds, sorted.
func (p *Provider) Certificates(stack string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, c := range p.certs[stack] {
		out = append(out, c.ID)
	}
	slices.Sort(out)
	return out
}

// Delete forgets stack.
func (p *Provider) Delete(ctx context.Context, stack string, _ cloud.Known) error {
	if err := p.enter(ctx, MethodDelete, stack); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.lbs, stack)
	delete(p.certs, stack)
	for k := range p.targets {
		if k.stack == stack {
			delete(p.targets, k)
		}
	}
	return nil
}

type tgKey struct{ stack, id string }

// SyncTargets stores the targets of a target group of an ensured stack and reports their health as set by
// SetHealth (TargetHealthy by default: the fake's health checks pass at once).
func (p *Provider) SyncTargets(ctx context.Context, stack, tgID string, targets []cloud.Target) ([]cloud.TargetHealth, error) {
	if err := p.enter(ctx, MethodSyncTargets, stack); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls[len(p.calls)-1].TargetGroup, p.calls[len(p.calls)-1].Targets = tgID, len(targets)
	lb, ok := p.lbs[stack]
	if !ok || !slices.ContainsFunc(lb.TargetGroups, func(tg cloud.TargetGroup) bool { return tg.ID == tgID }) {
		return nil, cloud.Errorf(cloud.KindNotFound, "target group %s of stack %s not found", tgID, stack)
	}
	p.targets[tgKey{stack, tgID}] = slices.Clone(targets)
	out := make([]cloud.TargetHealth, len(targets))
	for i, t := range targets {
		state, ok := p.health[t]
		if !ok {
			state = cloud.TargetHealthy
		}
		out[i] = cloud.TargetHealth{Target: t, State: state}
	}
	return out, nil
}

// Targets returns the targets last synced into a target group, sorted.
func (p *Provider) Targets(stack, tgID string) []cloud.Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Clone(p.targets[tgKey{stack, tgID}])
	slices.SortFunc(out, func(a, b cloud.Target) int {
		if a.ID != b.ID {
			return strings.Compare(a.ID, b.ID)
		}
		return int(a.Port - b.Port)
	})
	return out
}

// SetHealth sets the state the fake reports for a target in every target group.
func (p *Provider) SetHealth(t cloud.Target, state cloud.TargetState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.health[t] = state
}

// DNSName is the deterministic name the fake gives lb.
func DNSName(lb *cloud.LoadBalancer) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(lb.Stack))
	return fmt.Sprintf("%s-%08x.fake.elb.cloudlb.io", lb.Name, h.Sum32())
}

// enter records the call, then applies injected latency and errors.
func (p *Provider) enter(ctx context.Context, method, stack string) error {
	p.mu.Lock()
	p.calls = append(p.calls, Call{Method: method, Stack: stack, Background: cloud.IsBackground(ctx),
		NoAdoption: !cloud.AdoptionAllowed(ctx)})
	delay := p.latency[method]
	var err error
	if q := p.errs[method]; len(q) > 0 {
		err, p.errs[method] = q[0], q[1:]
	} else if fn := p.inject[method]; fn != nil {
		err = fn(stack)
	}
	p.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

func clone(lb *cloud.LoadBalancer) *cloud.LoadBalancer {
	c := *lb
	c.Subnets = slices.Clone(lb.Subnets)
	c.SubnetTags = maps.Clone(lb.SubnetTags)
	c.SecurityGroups = slices.Clone(lb.SecurityGroups)
	c.InboundCIDRs = slices.Clone(lb.InboundCIDRs)
	c.Tags = maps.Clone(lb.Tags)
	c.Listeners = make([]cloud.Listener, len(lb.Listeners))
	for i, l := range lb.Listeners {
		l.Certificates = slices.Clone(l.Certificates)
		l.CertificateHosts = slices.Clone(l.CertificateHosts)
		l.CreateCertificates = slices.Clone(l.CreateCertificates)
		l.Rules = slices.Clone(l.Rules)
		c.Listeners[i] = l
	}
	c.TargetGroups = slices.Clone(lb.TargetGroups)
	return &c
}
