package exec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// The exec kind's root filesystem is a read-only view of the host's root, built once
// per host at HostRootDir and shared by every driver (and peer) on it: a small
// read-only tmpfs holding, for each top-level entry of the host's /, the same
// symlink, or a directory with the host's directory bound read-only (nosuid, nodev)
// and non-recursively onto it. The container's own mount points (/proc, /sys, /dev,
// /tmp, /run, /local, /secrets, and /alloc for a scheduler's shared allocation
// directory) are empty directories of the tmpfs, so nothing has
// to be created in the host's root and a fresh host needs nothing prepared. Nothing
// is copied or linked: an exec task starts as fast as a container.
//
// Which host directories are seen: those on the root filesystem, as a bind of "/"
// would show them, and the standard system directories (hostSystemDirs) where they
// are filesystems of their own (/usr on some distributions). Other filesystems
// mounted at the top level (a /home or /data disk) appear as empty directories,
// and nothing mounted below a top-level directory is brought along.
//
// The view lives outside any data dir so that no `rm -rf` of a data dir walks into
// the host's root, and it stays mounted when peers exit (others may share it).
// Earlier versions used /run/shoal/hostfs, a plain bind of "/": that path is left
// alone.
const HostRootDir = "/run/shoal/hostroot"

var hostSystemDirs = []string{"/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/opt"}

// containerMountPoints are the view's own empty directories, never host binds. A
// mount there needs no view of its own (execMountPoints).
var containerMountPoints = []string{"proc", "sys", "dev", "tmp", "run", "local", "secrets", "alloc"}

// hostRootComplete marks a finished view: one found without it (a peer died while
// building it) is taken down and built again.
const hostRootComplete = ".shoal-hostroot"

var hostRootMu sync.Mutex // serialises the check-then-build of drivers in one process

// hostRoot makes sure the host's root view is at HostRootDir and returns the path.
func (d *Driver) hostRoot() (string, error) {
	d.hostOnce.Do(func() { d.hostErr = ensureHostRoot(HostRootDir) })
	return HostRootDir, d.hostErr
}

// ensureHostRoot builds the view at dir unless a complete one is there. Peers on
// one host serialise on a lock file beside it.
func ensureHostRoot(dir string) error {
	hostRootMu.Lock()
	defer hostRootMu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("locking %s: %w", lock.Name(), err)
	}
	if mounted, _ := mountinfo.Mounted(dir); mounted {
		if hostRootCurrent(dir) {
			return nil // another driver or an earlier peer process built it
		}
		// Unfinished, or built by an older version without a mount point of
		// today's. Tasks already running in it keep it (their mount namespaces
		// hold it); new ones get the new view.
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("taking down the unfinished or outdated host root view at %s: %w", dir, err)
		}
	}
	if err := buildHostRoot(dir, nil, nil); err != nil {
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		return fmt.Errorf("building the exec driver's read-only view of the host root at %s: %w", dir, err)
	}
	return nil
}

// hostRootCurrent reports whether the view at dir is complete and has every mount
// point of containerMountPoints.
func hostRootCurrent(dir string) bool {
	for _, name := range append([]string{hostRootComplete}, containerMountPoints...) {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// buildHostRoot builds the view at dir. An exec task with mounts that need
// directories of their own gets a view of its own (see execMountPoints): the
// top-level names in unbound are then empty directories instead of the host's, and
// mkdirs (relative to dir) are created before the view turns read-only.
func buildHostRoot(dir string, unbound map[string]bool, mkdirs []string) error {
	if err := unix.Mount("shoal-hostroot", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=1m"); err != nil {
		return err
	}
	// Private, so that the binds below neither leak to nor receive from the host's
	// mounts, whatever the propagation of /run.
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	entries, err := os.ReadDir("/")
	if err != nil {
		return err
	}
	for _, e := range entries {
		src, dst := "/"+e.Name(), filepath.Join(dir, e.Name())
		switch {
		case e.Type()&fs.ModeSymlink != 0: // /bin -> usr/bin on merged-/usr systems
			target, err := os.Readlink(src)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, dst); err != nil {
				return err
			}
		case e.IsDir():
			info, err := e.Info()
			if err != nil {
				return err
			}
			if err := os.Mkdir(dst, info.Mode().Perm()); err != nil {
				return err
			}
			if slices.Contains(containerMountPoints, e.Name()) || unbound[e.Name()] {
				continue
			}
			if separate, _ := mountinfo.Mounted(src); separate && !slices.Contains(hostSystemDirs, src) {
				continue
			}
			if err := bindReadOnly(src, dst); err != nil {
				return err
			}
		}
	}
	for _, name := range containerMountPoints {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	for _, rel := range mkdirs {
		if err := os.MkdirAll(filepath.Join(dir, rel), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, hostRootComplete), nil, 0o444); err != nil {
		return err
	}
	return unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=1m")
}

// bindReadOnly binds src at dst, non-recursively, read-only, nosuid and nodev.
func bindReadOnly(src, dst string) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding %s: %w", src, err)
	}
	if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("making %s read-only: %w", dst, err)
	}
	return nil
}

// Close releases what the driver holds. Running tasks are not touched and keep
// working; a later New and Recover reattach to them. The host-wide HostRootDir view
// stays (other drivers share it). Idempotent.
func (d *Driver) Close() error { return nil }
