package exec

import (
	"fmt"
	"os"
	"sync"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// The exec kind's root filesystem is the host's own root, bound read-only and
// non-recursively at HostRootDir: pivot_root cannot enter "/" itself, and a
// non-recursive bind brings none of the host's /proc, /sys, /dev or other mounts
// along. Nothing is copied or linked, so an exec task starts as fast as a container.
// Standard system directories that are separate mounts on this host (/usr on some
// distributions) are bound into each task read-only.
//
// The bind is one per host, shared by every driver (and peer) on it, and left
// mounted: it lives outside any data dir so that no `rm -rf` of a data dir walks
// into the host's root (it could not delete anything through a read-only mount, but
// it would try every file).
const HostRootDir = "/run/shoal/hostfs"

var hostSystemDirs = []string{"/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/opt"}

var hostRootMu sync.Mutex // serialises the check-then-mount of drivers in one process

// hostRoot makes sure the host's root is bound at HostRootDir and returns the path.
func (d *Driver) hostRoot() (string, error) {
	d.hostOnce.Do(func() { d.hostErr = d.mountHostRoot() })
	return HostRootDir, d.hostErr
}

func (d *Driver) mountHostRoot() error {
	for _, dir := range hostSystemDirs {
		if mounted, _ := mountinfo.Mounted(dir); mounted {
			d.hostSubmounts = append(d.hostSubmounts, bindMount(dir, dir, "ro", "nosuid", "nodev"))
		}
	}
	hostRootMu.Lock()
	defer hostRootMu.Unlock()
	p := HostRootDir
	if err := os.MkdirAll(p, 0o755); err != nil {
		return err
	}
	if mounted, _ := mountinfo.Mounted(p); mounted {
		return nil // another driver or an earlier peer process did it
	}
	if err := unix.Mount("/", p, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding the host's root at %s: %w", p, err)
	}
	if err := unix.Mount("", p, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		_ = unix.Unmount(p, unix.MNT_DETACH)
		return fmt.Errorf("making %s read-only: %w", p, err)
	}
	if err := unix.Mount("", p, "", unix.MS_PRIVATE, ""); err != nil {
		_ = unix.Unmount(p, unix.MNT_DETACH)
		return fmt.Errorf("making %s private: %w", p, err)
	}
	return nil
}

// Close releases what the driver holds. Running tasks are not touched and keep
// working; a later New and Recover reattach to them. The host-wide HostRootDir bind
// stays (other drivers share it). Idempotent.
func (d *Driver) Close() error { return nil }
