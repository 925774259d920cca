package ingress

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Why this table exists: cloudlb reads the AWS Load Balancer Controller's annotations so that manifests written
// for it work unchanged. An annotation that LBC implements and cloudlb silently ignored would give the Ingress a
// load balancer without what it asked for (no authentication, no HTTPS redirect, no source-IP condition), which
// fails open. So every key LBC reads from an Ingress or a backend Service is listed here, and each is either
// implemented by cloudlb, or refused: the Ingress is left out of its stack with a Warning Event until cloudlb
// implements the key. As features land, their keys move from refused to implemented. Keys under the same
// prefixes that no controller reads (typos, keys from old examples) are ignored, as LBC ignores them, with a
// Warning Event that names them.
//
// Source: docs/guide/ingress/annotations.md and pkg/annotations/constants.go of
// kubernetes-sigs/aws-load-balancer-controller (v3, 2026).

type keyStatus int

const (
	// implemented: cloudlb reads the key (annotations.go).
	implemented keyStatus = iota + 1
	// refused: LBC implements the key and cloudlb does not yet; the Ingress is left out of its stack.
	refused
	// inert: LBC knows the key but it changes nothing on the load balancer; it is ignored without a warning.
	inert
)

// lbcKeys is LBC's vocabulary under albPrefix, by name.
var lbcKeys = map[string]keyStatus{
	// Implemented: the 24 keys of annotations.go.
	strings.TrimPrefix(annScheme, albPrefix):           implemented,
	strings.TrimPrefix(annIPAddressType, albPrefix):    implemented,
	strings.TrimPrefix(annLoadBalancerName, albPrefix): implemented,
	strings.TrimPrefix(annListenPorts, albPrefix):      implemented,
	strings.TrimPrefix(annCertificateARN, albPrefix):   implemented,
	strings.TrimPrefix(annSSLPolicy, albPrefix):        implemented,
	strings.TrimPrefix(annSubnets, albPrefix):          implemented,
	strings.TrimPrefix(annSecurityGroups, albPrefix):   implemented,
	strings.TrimPrefix(annInboundCIDRs, albPrefix):     implemented,
	strings.TrimPrefix(annTags, albPrefix):             implemented,
	strings.TrimPrefix(annTargetType, albPrefix):       implemented,
	strings.TrimPrefix(annHCPath, albPrefix):           implemented,
	strings.TrimPrefix(annHCPort, albPrefix):           implemented,
	strings.TrimPrefix(annHCProtocol, albPrefix):       implemented,
	strings.TrimPrefix(annHCInterval, albPrefix):       implemented,
	strings.TrimPrefix(annHCTimeout, albPrefix):        implemented,
	strings.TrimPrefix(annHealthyCount, albPrefix):     implemented,
	strings.TrimPrefix(annUnhealthyCount, albPrefix):   implemented,
	strings.TrimPrefix(annSuccessCodes, albPrefix):     implemented,
	strings.TrimPrefix(annWAFv2ACLARN, albPrefix):      implemented,
	strings.TrimPrefix(annLBAttributes, albPrefix):     implemented,
	strings.TrimPrefix(annTGAttributes, albPrefix):     implemented,
	strings.TrimPrefix(annShield, albPrefix):           implemented,
	strings.TrimPrefix(annTargetNodeLabels, albPrefix): implemented,
	strings.TrimPrefix(annGroupName, albPrefix):        implemented,
	strings.TrimPrefix(annGroupOrder, albPrefix):       implemented,
	// lbopts.go.
	strings.TrimPrefix(annCOIPPool, albPrefix):     implemented,
	strings.TrimPrefix(annIPAMPool, albPrefix):     implemented,
	strings.TrimPrefix(annMinCapacity, albPrefix):  implemented,
	strings.TrimPrefix(annPrefixLists, albPrefix):  implemented,
	strings.TrimPrefix(annWAFv2ACLName, albPrefix): implemented,
	// backends.go
	strings.TrimPrefix(annBackendProtocol, albPrefix):        implemented,
	strings.TrimPrefix(annBackendProtocolVersion, albPrefix): implemented,
	// backendsg.go.
	strings.TrimPrefix(annManageBackendRules, albPrefix): implemented,

	// Load balancer.
	"waf-acl-id": refused,
	"web-acl-id": refused, // deprecated alias of waf-acl-id, still read
	// Listeners and rules.
	"ssl-redirect":          implemented,
	"mutual-authentication": implemented,
	"use-regex-path-match":  implemented, // routing.go
	"create-acm-cert":       implemented, // acmcert.go
	"acm-pca-arn":           implemented,
	// Authentication.
	"auth-type":                       implemented,
	"auth-idp-cognito":                implemented,
	"auth-idp-oidc":                   implemented,
	"auth-on-unauthenticated-request": implemented,
	"auth-scope":                      implemented,
	"auth-session-cookie":             implemented,
	"auth-session-timeout":            implemented,
	"jwt-validation":                  implemented,
	// Target groups.
	"multi-cluster-target-group": refused,
	// Frontend NLB.
	"enable-frontend-nlb":                                refused,
	"frontend-nlb-scheme":                                refused,
	"frontend-nlb-subnets":                               refused,
	"frontend-nlb-security-groups":                       refused,
	"frontend-nlb-listener-port-mapping":                 refused,
	"frontend-nlb-eip-allocations":                       refused,
	"frontend-nlb-healthcheck-port":                      refused,
	"frontend-nlb-healthcheck-protocol":                  refused,
	"frontend-nlb-healthcheck-path":                      refused,
	"frontend-nlb-healthcheck-interval-seconds":          refused,
	"frontend-nlb-healthcheck-timeout-seconds":           refused,
	"frontend-nlb-healthcheck-healthy-threshold-count":   refused,
	"frontend-nlb-healthcheck-unhealthy-threshold-count": refused,
	"frontend-nlb-healthcheck-success-codes":             refused,
	"frontend-nlb-attributes":                            refused,
	"frontend-nlb-tags":                                  refused,

	// Written by LBC's migration tool (lbc-migrate) to record a plan; no controller acts on it for an Ingress.
	"dry-run-plan": inert,
}

