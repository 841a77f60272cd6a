package exec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Image reference prefixes for local sources.
const (
	RefOCILayout     = "oci:"            // "oci:/dir" or "oci:/dir:tag"
	RefDockerArchive = "docker-archive:" // "docker-archive:/file.tar" (a `docker save` archive)
)

// ImageConfig is the part of an image's config that decides how its task runs.
type ImageConfig struct {
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
}

// ImageInfo describes an image unpacked in the store.
type ImageInfo struct {
	Ref    string      `json:"ref"`    // as asked for
	Digest string      `json:"digest"` // manifest digest, "sha256:..."
	RootFS string      `json:"rootfs"` // the shared, read-only unpacked root filesystem
	Size   int64       `json:"size"`   // bytes of regular files unpacked
	Config ImageConfig `json:"config"`
	// Cached is true when PrepareImage found the image already unpacked.
	Cached bool `json:"-"`
}

// PrepareImage fetches ref's manifest and, unless that digest is already in the
// store, its layers, and unpacks them once into <DataDir>/images/<digest>/rootfs.
// Safe for concurrent use; concurrent calls for one digest unpack it once.
func (d *Driver) PrepareImage(ctx context.Context, ref string) (ImageInfo, error) {
	img, err := d.openImage(ctx, ref)
	if err != nil {
		return ImageInfo{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return ImageInfo{}, fmt.Errorf("image %q: reading manifest digest: %w", ref, err)
	}
	info, err := d.unpackOnce(ref, digest, img)
	if err != nil {
		return ImageInfo{}, err
	}
	d.mu.Lock()
	d.refs[ref] = info
	d.mu.Unlock()
	return info, nil
}

// image returns the unpacked image for ref, preparing it on first use. Start goes
// through here: a ref seen before costs no network round trip (call PrepareImage to
// refresh a moved tag).
func (d *Driver) image(ctx context.Context, ref string) (ImageInfo, error) {
	d.mu.Lock()
	info, ok := d.refs[ref]
	d.mu.Unlock()
	if ok {
		if _, err := os.Stat(info.RootFS); err == nil {
			info.Cached = true
			return info, nil
		}
	}
	return d.PrepareImage(ctx, ref)
}

func (d *Driver) openImage(ctx context.Context, ref string) (v1.Image, error) {
	switch {
	case strings.HasPrefix(ref, RefOCILayout):
		return openLayout(strings.TrimPrefix(ref, RefOCILayout), ref)
	case strings.HasPrefix(ref, RefDockerArchive):
		path := strings.TrimPrefix(ref, RefDockerArchive)
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("image %q: docker archive: %w", ref, err)
		}
		img, err := tarball.ImageFromPath(path, nil)
		if err != nil {
			return nil, fmt.Errorf("image %q: reading docker archive %s: %w", ref, path, err)
		}
		return img, nil
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("image %q: not a registry reference, %q or %q path: %w", ref, RefOCILayout, RefDockerArchive, err)
	}
	if slices.Contains(d.cfg.InsecureRegistries, r.Context().RegistryStr()) {
		if r, err = name.ParseReference(ref, name.Insecure); err != nil {
			return nil, fmt.Errorf("image %q: %w", ref, err)
		}
	}
	// remote.Image is lazy: layers are fetched with ctx while unpacking.
	img, err := remote.Image(r,
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}),
		remote.WithRetryBackoff(remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 2}),
	)
	if err != nil {
		return nil, fmt.Errorf("image %q: pulling from registry %s: %w", ref, r.Context().RegistryStr(), err)
	}
	return img, nil
}

