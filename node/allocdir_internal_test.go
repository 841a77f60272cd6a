package node

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMakeAllocDirLinks: made again over what a task left (a restarted peer does),
// the shared directory keeps data/ and tmp/ world-writable and sticky, and a link a
// task put in place of data/ does not make the peer change the directory it points
// to.
func TestMakeAllocDirLinks(t *testing.T) {
	dir, outside := filepath.Join(t.TempDir(), "alloc"), t.TempDir()
	if err := os.Chmod(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := makeAllocDir(dir); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"data", "tmp"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || fi.Mode()&os.ModePerm != 0o777 || fi.Mode()&os.ModeSticky == 0 {
			t.Errorf("%s: %v %v, want a sticky world-writable directory", sub, fi.Mode(), err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "data")); err != nil {
		t.Fatal(err)
	}
	if err := makeAllocDir(dir); err == nil {
		t.Errorf("made over a data link to %s: no error", outside)
	}
	if fi, _ := os.Stat(outside); fi.Mode().Perm() != 0o700 {
		t.Errorf("the directory the link points to became %v, want 0700 untouched", fi.Mode().Perm())
	}
}
