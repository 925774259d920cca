// Command image packs the static cloudlb-controller binary into an OCI image archive on an empty base, without a
// container daemon or a registry: `make image` runs it. The archive is an OCI image layout in a tar (skopeo's
// oci-archive:, podman load) that also carries Docker's manifest.json (docker load, crane push), and it is
// reproducible: the same binary and flags give the same bytes, timestamps come from -epoch.
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Entrypoint is where the binary sits in the image. The Dockerfile copies it to the same path.
const Entrypoint = "/cloudlb-controller"

// User is distroless's nonroot user. Numeric, because the image has no /etc/passwd and because the kubelet can
// only enforce runAsNonRoot on a numeric user.
const User = "65532:65532"

type options struct {
	binary, arch, ref, version, source, licenses, output string
	epoch                                                int64
}

func main() {
	var o options
	flag.StringVar(&o.binary, "binary", "", "static linux binary to put at "+Entrypoint)
	flag.StringVar(&o.arch, "arch", "amd64", "architecture of the binary: amd64 or arm64")
	flag.StringVar(&o.ref, "name", "", "image name with tag, for example ghcr.io/cloudlb/cloudlb-controller:0.1.0")
	flag.StringVar(&o.version, "version", "", "org.opencontainers.image.version label")
	flag.StringVar(&o.source, "source", "https://github.com/cloudlb/cloudlb", "org.opencontainers.image.source label")
	flag.StringVar(&o.licenses, "licenses", "NOASSERTION", "org.opencontainers.image.licenses label (SPDX expression)")
	flag.Int64Var(&o.epoch, "epoch", 0, "creation time of the image and its files, in seconds since 1970 (SOURCE_DATE_EPOCH)")
	flag.StringVar(&o.output, "o", "", "archive to write")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.binary == "" || o.ref == "" || o.version == "" || o.output == "" {
		return errors.New("-binary, -name, -version and -o are required")
	}
	if o.arch != "amd64" && o.arch != "arm64" {
		return fmt.Errorf("-arch %q: only amd64 and arm64 are built", o.arch)
	}
	tag, err := name.NewTag(o.ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("-name %q must be a repository with a tag: %w", o.ref, err)
	}
	created := time.Unix(o.epoch, 0).UTC()
	img, err := build(o, created)
	if err != nil {
		return err
	}
	return writeFile(o.output, func(w io.Writer) error { return writeArchive(w, img, tag, created) })
}

func build(o options, created time.Time) (v1.Image, error) {
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return nil, err
	}
	layerTar, err := binaryLayer(bin, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}

	cfg := &v1.ConfigFile{
		Created:      v1.Time{Time: created},
		OS:           "linux",
		Architecture: o.arch,
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			User:       User,
			Entrypoint: []string{Entrypoint},
			WorkingDir: "/",
			Labels: map[string]string{
				"org.opencontainers.image.source":   o.source,
				"org.opencontainers.image.title":    "cloudlb-controller",
				"org.opencontainers.image.version":  o.version,
				"org.opencontainers.image.licenses": o.licenses,
			},
		},
	}
	if o.arch == "arm64" {
		cfg.Variant = "v8"
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "make image", Comment: "static binary at " + Entrypoint},
	})
}

// binaryLayer is a tar with the binary alone. It is owned by root and not writable, so that the non-root user the
// controller runs as cannot replace it even where the root filesystem is writable.
func binaryLayer(bin []byte, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{
		Name:     strings.TrimPrefix(Entrypoint, "/"),
		Mode:     0o555,
		Size:     int64(len(bin)),
		ModTime:  created,
		Typeflag: tar.TypeReg,
		Format:   tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeArchive writes the image as an OCI image layout (oci-layout, index.json, blobs/sha256/...) and, pointing
// at the same blobs, Docker's manifest.json. index.json names the image the way Docker and containerd do: the
// full name in io.containerd.image.name, the tag in org.opencontainers.image.ref.name.
func writeArchive(w io.Writer, img v1.Image, tag name.Tag, created time.Time) error {
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	manifestDigest, err := img.Digest()
	if err != nil {
		return err
	}
	configDigest, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}

	files := map[string][]byte{
		"oci-layout":             []byte(`{"imageLayoutVersion":"1.0.0"}`),
		blobPath(manifestDigest): manifest,
		blobPath(configDigest):   config,
	}
	var layerPaths []string
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return err
		}
		files[blobPath(d)] = b
		layerPaths = append(layerPaths, blobPath(d))
	}
	index := v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType: types.OCIManifestSchema1,
			Digest:    manifestDigest,
			Size:      int64(len(manifest)),
			Annotations: map[string]string{
				"io.containerd.image.name":          tag.Name(),
				"org.opencontainers.image.ref.name": tag.TagStr(),
			},
			Platform: &v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant},
		}},
	}
	if files["index.json"], err = json.Marshal(index); err != nil {
		return err
	}
	docker := tarball.Manifest{{Config: blobPath(configDigest), RepoTags: []string{tag.Name()}, Layers: layerPaths}}
	if files["manifest.json"], err = json.Marshal(docker); err != nil {
		return err
	}

	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	tw := tar.NewWriter(w)
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Mode: 0o755, ModTime: created, Typeflag: tar.TypeDir, Format: tar.FormatUSTAR}); err != nil {
			return err
		}
	}
	for _, p := range paths {
		hdr := &tar.Header{Name: p, Mode: 0o644, Size: int64(len(files[p])), ModTime: created, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(files[p]); err != nil {
			return err
		}
	}
	return tw.Close()
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// writeFile replaces path only once the whole archive is written, so that an interrupted build never leaves a
// truncated archive behind for a push.
func writeFile(path string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if err := write(f); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
