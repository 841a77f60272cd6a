package exec

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"
)

// Task kinds.
const (
	KindContainer = "container" // rootfs from an OCI image, an overlay per task
	KindExec      = "exec"      // the host's filesystem, read-only, with private /tmp, /dev, /proc
)

// Limits on what a TaskSpec may ask for.
const (
	minMemoryMB = 8       // below this the container's own init cannot start
	maxMemoryMB = 1 << 24 // 16 TiB: anything above is a unit mistake
	maxCPUMHz   = 1 << 20 // 1 THz
	maxPids     = 1 << 22 // the kernel's pid_max ceiling
	maxKillWait = 24 * time.Hour
)

// TaskSpec is everything the driver needs to run one task. The driver does not keep
// a reference to it: callers may reuse it after Start returns.
type TaskSpec struct {
	ID           string            // unique on this peer, e.g. "<alloc id>-<task>"; [A-Za-z0-9_+.-]
	Kind         string            // KindContainer or KindExec
	Image        string            // container kind: registry ref, "oci:/dir[:tag]" or "docker-archive:/file.tar"
	Command      string            // replaces the image's CMD (container) or the program to run (exec)
	Args         []string          // appended to Command (or replace the image's CMD when Command is empty)
	Entrypoint   []string          // replaces the image's ENTRYPOINT
	Env          map[string]string // added to (and overriding) the image's environment
	WorkDir      string            // default: the image's WorkingDir, else /
	User         string            // "name", "uid", "uid:gid" or "name:group"; exec default "nobody"
	CPUMHz       int               // CPU shares: 1024 per 1000 MHz, at least 2; 0 = unset
	MemoryMB     int               // hard limit, or the soft reservation when MemoryMaxMB is set; 0 = unlimited
	MemoryMaxMB  int               // hard limit when > MemoryMB
	PidsLimit    int64             // 0 = Config.DefaultPidsLimit
	KillSignal   string            // "SIGTERM" (default), "TERM", "INT", "15", ...
	KillTimeout  time.Duration     // wait after KillSignal before SIGKILL; default 5s
	ReadOnlyRoot bool              // root filesystem read-only (task dirs and /tmp stay writable)
	HostNetwork  bool              // share the host's network namespace instead of a new one with loopback only
	NetNS        string            // join this network namespace (a path, e.g. a bind-mounted nsfs file) instead of a new one
	Hostname     string            // default: the task ID (first 63 characters)
	DNS          *DNS              // when set, the task's /etc/resolv.conf in place of the host's (or the image's)
	ExtraHosts   []string          // "name:IP" entries: the task gets an /etc/hosts of its own with them (Docker's extra_hosts)
	AllocIP      string            // with NetNS: the allocation's address, which the task's own /etc/hosts gives its hostname
	CapAdd       []string          // Docker's cap_add and cap_drop over the default capabilities (see Capabilities)
	CapDrop      []string
	Files        []File  // written into the task directory before the task starts (rendered templates)
	Stage        string  // a host directory laid out as the task directory (local/, secrets/): moved into it before Files (fetched artifacts); "": none
	Mounts       []Mount // host directories bound into the task (host volumes)
}

// DNS is a task's resolver configuration, written as its /etc/resolv.conf (Nomad's
// network.dns): nameservers (IP addresses), search domains and options.
type DNS struct {
	Servers, Searches, Options []string
}

// resolvConf renders d in resolv.conf(5) syntax.
func (d *DNS) resolvConf() []byte {
	var b strings.Builder
	for _, s := range d.Servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(d.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(d.Searches, " "))
	}
	if len(d.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(d.Options, " "))
	}
	return []byte(b.String())
}

// etcNames are the files of /etc a task gets its own of, written into its directory
// and bound read-only over the image's (or the host's): resolv.conf when DNS is set,
// hosts when ExtraHosts are or the task joins an allocation's namespace (NetNS: the
// host's would name the host, not the allocation).
func (s *TaskSpec) etcNames() []string {
	var names []string
	if s.DNS != nil {
		names = append(names, "resolv.conf")
	}
	if len(s.ExtraHosts) > 0 || s.NetNS != "" {
		names = append(names, "hosts")
	}
	return names
}

// hostname is the task's hostname: Hostname, else its ID (the first 63 characters).
func (s *TaskSpec) hostname() string {
	if s.Hostname != "" {
		return s.Hostname
	}
	return s.ID[:min(len(s.ID), 63)]
}

