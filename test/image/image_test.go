// Package image_test checks the image archive that `make image` writes: it is read back with go-containerregistry
// (as an OCI image layout and as a Docker archive), and its binary, user, entrypoint and labels are checked against
// the Makefile, the Dockerfile and the Helm chart's default image.
package image_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"sigs.k8s.io/yaml"

	"github.com/cloudlb/cloudlb/test"
)

const entrypoint = "/cloudlb-controller"

var wantLabels = []string{
	"org.opencontainers.image.source",
	"org.opencontainers.image.title",
	"org.opencontainers.image.version",
	"org.opencontainers.image.licenses",
}

var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

func TestArchive(t *testing.T) {
	root := test.RepoRoot()
	mk := makefileDefaults(t, root)
	archive, wantName, wantArch := archiveUnderTest(t, root, mk)

	img, ociRef := readLayout(t, archive)
	dockerImg, repoTags := readDocker(t, archive)

	// Both views of the archive are the same image, and the blobs match their digests and sizes.
	for _, i := range []v1.Image{img, dockerImg} {
		if err := validate.Image(i); err != nil {
			t.Fatalf("archive %s: invalid image: %v", archive, err)
		}
	}
	if a, b := configName(t, img), configName(t, dockerImg); a != b {
		t.Fatalf("index.json and manifest.json point at different configs: %s and %s", a, b)
	}
	if ociRef != wantName || !slices.Equal(repoTags, []string{wantName}) {
		t.Fatalf("archive names the image %q (index.json) and %v (manifest.json), want %q", ociRef, repoTags, wantName)
	}
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, want %s", mt, types.OCIManifestSchema1)
	}

	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	checkConfig(t, cfg, wantArch)

	bin, hdr := entrypointFile(t, img)
	if hdr.Uid != 0 || hdr.Gid != 0 || hdr.FileInfo().Mode().Perm() != 0o555 {
		t.Errorf("%s is owned by %d:%d with mode %v; want root-owned and read-only (0555), so that the controller's "+
			"user cannot replace it", entrypoint, hdr.Uid, hdr.Gid, hdr.FileInfo().Mode().Perm())
	}
	if !hdr.ModTime.Equal(cfg.Created.Time) {
		t.Errorf("%s has mtime %v, want the image's creation time %v", entrypoint, hdr.ModTime, cfg.Created.Time)
	}
	checkStaticELF(t, bin, wantArch)
	checkBuildInfo(t, bin, wantArch)
	if wantArch == runtime.GOARCH && runtime.GOOS == "linux" {
		checkRuns(t, bin)
	}

	t.Run("push", func(t *testing.T) {
		// What `crane push` (manifest.json) and `skopeo copy oci-archive:` (index.json) send to a registry, which
		// checks every blob against its digest.
		reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		defer reg.Close()
		for tag, i := range map[string]v1.Image{"docker": dockerImg, "oci": img} {
			ref, err := name.NewTag(strings.TrimPrefix(reg.URL, "http://") + "/cloudlb-controller:" + tag)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(ref, i); err != nil {
				t.Fatalf("push %s: %v", tag, err)
			}
			pulled, err := remote.Image(ref)
			if err != nil {
				t.Fatal(err)
			}
			if got := configName(t, pulled); got != configName(t, img) {
				t.Fatalf("pushed %s config %s, archive config %s", tag, got, configName(t, img))
			}
		}
	})
	t.Run("Dockerfile", func(t *testing.T) { checkDockerfile(t, root, cfg, mk) })
	t.Run("reproducible", func(t *testing.T) {
		again := filepath.Join(t.TempDir(), "again.tar")
		makeImage(t, root, again, "IMG="+wantName, "ARCH="+wantArch,
			"VERSION="+cfg.Config.Labels["org.opencontainers.image.version"],
			"SOURCE_DATE_EPOCH="+strconv.FormatInt(cfg.Created.Unix(), 10))
		if a, b := fileSum(t, archive), fileSum(t, again); a != b {
			t.Fatalf("make image with the same inputs wrote different archives: %s is %s, the rebuild %s", archive, a, b)
		}
	})
}

