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
	"golang.org/x/sys/unix"
)

// Exec runs a command inside a running task's container, as `docker exec` and
// `nomad alloc exec` do: in the task's namespaces and cgroup, under its seccomp
// profile and capabilities, as the user the task runs as and with its environment
// (both read from the task's first process), in "/". It copies stdin to the command
// (closing the command's stdin when stdin ends) and the command's output to stdout and
// stderr, and returns the command's exit code (128+signal when a signal killed it)
// once it exits and its output is copied. When ctx ends the command is killed.
func (t *Task) Exec(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	select {
	case <-t.exited:
		return -1, fmt.Errorf("exec in task %q: %w", t.meta.ID, libcontainer.ErrNotRunning)
	default:
	}
	if len(args) == 0 || args[0] == "" {
		return -1, errors.New("exec: no command")
	}
	id, err := processIdentity(t.pid)
	if err != nil {
		return -1, fmt.Errorf("exec in task %q: reading the task's user and environment: %w", t.meta.ID, err)
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
	p := &libcontainer.Process{
		Args: args, Env: id.env, Cwd: "/",
		UID: id.uid, GID: id.gid, AdditionalGroups: id.groups,
		Stdin: inR, Stdout: cmdOut[0], Stderr: cmdOut[1],
	}
	if err := t.container.Run(p); err != nil {
		for _, f := range theirs {
			f.Close()
		}
		theirs = nil
		copies.Wait() // before returning: the copiers write to the caller's writers
		return -1, fmt.Errorf("exec %q in task %q: %w", args[0], t.meta.ID, err)
	}
	// The command holds its ends now.
	for _, f := range theirs {
		f.Close()
	}
	theirs = nil
	go func() {
		if stdin != nil {
			io.Copy(inW, stdin)
		}
		inW.Close()
	}()
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
		for _, f := range ours[1:] {
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

// identity is who a process runs as, and its environment.
type identity struct {
	uid, gid int
	groups   []int
	env      []string
}

// processIdentity reads pid's user, group, supplementary groups and environment
// from /proc.
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
	return id, nil
}