// etcFiles renders the files etcNames lists, by name.
func (s *TaskSpec) etcFiles() (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, name := range s.etcNames() {
		switch name {
		case "resolv.conf":
			files[name] = s.DNS.resolvConf()
		case "hosts":
			// Docker's: the host's own entries when the task shares its network,
			// else loopback's and the allocation's address with the hostname; then
			// the extra ones.
			hosts := []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
			if s.HostNetwork {
				var err error
				if hosts, err = os.ReadFile("/etc/hosts"); err != nil {
					return nil, fmt.Errorf("extra_hosts: reading the host's /etc/hosts: %w", err)
				}
			}
			var b strings.Builder
			b.Write(hosts)
			if s.NetNS != "" && s.AllocIP != "" {
				fmt.Fprintf(&b, "%s\t%s\n", s.AllocIP, s.hostname())
			}
			for _, h := range s.ExtraHosts {
				name, ip, _ := strings.Cut(h, ":")
				fmt.Fprintf(&b, "%s\t%s\n", ip, name)
			}
			files[name] = []byte(b.String())
		}
	}
	return files, nil
}

// Capabilities returns a container task's capabilities given Docker's cap_add and
// cap_drop (names such as "net_raw" or "CAP_NET_RAW", any case): the defaults
// (Docker's without CAP_NET_RAW), less cap_drop ("all": every one), plus cap_add. As
// with Nomad's allow_caps, every one of them must be in allowed (a peer's allow_caps;
// nil: the defaults, so that cap_add can only give back what cap_drop took away).
func Capabilities(add, drop, allowed []string) ([]string, error) {
	caps := slices.Clone(defaultCaps)
	for _, name := range drop {
		if strings.EqualFold(name, "all") {
			caps = nil
			continue
		}
		c, err := capabilityName("cap_drop", name)
		if err != nil {
			return nil, err
		}
		caps = slices.DeleteFunc(caps, func(x string) bool { return x == c })
	}
	var added []string
	for _, name := range add {
		c, err := capabilityName("cap_add", name)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(caps, c) {
			caps = append(caps, c)
			added = append(added, c)
		}
	}
	allow := defaultCaps
	if allowed != nil {
		allow = make([]string, len(allowed))
		for i, name := range allowed {
			c, err := capabilityName("allow_caps", name)
			if err != nil {
				return nil, err
			}
			allow[i] = c
		}
	}
	for _, c := range caps {
		if slices.Contains(allow, c) {
			continue
		}
		names := make([]string, len(allow))
		for i, a := range allow {
			names[i] = bareCapability(a)
		}
		if slices.Contains(added, c) {
			return nil, fmt.Errorf("cap_add: %q is not allowed on this peer; allowed: %s", bareCapability(c), strings.Join(names, ", "))
		}
		return nil, fmt.Errorf("capability %q (a default: cap_drop it) is not allowed on this peer; allowed: %s", bareCapability(c), strings.Join(names, ", "))
	}
	return caps, nil
}

// bareCapability is a capability's name as Nomad's job files write it ("net_raw").
func bareCapability(name string) string {
	return strings.ToLower(strings.TrimPrefix(strings.ToUpper(name), "CAP_"))
}

// IsCapability reports whether name is a Linux capability ("net_raw", "CAP_NET_RAW").
func IsCapability(name string) bool {
	_, err := capabilityName("", name)
	return err == nil
}

// capabilityName is the kernel's name ("CAP_NET_RAW") of the capability name.
func capabilityName(field, name string) (string, error) {
	bare := bareCapability(name)
	for _, c := range capability.ListKnown() {
		if c.String() == bare {
			return "CAP_" + strings.ToUpper(bare), nil
		}
	}
	return "", fmt.Errorf("%s: %q is not a Linux capability", field, name)
}

// File is a file of a task's directory, written before the task starts and owned
// by the task's user: Path is relative to the task dir, under local/ or secrets/.
type File struct {
	Path string
	Data []byte
	Mode os.FileMode
}

// inTaskDir reports whether f's path is under local/ or secrets/.
func (f File) inTaskDir() bool {
	clean := filepath.Clean(f.Path)
	return !filepath.IsAbs(f.Path) && (strings.HasPrefix(clean, "local/") || strings.HasPrefix(clean, "secrets/"))
}

const defaultKillTimeout = 5 * time.Second

