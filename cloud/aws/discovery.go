package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cloudlb/cloudlb/cloud"
)

const (
	tagRoleELB         = "kubernetes.io/role/elb"
	tagRoleInternalELB = "kubernetes.io/role/internal-elb"
	tagClusterPrefix   = "kubernetes.io/cluster/"
)

// subnets resolves the model's subnet hints (IDs or Name tags), or discovers subnets by role tag: one per
// availability zone, at least two zones, never a subnet tagged for another cluster.
func (p *Provider) subnets(ctx context.Context, lb *cloud.LoadBalancer) ([]string, error) {
	if len(lb.Subnets) > 0 {
		return p.resolveSubnets(ctx, lb.Subnets)
	}
	if len(lb.SubnetTags) > 0 {
		return p.subnetsByTags(ctx, lb.SubnetTags)
	}
	role := tagRoleInternalELB
	if lb.Scheme == cloud.SchemeInternetFacing {
		role = tagRoleELB
	}
	out, err := p.c.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{
		{Name: ptr("vpc-id"), Values: []string{p.opts.VPCID}},
		{Name: ptr("tag-key"), Values: []string{role}},
	}})
	if err != nil {
		return nil, classify(err)
	}
	return pickSubnets(out.Subnets, p.opts.ClusterName, role)
}

// subnetsByTags selects the subnets of the VPC that carry every key of sel with one of its values (the AWS Load
// Balancer Controller's IngressClassParams subnets.tags), one per zone as discovery picks them.
func (p *Provider) subnetsByTags(ctx context.Context, sel map[string][]string) ([]string, error) {
	filters := []ec2types.Filter{{Name: ptr("vpc-id"), Values: []string{p.opts.VPCID}}}
	for _, k := range sortedKeys(sel) {
		filters = append(filters, ec2types.Filter{Name: ptr("tag:" + k), Values: sel[k]})
	}
	out, err := p.c.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: filters})
	if err != nil {
		return nil, classify(err)
	}
	return pickSubnetsByTags(out.Subnets, p.opts.ClusterName, sel)
}

// pickSubnetsByTags chooses as pickSubnets does among the subnets that match sel; the match is checked here
// too, rather than trusted to the filter.
func pickSubnetsByTags(subnets []ec2types.Subnet, cluster string, sel map[string][]string) ([]string, error) {
	return pickPerZone(subnets, cluster, func(tags tagSet) bool {
		for k, values := range sel {
			if v, ok := tags[k]; !ok || !slices.Contains(values, v) {
				return false
			}
		}
		return true
	}, fmt.Sprintf("matching the IngressClassParams subnets.tags %v", sel), "tag subnets or change subnets.tags")
}

// pickSubnets chooses one subnet per zone, preferring subnets tagged for this cluster, then the lowest ID.
func pickSubnets(subnets []ec2types.Subnet, cluster, role string) ([]string, error) {
	return pickPerZone(subnets, cluster, func(tags tagSet) bool {
		v, ok := tags[role]
		return ok && (v == "" || v == "1")
	}, "tagged "+role, "tag subnets or set the subnets annotation")
}

// pickPerZone chooses, among the subnets that match and are not another cluster's, one per zone: a subnet
// tagged for this cluster first, then the lowest ID. what and hint word the error of fewer than two zones.
func pickPerZone(subnets []ec2types.Subnet, cluster string, match func(tagSet) bool, what, hint string) ([]string, error) {
	best := map[string]ec2types.Subnet{}
	rank := func(s ec2types.Subnet) int {
		if fromEC2(s.Tags)[tagClusterPrefix+cluster] != "" {
			return 0
		}
		return 1
	}
	for _, s := range subnets {
		tags := fromEC2(s.Tags)
		if !match(tags) {
			continue
		}
		if foreignCluster(tags, cluster) {
			continue
		}
		az := deref(s.AvailabilityZone)
		cur, ok := best[az]
		if !ok || rank(s) < rank(cur) || (rank(s) == rank(cur) && deref(s.SubnetId) < deref(cur.SubnetId)) {
			best[az] = s
		}
	}
	if len(best) < 2 {
		return nil, cloud.Errorf(cloud.KindInvalidSpec,
			"found subnets in %d availability zone(s) %s in the VPC, need at least 2: %s", len(best), what, hint)
	}
	ids := make([]string, 0, len(best))
	for _, s := range best {
		ids = append(ids, deref(s.SubnetId))
	}
	slices.Sort(ids)
	return ids, nil
}

