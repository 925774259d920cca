package aws

import (
	"fmt"
	"strings"
	"testing"
)

// AWS counts the external-managed keys a resource keeps: a model that fits alone may not fit beside them, and
// must be refused before any change rather than fail halfway through an apply.
func TestMakePlanCountsExternalTagsAgainstTheLimit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		external []string
		wantErr  string
	}{
		{name: "without external keys the model fits"},
		{name: "an external key on the load balancer takes the last free tag", external: []string{"billing"},
			wantErr: "load balancer: 50 tags (49 wanted and 1 external-managed ones it carries) exceed the AWS limit of 49"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, a := testDesired(), testActual()
			d.lb.Tags = map[string]string{}
			for i := range 45 {
				d.lb.Tags[fmt.Sprintf("k%02d", i)] = "v"
			}
			retag(d)
			d.policy = newTagPolicy(nil, tc.external)
			a.lbs[0].tags["billing"] = "finance"
			_, err := makePlan(d, a)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("makePlan: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("makePlan error %v, want %q", err, tc.wantErr)
			}
		})
	}
}
