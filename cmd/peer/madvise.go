package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// adviseBinary asks the kernel not to map this process's own binary in 2 MiB pages
// (madvise MADV_NOHUGEPAGE on the binary's mappings), and drops the mappings
// start-up made of its read-only, never-written parts (MADV_DONTNEED: the pages stay
// in the page cache and fault back in as they are used). Where the page cache holds
// the binary in huge folios, one touch maps 2 MiB of it: an idle peer counted 16 MiB
// of such mappings, of code and tables it mostly does not run. A mapping with private
// copies of its pages (writable data, or relocations made read-only after loading) is
// never dropped: that would lose what was written.
func adviseBinary() error {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return err
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return err
	}
	defer f.Close()
	type mapping struct {
		lo, hi   uintptr
		writable bool
		private  bool // some page is a private copy (Anonymous > 0)
	}
	var ms []*mapping
	var cur *mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if start, end, ok := strings.Cut(fields[0], "-"); ok && len(fields) >= 5 && !strings.HasSuffix(fields[0], ":") {
			// start-end perms offset dev inode [path]
			cur = nil
			if len(fields) < 6 || strings.Join(fields[5:], " ") != exe {
				continue
			}
			lo, err1 := strconv.ParseUint(start, 16, 64)
			hi, err2 := strconv.ParseUint(end, 16, 64)
			if err1 != nil || err2 != nil || hi <= lo {
				continue
			}
			cur = &mapping{lo: uintptr(lo), hi: uintptr(hi), writable: strings.Contains(fields[1], "w")}
			ms = append(ms, cur)
			continue
		}
		if cur != nil && fields[0] == "Anonymous:" && len(fields) >= 2 && fields[1] != "0" {
			cur.private = true
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, m := range ms {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.lo, m.hi-m.lo, unix.MADV_NOHUGEPAGE); errno != 0 {
			return errno
		}
		if m.writable || m.private {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.lo, m.hi-m.lo, unix.MADV_DONTNEED); errno != 0 {
			return errno
		}
	}
	return nil
}
