package cloud

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strings"
)

// hashVersion is part of every Hash. A release whose Ensure must run once for every stack after an upgrade,
// even with an unchanged model, changes it: version 2 adopts resources made before cluster identity tags
// (ownership.go), which only Ensure does, so that their target groups can be synced again.
const hashVersion = "2"

// Hash is a stable digest of the model. Equal models hash equal, so a reconciler can skip the cloud entirely
// when the model has not changed since it was last applied.
func (lb *LoadBalancer) Hash() string {
	// json.Marshal sorts map keys and the model has no cycles or unexported state, so the encoding is stable.
	b, err := json.Marshal(lb)
	if err != nil {
		// Unreachable for this plain-data model; an empty hash never matches, so the caller applies.
		return ""
	}
	sum := sha256.Sum256(append([]byte(hashVersion+"\x00"), b...))
	return hex.EncodeToString(sum[:16])
}

var unsafeNameChars = regexp.MustCompile(`[^a-zA-Z0-9-]+`)

// MaxNameLength is the longest load balancer or target group name that AWS accepts; other clouds allow more.
const MaxNameLength = 32

// Name builds a deterministic resource name of at most MaxNameLength characters from readable parts and a hash
// of key, so that a re-create after a crash finds the same name and different keys never collide.
func Name(key string, parts ...string) string {
	sum := sha256.Sum256([]byte(key))
	suffix := hex.EncodeToString(sum[:])[:10]
	budget := MaxNameLength - len(suffix) - 1
	var b strings.Builder
	for _, p := range parts {
		p = strings.Trim(unsafeNameChars.ReplaceAllString(p, ""), "-")
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			p = "-" + p
		}
		if b.Len()+len(p) > budget {
			p = p[:budget-b.Len()]
		}
		b.WriteString(p)
	}
	prefix := strings.TrimRight(b.String(), "-")
	if prefix == "" {
		return suffix
	}
	return prefix + "-" + suffix
}