// TestChartDefaultImage checks that installing the chart without image values runs the image `make image` names.
func TestChartDefaultImage(t *testing.T) {
	root := test.RepoRoot()
	mk := makefileDefaults(t, root)
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	var values struct {
		Image struct {
			Repository string `json:"repository"`
			Tag        string `json:"tag"`
			Digest     string `json:"digest"`
		} `json:"image"`
	}
	readYAML(t, filepath.Join(root, "charts/cloudlb/Chart.yaml"), &chart)
	readYAML(t, filepath.Join(root, "charts/cloudlb/values.yaml"), &values)
	tag := values.Image.Tag
	if tag == "" {
		tag = chart.AppVersion
	}
	if got := values.Image.Repository + ":" + tag; got != mk.img || values.Image.Digest != "" {
		t.Fatalf("the chart installs %s (digest %q) by default; the Makefile builds IMG=%s", got, values.Image.Digest, mk.img)
	}
	if chart.AppVersion != mk.version {
		t.Fatalf("Chart.yaml appVersion %s, Makefile VERSION %s", chart.AppVersion, mk.version)
	}
}

type makefile struct {
	version, img string
	buildFlags   string // flags of the `go build` of `make image`
}

func makefileDefaults(t *testing.T, root string) makefile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	find := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("Makefile: no match for %s", re)
		}
		return strings.TrimSpace(m[1])
	}
	mk := makefile{version: find(`(?m)^VERSION \?= (.+)$`)}
	mk.img = strings.ReplaceAll(find(`(?m)^IMG \?= (.+)$`), "$(VERSION)", mk.version)
	mk.buildFlags = find(`(?s)\nimage:.*?go build (.*?) +\\?\s*-o `)
	return mk
}

// archiveUnderTest is the archive `make test` has just built (CLOUDLB_IMAGE_ARCHIVE), or one built now with the
// Makefile's defaults, so that a plain `go test` never checks an archive older than the code.
func archiveUnderTest(t *testing.T, root string, mk makefile) (archive, imageName, arch string) {
	t.Helper()
	if archive = os.Getenv("CLOUDLB_IMAGE_ARCHIVE"); archive != "" {
		imageName, arch = os.Getenv("CLOUDLB_IMAGE"), os.Getenv("CLOUDLB_IMAGE_ARCH")
		if imageName == "" || arch == "" {
			t.Fatal("CLOUDLB_IMAGE_ARCHIVE is set without CLOUDLB_IMAGE and CLOUDLB_IMAGE_ARCH (the Makefile exports all three)")
		}
		if _, err := os.Stat(archive); err != nil {
			t.Fatalf("CLOUDLB_IMAGE_ARCHIVE=%s: %v (run `make image`)", archive, err)
		}
		return archive, imageName, arch
	}
	archive = filepath.Join(t.TempDir(), "image.tar")
	makeImage(t, root, archive)
	return archive, mk.img, "amd64"
}

func makeImage(t *testing.T, root, archive string, vars ...string) {
	t.Helper()
	args := append([]string{"-s", "--no-print-directory", "-C", root, "image", "IMAGE_ARCHIVE=" + archive}, vars...)
	cmd := exec.Command("make", args...)
	// Not the variables of a `make test` this runs under, nor its target architecture.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "GOOS", "GOARCH", "IMG", "ARCH", "VERSION", "SOURCE_DATE_EPOCH", "IMAGE_ARCHIVE":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// readLayout opens the archive as an OCI image layout and returns its one image and the name index.json gives it.
func readLayout(t *testing.T, archive string) (v1.Image, string) {
	t.Helper()
	dir := t.TempDir()
	untar(t, archive, dir)
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("%s is not an OCI image layout: %v", archive, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index.json lists %d manifests, want 1", len(im.Manifests))
	}
	d := im.Manifests[0]
	img, err := idx.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	full := d.Annotations["io.containerd.image.name"]
	ref, err := name.NewTag(full, name.StrictValidation)
	if err != nil {
		t.Fatalf("index.json io.containerd.image.name %q: %v", full, err)
	}
	if got := d.Annotations["org.opencontainers.image.ref.name"]; got != ref.TagStr() {
		t.Errorf("index.json org.opencontainers.image.ref.name %q, want the tag %q", got, ref.TagStr())
	}
	return img, full
}

// readDocker opens the archive the way `docker load` and `crane push` do, through manifest.json.
func readDocker(t *testing.T, archive string) (v1.Image, []string) {
	t.Helper()
	img, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		t.Fatalf("%s is not a Docker image archive: %v", archive, err)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(archive) })
	if err != nil {
		t.Fatal(err)
	}
	return img, m[0].RepoTags
}