// foreignCluster reports whether a subnet is tagged for some cluster other than ours and not for ours: a subnet
// shared by several clusters carries each one's tag and is ours too.
func foreignCluster(tags tagSet, cluster string) bool {
	if _, ours := tags[tagClusterPrefix+cluster]; ours {
		return false
	}
	for k := range tags {
		if strings.HasPrefix(k, tagClusterPrefix) && k != tagClusterPrefix+cluster {
			return true
		}
	}
	return false
}

func (p *Provider) resolveSubnets(ctx context.Context, hints []string) ([]string, error) {
	var ids, names []string
	for _, h := range hints {
		if strings.HasPrefix(h, "subnet-") {
			ids = append(ids, h)
		} else {
			names = append(names, h)
		}
	}
	if len(names) > 0 {
		out, err := p.c.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{
			{Name: ptr("vpc-id"), Values: []string{p.opts.VPCID}},
			{Name: ptr("tag:Name"), Values: names},
		}})
		if err != nil {
			return nil, classify(err)
		}
		if len(out.Subnets) != len(names) {
			return nil, cloud.Errorf(cloud.KindInvalidSpec, "subnets %v: found %d subnets by Name tag in the VPC, want %d", names, len(out.Subnets), len(names))
		}
		for _, s := range out.Subnets {
			ids = append(ids, deref(s.SubnetId))
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// resolveSecurityGroups turns the user's security group hints (IDs or names) into IDs.
func (p *Provider) resolveSecurityGroups(ctx context.Context, stack string, hints []string) ([]string, error) {
	var ids, names []string
	for _, h := range hints {
		if strings.HasPrefix(h, "sg-") {
			ids = append(ids, h)
		} else {
			names = append(names, h)
		}
	}
	var found []ec2types.SecurityGroup
	if len(names) > 0 {
		sgs, err := p.securityGroupsByName(ctx, names)
		if err != nil {
			return nil, err
		}
		found = append(found, sgs...)
	}
	if len(ids) > 0 {
		out, err := p.c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: ids})
		if err != nil {
			if hasCode(err, "InvalidGroup.NotFound") {
				return nil, cloud.Errorf(cloud.KindInvalidSpec, "security groups %v: %s", ids, err)
			}
			return nil, classify(err)
		}
		found = append(found, out.SecurityGroups...)
	}
	var out []string
	for _, sg := range found {
		// A group the user made is used as it is; a group cloudlb manages for another stack or cluster is not
		// the user's to hand out, and would be deleted or changed under this load balancer.
		tags := fromEC2(sg.Tags)
		_, managed := tags[cloud.TagStack]
		if _, ok := tags[cloud.TagCluster]; ok {
			managed = true
		}
		if _, ok := tags[cloud.TagClusterID]; ok {
			managed = true
		}
		if managed && !p.owns(tags, stack) {
			return nil, cloud.Errorf(cloud.KindConflict, "security group %s (%s) belongs to %s: name a security group of your own",
				deref(sg.GroupId), deref(sg.GroupName), ownerOf(tags))
		}
		out = append(out, deref(sg.GroupId))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// securityGroupsByName finds the VPC's security groups by their Name tag, as the AWS Load Balancer Controller
// does (not by group name): exactly one group per name, since attaching whichever of several matched would let
// anyone who can tag a group in the VPC put it on the load balancer.
func (p *Provider) securityGroupsByName(ctx context.Context, names []string) ([]ec2types.SecurityGroup, error) {
	slices.Sort(names)
	names = slices.Compact(names)
	var sgs []ec2types.SecurityGroup
	pages := ec2.NewDescribeSecurityGroupsPaginator(p.c.EC2, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: ptr("vpc-id"), Values: []string{p.opts.VPCID}},
		{Name: ptr("tag:Name"), Values: names},
	}})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify(err)
		}
		sgs = append(sgs, page.SecurityGroups...)
	}
	byName := map[string][]string{}
	for _, sg := range sgs {
		n := fromEC2(sg.Tags)["Name"]
		byName[n] = append(byName[n], deref(sg.GroupId))
	}
	for _, n := range names {
		switch ids := byName[n]; len(ids) {
		case 0:
			return nil, cloud.Errorf(cloud.KindInvalidSpec, "security group %q: no security group in the VPC has this Name tag", n)
		case 1:
		default:
			slices.Sort(ids)
			return nil, cloud.Errorf(cloud.KindInvalidSpec, "security group %q: %d security groups in the VPC have this Name tag (%s); "+
				"name one by its ID", n, len(ids), strings.Join(ids, ", "))
		}
	}
	return sgs, nil
}

