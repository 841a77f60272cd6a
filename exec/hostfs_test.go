package exec

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// The exec kind's root view is built on a host that has nothing prepared (no /local
// or /secrets in its root), is read-only, shows the host's files, and is rebuilt
// when a peer died half-way through building it.
func TestHostRootView(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	dir := filepath.Join(t.TempDir(), "view")
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	_, err := os.Stat("/local")
	hadLocal := err == nil

	if err := ensureHostRoot(dir); err != nil {
		t.Fatal(err)
	}
	var mounts []*mountinfo.Info
	check := func(when string) {
		t.Helper()
		host, _ := os.ReadFile("/etc/hostname")
		seen, err := os.ReadFile(filepath.Join(dir, "etc/hostname"))
		if err != nil || string(seen) != string(host) {
			t.Errorf("%s: etc/hostname in the view = %q, %v; want the host's %q", when, seen, err, host)
		}
		for _, p := range []string{"etc/shoal-probe", "shoal-probe"} {
			if err := os.WriteFile(filepath.Join(dir, p), nil, 0o644); !errors.Is(err, unix.EROFS) {
				t.Errorf("%s: writing %s in the view: %v, want a read-only file system", when, p, err)
			}
		}
		for _, p := range containerMountPoints {
			entries, err := os.ReadDir(filepath.Join(dir, p))
			if err != nil || len(entries) != 0 {
				t.Errorf("%s: %s in the view: %d entries, %v; want an empty mount point", when, p, len(entries), err)
			}
		}
	}
	check("built")
	if _, err := os.Stat("/local"); (err == nil) != hadLocal {
		t.Errorf("building the view changed the host's /local (there before: %v; now: %v)", hadLocal, err)
	}

	// A second driver finds it complete and mounts nothing more.
	if err := ensureHostRoot(dir); err != nil {
		t.Fatal(err)
	}
	mounts, err = mountinfo.GetMounts(mountinfo.SingleEntryFilter(dir))
	if err != nil || len(mounts) != 1 {
		t.Errorf("mounts at %s after a second ensure: %d, %v; want 1", dir, len(mounts), err)
	}

	// A view left unfinished (no completion mark) is taken down and rebuilt.
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("half", dir, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	if err := ensureHostRoot(dir); err != nil {
		t.Fatal(err)
	}
	check("rebuilt")

	// A complete view of an older version, without a mount point of today's
	// (/alloc came later), is rebuilt too: a mount there would otherwise need a
	// view of its own for every task.
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("old", dir, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, hostRootComplete), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	for _, p := range containerMountPoints {
		if p == "alloc" {
			continue // what the older version lacked
		}
		if err := os.Mkdir(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := ensureHostRoot(dir); err != nil {
		t.Fatal(err)
	}
	check("rebuilt from an older version's")
}
