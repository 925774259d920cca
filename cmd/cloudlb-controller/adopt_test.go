package main

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/cloudlb/cloudlb/controllers/ingress"
)

func TestAdoptRefusesWithoutDryRun(t *testing.T) {
	var stderr bytes.Buffer
	if code := runAdopt([]string{"--cluster-name", "c"}, io.Discard, &stderr); code != planError {
		t.Fatalf("adopt without --dry-run exited %d, want %d", code, planError)
	}
	if !strings.Contains(stderr.String(), "only --dry-run") {
		t.Errorf("adopt without --dry-run said %q", stderr.String())
	}
}

func TestPlanFlagsOfTheTakeover(t *testing.T) {
	o, err := parsePlanFlags([]string{"--cluster-name", "c", "--all", "--adopt-lbc-resources"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.aws.AdoptLBC || !o.cfg.AdoptLBC {
		t.Errorf("--adopt-lbc-resources set AdoptLBC to %t on the provider and %t on the plan", o.aws.AdoptLBC, o.cfg.AdoptLBC)
	}
	if !slices.Contains(o.cfg.ControllerNames, ingress.LBCControllerName) {
		t.Errorf("the takeover plan serves %q, want LBC's controller too", o.cfg.ControllerNames)
	}
	if _, err := parsePlanFlags([]string{"--cluster-name", "c", "--all", "--controller-names", ingress.LBCControllerName}, io.Discard); err == nil {
		t.Error("LBC's controller name without --adopt-lbc-resources was accepted")
	}
}