// certificateCache remembers the account's issued ACM certificates for a while, so that certificate discovery
// costs one ListCertificates per TTL rather than per reconcile; a certificate's names never change, so its
// DescribeCertificate result is kept for good.
type certificateCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	fetched time.Time
	arns    []string
	names   map[string][]string
}

// certificatesFor finds, for each host, an ISSUED certificate: an exact name match, else a wildcard covering
// exactly one label. It returns the certificate ARNs (deduplicated, in host order) and the hosts with none.
func (p *Provider) certificatesFor(ctx context.Context, hosts []string) (arns, missing []string, err error) {
	certs, err := p.issuedCertificates(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, h := range hosts {
		arn := matchCertificate(certs, h)
		if arn == "" {
			missing = append(missing, h)
			continue
		}
		arns = appendUnique(arns, arn)
	}
	return arns, missing, nil
}

// matchCertificate picks the certificate for host: exact names beat wildcards; ties go to the lowest ARN.
func matchCertificate(certs map[string][]string, host string) string {
	host = strings.ToLower(host)
	wildcard := ""
	if i := strings.IndexByte(host, '.'); i > 0 && !strings.HasPrefix(host, "*.") {
		wildcard = "*" + host[i:]
	}
	exact, wild := "", ""
	for _, arn := range sortedKeys(certs) {
		for _, n := range certs[arn] {
			n = strings.ToLower(n)
			if n == host && exact == "" {
				exact = arn
			}
			if wildcard != "" && n == wildcard && wild == "" {
				wild = arn
			}
		}
	}
	if exact != "" {
		return exact
	}
	return wild
}

func (p *Provider) issuedCertificates(ctx context.Context) (map[string][]string, error) {
	c := &p.certs
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.arns == nil || time.Since(c.fetched) > c.ttl {
		var arns []string
		pages := acm.NewListCertificatesPaginator(p.c.ACM, &acm.ListCertificatesInput{
			CertificateStatuses: []acmtypes.CertificateStatus{acmtypes.CertificateStatusIssued},
			// Without this, ACM lists only RSA 1024 and 2048 certificates.
			Includes: &acmtypes.Filters{KeyTypes: acmtypes.KeyAlgorithm("").Values()},
		})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, classify(err)
			}
			for _, s := range page.CertificateSummaryList {
				arns = append(arns, deref(s.CertificateArn))
			}
		}
		c.arns, c.fetched = arns, time.Now()
	}
	out := make(map[string][]string, len(c.arns))
	for _, arn := range c.arns {
		names, ok := c.names[arn]
		if !ok {
			d, err := p.c.ACM.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: ptr(arn)})
			if hasCode(err, "ResourceNotFoundException") {
				// Deleted since it was listed: it matches no host.
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("describing certificate %s: %w", arn, classify(err))
			}
			names = appendUnique([]string{deref(d.Certificate.DomainName)}, d.Certificate.SubjectAlternativeNames...)
			c.names[arn] = names
		}
		out[arn] = names
	}
	return out, nil
}
