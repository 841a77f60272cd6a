package containerinit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func readAttached(t *testing.T, path string) ([]byte, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in, err := Attached(f)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(in)
}

// TestAttach: the attached init reads back whole; attaching again replaces it and
// leaves the binary's own bytes as they were.
func TestAttach(t *testing.T) {
	dir := t.TempDir()
	bin, init1, init2 := filepath.Join(dir, "peer"), filepath.Join(dir, "init1"), filepath.Join(dir, "init2")
	peer := []byte("\x7fELF the peer's own bytes")
	os.WriteFile(bin, peer, 0o755)
	os.WriteFile(init1, []byte("first init"), 0o755)
	os.WriteFile(init2, []byte("the second, longer init"), 0o755)

	if _, err := readAttached(t, bin); !errors.Is(err, ErrNotAttached) {
		t.Fatalf("before Attach: %v, want ErrNotAttached", err)
	}
	for _, in := range []string{init1, init2, init2} {
		if err := Attach(bin, in); err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(in)
		got, err := readAttached(t, bin)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("after attaching %s: %q, %v; want %q", filepath.Base(in), got, err, want)
		}
		all, _ := os.ReadFile(bin)
		if !bytes.HasPrefix(all, peer) || len(all) != len(peer)+len(want)+trailerLen {
			t.Fatalf("after attaching %s the file is %d bytes (%q...), want the peer's %d + %d + %d", filepath.Base(in), len(all), all[:min(len(all), 30)], len(peer), len(want), trailerLen)
		}
	}
}

// TestAttachedBadTrailer: a trailer whose length points before the file's start is an
// error naming the file, not a panic or a wrong slice.
func TestAttachedBadTrailer(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "peer")
	tr := binary.LittleEndian.AppendUint64([]byte("short"), 1<<40)
	os.WriteFile(bin, append(tr, trailerMagic...), 0o755)
	_, err := readAttached(t, bin)
	if err == nil || errors.Is(err, ErrNotAttached) || !strings.Contains(err.Error(), bin) {
		t.Fatalf("a trailer claiming 1 TiB: %v, want an error naming %s", err, bin)
	}
}

// TestAttachLeavesNothingCached: the binary Attach wrote is not in the page cache, so
// the first peer reads it from disk as an installed copy (see Attach).
func TestAttachLeavesNothingCached(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Type == unix.TMPFS_MAGIC {
		t.Skipf("%s is on tmpfs, whose pages are the file (%v)", dir, err)
	}
	bin, in := filepath.Join(dir, "peer"), filepath.Join(dir, "init")
	os.WriteFile(bin, bytes.Repeat([]byte("peer"), 1<<20), 0o755)
	os.WriteFile(in, bytes.Repeat([]byte("init"), 1<<18), 0o755)
	if err := Attach(bin, in); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	cached := 0
	for _, v := range vec {
		cached += int(v & 1)
	}
	if cached != 0 {
		t.Errorf("%d of the binary's %d pages are in the page cache after Attach, want none", cached, len(vec))
	}
}
