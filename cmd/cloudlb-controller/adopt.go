package main

import (
	"fmt"
	"io"
	"slices"
)

// runAdopt is `cloudlb-controller adopt --dry-run`: before a switch from the AWS Load Balancer Controller, the plan
// of every stack the cluster's Ingresses make, as cloudlb would reconcile them with --adopt-lbc-resources: the
// tags it would add to LBC's resources, and every change beyond them. The takeover itself is the controller's
// --adopt-lbc-resources, so without --dry-run this refuses rather than do anything.
func runAdopt(args []string, stdout, stderr io.Writer) int {
	i := slices.Index(args, "--dry-run")
	if i < 0 {
		fmt.Fprintln(stderr, "cloudlb-controller adopt: only --dry-run is supported; the takeover is made by the controller's --adopt-lbc-resources")
		return planError
	}
	rest := slices.Delete(slices.Clone(args), i, i+1)
	return runPlan(append(rest, "--all", "--adopt-lbc-resources"), stdout, stderr)
}