// openLayout opens "/dir" or "/dir:tag" from an OCI image layout.
func openLayout(spec, ref string) (v1.Image, error) {
	dir, tag := spec, ""
	if i := strings.LastIndex(spec, ":"); i > 0 && !strings.Contains(spec[i:], "/") {
		dir, tag = spec[:i], spec[i+1:]
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("image %q: opening OCI layout %s: %w", ref, dir, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("image %q: reading OCI layout index: %w", ref, err)
	}
	var names []string
	for _, desc := range m.Manifests {
		n := desc.Annotations["org.opencontainers.image.ref.name"]
		names = append(names, n)
		if tag == "" && len(m.Manifests) == 1 || tag != "" && (n == tag || strings.HasSuffix(n, ":"+tag)) {
			img, err := idx.Image(desc.Digest)
			if err != nil {
				return nil, fmt.Errorf("image %q: reading image %s from layout: %w", ref, desc.Digest, err)
			}
			return img, nil
		}
	}
	if tag == "" {
		return nil, fmt.Errorf("image %q: OCI layout %s holds %d images: name one with %s%s:TAG (tags: %q)", ref, dir, len(m.Manifests), RefOCILayout, dir, names)
	}
	return nil, fmt.Errorf("image %q: tag %q not in OCI layout %s (tags: %q)", ref, tag, dir, names)
}

func (d *Driver) imageDir(digest v1.Hash) string {
	return filepath.Join(d.cfg.DataDir, "images", digest.Algorithm+"-"+digest.Hex)
}

// unpackOnce unpacks img into the store unless it is already there.
func (d *Driver) unpackOnce(ref string, digest v1.Hash, img v1.Image) (ImageInfo, error) {
	lock := d.digestLock(digest.String())
	lock.Lock()
	defer lock.Unlock()

	dir := d.imageDir(digest)
	if info, err := readImageInfo(dir); err == nil {
		info.Ref, info.Cached = ref, true
		return info, nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return ImageInfo{}, fmt.Errorf("image %q: reading image config: %w", ref, err)
	}
	tmp, err := os.MkdirTemp(filepath.Join(d.cfg.DataDir, "images"), ".unpack-")
	if err != nil {
		return ImageInfo{}, fmt.Errorf("image %q: %w", ref, err)
	}
	defer os.RemoveAll(tmp)
	size, err := unpackImage(img, filepath.Join(tmp, "rootfs"))
	if err != nil {
		return ImageInfo{}, fmt.Errorf("image %q (%s): unpacking: %w", ref, digest, err)
	}
	info := ImageInfo{
		Ref:    ref,
		Digest: digest.String(),
		RootFS: filepath.Join(dir, "rootfs"),
		Size:   size,
		Config: ImageConfig{
			Entrypoint: cf.Config.Entrypoint,
			Cmd:        cf.Config.Cmd,
			Env:        cf.Config.Env,
			WorkingDir: cf.Config.WorkingDir,
			User:       cf.Config.User,
		},
	}
	data, _ := json.Marshal(info)
	if err := os.WriteFile(filepath.Join(tmp, "image.json"), data, 0o644); err != nil {
		return ImageInfo{}, err
	}
	_ = os.RemoveAll(dir) // a half-unpacked leftover from a crash
	if err := os.Rename(tmp, dir); err != nil {
		return ImageInfo{}, fmt.Errorf("image %q: moving into the store: %w", ref, err)
	}
	d.log.Info("image unpacked", "ref", ref, "digest", info.Digest, "bytes", size)
	return info, nil
}

func readImageInfo(dir string) (ImageInfo, error) {
	data, err := os.ReadFile(filepath.Join(dir, "image.json"))
	if err != nil {
		return ImageInfo{}, err
	}
	var info ImageInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return ImageInfo{}, err
	}
	info.RootFS = filepath.Join(dir, "rootfs")
	return info, nil
}

// GCImages removes every unpacked image that no task of this driver uses and
// returns their digests. Safe for concurrent use with Start: an image a Start is
// about to use is kept.
func (d *Driver) GCImages() ([]string, error) {
	d.mu.Lock()
	inUse := map[string]bool{}
	for _, t := range d.tasks {
		if t != nil { // nil: an ID reserved by a Start in flight, counted in starting
			inUse[t.meta.ImageDigest] = true
		}
	}
	for digest, n := range d.starting {
		if n > 0 {
			inUse[digest] = true
		}
	}
	d.mu.Unlock()
	root := filepath.Join(d.cfg.DataDir, "images")
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		info, err := readImageInfo(filepath.Join(root, e.Name()))
		if err != nil || inUse[info.Digest] {
			continue
		}
		lock := d.digestLock(info.Digest)
		lock.Lock()
		err = os.RemoveAll(filepath.Join(root, e.Name()))
		lock.Unlock()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, info.Digest)
		d.mu.Lock()
		for ref, ri := range d.refs {
			if ri.Digest == info.Digest {
				delete(d.refs, ref)
			}
		}
		d.mu.Unlock()
	}
	return removed, errors.Join(errs...)
}