func checkConfig(t *testing.T, cfg *v1.ConfigFile, arch string) {
	t.Helper()
	if cfg.OS != "linux" || cfg.Architecture != arch {
		t.Errorf("image platform %s/%s, want linux/%s", cfg.OS, cfg.Architecture, arch)
	}
	user, group, ok := strings.Cut(cfg.Config.User, ":")
	uid, uerr := strconv.Atoi(user)
	gid, gerr := strconv.Atoi(group)
	// Numeric, because the image has no /etc/passwd and the kubelet enforces runAsNonRoot only on a numeric user.
	if !ok || uerr != nil || gerr != nil || uid == 0 || gid == 0 {
		t.Errorf("image user %q, want a numeric non-root uid:gid", cfg.Config.User)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{entrypoint}) || len(cfg.Config.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want [%s] and no cmd", cfg.Config.Entrypoint, cfg.Config.Cmd, entrypoint)
	}
	if cfg.Config.WorkingDir != "/" {
		t.Errorf("working directory %q, want /", cfg.Config.WorkingDir)
	}
	for _, k := range wantLabels {
		if cfg.Config.Labels[k] == "" {
			t.Errorf("label %s missing; labels: %v", k, cfg.Config.Labels)
		}
	}
	if len(cfg.RootFS.DiffIDs) != 1 {
		t.Errorf("%d layers, want 1 (the binary on an empty base)", len(cfg.RootFS.DiffIDs))
	}
}

// entrypointFile returns the binary at the entrypoint path, which must be the only file of the image.
func entrypointFile(t *testing.T, img v1.Image) ([]byte, *tar.Header) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v; want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	var bin []byte
	var hdr *tar.Header
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if "/"+strings.TrimPrefix(h.Name, "./") != entrypoint || h.Typeflag != tar.TypeReg {
			t.Errorf("unexpected file in the image: %s (type %c)", h.Name, h.Typeflag)
			continue
		}
		if bin, err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
		hdr = h
	}
	if hdr == nil {
		t.Fatalf("no file at the entrypoint %s", entrypoint)
	}
	return bin, hdr
}

// checkStaticELF fails unless bin runs on an empty base: an executable for linux/arch with no dynamic loader and no
// shared library.
func checkStaticELF(t *testing.T, bin []byte, arch string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("%s is not an ELF file: %v", entrypoint, err)
	}
	defer func() { _ = f.Close() }()
	if f.Machine != elfMachine[arch] || f.Class != elf.ELFCLASS64 {
		t.Errorf("%s is for %v (%v), want %s", entrypoint, f.Machine, f.Class, arch)
	}
	if f.Type != elf.ET_EXEC {
		t.Errorf("%s has ELF type %v, want a static executable (ET_EXEC)", entrypoint, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s is dynamically linked (%v); the image has no libc", entrypoint, p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) != 0 {
		t.Errorf("%s needs shared libraries %v (%v)", entrypoint, libs, err)
	}
}

// checkBuildInfo checks how the binary was built, and that it carries CA roots, which the empty base lacks.
func checkBuildInfo(t *testing.T, bin []byte, arch string) {
	t.Helper()
	bi, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("%s has no Go build information: %v", entrypoint, err)
	}
	if bi.Path != "github.com/cloudlb/cloudlb/cmd/cloudlb-controller" {
		t.Errorf("%s is %s, want the controller", entrypoint, bi.Path)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	for k, v := range map[string]string{"CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": arch, "-trimpath": "true"} {
		if settings[k] != v {
			t.Errorf("%s built with %s=%q, want %q", entrypoint, k, settings[k], v)
		}
	}
	if !slices.ContainsFunc(bi.Deps, func(m *debug.Module) bool { return m.Path == "golang.org/x/crypto/x509roots/fallback" }) {
		t.Errorf("%s does not embed golang.org/x/crypto/x509roots/fallback: on the empty base it could verify no "+
			"TLS certificate (AWS APIs)", entrypoint)
	}
}

