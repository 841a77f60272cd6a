package exec

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// sealInitFile writes the init binary read from r to dir/bin/shoal-init and returns a
// handle to it through a private, read-only overlayfs of that directory, the way
// libcontainer protects its own binary (exeseal.CloneSelfExe, CVE-2019-5736): an
// overlay with lower directories only has no upper layer to write to, and cannot be
// remounted read-write by a container that reaches the file through /proc/<pid>/exe
// of an init. Against a sealed memfd it saves the init's size in shared memory (4.7
// MB): the page cache holds the file, and may reclaim it.
func sealInitFile(r io.Reader, dir string) (*os.File, error) {
	bin, empty := filepath.Join(dir, "bin"), filepath.Join(dir, "empty")
	for _, d := range []string{bin, empty} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	// Only root may write here: the file is exec'ed as root in every container.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	tmp := filepath.Join(bin, initName+".new")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o500)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(bin, initName))
	}
	if err != nil {
		os.Remove(tmp)
		return nil, err
	}

	ctx, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("fsopen overlay", err)
	}
	defer unix.Close(ctx)
	// Two lower directories and no upper one: overlayfs's read-only mode. The
	// binary's directory goes first, so that nothing in the other can mask it.
	lower := escapeLowerDir(bin) + ":" + escapeLowerDir(empty)
	if err := unix.FsconfigSetString(ctx, "lowerdir", lower); err != nil {
		return nil, fmt.Errorf("overlayfs lowerdir=%s: %w", lower, err)
	}
	_ = unix.FsconfigSetString(ctx, "xino", "off") // only quiets dmesg where it would turn on
	if err := unix.FsconfigCreate(ctx); err != nil {
		return nil, os.NewSyscallError("fsconfig create overlay", err)
	}
	mnt, err := unix.Fsmount(ctx, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return nil, os.NewSyscallError("fsmount overlay", err)
	}
	defer unix.Close(mnt)
	fd, err := unix.Openat(mnt, initName, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s through the sealing overlay: %w", initName, err)
	}
	return os.NewFile(uintptr(fd), "/"+initName), nil
}

// initName is the init's file name in both sealed forms: the redirect checks it.
const initName = "shoal-init"

// escapeLowerDir escapes the characters overlayfs's lowerdir option gives meaning to.
func escapeLowerDir(path string) string {
	return strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(path)
}
