// Command ocitool is argo-patcher's image helper: it makes one image per platform from a root
// file system, a multi-platform image index of them, writes the index as an OCI image layout
// (and one platform's image as a docker-archive, which `docker load` of Docker 20.10 reads where
// it cannot read a layout), and pushes a layout's index to a registry. The images, manifests,
// index and layout are go-containerregistry's: nothing here writes their JSON by hand.
//
//	ocitool layout SPEC.json   the layout SPEC describes; prints its digests as JSON
//	ocitool push LAYOUT REF    pushes LAYOUT's one index to REF; prints the digest the registry serves
//
// Errors are one line on stderr and exit code 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// Spec is what `ocitool layout` reads.
type Spec struct {
	Layout        string       `json:"layout"`  // a new or empty directory
	Name          string       `json:"name"`    // the image's full name, for the layout's annotations
	Created       time.Time    `json:"created"` // the images' creation time (the commit's, for reproducible digests)
	CreatedBy     string       `json:"created_by"`
	Images        []ImageSpec  `json:"images"`
	DockerArchive *ArchiveSpec `json:"docker_archive,omitempty"`
}

// ImageSpec is one platform's image: a single layer and its run configuration.
type ImageSpec struct {
	Platform string    `json:"platform"` // os/arch[/variant]
	Layer    string    `json:"layer"`    // an uncompressed tar of the root file system
	Config   v1.Config `json:"config"`
}

// ArchiveSpec names the platform whose image is also written as a docker-archive, and where.
type ArchiveSpec struct {
	Platform string `json:"platform"`
	Path     string `json:"path"`
	Tag      string `json:"tag"`
}

// Written is what `ocitool layout` prints.
type Written struct {
	Index     string          `json:"index"`
	MediaType types.MediaType `json:"media_type"`
	Images    []WrittenImage  `json:"images"`
}

