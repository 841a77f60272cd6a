package exec

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/sys/user"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Docker's default capability set without CAP_NET_RAW (as Podman does): no raw
// sockets, so a task cannot spoof packets on a shared network.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// Host files an exec task must never read, even as root in the container.
var execMaskedPaths = []string{"/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers", "/root"}

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// launch is what Start hands libcontainer: the container config and its first process.
type launch struct {
	config  *configs.Config
	process *libcontainer.Process
	uid     int
	gid     int
}

// buildLaunch turns a task into a libcontainer config through a runtime-spec (runc's
// own conversion, so that masked paths, devices and mount options match `runc run`).
func (d *Driver) buildLaunch(s *TaskSpec, rootfs, lookupRoot, taskDir string, img *ImageConfig) (*launch, error) {
	spec := d.runtimeSpec(s, rootfs, taskDir)
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName: s.ID,
		Spec:       spec,
	})
	if err != nil {
		return nil, fmt.Errorf("task %q: building container config: %w", s.ID, err)
	}
	// When the peer dies its containers live on: Recover reattaches.
	cfg.ParentDeathSignal = 0

	args, err := argv(s, img)
	if err != nil {
		return nil, err
	}
	passwd, group := filepath.Join(lookupRoot, "etc/passwd"), filepath.Join(lookupRoot, "etc/group")
	userSpec := s.User
	if userSpec == "" && img != nil {
		userSpec = img.User
	}
	if userSpec == "" && s.Kind == KindExec {
		userSpec = "nobody"
	}
	execUser, err := user.GetExecUserPath(userSpec, &user.ExecUser{}, passwd, group)
	if err != nil {
		where := "the image's /etc/passwd and /etc/group"
		if s.Kind == KindExec {
			where = "the host's /etc/passwd and /etc/group"
		}
		return nil, fmt.Errorf("task %q: user %q: %w (looked up in %s)", s.ID, userSpec, err, where)
	}
	cwd := s.WorkDir
	if cwd == "" && img != nil {
		cwd = img.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	return &launch{
		config: cfg,
		process: &libcontainer.Process{
			Args:             args,
			Env:              environment(s, img),
			Cwd:              cwd,
			UID:              execUser.Uid,
			GID:              execUser.Gid,
			AdditionalGroups: execUser.Sgids,
			Init:             true,
		},
		uid: execUser.Uid,
		gid: execUser.Gid,
	}, nil
}

// runtimeSpec is the OCI runtime spec of a task (without its process, which
// libcontainer takes separately): runc's example spec with our isolation defaults.
func (d *Driver) runtimeSpec(s *TaskSpec, rootfs, taskDir string) *specs.Spec {
	spec := specconv.Example()
	spec.Root = &specs.Root{Path: rootfs, Readonly: s.ReadOnlyRoot || s.Kind == KindExec}
	spec.Process.Terminal = false
	caps, _ := Capabilities(s.CapAdd, s.CapDrop, d.cfg.AllowCaps) // checked by Start
	spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Permitted: caps, Effective: caps}
	spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 65536}}
	spec.Hostname = s.hostname()
	// cgroup v1 would mount the host's whole hierarchy read-only: leave it out.
	spec.Mounts = dropMount(spec.Mounts, "/sys/fs/cgroup")
	spec.Mounts = append(spec.Mounts,
		bindMount(filepath.Join(taskDir, "local"), "/local", "rw", "nosuid", "nodev"),
		bindMount(filepath.Join(taskDir, "secrets"), "/secrets", "rw", "nosuid", "nodev", "noexec"),
		bindMount(filepath.Join(taskDir, "tmp"), "/tmp", "rw", "nosuid", "nodev"),
	)
	spec.Mounts = append(spec.Mounts, volumeMounts(s.Mounts)...)
	if s.HostNetwork || s.NetNS != "" {
		spec.Linux.Namespaces = dropNamespace(spec.Linux.Namespaces, specs.NetworkNamespace)
		if s.NetNS != "" {
			spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: s.NetNS})
		}
		if s.Kind == KindContainer && !s.ReadOnlyRoot {
			spec.Mounts = append(spec.Mounts, bindMount("/etc/resolv.conf", "/etc/resolv.conf", "ro"))
			if s.NetNS == "" { // an allocation's namespace has hosts of its own (etcNames)
				spec.Mounts = append(spec.Mounts, bindMount("/etc/hosts", "/etc/hosts", "ro"))
			}
		}
	}
	for _, name := range s.etcNames() {
		spec.Mounts = append(dropMount(spec.Mounts, "/etc/"+name), bindMount(filepath.Join(taskDir, name), "/etc/"+name, "ro"))
	}
	if s.Kind == KindExec {
		// The host's root, read-only: hide the driver's own data (other tasks'
		// overlays and logs, container state) and the host's secrets.
		spec.Linux.MaskedPaths = append(spec.Linux.MaskedPaths, d.cfg.DataDir, d.cfg.stateDir())
		spec.Linux.MaskedPaths = append(spec.Linux.MaskedPaths, execMaskedPaths...)
	}
	if d.seccomp {
		spec.Linux.Seccomp = defaultSeccomp()
	}
	spec.Linux.Resources = d.resources(s)
	spec.Linux.CgroupsPath = d.cgroupPath(s.ID)

	return spec
}

