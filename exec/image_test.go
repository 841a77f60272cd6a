package exec

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestImageSources(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	for i, ref := range []string{img.registry, img.layout, img.archive} {
		t.Run(strings.SplitN(ref, ":", 2)[0], func(t *testing.T) {
			info, err := d.PrepareImage(ctxT(t, time.Minute), ref)
			if err != nil {
				t.Fatal(err)
			}
			if info.Digest == "" || info.Size < 1<<20 || info.Config.Cmd == nil {
				t.Errorf("info %+v: want a digest, the busybox size and the image's CMD", info)
			}
			spec := shTask(img, "src-"+string(rune('a'+i)), "ls /etc/deleteme 2>/dev/null || echo gone; ls /opaque")
			spec.Image = ref
			if res, out, _ := run(t, d, spec); res.ExitCode != 0 || out != "gone\nnew\n" {
				t.Errorf("result %v stdout %q, want the whiteouts applied (gone, new)", res, out)
			}
		})
	}
}

func TestImageUnpackedOnce(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	// Concurrent first uses of one image unpack it once.
	var wg sync.WaitGroup
	infos := make([]ImageInfo, 4)
	errs := make([]error, 4)
	for i := range infos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			infos[i], errs[i] = d.PrepareImage(ctxT(t, time.Minute), img.registry)
		}()
	}
	wg.Wait()
	cached := 0
	for i := range infos {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if infos[i].Cached {
			cached++
		}
		if infos[i].RootFS != infos[0].RootFS {
			t.Errorf("rootfs %s and %s for one image", infos[i].RootFS, infos[0].RootFS)
		}
	}
	if cached != 3 {
		t.Errorf("%d of 4 concurrent PrepareImage calls found the image cached, want 3", cached)
	}
	entries, _ := os.ReadDir(filepath.Join(d.cfg.DataDir, "images"))
	if len(entries) != 1 {
		t.Errorf("images dir holds %d entries, want 1", len(entries))
	}

	// A task keeps its image from GC; once destroyed, GC removes it.
	task, err := d.Start(ctxT(t, time.Minute), shTask(img, "gc", "sleep 60"))
	if err != nil {
		t.Fatal(err)
	}
	if removed, err := d.GCImages(); err != nil || len(removed) != 0 {
		t.Errorf("GC with a task running removed %v (%v), want nothing", removed, err)
	}
	if err := task.Destroy(); err != nil {
		t.Fatal(err)
	}
	if removed, err := d.GCImages(); err != nil || len(removed) != 1 || removed[0] != infos[0].Digest {
		t.Errorf("GC removed %v (%v), want [%s]", removed, err, infos[0].Digest)
	}
	if _, err := os.Stat(infos[0].RootFS); !os.IsNotExist(err) {
		t.Errorf("rootfs still there after GC: %v", err)
	}
}

