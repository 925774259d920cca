package aws_test

import (
	"context"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/acm"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cloudlb/cloudlb/cloud"
	cloudaws "github.com/cloudlb/cloudlb/cloud/aws"
	"github.com/cloudlb/cloudlb/test"
)

var _ = Describe("Plan", func() {
	var (
		ctx     context.Context
		counter *test.CallCounter
		p       *cloudaws.Provider
	)
	const stack = "default/web"

	BeforeEach(func() {
		ctx = context.Background()
		resetCloud()
		counter = &test.CallCounter{}
		p = newProvider(cluster, counter)
	})

	plan := func(p *cloudaws.Provider, lb *cloud.LoadBalancer, known cloud.Known) cloud.Plan {
		GinkgoHelper()
		counter.Reset()
		pl, err := p.Plan(ctx, lb, known)
		Expect(err).NotTo(HaveOccurred())
		Expect(counter.Mutating()).To(BeEmpty(), "a plan writes nothing")
		Expect(counter.Calls()).NotTo(BeEmpty(), "a plan observes the cloud")
		return pl
	}
	// applyAndCompare ensures lb and checks that the writes Ensure makes are the plan's, one SDK call per planned
	// change (rules of one security group go in one call, health check fields of one group in one call), and that
	// nothing is left to do after.
	applyAndCompare := func(p *cloudaws.Provider, lb *cloud.LoadBalancer, known cloud.Known, pl cloud.Plan) cloud.Status {
		GinkgoHelper()
		counter.Reset()
		st, err := p.Ensure(ctx, lb, known)
		Expect(err).NotTo(HaveOccurred())
		Expect(writes(counter)).To(Equal(expectedWrites(pl)), "plan:\n%s", strings.Join(pl.Lines(), "\n"))
		Expect(plan(p, lb, cloud.Known{ID: st.ID, Name: lb.Name})).To(BeEmpty())
		return st
	}

	It("plans a new stack without a write, and Ensure then makes exactly the planned changes", func() {
		lb := model(stack, "/api", "/")
		pl := plan(p, lb, cloud.Known{})
		Expect(pl.Lines()).To(ContainElements(
			MatchRegexp(`^\+ create load-balancer k8s-default-web \(internet-facing ipv4, subnets `+strings.Join(slices.Sorted(slices.Values(subnets)), ",")+
				`, security groups \(new\) k8s-\S+\)$`),
			HavePrefix("+ create listener k8s-default-web:80 (HTTP, default action fixed:404|text/plain|)"),
			MatchRegexp(`^\+ create rule k8s-default-web:80 path-pattern\[\]=\["/api" "/api/\*"\] \(priority \d+, forward:k8s-.*\*1\)$`),
			MatchRegexp(`^\+ create target-group k8s-.* \(HTTP:8080 ip for default/web/web-api:80\)$`),
			MatchRegexp(`^\+ create security-group-rule k8s-.* inbound tcp/80/0.0.0.0/0$`),
		))
		// The security group and its rule, two target groups, the load balancer, its listener and two rules.
		Expect(pl).To(HaveLen(8))
		Expect(ownedLoadBalancers(stack)).To(BeEmpty())
		Expect(ownedSecurityGroups(stack)).To(BeEmpty())

		applyAndCompare(p, lb, cloud.Known{}, pl)
	})

	It("plans an edit field by field, old → new, and Ensure then makes exactly those changes", func() {
		st, err := p.Ensure(ctx, model(stack, "/api", "/"), cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		known := cloud.Known{ID: st.ID, Name: "k8s-default-web"}
		before := snapshot(stack)

		edited := model(stack, "/api", "/admin")
		edited.TargetGroups[0].HealthCheck.Path = "/ready"
		edited.Tags = map[string]string{"team": "web"}
		pl := plan(p, edited, known)
		Expect(snapshot(stack)).To(Equal(before))
		lines := pl.Lines()
		Expect(lines).To(ContainElements(
			MatchRegexp(`^~ modify target-group k8s-\S+ health-check path: /healthz → /ready$`),
			MatchRegexp(`^\+ create rule k8s-default-web:80 path-pattern\[\]=\["/admin" "/admin/\*"\] \(priority \d+, forward:k8s-\S+\*1\)$`),
			MatchRegexp(`^- delete rule k8s-default-web:80 path-pattern\[\]=\["/\*"\]$`),
			MatchRegexp(`^- delete target-group k8s-\S+$`),
			"~ tag load-balancer k8s-default-web tag team: (none) → web",
		))
		Expect(slices.IsSortedFunc(pl, func(a, b cloud.Change) int { return strings.Compare(a.Kind+a.Resource, b.Kind+b.Resource) })).To(BeTrue(), "sorted, so that a plan reads the same every time")

		applyAndCompare(p, edited, known, pl)
	})

	It("reads the tags of the listeners and rules it retags in one call, not one call each", func() {
		lb := model(stack, "/api", "/")
		lb.Tags = map[string]string{"team": "web"}
		st, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		known := cloud.Known{ID: st.ID, Name: lb.Name}

		lb.Tags = map[string]string{"team": "payments"}
		pl := plan(p, lb, known)
		planReads := counter.Counts()["DescribeTags"]
		var listeners, rules int
		for _, c := range pl {
			if c.Action == cloud.ActionTag && c.Field == "tag team" && c.Old == "web" && c.New == "payments" {
				switch c.Kind {
				case "listener":
					listeners++
				case "rule":
					rules++
				}
			}
		}
		Expect([]int{listeners, rules}).To(Equal([]int{1, 2}), "plan:\n%s", strings.Join(pl.Lines(), "\n"))

		counter.Reset()
		_, err = p.Ensure(ctx, lb, known)
		Expect(err).NotTo(HaveOccurred())
		Expect(planReads).To(BeNumerically("<=", counter.Counts()["DescribeTags"]+1),
			"a plan reads what Ensure reads, and the retagged listener and rules once more at most")
	})

	It("plans an adoption, a certificate request and the shared backend group instead of making them", func() {
		lb := model(stack, "/api", "/")
		st, err := p.Ensure(ctx, lb, cloud.Known{})
		Expect(err).NotTo(HaveOccurred())
		stripClusterID(stack)
		known := cloud.Known{ID: st.ID, Name: lb.Name}
		withBackend := newProvider(cluster, counter, func(o *cloudaws.Options) { o.ManageBackendSecurityGroup = true })

		edited := withCreatedCertificate(model(stack, "/api", "/"), "", "a.example.com")
		pl := plan(withBackend, edited, known)
		Expect(pl.Lines()).To(ContainElements(
			"~ tag load-balancer "+st.ID+" tag "+cloud.TagClusterID+": (none) → "+clusterID,
			HavePrefix("~ tag target-group arn:aws:elasticloadbalancing:"),
			MatchRegexp(`^~ tag security-group k8s-\S+ tag `+cloud.TagClusterID+`: \(none\) → `+clusterID+`$`),
			"+ create certificate a.example.com (DNS validation)",
			MatchRegexp(`^\+ create security-group k8s-traffic-moto-\S+ \(shared backend of cluster moto\)$`),
			MatchRegexp(`^~ modify load-balancer k8s-default-web security-groups: sg-\S+ → \(new backend security group\),sg-\S+$`),
		))
		// The HTTPS listener waits for its certificate, as Ensure will leave it.
		Expect(pl.Lines()).NotTo(ContainElement(HavePrefix("+ create listener k8s-default-web:443")))
		Expect(tagsOf(st.ID)).NotTo(HaveKey(cloud.TagClusterID))
		certs, err := acmc.ListCertificates(ctx, &acm.ListCertificatesInput{})
		Expect(err).NotTo(HaveOccurred())
		Expect(certs.CertificateSummaryList).To(BeEmpty())
	})
})

// writes counts the mutating calls made, by operation.
func writes(c *test.CallCounter) map[string]int {
	out := map[string]int{}
	for _, op := range c.Mutating() {
		out[op]++
	}
	return out
}

// expectedWrites is the SDK calls a plan's changes take.
func expectedWrites(pl cloud.Plan) map[string]int {
	out := map[string]int{}
	perResource := map[string]bool{}
	for _, c := range pl {
		key := string(c.Action) + " " + c.Kind
		switch key {
		case "create load-balancer":
			out["CreateLoadBalancer"]++
		case "create target-group":
			out["CreateTargetGroup"]++
		case "delete target-group":
			out["DeleteTargetGroup"]++
		case "modify target-group":
			if strings.HasPrefix(c.Field, "health-check") && !perResource["hc "+c.Resource] {
				perResource["hc "+c.Resource] = true
				out["ModifyTargetGroup"]++
			}
		case "create listener":
			out["CreateListener"]++
		case "create rule":
			out["CreateRule"]++
		case "delete rule":
			out["DeleteRule"]++
		case "create security-group":
			out["CreateSecurityGroup"]++
		case "create security-group-rule":
			if !perResource["sg"] {
				perResource["sg"] = true
				out["AuthorizeSecurityGroupIngress"]++
			}
		case "tag load-balancer", "tag target-group", "tag listener", "tag rule":
			if !perResource["tag "+c.Resource] {
				perResource["tag "+c.Resource] = true
				out["AddTags"]++
			}
		case "tag security-group":
			if !perResource["tag "+c.Resource] {
				perResource["tag "+c.Resource] = true
				out["CreateTags"]++
			}
		default:
			out["unexpected "+key]++
		}
	}
	return out
}
