package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// adviseBinary asks the kernel not to map this process's own binary in 2 MiB pages
// (madvise MADV_NOHUGEPAGE on the binary's mappings), and drops the read-only
// mappings start-up made (MADV_DONTNEED: the pages stay in the page cache and fault
// back in as they are used). Where the page cache holds the binary in huge folios,
// one touch maps 2 MiB of it: an idle peer counted 16 MiB of such mappings, of code
// and tables it mostly does not run.
func adviseBinary() error {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || strings.Join(fields[5:], " ") != exe {
			continue
		}
		start, end, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(start, 16, 64)
		hi, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil || hi <= lo {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(lo), uintptr(hi-lo), unix.MADV_NOHUGEPAGE); errno != 0 {
			return errno
		}
		if !strings.Contains(fields[1], "w") { // never a writable mapping: DONTNEED would drop its changes
			if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(lo), uintptr(hi-lo), unix.MADV_DONTNEED); errno != 0 {
				return errno
			}
		}
	}
	return sc.Err()
}
