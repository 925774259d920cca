package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// kubectlPlugin is the name under which this binary is the kubectl plugin `kubectl cloudlb plan|adopt`: kubectl runs
// any kubectl-<name> on the PATH for `kubectl <name>`.
const kubectlPlugin = "kubectl-cloudlb"

// runCommand runs the plan and adopt subcommands, as `cloudlb-controller plan ...` or, when the binary is installed
// as kubectl-cloudlb, as `kubectl cloudlb plan ...`. ok is false when args ask for the controller itself.
func runCommand(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	plugin := strings.TrimSuffix(filepath.Base(args[0]), ".exe") == kubectlPlugin
	if len(args) < 2 {
		if plugin {
			fmt.Fprintln(stderr, "usage: kubectl cloudlb plan -f ingress.yaml | plan --all | adopt --dry-run (each with --cluster-name)")
			return planError, true
		}
		return 0, false
	}
	switch args[1] {
	case "plan":
		return runPlan(args[2:], stdout, stderr), true
	case "adopt":
		return runAdopt(args[2:], stdout, stderr), true
	}
	if plugin {
		fmt.Fprintf(stderr, "kubectl cloudlb: unknown command %q: plan or adopt\n", args[1])
		return planError, true
	}
	return 0, false
}
