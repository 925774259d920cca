package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestRunCommand(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		ok     bool
		code   int
		stderr string
	}{
		// The controller itself: its own flags are not commands.
		{[]string{"/bin/cloudlb-controller"}, false, 0, ""},
		{[]string{"/bin/cloudlb-controller", "--cluster-name=c"}, false, 0, ""},
		// Subcommands, under either name; adopt refuses anything but a dry run before reaching the cluster.
		{[]string{"/bin/cloudlb-controller", "adopt"}, true, planError, "only --dry-run"},
		{[]string{"/usr/local/bin/kubectl-cloudlb", "adopt"}, true, planError, "only --dry-run"},
		{[]string{"kubectl-cloudlb", "plan"}, true, planError, "--cluster-name is required"},
		// The plugin has no controller to fall back to.
		{[]string{"kubectl-cloudlb"}, true, planError, "usage: kubectl cloudlb"},
		{[]string{"kubectl-cloudlb", "apply"}, true, planError, `unknown command "apply"`},
	} {
		var stderr bytes.Buffer
		code, ok := runCommand(tc.args, io.Discard, &stderr)
		if ok != tc.ok || code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("runCommand(%q) = %d, %t, stderr %q; want %d, %t, stderr with %q", tc.args, code, ok, stderr.String(), tc.code, tc.ok, tc.stderr)
		}
	}
}
