package exec

import (
	"archive/tar"
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// testImage is the busybox image every test runs, built once per test binary from
// the host's static busybox (Debian busybox-static) in two layers: the second
// deletes /etc/deleteme with a whiteout and replaces /opaque's contents with an
// opaque-directory marker.
type testImage struct {
	img      v1.Image
	registry string // "127.0.0.1:port/test/busybox:1"
	layout   string // "oci:/dir:1"
	archive  string // "docker-archive:/file.tar"
}

var (
	testImg     *testImage
	testImgErr  error
	testImgOnce sync.Once
	testImgDir  string // removed by TestMain
)

func busyboxImage(t testing.TB) *testImage {
	t.Helper()
	testImgOnce.Do(func() { testImg, testImgErr = buildTestImage() })
	if testImgErr != nil {
		t.Skipf("cannot build the busybox test image (install busybox-static): %v", testImgErr)
	}
	return testImg
}

type tarEntry struct {
	name, body, link string
	mode             int64
	dir              bool
}

func tarLayer(entries []tarEntry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		switch {
		case e.dir:
			h.Typeflag, h.Size = tar.TypeDir, 0
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if e.dir {
				h.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}

func buildTestImage() (*testImage, error) {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, err
	}
	list, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return nil, err
	}
	base := []tarEntry{
		{name: "bin", dir: true}, {name: "etc", dir: true}, {name: "opaque", dir: true},
		{name: "bin/busybox", body: string(bb), mode: 0o755},
		{name: "etc/passwd", body: "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"},
		{name: "etc/group", body: "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n"},
		{name: "etc/deleteme", body: "lower layer\n"},
		{name: "opaque/old", body: "lower layer\n"},
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" {
			base = append(base, tarEntry{name: "bin/" + applet, link: "busybox"})
		}
	}
	l1, err := tarLayer(base)
	if err != nil {
		return nil, err
	}
	l2, err := tarLayer([]tarEntry{
		{name: "etc/.wh.deleteme"},
		{name: "opaque/.wh..wh..opq"},
		{name: "opaque/new", body: "upper layer\n"},
		{name: "etc/motd", body: "hello from layer two\n"},
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: l1}, mutate.Addendum{Layer: l2})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = []string{"/bin/sh", "-c", "echo default cmd"}
	cf.Config.Env = []string{"PATH=/bin", "IMAGE_VAR=from-image"}
	cf.Config.WorkingDir = "/"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}

	ti := &testImage{img: img}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	// Left running for the test binary's life: tests pull from it concurrently.
	host := strings.TrimPrefix(srv.URL, "http://")
	ti.registry = host + "/test/busybox:1"
	ref, err := name.ParseReference(ti.registry)
	if err != nil {
		return nil, err
	}
	if err := remote.Write(ref, img); err != nil {
		return nil, err
	}
	if testImgDir, err = os.MkdirTemp("", "shoal-exec-img-"); err != nil {
		return nil, err
	}
	lp, err := layout.Write(filepath.Join(testImgDir, "oci"), empty.Index)
	if err != nil {
		return nil, err
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "1"})); err != nil {
		return nil, err
	}
	ti.layout = RefOCILayout + filepath.Join(testImgDir, "oci") + ":1"
	archive := filepath.Join(testImgDir, "busybox.tar")
	tag, _ := name.NewTag("test/busybox:1")
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		return nil, err
	}
	ti.archive = RefDockerArchive + archive
	return ti, nil
}