func TestBadInputs(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	spec := func(mod func(*TaskSpec)) TaskSpec {
		s := shTask(img, "bad", "true")
		mod(&s)
		return s
	}
	missingRepo := strings.Replace(img.registry, "test/busybox", "test/nothing", 1)
	tests := []struct {
		name string
		spec TaskSpec
		want []string // substrings of the error
	}{
		{"missing image", spec(func(s *TaskSpec) { s.Image = missingRepo }), []string{missingRepo, "NAME_UNKNOWN"}},
		{"missing tag", spec(func(s *TaskSpec) { s.Image = strings.Replace(img.registry, ":1", ":2", 1) }), []string{":2", "MANIFEST_UNKNOWN"}},
		{"unreachable registry", spec(func(s *TaskSpec) { s.Image = "127.0.0.1:1/x/y:1" }), []string{"127.0.0.1:1", "connection refused"}},
		{"bad reference", spec(func(s *TaskSpec) { s.Image = "UPPER/case::" }), []string{`"UPPER/case::"`, "not a registry reference"}},
		{"missing oci layout", spec(func(s *TaskSpec) { s.Image = "oci:/nonexistent/dir" }), []string{"/nonexistent/dir"}},
		{"missing oci tag", spec(func(s *TaskSpec) { s.Image = strings.TrimSuffix(img.layout, ":1") + ":9" }), []string{`tag "9" not in OCI layout`}},
		{"missing archive", spec(func(s *TaskSpec) { s.Image = "docker-archive:/nonexistent.tar" }), []string{"/nonexistent.tar", "no such file"}},
		{"bad command path", spec(func(s *TaskSpec) { s.Command, s.Args = "/no/such/cmd", nil }), []string{"/no/such/cmd", "no such file"}},
		{"memory too small", spec(func(s *TaskSpec) { s.MemoryMB = 1 }), []string{"memory 1 MB", "between 8 and"}},
		{"memory negative", spec(func(s *TaskSpec) { s.MemoryMB = -5 }), []string{"memory -5 MB"}},
		{"memory_max below memory", spec(func(s *TaskSpec) { s.MemoryMB, s.MemoryMaxMB = 64, 32 }), []string{"memory_max 32 MB"}},
		{"cpu negative", spec(func(s *TaskSpec) { s.CPUMHz = -1 }), []string{"cpu -1 MHz"}},
		{"pids negative", spec(func(s *TaskSpec) { s.PidsLimit = -1 }), []string{"pids_limit -1"}},
		{"cap_add not allowed", spec(func(s *TaskSpec) { s.CapAdd = []string{"sys_admin"} }), []string{`cap_add: "sys_admin" is not allowed`, "allowed: chown, "}},
		{"cap_drop unknown", spec(func(s *TaskSpec) { s.CapDrop = []string{"CAP_NOPE"} }), []string{`cap_drop "CAP_NOPE": not a Linux capability`}},
		{"extra host without IP", spec(func(s *TaskSpec) { s.ExtraHosts = []string{"db"} }), []string{`extra_hosts "db"`, `"name:IP"`}},
		{"bad kill signal", spec(func(s *TaskSpec) { s.KillSignal = "SIGNOPE" }), []string{`kill_signal "SIGNOPE"`, "unknown signal"}},
		{"bad kind", spec(func(s *TaskSpec) { s.Kind = "vm" }), []string{`kind "vm"`, `"container" or "exec"`}},
		{"bad id", spec(func(s *TaskSpec) { s.ID = "a/b" }), []string{`id "a/b"`, `character '/'`}},
		{"unknown user", spec(func(s *TaskSpec) { s.User = "nosuchuser" }), []string{`user "nosuchuser"`}},
		{"relative work dir", spec(func(s *TaskSpec) { s.WorkDir = "rel" }), []string{`work_dir "rel"`, "absolute"}},
		{"exec without command", TaskSpec{ID: "bad", Kind: KindExec}, []string{"command", "required for the exec kind"}},
		{"dns server not an address", spec(func(s *TaskSpec) { s.DNS = &DNS{Servers: []string{"ns1.example"}} }), []string{`dns server "ns1.example"`, "IP address"}},
		{"dns option of two words", spec(func(s *TaskSpec) { s.DNS = &DNS{Options: []string{"ndots:2 edns0"}} }), []string{`"ndots:2 edns0"`, "one word"}},
		{"hostname too long", spec(func(s *TaskSpec) { s.Hostname = strings.Repeat("h", 65) }), []string{"hostname", "at most 64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Start(ctxT(t, time.Minute), tt.spec)
			if err == nil {
				t.Fatal("Start succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if entries, _ := os.ReadDir(filepath.Join(d.cfg.DataDir, "tasks")); len(entries) != 0 {
				t.Errorf("failed Start left task dirs behind: %v", entries)
			}
			if entries, _ := os.ReadDir(d.cfg.stateDir()); len(entries) != 0 {
				t.Errorf("failed Start left container state behind: %v", entries)
			}
		})
	}
}

// BenchmarkUnpack flattens the test image into a fresh directory under TMPDIR, as the
// first task on a peer does (the layers are in memory, so this is the disk work and
// the gunzip, not the pull).
func BenchmarkUnpack(b *testing.B) {
	img := busyboxImage(b)
	root := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		dir := filepath.Join(root, fmt.Sprint(i))
		if _, err := unpackImage(img.img, dir); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// TestUnpackStaysInside flattens layers that try to reach out of the image directory
// and checks that nothing lands outside it, and that owners and modes survive.
func TestUnpackStaysInside(t *testing.T) {
	requireRoot(t)
	outside := t.TempDir()
	layer := func(hs ...*tar.Header) v1.Layer {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range hs {
			if h.Typeflag == tar.TypeReg {
				h.Size = int64(len(h.Name))
			}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if h.Typeflag == tar.TypeReg {
				io.WriteString(tw, h.Name)
			}
		}
		tw.Close()
		data := buf.Bytes()
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	lower := layer(
		// Under the upper layer's d/a: the symlink replaces the directory, and a
		// later entry must not follow the new link out.
		&tar.Header{Name: "d", Typeflag: tar.TypeSymlink, Linkname: outside},
		&tar.Header{Name: "x/owned", Typeflag: tar.TypeReg, Mode: 0o4750, Uid: 1000, Gid: 1000},
		&tar.Header{Name: "x/mine", Typeflag: tar.TypeReg, Mode: 0o640},
	)
	upper := layer(
		&tar.Header{Name: "d/a", Typeflag: tar.TypeReg, Mode: 0o644},
		&tar.Header{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "/"},
		&tar.Header{Name: "up/escaped", Typeflag: tar.TypeReg, Mode: 0o644},
	)
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: lower}, mutate.Addendum{Layer: upper})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "rootfs")
	if _, err := unpackImage(img, dir); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("unpacking wrote %d entries outside the image directory", len(entries))
	}
	if _, err := os.Stat("/escaped"); err == nil {
		t.Errorf("unpacking wrote /escaped on the host")
		os.Remove("/escaped")
	}
	if target, err := os.Readlink(filepath.Join(dir, "d")); err != nil || target != outside {
		t.Errorf("d: link to %q (%v), want the lower layer's link to %q", target, err, outside)
	}
	for name, want := range map[string]struct {
		mode     os.FileMode
		uid, gid uint32
	}{
		"x/owned": {0o750 | os.ModeSetuid, 1000, 1000},
		"x/mine":  {0o640, 0, 0},
	} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != want.mode || st.Uid != want.uid || st.Gid != want.gid {
			t.Errorf("%s: mode %v, owner %d:%d; want %v, %d:%d", name, fi.Mode(), st.Uid, st.Gid, want.mode, want.uid, want.gid)
		}
	}
}
