package exec

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// The exec kind's root filesystem is the host's own root, bound once per driver,
// read-only and non-recursively, at <DataDir>/hostfs: pivot_root cannot enter "/"
// itself, and a non-recursive bind brings none of the host's /proc, /sys, /dev or
// other mounts along. Nothing is copied or linked, so an exec task starts as fast as
// a container. Standard system directories that are separate mounts on this host
// (/usr on some distributions) are bound into each task read-only.

var hostSystemDirs = []string{"/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/opt"}

func (d *Driver) hostfsPath() string { return filepath.Join(d.cfg.DataDir, "hostfs") }

// hostRoot mounts the host's root at hostfsPath once and returns the path.
func (d *Driver) hostRoot() (string, error) {
	d.hostOnce.Do(func() { d.hostErr = d.mountHostRoot() })
	return d.hostfsPath(), d.hostErr
}

func (d *Driver) mountHostRoot() error {
	for _, dir := range hostSystemDirs {
		if mounted, _ := mountinfo.Mounted(dir); mounted {
			d.hostSubmounts = append(d.hostSubmounts, bindMount(dir, dir, "ro", "nosuid", "nodev"))
		}
	}
	p := d.hostfsPath()
	if err := os.MkdirAll(p, 0o755); err != nil {
		return err
	}
	if mounted, _ := mountinfo.Mounted(p); mounted {
		return nil // left by a previous peer process: reuse it
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

// Close releases what the driver holds on the host for all tasks (the exec kind's
// read-only view of the host root). Running tasks are not touched and keep working;
// a later New and Recover reattach to them. Call it when the peer shuts down.
// Idempotent; not safe to call concurrently with Start.
func (d *Driver) Close() error {
	p := d.hostfsPath()
	if mounted, _ := mountinfo.Mounted(p); !mounted {
		return nil
	}
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("exec: unmounting %s: %w", p, err)
	}
	return os.Remove(p)
}
