package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// ControllerBinary returns the cloudlb-controller binary that suites run as a process. With CLOUDLB_CONTROLLER set
// (`make test` sets it to the binary `make build` has just built) it is that file, which must exist. Otherwise it
// is built fresh into dir, so that a plain `go test` never runs a binary older than the code under test.
func ControllerBinary(dir string) (string, error) {
	if bin := os.Getenv("CLOUDLB_CONTROLLER"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("CLOUDLB_CONTROLLER=%s: %w (run `make build`)", bin, err)
		}
		return bin, nil
	}
	bin := filepath.Join(dir, "cloudlb-controller")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/cloudlb-controller")
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/cloudlb-controller: %w\n%s", err, out)
	}
	return bin, nil
}

// FreePort returns a TCP port on the loopback interface that was free a moment ago.
func FreePort() (int, error) { return freePort() }
