// Package test holds helpers shared by the envtest and e2e suites and by the local run: starting a real API
// server and applying manifests to it.
package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot is the directory holding go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// NewEnvironment returns an envtest environment with cloudlb's CRDs, using the binaries that `make envtest`
// builds. It fails, rather than skips, when they are missing.
func NewEnvironment() (*envtest.Environment, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		matches, _ := filepath.Glob(filepath.Join(RepoRoot(), "bin", "k8s", "*", "kube-apiserver"))
		if len(matches) == 0 {
			return nil, errors.New("no kube-apiserver: run `make envtest` or set KUBEBUILDER_ASSETS")
		}
		assets = filepath.Dir(matches[len(matches)-1])
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("KUBEBUILDER_ASSETS=%s has no kube-apiserver: run `make envtest`", assets)
	}
	return &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}, nil
}

// WriteKubeconfig writes a kubeconfig file for the API server of cfg, with cfg's credentials (envtest's admin),
// impersonating user unless it is empty. Suites use it to run the controller binary as a separate process.
func WriteKubeconfig(cfg *rest.Config, user, path string) error {
	return clientcmd.WriteToFile(clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{"envtest": {Server: cfg.Host, CertificateAuthorityData: cfg.CAData}},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{"user": {
			ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken, Impersonate: user,
		}},
		Contexts:       map[string]*clientcmdapi.Context{"envtest": {Cluster: "envtest", AuthInfo: "user"}},
		CurrentContext: "envtest",
	}, path)
}

// DecodeYAML splits a multi-document YAML stream into objects, skipping empty documents.
func DecodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// ApplyFiles creates every object in the YAML files, in order, and fails on the first object the server rejects.
func ApplyFiles(ctx context.Context, c client.Client, files ...string) ([]*unstructured.Unstructured, error) {
	var all []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		objs, err := DecodeYAML(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, o := range objs {
			if ns, err := c.IsObjectNamespaced(o); err == nil && ns && o.GetNamespace() == "" {
				o.SetNamespace("default")
			}
			if err := c.Create(ctx, o); err != nil {
				return nil, fmt.Errorf("%s: creating %s %s: %w", f, o.GetKind(), o.GetName(), err)
			}
		}
		all = append(all, objs...)
	}
	return all, nil
}
