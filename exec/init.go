package exec

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/runc/libcontainer/exeseal"
	"golang.org/x/sys/unix"

	"github.com/shoal-sched/shoal/exec/containerinit"
)

// InitArg is the argument libcontainer starts the binary with (/proc/self/exe init)
// to become a container's init.
const InitArg = containerinit.Arg

// Init is the container-side entry point: a binary that uses Driver must call it
// when started as `<binary> init`, before doing anything else (no flag parsing, no
// goroutines), e.g. first thing in main:
//
//	if exec.IsInit() { exec.Init() }
//
// It never returns: it sets up the container and execs the task's command. With an
// init attached to the binary (UseAttachedInit), containers run that instead, and
// this is the fallback.
func Init() {
	containerinit.Run()
}

// IsInit reports whether this process was started by libcontainer as a container's
// init: `<binary> init` with libcontainer's pipes in its environment. A person typing
// `peer init` gets false (and the CLI's own answer).
func IsInit() bool {
	return containerinit.Is()
}

// UseAttachedInit makes the containers this process starts from now on run the init
// attached to its binary (cmd/shoal-init, which `make build` attaches) instead of
// the binary itself: libcontainer still starts the binary, and the redirect in
// initredirect.go hands over to the small init before the binary's Go runtime starts.
// The init is written to dir (created, root only) and kept sealed by a read-only
// overlayfs; where that fails, or dir is "", in a sealed memfd (4.7 MB of shared
// memory). It returns ErrNotAttached for a binary that carries no init, and an error
// for an init of another build (another libcontainer, other build tags), which would
// not speak the binary's protocol; containers then keep the binary as their init.
// Call it once, at startup, before starting containers.
func UseAttachedInit(dir string) error {
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return err
	}
	defer self.Close()
	in, err := containerinit.Attached(self)
	if err != nil {
		return err
	}
	ours, ok := debug.ReadBuildInfo()
	if !ok {
		return errors.New("the running binary has no build information to check its attached init against")
	}
	if err := sameBuild(in, ours); err != nil {
		return err
	}
	if dir != "" {
		f, err := sealInitFile(in, dir)
		if err == nil {
			defer f.Close()
			return keepInit(f)
		}
		if _, serr := in.Seek(0, io.SeekStart); serr != nil {
			return errors.Join(err, serr)
		}
	}
	return useInit(in, in.Size())
}

// ErrNotAttached is returned by UseAttachedInit for a binary that carries no init.
var ErrNotAttached = containerinit.ErrNotAttached

// sameBuild checks that the init was built with the same Go and build tags as the
// binary whose build information is ours, from the same versions of the modules
// they share.
func sameBuild(init io.ReaderAt, ours *debug.BuildInfo) error {
	theirs, err := buildinfo.Read(init)
	if err != nil {
		return fmt.Errorf("the attached container init: %w", err)
	}
	if theirs.GoVersion != ours.GoVersion {
		return fmt.Errorf("the attached container init was built with %s, this binary with %s", theirs.GoVersion, ours.GoVersion)
	}
	if a, b := setting(theirs, "-tags"), setting(ours, "-tags"); a != b {
		return fmt.Errorf("the attached container init was built with tags %q, this binary with %q", a, b)
	}
	for _, m := range theirs.Deps {
		i := slices.IndexFunc(ours.Deps, func(o *debug.Module) bool { return o.Path == m.Path })
		if i < 0 || ours.Deps[i].Version != m.Version || ours.Deps[i].Sum != m.Sum {
			return fmt.Errorf("the attached container init was built with %s %s, which this binary does not link at that version", m.Path, m.Version)
		}
	}
	return nil
}

func setting(bi *debug.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// keepsInit reports whether initFD holds a sealed container init (keepInit).
func keepsInit() bool {
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(initFD))
	return err == nil && (target == "/"+initName || strings.HasPrefix(target, "/memfd:runc_cloned:"+initName))
}

// useInit seals a copy of the init binary read from r (size bytes) in memory, as
// libcontainer seals its own copies when it cannot use an overlay, and keeps it.
func useInit(r io.Reader, size int64) error {
	f, err := exeseal.CloneBinary(r, size, initName, os.TempDir())
	if err != nil {
		return fmt.Errorf("sealing the container init: %w", err)
	}
	defer f.Close()
	return keepInit(f)
}

// keepInit keeps the sealed init f at initFD, where the redirect looks for it.
func keepInit(f *os.File) error {
	if flags, err := unix.FcntlInt(initFD, unix.F_GETFD, 0); err == nil && !keepsInit() {
		return fmt.Errorf("keeping the container init at fd %d: the fd is in use (flags %#x)", initFD, flags)
	}
	if err := unix.Dup3(int(f.Fd()), initFD, unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("keeping the container init at fd %d: %w", initFD, err)
	}
	return nil
}