// noOpValues are values of refused keys that ask for exactly what cloudlb always does (LBC's defaults), so they
// are accepted: manifests written for LBC often spell the defaults out.
var noOpValues = map[string]string{
	"enable-frontend-nlb":        "false",
	"multi-cluster-target-group": "false",
}

// lbcFamilies are LBC's templated keys, by the prefix of their name: actions.${name}, conditions.${name} and
// transforms.${name} (per backend), listener-attributes.${Protocol}-${Port}, target-control-port.${svc}.${port}.
var lbcFamilies = map[string]keyStatus{
	"actions.":             implemented, // routing.go
	"conditions.":          implemented,
	"transforms.":          implemented,
	"listener-attributes.": implemented,
	"target-control-port.": refused,
}

// cloudlbPrefix holds cloudlb's own annotations.
const cloudlbPrefix = "cloudlb.io/"

// cloudlbKeys are the annotations cloudlb reads from an Ingress under cloudlbPrefix, by name. A new one must be
// added here, or it is reported as unknown.
var cloudlbKeys = map[string]keyStatus{
	strings.TrimPrefix(AnnDryRun, cloudlbPrefix): implemented,
}

// statusOf says what cloudlb does with an annotation key; 0 means the key is not under a prefix cloudlb or LBC
// owns, so it is none of cloudlb's business.
func statusOf(key string) keyStatus {
	prefix, name, ok := strings.Cut(key, "/")
	if !ok {
		return 0
	}
	switch prefix + "/" {
	case albPrefix:
		if s, ok := lbcKeys[name]; ok {
			return s
		}
		for fam, s := range lbcFamilies {
			if strings.HasPrefix(name, fam) {
				return s
			}
		}
		return unknownKey
	case cloudlbPrefix:
		if s, ok := cloudlbKeys[name]; ok {
			return s
		}
		return unknownKey
	}
	// A misspelt prefix hides the key from every controller, which is the mistake most worth reporting.
	if near(prefix+"/", albPrefix, 2) || near(prefix+"/", cloudlbPrefix, 1) {
		return unknownKey
	}
	return 0
}