// validate checks s and returns every problem, each naming the field and the value.
func (s *TaskSpec) validate() error {
	var errs []error
	bad := func(field string, value any, msg string) {
		errs = append(errs, fmt.Errorf("task %q: %s %v: %s", s.ID, field, value, msg))
	}
	if err := validateID(s.ID); err != nil {
		bad("id", strconv.Quote(s.ID), err.Error())
	}
	switch s.Kind {
	case KindContainer:
		if s.Image == "" {
			bad("image", `""`, "required for the container kind")
		}
	case KindExec:
		if s.Command == "" {
			bad("command", `""`, "required for the exec kind")
		}
		if s.Image != "" {
			bad("image", strconv.Quote(s.Image), "the exec kind runs on the host's filesystem and takes no image")
		}
	default:
		bad("kind", strconv.Quote(s.Kind), `must be "container" or "exec"`)
	}
	if len(s.Hostname) > 64 || strings.ContainsAny(s.Hostname, "/ \t\n\x00") {
		bad("hostname", strconv.Quote(s.Hostname), "must be a hostname of at most 64 characters")
	}
	if s.DNS != nil {
		for _, ip := range s.DNS.Servers {
			if net.ParseIP(ip) == nil {
				bad("dns server", strconv.Quote(ip), "must be an IP address")
			}
		}
		for _, v := range append(slices.Clone(s.DNS.Searches), s.DNS.Options...) {
			if v == "" || strings.ContainsAny(v, " \t\n") {
				bad("dns search or option", strconv.Quote(v), "must be one word")
			}
		}
	}
	if s.MemoryMB != 0 && (s.MemoryMB < minMemoryMB || s.MemoryMB > maxMemoryMB) {
		bad("memory", fmt.Sprintf("%d MB", s.MemoryMB), fmt.Sprintf("must be 0 (unlimited) or between %d and %d MB", minMemoryMB, maxMemoryMB))
	}
	if s.MemoryMaxMB != 0 && (s.MemoryMaxMB < s.MemoryMB || s.MemoryMaxMB < minMemoryMB || s.MemoryMaxMB > maxMemoryMB) {
		bad("memory_max", fmt.Sprintf("%d MB", s.MemoryMaxMB), fmt.Sprintf("must be 0 or between max(memory, %d) and %d MB", minMemoryMB, maxMemoryMB))
	}
	if s.CPUMHz < 0 || s.CPUMHz > maxCPUMHz {
		bad("cpu", fmt.Sprintf("%d MHz", s.CPUMHz), fmt.Sprintf("must be between 0 and %d MHz", maxCPUMHz))
	}
	if s.PidsLimit < 0 || s.PidsLimit > maxPids {
		bad("pids_limit", s.PidsLimit, fmt.Sprintf("must be between 0 (default) and %d", maxPids))
	}
	if _, err := ParseSignal(s.KillSignal); err != nil {
		bad("kill_signal", strconv.Quote(s.KillSignal), err.Error())
	}
	if s.KillTimeout < 0 || s.KillTimeout > maxKillWait {
		bad("kill_timeout", s.KillTimeout, "must be between 0 (default 5s) and 24h")
	}
	if s.NetNS != "" && (!strings.HasPrefix(s.NetNS, "/") || s.HostNetwork) {
		bad("netns", strconv.Quote(s.NetNS), "must be an absolute path, and not set with host networking")
	}
	for _, f := range s.Files {
		if !f.inTaskDir() {
			bad("file", strconv.Quote(f.Path), "must be a path under local/ or secrets/ of the task directory")
		}
	}
	for _, name := range s.CapAdd {
		if _, err := capabilityName("cap_add", name); err != nil {
			bad("cap_add", strconv.Quote(name), "not a Linux capability")
		}
	}
	for _, name := range s.CapDrop {
		if _, err := capabilityName("cap_drop", name); err != nil && !strings.EqualFold(name, "all") {
			bad("cap_drop", strconv.Quote(name), `not a Linux capability, nor "all"`)
		}
	}
	if s.AllocIP != "" && (s.NetNS == "" || net.ParseIP(s.AllocIP) == nil) {
		bad("alloc_ip", strconv.Quote(s.AllocIP), "must be an IP address, and set only with netns")
	}
	for _, h := range s.ExtraHosts {
		if name, ip, ok := strings.Cut(h, ":"); !ok || name == "" || strings.ContainsAny(name, " \t\n#") || net.ParseIP(ip) == nil {
			bad("extra_hosts", strconv.Quote(h), `must be "name:IP"`)
		}
	}
	if s.Stage != "" && !filepath.IsAbs(s.Stage) {
		bad("stage", strconv.Quote(s.Stage), "must be an absolute path")
	}
	s.validateMounts(bad)
	if s.WorkDir != "" && !strings.HasPrefix(s.WorkDir, "/") {
		bad("work_dir", strconv.Quote(s.WorkDir), "must be an absolute path")
	}
	for k := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			bad("env", strconv.Quote(k), "a variable name must be non-empty and hold no '=' or NUL")
		}
	}
	return errors.Join(errs...)
}

func validateID(id string) error {
	if id == "" || len(id) > 200 {
		return errors.New("must be 1 to 200 characters")
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_+.-", r)
		if !ok {
			return fmt.Errorf("character %q not accepted: use letters, digits and _ + . -", r)
		}
	}
	if id == "." || id == ".." {
		return errors.New("must not be . or ..")
	}
	return nil
}

// ParseSignal reads a signal as kill_signal gives it: "SIGTERM", "TERM", "term" or a
// number; "" means SIGTERM.
func ParseSignal(s string) (unix.Signal, error) {
	if s == "" {
		return unix.SIGTERM, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, errors.New("signal number must be between 1 and 64")
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, errors.New("unknown signal: use a name like SIGTERM or a number")
}

// cpuShares converts MHz to cgroup CPU shares: 1024 per 1000 MHz, at least 2.
func cpuShares(mhz int) uint64 {
	if mhz <= 0 {
		return 0
	}
	return max(2, uint64(mhz)*1024/1000)
}