// checkRuns runs the binary from the image with nothing around it (empty environment and working directory): it
// must start and print its flags.
func checkRuns(t *testing.T, bin []byte) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "cloudlb-controller")
	if err := os.WriteFile(path, bin, 0o555); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "-h")
	cmd.Env = []string{}
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("the image's binary does not start: %v", err)
	}
	if !strings.Contains(string(out), "-cluster-name") {
		t.Fatalf("the image's binary -h printed no -cluster-name flag:\n%s", out)
	}
}

// checkDockerfile keeps the Dockerfile, which cannot be built here, in step with the archive and the Makefile.
func checkDockerfile(t *testing.T, root string, cfg *v1.ConfigFile, mk makefile) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(b), " ") // join continued lines
	final := df[strings.LastIndex(df, "\nFROM "):]
	one := func(re string) string {
		m := regexp.MustCompile(re).FindAllStringSubmatch(final, -1)
		if len(m) != 1 {
			t.Fatalf("Dockerfile final stage: want one match of %s, got %d", re, len(m))
		}
		return m[0][1]
	}
	if base := one(`(?m)^FROM (\S+)`); base != "scratch" {
		t.Errorf("Dockerfile final stage FROM %s; `make image` builds on an empty base (scratch)", base)
	}
	if u := one(`(?m)^USER (\S+)$`); u != cfg.Config.User {
		t.Errorf("Dockerfile USER %s, image user %s", u, cfg.Config.User)
	}
	if e := one(`(?m)^ENTRYPOINT \["([^"]+)"\]$`); e != entrypoint {
		t.Errorf("Dockerfile ENTRYPOINT %s, image entrypoint %s", e, entrypoint)
	}
	if w := one(`(?m)^WORKDIR (\S+)$`); w != cfg.Config.WorkingDir {
		t.Errorf("Dockerfile WORKDIR %s, image working directory %s", w, cfg.Config.WorkingDir)
	}
	if c := one(`(?m)^COPY (.*)$`); !strings.Contains(c, "--chown=0:0 --chmod=0555") || !strings.HasSuffix(c, " "+entrypoint) {
		t.Errorf("Dockerfile COPY %s: want the binary at %s, root-owned, mode 0555", c, entrypoint)
	}
	if v := one(`(?m)^ARG VERSION=(\S+)$`); v != mk.version {
		t.Errorf("Dockerfile ARG VERSION=%s, Makefile VERSION %s", v, mk.version)
	}
	labels := map[string]string{}
	for _, m := range regexp.MustCompile(`(org\.opencontainers\.image\.\w+)="([^"]*)"`).FindAllStringSubmatch(one(`(?m)^LABEL (.*)$`), -1) {
		labels[m[1]] = strings.ReplaceAll(m[2], "${VERSION}", mk.version)
	}
	want := maps.Clone(cfg.Config.Labels) // the archive's version may be another than the default
	want["org.opencontainers.image.version"] = mk.version
	if fmt.Sprint(labels) != fmt.Sprint(want) {
		t.Errorf("Dockerfile labels %v, image labels %v", labels, want)
	}
	if !strings.Contains(df, "CGO_ENABLED=0") || !strings.Contains(df, "go build "+mk.buildFlags+" -o ") {
		t.Errorf("the Dockerfile does not build with CGO_ENABLED=0 go build %s, as `make image` does", mk.buildFlags)
	}
}

func configName(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Fatalf("archive entry %q leaves the archive", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
					err = os.WriteFile(p, b, 0o644)
				}
			}
		default:
			t.Fatalf("archive entry %q has type %c", h.Name, h.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("sha256:%x", sha256.Sum256(b))
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