// WrittenImage is one platform's image in the index.
type WrittenImage struct {
	Platform string `json:"platform"`
	Manifest string `json:"manifest"`
	Config   string `json:"config"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "ocitool: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	switch {
	case len(args) == 2 && args[0] == "layout":
		return writeLayoutFromFile(args[1])
	case len(args) == 3 && args[0] == "push":
		return push(ctx, args[1], args[2])
	}
	return fmt.Errorf("usage: ocitool layout SPEC.json | ocitool push LAYOUT REF")
}

func writeLayoutFromFile(specPath string) error {
	data, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	var spec Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("%s: %v", specPath, err)
	}
	written, err := writeLayout(spec)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(written)
}

func writeLayout(spec Spec) (*Written, error) {
	if len(spec.Images) == 0 {
		return nil, fmt.Errorf("no images to write")
	}
	ref, err := name.ParseReference(spec.Name)
	if err != nil {
		return nil, fmt.Errorf("image name %q: %v", spec.Name, err)
	}
	index := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	images := map[string]v1.Image{}
	for _, imageSpec := range spec.Images {
		platform, err := v1.ParsePlatform(imageSpec.Platform)
		if err != nil {
			return nil, err
		}
		if _, seen := images[platform.String()]; seen {
			return nil, fmt.Errorf("platform %s given twice", platform)
		}
		image, err := platformImage(imageSpec, platform, spec.Created, spec.CreatedBy)
		if err != nil {
			return nil, fmt.Errorf("the %s image: %v", platform, err)
		}
		images[platform.String()] = image
		index = mutate.AppendManifests(index, mutate.IndexAddendum{Add: image, Descriptor: v1.Descriptor{Platform: platform}})
	}
	path, err := layout.Write(spec.Layout, empty.Index)
	if err != nil {
		return nil, fmt.Errorf("writing the layout %s: %v", spec.Layout, err)
	}
	annotations := map[string]string{
		"org.opencontainers.image.ref.name": ref.Identifier(),
		"io.containerd.image.name":          ref.Name(), // `ctr images import` names the image by it
	}
	if err := path.AppendIndex(index, layout.WithAnnotations(annotations)); err != nil {
		return nil, fmt.Errorf("writing the layout %s: %v", spec.Layout, err)
	}
	if spec.DockerArchive != nil {
		if err := writeDockerArchive(*spec.DockerArchive, images); err != nil {
			return nil, err
		}
	}
	return readBack(path)
}

func platformImage(spec ImageSpec, platform *v1.Platform, created time.Time, createdBy string) (v1.Image, error) {
	layer, err := tarball.LayerFromFile(spec.Layer, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	when := v1.Time{Time: created.UTC()}
	image, err := mutate.Append(base, mutate.Addendum{Layer: layer, MediaType: types.OCILayer, History: v1.History{Created: when, CreatedBy: createdBy}})
	if err != nil {
		return nil, err
	}
	config, err := image.ConfigFile()
	if err != nil {
		return nil, err
	}
	config = config.DeepCopy()
	config.OS, config.Architecture, config.Variant, config.OSVersion = platform.OS, platform.Architecture, platform.Variant, platform.OSVersion
	config.Created = when
	config.Config = spec.Config
	return mutate.ConfigFile(image, config)
}

func writeDockerArchive(spec ArchiveSpec, images map[string]v1.Image) error {
	platform, err := v1.ParsePlatform(spec.Platform)
	if err != nil {
		return err
	}
	image, ok := images[platform.String()]
	if !ok {
		return fmt.Errorf("no %s image for the docker-archive", platform)
	}
	tag, err := name.NewTag(spec.Tag)
	if err != nil {
		return fmt.Errorf("docker-archive tag %q: %v", spec.Tag, err)
	}
	if err := tarball.WriteToFile(spec.Path, tag, image); err != nil {
		return fmt.Errorf("writing the docker-archive %s: %v", spec.Path, err)
	}
	return nil
}

// readBack reads the layout as a consumer would, checks every blob against its digest, and
// says what it holds.
func readBack(path layout.Path) (*Written, error) {
	index, err := onlyIndex(path)
	if err != nil {
		return nil, err
	}
	if err := validate.Index(index); err != nil {
		return nil, fmt.Errorf("the layout %s does not read back: %v", path, err)
	}
	digest, err := index.Digest()
	if err != nil {
		return nil, err
	}
	mediaType, err := index.MediaType()
	if err != nil {
		return nil, err
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		return nil, err
	}
	written := &Written{Index: digest.String(), MediaType: mediaType}
	for _, descriptor := range manifest.Manifests {
		image, err := index.Image(descriptor.Digest)
		if err != nil {
			return nil, err
		}
		config, err := image.ConfigName()
		if err != nil {
			return nil, err
		}
		platform := ""
		if descriptor.Platform != nil {
			platform = descriptor.Platform.String()
		}
		written.Images = append(written.Images, WrittenImage{Platform: platform, Manifest: descriptor.Digest.String(), Config: config.String()})
	}
	return written, nil
}

// onlyIndex is the image index a layout made by `ocitool layout` holds: its index.json's one entry.
func onlyIndex(path layout.Path) (v1.ImageIndex, error) {
	top, err := path.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("%s is not an OCI image layout: %v", path, err)
	}
	entries, err := top.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(entries.Manifests) != 1 || !entries.Manifests[0].MediaType.IsIndex() {
		return nil, fmt.Errorf("%s holds %d entries; expected one image index", path, len(entries.Manifests))
	}
	return top.ImageIndex(entries.Manifests[0].Digest)
}

func push(ctx context.Context, layoutDir, reference string) error {
	path, err := layout.FromPath(layoutDir)
	if err != nil {
		return fmt.Errorf("%s is not an OCI image layout: %v", layoutDir, err)
	}
	index, err := onlyIndex(path)
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(reference)
	if err != nil {
		return fmt.Errorf("image reference %q: %v", reference, err)
	}
	options := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithUserAgent("argo-patcher")}
	if err := remote.WriteIndex(ref, index, options...); err != nil {
		return fmt.Errorf("pushing to %s: %v", ref, err)
	}
	want, err := index.Digest()
	if err != nil {
		return err
	}
	// What the registry now serves under the name, read back rather than assumed.
	served, err := remote.Head(ref, options...)
	if err != nil {
		return fmt.Errorf("reading back %s: %v", ref, err)
	}
	if served.Digest != want {
		return fmt.Errorf("%s serves %s after the push, not the index pushed (%s)", ref, served.Digest, want)
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]string{"ref": ref.Name(), "digest": served.Digest.String(), "media_type": string(served.MediaType)})
}
