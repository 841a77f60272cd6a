// Package exec runs one task as one container, directly with runc's libcontainer: it
// prepares root filesystems from OCI images (or the host's, for the exec kind), starts,
// signals, stops, waits for and destroys containers, reads their stats and logs, and
// reattaches to running containers after the peer restarts.
//
// It imports no package of ours and knows nothing of jobs, allocations or the cluster.
//
// # Use
//
//	// First thing in main: the binary is also the container init.
//	if exec.IsInit() { exec.Init() }
//	// At startup: containers boot the small init attached to the binary
//	// (cmd/shoal-init; ErrNotAttached if there is none: the binary is the init).
//	err := exec.UseAttachedInit()
//
//	cfg := exec.DefaultConfig()
//	cfg.DataDir = "/var/lib/shoal/exec"
//	d, err := exec.New(cfg)           // makes the process a child subreaper
//	tasks, err := d.Recover()          // containers left by a previous peer process
//	info, err := d.PrepareImage(ctx, "registry.example/app:1") // optional: Start does it too
//	t, err := d.Start(ctx, exec.TaskSpec{ID: allocID + "-web", Kind: exec.KindContainer, Image: ref, ...})
//	res, err := t.Wait(ctx)            // ExitResult{ExitCode, Signal, OOMKilled, Unknown}
//	err = t.Stop(ctx)                  // kill signal, then SIGKILL after the kill timeout
//	st, err := t.Stats()               // CPU, memory, pids from the cgroup
//	rc, err := d.Logs(id, exec.Stdout, follow)
//	code, err := t.Exec(ctx, []string{"ps"}, stdin, stdout, stderr) // a command inside the running task
//	code, err = t.ExecTerminal(ctx, []string{"sh"}, exec.TermSize{Height: 24, Width: 80}, resize, stdin, out) // on a pty
//	err = t.Destroy()                  // cgroups, state, overlay, task dir: all gone
//	err = t.DestroyKeepDir()           // the same, but local/, secrets/ and logs stay for a restart
//	err = d.RemoveTask(id)             // a task, or the directory a restart never came back to
//	removed, err := d.GCImages()       // unpacked images no task uses
//	err = d.Close()                    // at shutdown; tasks keep running (nothing to release yet)
//
// # Layout
//
//	DataDir/images/<alg>-<digest>/rootfs   an image's layers flattened once (whiteouts applied), shared read-only
//	DataDir/images/<alg>-<digest>/image.json
//	DataDir/tasks/<id>/{local,secrets,tmp} bound at /local, /secrets, /tmp in the container; TaskSpec.Stage's
//	                                       local/ and secrets/ (artifacts) are moved in, then Files written
//	DataDir/tasks/<id>/logs/stdout[.N]     rotated output (stderr alike)
//	DataDir/tasks/<id>/{upper,work,rootfs} the task's overlay (container kind, unless ReadOnlyRoot without Mounts)
//	DataDir/tasks/<id>/rootfs              an exec task's own view of the host's /, when its Mounts need
//	                                       directories the shared view lacks (see execMountPoints)
//	/run/shoal/hostroot (HostRootDir)      the exec kind's root: a read-only view of the host's /
//	                                       (a tmpfs of read-only binds), one per host, shared, left mounted
//	StateDir/<id>/                         libcontainer's state (state.json, with the task's metadata
//	                                       as a label) and the task's stdout.fifo, stderr.fifo;
//	                                       StateDir defaults to DataDir/state; on tmpfs is better
//
// # Isolation
//
// Every task gets new pid, mount, uts, ipc and network namespaces (a network namespace
// with only loopback unless TaskSpec.HostNetwork), its own cgroup under the peer's own
// cgroup (Config.CgroupParent/<id>; v1 and v2), memory limit and reservation (no swap
// beyond the limit where the kernel accounts swap), CPU
// shares and a pids limit; Docker's default capabilities without CAP_NET_RAW;
// no_new_privs; runc's masked and read-only /proc and /sys paths; RLIMIT_NOFILE
// 1024/65536; a seccomp deny list (mount, kexec, modules, bpf, perf, keyrings,
// ptrace, namespaces, ...) when built with the `seccomp` tag (SeccompAvailable). The
// exec kind runs the host's root read-only, with the driver's data dir, /root and
// the shadow files masked, as user nobody unless TaskSpec.User says otherwise.
//
// # The container init
//
// libcontainer starts the running binary (`<binary> init`) as every container's init.
// A peer's binary carries cmd/shoal-init attached to its end, a binary of libcontainer's
// init alone; UseAttachedInit writes it out and keeps it sealed (a read-only overlayfs
// of its directory, or a sealed memfd) at a known descriptor, and a C constructor of this package (initredirect.go), running before
// the binary's Go runtime in the process libcontainer started, execs that copy in its
// place: the container boots a 4.8 MB init instead of the whole peer (5-6 ms less a
// start). Anything unexpected leaves the binary to be its own init.
//
// # Logs and restarts
//
// The container writes to a FIFO it holds read-write, and the peer copies it into
// size-rotated files. While the peer is down, output waits in the pipe (writers block
// once 64 KiB are pending) and the restarted peer carries on copying; only output
// still in the pipe when a task exits while the peer is down is lost.
//
// After a restart the exit status of a task is known only if this process adopted its
// process (as child subreaper); otherwise ExitResult.Unknown is set. OOM kills are
// always read from the cgroup.
package exec
