package exec

import (
	"github.com/opencontainers/runc/libcontainer/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SeccompAvailable reports whether this binary was built with seccomp support (the
// `seccomp` build tag, cgo and libseccomp). Without it tasks run without a seccomp
// profile and the driver logs that once at New.
const SeccompAvailable = seccomp.Enabled

// deniedSyscalls fail with EPERM inside every container. A compact deny list in place
// of Docker's long allow list: what lets a process reach past its namespaces and
// cgroups (mounts, new namespaces, kernel modules, kexec, bpf, perf, keyrings, ptrace,
// swap, clock and reboot), default allow for everything else.
var deniedSyscalls = []string{
	"acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module",
	"delete_module", "finit_module", "fsconfig", "fsmount", "fsopen", "fspick",
	"get_kernel_syms", "get_mempolicy", "init_module", "ioperm", "iopl", "kcmp",
	"kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount",
	"mount_setattr", "move_mount", "move_pages", "name_to_handle_at", "nfsservctl",
	"open_by_handle_at", "open_tree", "perf_event_open", "personality", "pivot_root",
	"process_vm_readv", "process_vm_writev", "ptrace", "query_module", "quotactl",
	"quotactl_fd", "reboot", "request_key", "set_mempolicy", "setns", "settimeofday",
	"stime", "swapoff", "swapon", "sysfs", "syslog", "umount", "umount2", "unshare",
	"uselib", "userfaultfd", "ustat", "vm86", "vm86old",
}

// defaultSeccomp is the profile every task gets unless Config.DisableSeccomp.
func defaultSeccomp() *specs.LinuxSeccomp {
	errno := uint(unix.EPERM)
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{
			Names:    deniedSyscalls,
			Action:   specs.ActErrno,
			ErrnoRet: &errno,
		}},
	}
}
