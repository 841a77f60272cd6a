package exec

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWriteInRoot: files rewritten into a running task's directory replace what is
// there, with the mode asked for and the old file's owner, and a symlink the task
// planted cannot make the peer write outside the directory.
func TestWriteInRoot(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("host file"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"local", "secrets"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "local/app.conf"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(dir, "local/app.conf"), 1234, 1235); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "local/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "local/sub")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()

	if err := writeInRoot(root, File{Path: "local/app.conf", Data: []byte("new"), Mode: 0o640}, -1, -1); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "local/app.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "local/app.conf")); string(b) != "new" || fi.Mode().Perm() != 0o640 {
		t.Errorf("local/app.conf = %q mode %v, want \"new\" mode 0640", b, fi.Mode().Perm())
	}
	if uid, gid := owner(fi); uid != 1234 || gid != 1235 {
		t.Errorf("local/app.conf owned by %d:%d, want the old file's 1234:1235", uid, gid)
	}

	// A symlink as the file itself is replaced, not followed.
	if err := writeInRoot(root, File{Path: "local/link", Data: []byte("x")}, -1, -1); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "host file" {
		t.Errorf("the host file behind the task's symlink became %q", b)
	}
	// A symlinked directory leading out is refused.
	if err := writeInRoot(root, File{Path: "local/sub/x", Data: []byte("x")}, -1, -1); err == nil {
		t.Errorf("writing through local/sub -> %s: no error", outside)
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); err == nil {
		t.Errorf("a file was written outside the task directory")
	}
	if err := writeInRoot(root, File{Path: "../x", Data: []byte("x")}, -1, -1); err == nil {
		t.Errorf("writing ../x: no error")
	}
	// At a start, files get the task's user (writeFiles), links planted by an earlier
	// run of the task included.
	if err := os.Symlink(secret, filepath.Join(dir, "secrets/planted")); err != nil {
		t.Fatal(err)
	}
	if err := writeFiles(dir, []File{{Path: "secrets/planted", Data: []byte("tpl")}}, 4321, 4322); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "host file" {
		t.Errorf("writeFiles wrote through a planted link: the host file became %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "secrets/planted")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("secrets/planted: %v %v, want a regular file", fi, err)
	} else if uid, gid := owner(fi); uid != 4321 || gid != 4322 {
		t.Errorf("secrets/planted owned by %d:%d, want the task's 4321:4322", uid, gid)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "local", ".*.new")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func owner(fi os.FileInfo) (uid, gid int) {
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}
