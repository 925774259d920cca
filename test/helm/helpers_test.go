package helm_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudlb/cloudlb/test"
)

// The README's install commands. The README must hold exactly these, and the specs run exactly these, so the
// documented install is the tested one.
const (
	installIRSA = `helm install cloudlb charts/cloudlb --namespace cloudlb-system --create-namespace --set clusterName=my-cluster --set 'serviceAccount.annotations.eks\.amazonaws\.com/role-arn=arn:aws:iam::111122223333:role/cloudlb'`
	install     = `helm install cloudlb charts/cloudlb --namespace cloudlb-system --create-namespace --set clusterName=my-cluster`
)

// helm runs the helm binary in the repository root, where the README's relative chart path resolves. The error
// carries helm's stderr, which is what a user would read.
func helm(args ...string) (string, error) {
	cmd := exec.Command(helmBin, args...)
	cmd.Dir = test.RepoRoot()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// template turns a `helm install` command line into the `helm template` run that renders what it would install,
// CRDs included (install applies crds/ by default; template only prints them when asked).
func template(installCmd string, extra ...string) (string, error) {
	args := shellWords(installCmd)
	if len(args) < 2 || args[0] != "helm" || args[1] != "install" {
		return "", fmt.Errorf("not a helm install command: %q", installCmd)
	}
	args = append([]string{"template"}, args[2:]...)
	return helm(append(append(args, "--include-crds"), extra...)...)
}

// render is template that must succeed, decoded into objects.
func render(installCmd string, extra ...string) []*unstructured.Unstructured {
	GinkgoHelper()
	out, err := template(installCmd, extra...)
	Expect(err).NotTo(HaveOccurred())
	objs, err := test.DecodeYAML([]byte(out))
	Expect(err).NotTo(HaveOccurred())
	Expect(objs).NotTo(BeEmpty())
	return objs
}

// apply creates every object in order, as helm install would, creating the release namespace first (as
// --create-namespace does). Each object is refreshed with what the server stored. Everything is deleted again
// after the spec, and the spec waits until it is gone, so that the next install of the same release starts clean.
// Namespaces stay: envtest runs no namespace controller to finish deleting them.
func apply(objs []*unstructured.Unstructured) {
	GinkgoHelper()
	ctx := context.Background()
	DeferCleanup(remove, objs)
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" {
			err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
			Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
		}
		Expect(k8s.Create(ctx, o)).To(Succeed(), "creating %s %s", o.GetKind(), o.GetName())
	}
}

func remove(objs []*unstructured.Unstructured) {
	ctx := context.Background()
	for _, o := range slices.Backward(objs) {
		Expect(client.IgnoreNotFound(k8s.Delete(ctx, o))).To(Succeed())
	}
	for _, o := range objs {
		// A CRD goes only once the API server has cleaned up its instances, which a loaded machine takes its time over.
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(o), o.DeepCopy()))
		}).WithTimeout(5*time.Minute).Should(BeTrue(), "%s %s is still there", o.GetKind(), o.GetName())
	}
}

// find returns the only object of kind.
func find(objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	GinkgoHelper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	Expect(found).To(HaveLen(1), "want exactly one %s", kind)
	return found[0]
}

// named returns the object of kind called name.
func named(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	GinkgoHelper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	Fail(fmt.Sprintf("no %s %s in %v", kind, name, kinds(objs)))
	return nil
}

// one converts the only object of kind into out.
func one(objs []*unstructured.Unstructured, kind string, out any) {
	GinkgoHelper()
	Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(find(objs, kind).Object, out)).To(Succeed())
}

// field is the value at path in o, or nil.
func field(o *unstructured.Unstructured, path ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	return v
}

func kinds(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind())
	}
	return out
}

// readmeInstallCommands returns the helm commands of the README's "Install with Helm" section, with line
// continuations joined.
func readmeInstallCommands() []string {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(test.RepoRoot(), "README.md"))
	Expect(err).NotTo(HaveOccurred())
	_, section, found := strings.Cut(string(data), "\n## Install with Helm\n")
	Expect(found).To(BeTrue(), "README.md has no '## Install with Helm' section")
	section, _, _ = strings.Cut(section, "\n## ")

	var cmds []string
	inCode := false
	var line strings.Builder
	for _, l := range strings.Split(section, "\n") {
		if strings.HasPrefix(l, "```") {
			inCode = !inCode
			continue
		}
		if !inCode {
			continue
		}
		l = strings.TrimSpace(l)
		if cont, ok := strings.CutSuffix(l, `\`); ok {
			line.WriteString(strings.TrimSpace(cont) + " ")
			continue
		}
		line.WriteString(l)
		if cmd := line.String(); strings.HasPrefix(cmd, "helm ") {
			cmds = append(cmds, cmd)
		}
		line.Reset()
	}
	return cmds
}

// shellWords splits a command line as a POSIX shell would for the quoting the README uses: single quotes,
// double quotes and backslash escapes. No expansions.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	inWord, single, double := false, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case single:
			if c == '\'' {
				single = false
			} else {
				w.WriteByte(c)
			}
		case double:
			switch {
			case c == '"':
				double = false
			case c == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0:
				i++
				w.WriteByte(s[i])
			default:
				w.WriteByte(c)
			}
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			inWord = true
			switch {
			case c == '\'':
				single = true
			case c == '"':
				double = true
			case c == '\\' && i+1 < len(s):
				i++
				w.WriteByte(s[i])
			default:
				w.WriteByte(c)
			}
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}
