package exec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/opencontainers/runc/libcontainer/exeseal"
)

// sealedEnv marks a process that SealSelf has already re-executed, so a failure
// to see the seal (an old kernel) cannot loop.
const sealedEnv = "_SHOAL_SEALED_EXE"

// SealSelf re-executes the running binary from a sealed in-memory copy of itself
// (a memfd with every write seal set), with the same arguments and environment,
// unless it already runs from one. It returns only if it did not re-execute:
// nil when already sealed, an error when sealing is not possible here.
//
// Why: every container's init is this binary, started from /proc/self/exe, and a
// container must never be able to overwrite the binary on the host
// (CVE-2019-5736). When the running binary is not sealed, libcontainer makes a
// protected handle on it for every container start: a read-only overlayfs mount
// (a few ms), or, when overlayfs refuses (for instance when the binary's
// directory contains the state dir or lies inside it), a full copy of the
// binary into memory (~20 ms of CPU per start for the 20 MB peer). Sealing once
// at startup costs one copy and removes both from every start.
//
// Call it first thing in a long-running process that starts containers (after
// the IsInit check), before it starts goroutines that must not be interrupted.
func SealSelf() error {
	if exeseal.IsSelfExeCloned() {
		return nil
	}
	if os.Getenv(sealedEnv) != "" {
		return errors.New("re-executed from a sealed copy, but the kernel does not report the seals")
	}
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("sealing the binary: %w", err)
	}
	defer self.Close()
	st, err := self.Stat()
	if err != nil {
		return fmt.Errorf("sealing the binary: %w", err)
	}
	sealed, err := exeseal.CloneBinary(self, st.Size(), "/proc/self/exe", os.TempDir())
	if err != nil {
		return fmt.Errorf("sealing the binary: %w", err)
	}
	// The copy must survive the exec: clear close-on-exec and run it by fd.
	if _, err := fcntlClearCloexec(sealed.Fd()); err != nil {
		sealed.Close()
		return fmt.Errorf("sealing the binary: %w", err)
	}
	env := append(os.Environ(), sealedEnv+"=1")
	path := "/proc/self/fd/" + strconv.Itoa(int(sealed.Fd()))
	err = syscall.Exec(path, os.Args, env)
	sealed.Close()
	return fmt.Errorf("re-executing the sealed binary: %w", err)
}

// SealNeeded reports whether containers started with c would make libcontainer copy
// the whole running binary for every start, and says why: overlayfs, which
// libcontainer uses to protect the binary cheaply, refuses when the binary's
// directory contains the state dir or lies inside it (e.g. `./peer run -data-dir
// ./data`). SealSelf once at startup avoids that copy.
func (c Config) SealNeeded() (why string, needed bool) {
	if exeseal.IsSelfExeCloned() {
		return "", false
	}
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return "", false
	}
	state, err := filepath.Abs(c.stateDir())
	if err != nil {
		return "", false
	}
	if !overlaps(filepath.Dir(exe), state) {
		return "", false
	}
	return fmt.Sprintf("the binary's directory %s and the container state dir %s overlap", filepath.Dir(exe), state), true
}

// overlaps reports whether one of two clean absolute paths is the other or lies
// inside it.
func overlaps(a, b string) bool {
	within := func(x, dir string) bool { return x == dir || dir == "/" || strings.HasPrefix(x, dir+"/") }
	return within(a, b) || within(b, a)
}

func fcntlClearCloexec(fd uintptr) (uintptr, error) {
	flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFD, 0)
	if errno != 0 {
		return 0, errno
	}
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETFD, flags&^syscall.FD_CLOEXEC)
	if errno != 0 {
		return 0, errno
	}
	return r, nil
}
