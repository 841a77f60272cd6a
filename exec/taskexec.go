package exec

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/utils"
	"golang.org/x/sys/unix"
)

// Exec runs a command inside a running task's container, as `docker exec` and
// `nomad alloc exec` do: in the task's namespaces and cgroup, under its seccomp
// profile and capabilities, as the user the task runs as and with its environment
// (both read from the task's first process), in the working directory of the task's
// first process (its work_dir, or the image's, unless it changed directory). It
// copies stdin to the command (closing the command's stdin when stdin ends) and the
// command's output to stdout and stderr, and returns the command's exit code
// (128+signal when a signal killed it) once it exits and its output is copied. When
// ctx ends the command is killed.
func (t *Task) Exec(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	p, err := t.execProcess(args)
	if err != nil {
		return -1, err
	}
	// The command's ends of three pipes; ours are copied by goroutines that Exec waits
	// for, bounded, so that a process the command left behind holding them cannot
	// keep Exec from returning.
	var (
		theirs, ours []*os.File
		copies       sync.WaitGroup
	)
	defer func() {
		for _, f := range append(theirs, ours...) {
			f.Close()
		}
	}()
	inR, inW, err := os.Pipe()
	if err != nil {
		return -1, err
	}
	theirs, ours = append(theirs, inR), append(ours, inW)
	outs := []io.Writer{stdout, stderr}
	var cmdOut [2]*os.File
	for i := range outs {
		r, w, err := os.Pipe()
		if err != nil {
			return -1, err
		}
		theirs, ours = append(theirs, w), append(ours, r)
		cmdOut[i] = w
		copies.Add(1)
		go func() { defer copies.Done(); io.Copy(outs[i], r) }()
	}
	p.Stdin, p.Stdout, p.Stderr = inR, cmdOut[0], cmdOut[1]
	err = t.container.Run(p)
	// The command holds its ends now (or never will).
	for _, f := range theirs {
		f.Close()
	}
	theirs = nil
	if err != nil {
		copies.Wait() // before returning: the copiers write to the caller's writers
		return -1, fmt.Errorf("exec %q in task %q: %w", args[0], t.meta.ID, err)
	}
	go func() {
		if stdin != nil {
			io.Copy(inW, stdin)
		}
		inW.Close()
	}()
	return t.waitExec(ctx, p, args, &copies, ours[1:])
}

// TermSize is the size of a terminal, in characters.
type TermSize struct{ Height, Width uint16 }

// ExecTerminal runs a command inside a running task as Exec does, but on a new
// terminal (a pty allocated inside the container, its controlling terminal) of the
// given size, as `docker exec -t` and `nomad alloc exec -t` do: stdin is typed into
// the terminal (its end closes nothing: the command decides when to exit), what the
// command writes to the terminal (stdout and stderr alike, with the terminal's line
// discipline applied) goes to out, and each size received from resize resizes the
// terminal (the command gets SIGWINCH). A zero size leaves the kernel's default
// (0x0). ExecTerminal returns the command's exit code once it exits and its output
// is copied; when ctx ends the command is killed. resize may be nil; ExecTerminal
// stops reading it when it returns.
func (t *Task) ExecTerminal(ctx context.Context, args []string, size TermSize, resize <-chan TermSize, stdin io.Reader, out io.Writer) (int, error) {
	p, err := t.execProcess(args)
	if err != nil {
		return -1, err
	}
	// libcontainer allocates the pty inside the container (on its /dev/pts) and
	// sends the master back over this socket pair, as `runc exec -t` receives it.
	ours, theirs, err := utils.NewSockPair("console")
	if err != nil {
		return -1, err
	}
	defer ours.Close()
	p.ConsoleSocket, p.ConsoleHeight, p.ConsoleWidth = theirs, size.Height, size.Width
	err = t.container.Run(p)
	theirs.Close()
	if err != nil {
		return -1, fmt.Errorf("exec %q in task %q: %w", args[0], t.meta.ID, err)
	}
	master, err := recvFile(ours)
	if err != nil {
		p.Signal(unix.SIGKILL)
		p.Wait()
		return -1, fmt.Errorf("exec %q in task %q: receiving its terminal: %w", args[0], t.meta.ID, err)
	}
	defer master.Close()
	var copies sync.WaitGroup
	copies.Add(1)
	go func() { defer copies.Done(); io.Copy(out, master) }() // ends with EIO once no process holds the terminal
	if stdin != nil {
		go io.Copy(master, stdin)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case s, ok := <-resize:
				if !ok {
					return
				}
				setSize(master, s)
			case <-stop:
				return
			}
		}
	}()
	return t.waitExec(ctx, p, args, &copies, []*os.File{master})
}

