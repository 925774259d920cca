package ingress

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// AWS counts a tag's length in characters, not bytes: a key of 128 two-byte characters and a value of 256 are
// allowed, one more of either is not.
func TestTagLengthsInCharacters(t *testing.T) {
	g := NewWithT(t)
	key, value := strings.Repeat("é", 128), strings.Repeat("ü", 256)
	got, err := annotations{annTags: key + "=" + value}.tags()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(map[string]string{key: value}))
	for _, bad := range []string{key + "é=v", "k=" + value + "ü", "=" + value} {
		_, err := annotations{annTags: bad}.tags()
		expectAnnotationError(g, err, annTags)
	}
}
