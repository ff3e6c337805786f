package main

import (
	"archive/tar"
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func rootfs(t *testing.T, dir, platform string) string {
	t.Helper()
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	body := []byte("a binary for " + platform)
	if err := w.WriteHeader(&tar.Header{Name: "bin/hello", Mode: 0o755, Size: int64(len(body)), ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, strings.ReplaceAll(platform, "/", "-")+".tar")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func spec(t *testing.T, dir string) Spec {
	t.Helper()
	config := v1.Config{Entrypoint: []string{"/bin/hello"}, User: "8737:8737", Labels: map[string]string{"org.opencontainers.image.version": "v0.0.1"}}
	return Spec{
		Layout:    filepath.Join(dir, "oci"),
		Name:      "example.invalid/team/hello:v0.0.1",
		Created:   time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC),
		CreatedBy: "ocitool test",
		Images: []ImageSpec{
			{Platform: "linux/amd64", Layer: rootfs(t, dir, "linux/amd64"), Config: config},
			{Platform: "linux/arm64", Layer: rootfs(t, dir, "linux/arm64"), Config: config},
		},
		DockerArchive: &ArchiveSpec{Platform: "linux/amd64", Path: filepath.Join(dir, "image.tar"), Tag: "example.invalid/team/hello:v0.0.1"},
	}
}

func TestALayoutHoldsAnIndexOfEveryPlatformAndIsReproducible(t *testing.T) {
	first, err := writeLayout(spec(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	again, err := writeLayout(spec(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if first.Index != again.Index {
		t.Errorf("the same inputs gave two index digests: %s and %s", first.Index, again.Index)
	}
	if first.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("index media type %s", first.MediaType)
	}
	if len(first.Images) != 2 || first.Images[0].Platform != "linux/amd64" || first.Images[1].Platform != "linux/arm64" {
		t.Fatalf("images %+v", first.Images)
	}
	if first.Images[0].Manifest == first.Images[1].Manifest {
		t.Error("both platforms have the same manifest")
	}
}

func TestTheDockerArchiveIsTheSameImageAsTheIndexHolds(t *testing.T) {
	dir := t.TempDir()
	s := spec(t, dir)
	written, err := writeLayout(s)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(s.DockerArchive.Tag)
	image, err := tarball.ImageFromPath(s.DockerArchive.Path, &tag)
	if err != nil {
		t.Fatal(err)
	}
	config, err := image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := image.ConfigName()
	if digest.String() != written.Images[0].Config { // docker's image id is this digest
		t.Errorf("the archive's config %s is not the amd64 image's %s", digest, written.Images[0].Config)
	}
	if config.Architecture != "amd64" || config.Config.User != "8737:8737" || config.Config.Entrypoint[0] != "/bin/hello" {
		t.Errorf("config %+v", config)
	}
}

func TestAPushServesTheIndexAndEachPlatformsManifest(t *testing.T) {
	server := httptest.NewServer(registry.New())
	defer server.Close()
	s := spec(t, t.TempDir())
	written, err := writeLayout(s)
	if err != nil {
		t.Fatal(err)
	}
	ref := strings.TrimPrefix(server.URL, "http://") + "/team/hello:v0.0.1"
	if err := push(context.Background(), filepath.Join(t.TempDir(), "missing"), ref); err == nil {
		t.Error("pushed a layout that does not exist")
	}
	if err := push(context.Background(), s.Layout, ref); err != nil {
		t.Fatal(err)
	}
	parsed, _ := name.ParseReference(ref)
	index, err := remote.Index(parsed)
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := index.Digest()
	if digest.String() != written.Index {
		t.Errorf("the registry serves %s, not the index written (%s)", digest, written.Index)
	}
	for _, platform := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}} {
		image, err := remote.Image(parsed, remote.WithPlatform(platform))
		if err != nil {
			t.Fatalf("%s: %v", platform, err)
		}
		config, err := image.ConfigFile()
		if err != nil || config.Architecture != platform.Architecture {
			t.Errorf("%s: config %+v, %v", platform, config, err)
		}
	}
}

func TestAnEmptySpecAndABadPlatformAreRefused(t *testing.T) {
	if _, err := writeLayout(Spec{Layout: t.TempDir(), Name: "x:y"}); err == nil || !strings.Contains(err.Error(), "no images") {
		t.Errorf("got %v", err)
	}
	s := spec(t, t.TempDir())
	s.Images[1].Platform = s.Images[0].Platform
	if _, err := writeLayout(s); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("got %v", err)
	}
}
