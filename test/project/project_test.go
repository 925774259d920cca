// Package project_test checks that the kubebuilder PROJECT file describes the tree as it is, so that scaffolding
// tools agree with where cloudlb keeps its types.
package project_test

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/test"
)

// project holds the fields of kubebuilder's PROJECT version 3 that cloudlb uses; an unknown field fails the test.
type project struct {
	Version     string     `json:"version"`
	Domain      string     `json:"domain"`
	Layout      []string   `json:"layout"`
	MultiGroup  bool       `json:"multigroup"`
	ProjectName string     `json:"projectName"`
	Repo        string     `json:"repo"`
	Resources   []resource `json:"resources"`
}

type resource struct {
	Group      string `json:"group"`
	Domain     string `json:"domain"`
	Version    string `json:"version"`
	Kind       string `json:"kind"`
	Path       string `json:"path"`
	Core       bool   `json:"core"`
	External   bool   `json:"external"`
	Controller bool   `json:"controller"`
	API        *struct {
		CRDVersion string `json:"crdVersion"`
		Namespaced bool   `json:"namespaced"`
	} `json:"api"`
	Webhooks *struct {
		Defaulting     bool   `json:"defaulting"`
		Validation     bool   `json:"validation"`
		WebhookVersion string `json:"webhookVersion"`
	} `json:"webhooks"`
}

// qualifiedGroup is the API group kubebuilder derives from group and domain.
func (r resource) qualifiedGroup() string {
	switch {
	case r.Core && r.Group == "core":
		return ""
	case r.Domain == "":
		return r.Group
	case r.Group == "":
		return r.Domain
	}
	return r.Group + "." + r.Domain
}

func TestProjectDescribesTheTree(t *testing.T) {
	root := test.RepoRoot()
	b, err := os.ReadFile(filepath.Join(root, "PROJECT"))
	if err != nil {
		t.Fatal(err)
	}
	var p project
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		t.Fatalf("PROJECT: %v", err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	module, _, _ := strings.Cut(strings.TrimPrefix(string(gomod), "module "), "\n")
	if p.Version != "3" || len(p.Layout) != 1 || p.Layout[0] != "go.kubebuilder.io/v4" {
		t.Errorf("PROJECT version %q layout %v, want 3 and go.kubebuilder.io/v4", p.Version, p.Layout)
	}
	if p.Repo != module {
		t.Errorf("PROJECT repo %q, go.mod module %q", p.Repo, module)
	}
	if p.Domain != v1alpha1.GroupVersion.Group {
		t.Errorf("PROJECT domain %q, cloudlb's API group %q", p.Domain, v1alpha1.GroupVersion.Group)
	}

	ours := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{v1alpha1.AddToScheme, elbv2.AddToScheme} {
		if err := add(ours); err != nil {
			t.Fatal(err)
		}
	}
	listed := map[schema.GroupVersionKind]string{}
	for _, r := range p.Resources {
		gvk := schema.GroupVersionKind{Group: r.qualifiedGroup(), Version: r.Version, Kind: r.Kind}
		listed[gvk] = r.Path
		if r.Core {
			if want := path.Join("k8s.io/api", r.Group, r.Version); r.Path != want {
				t.Errorf("%v: path %q, want %q", gvk, r.Path, want)
			}
			if !clientgoscheme.Scheme.Recognizes(gvk) {
				t.Errorf("%v: marked core, but Kubernetes has no such kind", gvk)
			}
			continue
		}
		// Where kubebuilder would put the types of this group and version, and where they are.
		want := path.Join(module, "api", r.Version)
		if p.MultiGroup && r.Group != "" {
			want = path.Join(module, "api", r.Group, r.Version)
		}
		if r.Path != want {
			t.Errorf("%v: path %q, but kubebuilder places this group and version at %q", gvk, r.Path, want)
		}
		dir := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(r.Path, module+"/")))
		if !strings.HasPrefix(r.Path, module+"/api/") || !isDir(dir) {
			t.Errorf("%v: path %q is no package under api/ in this repository", gvk, r.Path)
			continue
		}
		if !servesGroupVersion(ours, r.Path, gvk.GroupVersion()) {
			t.Errorf("%v: the package at %q registers no type of %v", gvk, r.Path, gvk.GroupVersion())
		}
		if r.API == nil || r.API.CRDVersion != "v1" {
			t.Errorf("%v: api.crdVersion missing; cloudlb generates this kind's CRD", gvk)
		}
	}

	// Every kind cloudlb defines is listed, at the package that defines it.
	for gvk, typ := range ours.AllKnownTypes() {
		if !strings.HasPrefix(typ.PkgPath(), module+"/") || strings.HasSuffix(gvk.Kind, "List") {
			continue
		}
		if got, ok := listed[gvk]; !ok || got != typ.PkgPath() {
			t.Errorf("%v (defined in %s) is not in PROJECT with that path", gvk, typ.PkgPath())
		}
	}
}

func servesGroupVersion(s *runtime.Scheme, pkg string, gv schema.GroupVersion) bool {
	for gvk, typ := range s.AllKnownTypes() {
		if gvk.GroupVersion() == gv && typ.PkgPath() == pkg {
			return true
		}
	}
	return false
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