// execProcess is the process of a command to run in the task: as the task's user,
// with its environment, in its working directory.
func (t *Task) execProcess(args []string) (*libcontainer.Process, error) {
	select {
	case <-t.exited:
		return nil, fmt.Errorf("exec in task %q: %w", t.meta.ID, libcontainer.ErrNotRunning)
	default:
	}
	if len(args) == 0 || args[0] == "" {
		return nil, errors.New("exec: no command")
	}
	id, err := processIdentity(t.pid)
	if err != nil {
		return nil, fmt.Errorf("exec in task %q: reading the task's user, environment and directory: %w", t.meta.ID, err)
	}
	return &libcontainer.Process{
		Args: args, Env: id.env, Cwd: id.cwd,
		UID: id.uid, GID: id.gid, AdditionalGroups: id.groups,
	}, nil
}

// waitExec waits for an exec'd command to exit, killing it when ctx ends, then for
// its output to be copied (copies), closing outputs (our ends of its output) when a
// process it left behind keeps them open for more than a second.
func (t *Task) waitExec(ctx context.Context, p *libcontainer.Process, args []string, copies *sync.WaitGroup, outputs []*os.File) (int, error) {
	killed := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			p.Signal(unix.SIGKILL)
		case <-killed:
		}
	}()
	ps, err := p.Wait()
	close(killed)
	done := make(chan struct{})
	go func() { copies.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second): // a background process of the command holds its output
		for _, f := range outputs {
			f.Close()
		}
		<-done
	}
	if ps == nil {
		return -1, fmt.Errorf("exec %q in task %q: %w", args[0], t.meta.ID, err)
	}
	ws, _ := ps.Sys().(syscall.WaitStatus)
	return fromWaitStatus(ws).ExitCode, nil
}

// recvFile receives one file descriptor sent over a unix socket with SCM_RIGHTS,
// as libcontainer sends a terminal's master (runc's utils.RecvFile, deprecated
// there and moved to an internal package).
func recvFile(socket *os.File) (*os.File, error) {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(socket.Fd()), name, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("got %d control messages, want 1", len(msgs))
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil, err
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("got %d file descriptors, want 1", len(fds))
	}
	// Non-blocking, so that the runtime's poller reads it and Close ends a read.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, err
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}

// setSize resizes the terminal whose master is f.
func setSize(f *os.File, s TermSize) error {
	rc, err := f.SyscallConn() // not f.Fd(), which would make f blocking
	if err != nil {
		return err
	}
	cerr := rc.Control(func(fd uintptr) {
		err = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: s.Height, Col: s.Width})
	})
	return errors.Join(cerr, err)
}

// identity is who a process runs as, its environment and its working directory.
type identity struct {
	uid, gid int
	groups   []int
	env      []string
	cwd      string
}

// processIdentity reads pid's user, group, supplementary groups, environment and
// working directory from /proc.
func processIdentity(pid int) (identity, error) {
	var id identity
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return id, err
	}
	defer f.Close()
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(val)
		switch {
		case key == "Uid" && len(fields) > 0:
			id.uid, err = strconv.Atoi(fields[0])
			found++
		case key == "Gid" && len(fields) > 0:
			id.gid, err = strconv.Atoi(fields[0])
			found++
		case key == "Groups":
			for _, g := range fields {
				n, gerr := strconv.Atoi(g)
				if gerr != nil {
					return id, gerr
				}
				id.groups = append(id.groups, n)
			}
		}
		if err != nil {
			return id, err
		}
	}
	if found != 2 {
		return id, fmt.Errorf("/proc/%d/status has no Uid or Gid line", pid)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return id, err
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if kv != "" {
			id.env = append(id.env, kv)
		}
	}
	// The link reads as the path inside the process's root: the container's root
	// is its mount namespace's root.
	id.cwd, err = os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd")
	return id, err
}