// unknownKey: under (or a near miss of) a prefix cloudlb or LBC owns, but read by neither.
const unknownKey keyStatus = -1

// refusedKeys lists, sorted, the keys of ann that LBC implements and cloudlb does not, except where the value
// asks for what cloudlb does anyway.
func refusedKeys(ann map[string]string) []string {
	var out []string
	for k, v := range ann {
		if statusOf(k) != refused {
			continue
		}
		if want, ok := noOpValues[strings.TrimPrefix(k, albPrefix)]; ok && strings.TrimSpace(v) == want {
			continue
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// unknownAnnotations describes, in one sentence, the keys of ann that look meant for cloudlb or LBC but that
// neither reads, with the nearest known key where one is close; "" when there are none. One sentence, because
// the event recorder folds events of the same reason on the same object version into one, keeping the first note.
func unknownAnnotations(ann map[string]string) string {
	var keys []string
	for k := range ann {
		if statusOf(k) == unknownKey {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	slices.Sort(keys)
	for i, k := range keys {
		switch s := nearestKey(k); {
		case s == "":
		case statusOf(s) == refused:
			keys[i] += " (did you mean " + s + ", which cloudlb does not implement yet?)"
		default:
			keys[i] += " (did you mean " + s + "?)"
		}
	}
	if len(keys) == 1 {
		return fmt.Sprintf("annotation %s is not read by cloudlb or by the AWS Load Balancer Controller, and is ignored", keys[0])
	}
	return fmt.Sprintf("annotations %s are not read by cloudlb or by the AWS Load Balancer Controller, and are ignored", strings.Join(keys, ", "))
}

// maxSuggestLen bounds the edit-distance work on a key; real annotation names are at most 63 characters.
const maxSuggestLen = 128

// nearestKey returns the known key whose name is closest to key's, or "" when none is close enough to be a
// likely typo. The prefix is not compared, so a known name under a wrong or misspelt prefix is found too.
func nearestKey(key string) string {
	_, name, _ := strings.Cut(key, "/")
	if len(name) > maxSuggestLen {
		return ""
	}
	type candidate struct {
		key  string
		dist int
	}
	var cands []candidate
	add := func(full, candName string) {
		cands = append(cands, candidate{full, editDistance(name, candName)})
	}
	// Inert keys are left out: suggesting one would help no one.
	for n, s := range lbcKeys {
		if s != inert {
			add(albPrefix+n, n)
		}
	}
	for n, s := range cloudlbKeys {
		if s != inert {
			add(cloudlbPrefix+n, n)
		}
	}
	// A templated key keeps the user's template argument: "action.x" is near "actions.x".
	if head, tail, ok := strings.Cut(name, "."); ok && head != "" {
		for fam := range lbcFamilies {
			add(albPrefix+fam+tail, fam+tail)
		}
	}
	best := slices.MinFunc(cands, func(a, b candidate) int { return cmp.Or(cmp.Compare(a.dist, b.dist), cmp.Compare(a.key, b.key)) })
	if best.key == key || best.dist > max(2, len(name)/5) {
		return ""
	}
	return best.key
}

// near reports whether a and b are at most d edits apart; the length check spares the distance of long keys.
func near(a, b string, d int) bool {
	return len(a) <= len(b)+d && len(b) <= len(a)+d && editDistance(a, b) <= d
}

// editDistance is the Levenshtein distance between a and b, by byte.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
