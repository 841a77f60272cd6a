package exec

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
)

// Config configures a Driver. The zero value is not usable: start from DefaultConfig.
type Config struct {
	// DataDir holds the image store (images/), the task directories (tasks/) and, unless
	// StateDir is set, libcontainer's state (state/). Required; must be absolute.
	DataDir string

	// StateDir is libcontainer's state root, which also holds each task's output
	// FIFOs. Default: DataDir/state. On a real host point it at tmpfs (e.g.
	// /run/shoal/exec, as runc uses /run/runc): state then goes away with a reboot,
	// as the containers do, and the few files each start creates cost no disk I/O.
	// Recover finds the containers of a previous peer process here.
	StateDir string

	// CgroupParent is the cgroup, relative to the peer's own cgroup, under which every
	// container gets its own cgroup named after the task ID. Default "shoal". Must be
	// relative so that containers nest under the peer (one cgroup per peer on a host).
	CgroupParent string

	// Logger receives the driver's log records; nil discards them.
	Logger *slog.Logger

	// InsecureRegistries may be reached over plain HTTP (host[:port]). Loopback and
	// RFC 1918 addresses and localhost are always allowed plain HTTP by
	// go-containerregistry.
	InsecureRegistries []string

	// LogMaxBytes is the size at which a task's stdout or stderr file is rotated.
	// Default 10 MiB.
	LogMaxBytes int64

	// LogMaxFiles is how many files per stream are kept, the live one included.
	// Default 3.
	LogMaxFiles int

	// DefaultPidsLimit applies to tasks whose PidsLimit is 0. Default 1024.
	DefaultPidsLimit int64

	// AllowCaps are the capabilities a task may have (Nomad's allow_caps), by name
	// ("net_raw"); nil: the defaults (Docker's without net_raw). A task whose
	// capabilities (the defaults, cap_drop, cap_add) are not all in it does not start.
	AllowCaps []string

	// DisableSeccomp turns the default seccomp profile off. It is also off when the
	// binary was built without the `seccomp` build tag (see SeccompAvailable).
	DisableSeccomp bool
}

// DefaultConfig returns a Config with every default filled in but DataDir.
func DefaultConfig() Config {
	return Config{
		CgroupParent:     "shoal",  // nests as <peer cgroup>/shoal/<task id>
		LogMaxBytes:      10 << 20, // 10 MiB per file, like Nomad's default max_file_size
		LogMaxFiles:      3,        // live + 2 rotated, ~30 MiB per stream at most
		DefaultPidsLimit: 1024,     // stops fork bombs, plenty for a service
	}
}

// Validate reports the first problem in c, naming the field and what is accepted.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" || !filepath.IsAbs(c.DataDir) {
		errs = append(errs, fmt.Errorf("exec config: data_dir %q: must be an absolute path", c.DataDir))
	}
	if strings.ContainsAny(c.DataDir, ",:") {
		errs = append(errs, fmt.Errorf("exec config: data_dir %q: must not contain ',' or ':' (overlayfs options cannot quote them)", c.DataDir))
	}
	if c.StateDir != "" && !filepath.IsAbs(c.StateDir) {
		errs = append(errs, fmt.Errorf("exec config: state_dir %q: must be an absolute path", c.StateDir))
	}
	if c.CgroupParent == "" || filepath.IsAbs(c.CgroupParent) || strings.Contains(c.CgroupParent, "..") {
		errs = append(errs, fmt.Errorf("exec config: cgroup_parent %q: must be a non-empty relative cgroup path without ..", c.CgroupParent))
	}
	if c.LogMaxBytes < 1024 {
		errs = append(errs, fmt.Errorf("exec config: log_max_bytes %d: must be at least 1024", c.LogMaxBytes))
	}
	if c.LogMaxFiles < 1 {
		errs = append(errs, fmt.Errorf("exec config: log_max_files %d: must be at least 1", c.LogMaxFiles))
	}
	if c.DefaultPidsLimit < 1 {
		errs = append(errs, fmt.Errorf("exec config: default_pids_limit %d: must be at least 1", c.DefaultPidsLimit))
	}
	for _, name := range c.AllowCaps {
		if _, err := capabilityName("allow_caps", name); err != nil {
			errs = append(errs, fmt.Errorf("exec config: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (c Config) stateDir() string {
	if c.StateDir != "" {
		return c.StateDir
	}
	return filepath.Join(c.DataDir, "state")
}
