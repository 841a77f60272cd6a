package main

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestAdviseBinary: every mapping of the running binary is marked no-huge-page ("nh"
// in smaps), and the process keeps running code from it afterwards.
func TestAdviseBinary(t *testing.T) {
	if err := adviseBinary(); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	mappings, advised := 0, 0
	inBinary := false
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			inBinary = len(fields) >= 6 && strings.Join(fields[5:], " ") == exe
			if inBinary {
				mappings++
			}
			continue
		}
		if inBinary && strings.HasPrefix(line, "VmFlags:") && strings.Contains(line+" ", " nh ") {
			advised++
		}
	}
	if mappings == 0 || advised != mappings {
		t.Errorf("%d of the binary's %d mappings are marked no-huge-page", advised, mappings)
	}
}