// resources maps the task's limits to cgroup settings.
func (d *Driver) resources(s *TaskSpec) *specs.LinuxResources {
	r := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
	}
	pids := s.PidsLimit
	if pids == 0 {
		pids = d.cfg.DefaultPidsLimit
	}
	r.Pids = &specs.LinuxPids{Limit: &pids}
	if shares := cpuShares(s.CPUMHz); shares > 0 {
		r.CPU = &specs.LinuxCPU{Shares: &shares}
	}
	if s.MemoryMB > 0 {
		limit := int64(s.MemoryMB) << 20
		r.Memory = &specs.LinuxMemory{Limit: &limit}
		if s.MemoryMaxMB > s.MemoryMB {
			hard := int64(s.MemoryMaxMB) << 20
			r.Memory.Limit = &hard
			r.Memory.Reservation = &limit
		}
		if d.swapLimit {
			// No swap beyond the memory limit (as Nomad): a task over its limit is
			// OOM-killed rather than swapped out.
			r.Memory.Swap = r.Memory.Limit
		}
	}
	return r
}

// argv is the process's command line: the entrypoint, then the command and its args.
func argv(s *TaskSpec, img *ImageConfig) ([]string, error) {
	if s.Kind == KindExec {
		return append([]string{s.Command}, s.Args...), nil
	}
	entry := s.Entrypoint
	if entry == nil && img != nil {
		entry = img.Entrypoint
	}
	var cmd []string
	switch {
	case s.Command != "":
		cmd = append([]string{s.Command}, s.Args...)
	case len(s.Args) > 0:
		cmd = s.Args
	case img != nil:
		cmd = img.Cmd
	}
	args := append(append([]string{}, entry...), cmd...)
	if len(args) == 0 {
		return nil, fmt.Errorf("task %q: command: empty, and image %q has no ENTRYPOINT or CMD: set command", s.ID, s.Image)
	}
	return args, nil
}

// environment merges PATH, the image's env and the task's env (the task wins).
func environment(s *TaskSpec, img *ImageConfig) []string {
	env := map[string]string{}
	add := func(kv string) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	add(defaultPath)
	if img != nil {
		for _, kv := range img.Env {
			add(kv)
		}
	}
	if _, ok := env["HOME"]; !ok {
		env["HOME"] = "/"
	}
	for k, v := range s.Env {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func bindMount(src, dst string, opts ...string) specs.Mount {
	return specs.Mount{Source: src, Destination: dst, Type: "bind", Options: append([]string{"rbind"}, opts...)}
}

func dropMount(ms []specs.Mount, dst string) []specs.Mount {
	out := ms[:0]
	for _, m := range ms {
		if m.Destination != dst {
			out = append(out, m)
		}
	}
	return out
}

func dropNamespace(ns []specs.LinuxNamespace, t specs.LinuxNamespaceType) []specs.LinuxNamespace {
	out := ns[:0]
	for _, n := range ns {
		if n.Type != t {
			out = append(out, n)
		}
	}
	return out
}
