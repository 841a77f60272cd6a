package node

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Fingerprint is what a peer learns about its host at start: capacity and the
// attributes constraints select on.
type Fingerprint struct {
	CPUTotalMHz   int // cores x MHz per core
	Cores         int
	MemoryTotalMB int
	// Attributes are keyed as constraints name them without the ${}: "attr.kernel.name",
	// "attr.cpu.arch", "attr.os.cgroups", "attr.driver.exec", "node.datacenter",
	// "node.class", "node.unique.name", "meta.<key>".
	Attributes map[string]string
}

// TakeFingerprint reads /proc and uname. Unreadable sources leave their fields at
// conservative defaults (1000 MHz per core, 1024 MiB) rather than failing the start.
func TakeFingerprint(cfg Config) Fingerprint {
	fp := Fingerprint{Cores: runtime.NumCPU(), Attributes: map[string]string{}}
	mhz := cpuMHz("/proc/cpuinfo")
	if mhz <= 0 {
		mhz = 1000
	}
	fp.CPUTotalMHz = mhz * fp.Cores
	fp.MemoryTotalMB = memTotalMB("/proc/meminfo")
	if fp.MemoryTotalMB <= 0 {
		fp.MemoryTotalMB = 1024
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		fp.Attributes["attr.kernel.name"] = strings.ToLower(unix.ByteSliceToString(u.Sysname[:]))
		fp.Attributes["attr.kernel.version"] = unix.ByteSliceToString(u.Release[:])
		fp.Attributes["attr.unique.hostname"] = unix.ByteSliceToString(u.Nodename[:])
	} else {
		fp.Attributes["attr.kernel.name"] = runtime.GOOS
	}
	fp.Attributes["attr.os.name"] = runtime.GOOS
	fp.Attributes["attr.cpu.arch"] = runtime.GOARCH
	fp.Attributes["attr.cpu.numcores"] = strconv.Itoa(fp.Cores)
	fp.Attributes["attr.cpu.frequency"] = strconv.Itoa(mhz)
	fp.Attributes["attr.cpu.totalcompute"] = strconv.Itoa(fp.CPUTotalMHz)
	fp.Attributes["attr.memory.totalbytes"] = strconv.FormatInt(int64(fp.MemoryTotalMB)<<20, 10)
	fp.Attributes["attr.os.cgroups"] = cgroupVersion()
	for _, d := range cfg.Drivers {
		if d == "docker" {
			d = "container"
		}
		if driverAvailable(d) {
			fp.Attributes["attr.driver."+d] = "1"
		}
	}
	fp.Attributes["node.datacenter"] = cfg.Datacenter
	fp.Attributes["node.class"] = cfg.NodeClass
	fp.Attributes["node.unique.name"] = cfg.Name
	for k, v := range cfg.Meta {
		fp.Attributes["meta."+k] = v
	}
	return fp
}

func cpuMHz(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "cpu MHz" {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return int(f)
			}
		}
	}
	return 0
}

func memTotalMB(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.Atoi(f[1])
			if err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}

// cgroupVersion is "2" on a unified hierarchy, "1" on legacy or hybrid, "" if unknown.
func cgroupVersion() string {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		return ""
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "2"
	}
	return "1"
}

// driverAvailable: both drivers run libcontainer containers, which need root.
func driverAvailable(d string) bool {
	return (d == "exec" || d == "container") && os.Geteuid() == 0
}
