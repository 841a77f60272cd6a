package exec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stageTree writes files (path -> content; a trailing "/" makes a directory, "@x" a
// symlink to x) under a new staging directory.
func stageTree(t *testing.T, files map[string]string) string {
	t.Helper()
	stage := t.TempDir()
	for p, content := range files {
		full := filepath.Join(stage, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(p, "/"):
			err = os.MkdirAll(full, 0o750)
		case strings.HasPrefix(content, "@"):
			err = os.Symlink(content[1:], full)
		default:
			err = os.WriteFile(full, []byte(content), 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return stage
}

func TestMoveStage(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"local", "secrets"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stage := stageTree(t, map[string]string{
		"local/app/bin/run": "#!/bin/sh\n", "local/app/conf/": "", "local/app/latest": "@bin/run",
		"secrets/token": "s3cr3t",
	})
	if err := moveStage(stage, dir, os.Getuid(), os.Getgid()); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "secrets/token")); err != nil || string(b) != "s3cr3t" {
		t.Errorf("secrets/token = %q, %v; want s3cr3t", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "local/app/bin/run")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("local/app/bin/run: %v %v; want mode 0755 kept", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "local/app/conf")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("local/app/conf: %v %v; want a directory of mode 0750", fi, err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "local/app/latest")); err != nil || target != "bin/run" {
		t.Errorf("local/app/latest -> %q, %v; want the symlink to bin/run", target, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "local")); fi.Mode().Perm() != 0o755 {
		t.Errorf("local/ has mode %v; Start's mode must stay", fi.Mode().Perm())
	}

	for name, files := range map[string]map[string]string{
		"outside local and secrets": {"rootfs/etc/passwd": "x"},
		"a file at the top":         {"local": "not a directory"},
	} {
		err := moveStage(stageTree(t, files), t.TempDir(), os.Getuid(), os.Getgid())
		if err == nil || !strings.Contains(err.Error(), "only the directories local/ and secrets/") {
			t.Errorf("%s: error %v, want a refusal naming local/ and secrets/", name, err)
		}
	}
}

// A restart keeps the task's local/: links the task planted there do not redirect
// what is staged over them.
func TestMoveStageOverLinksTheTaskLeft(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	for _, sub := range []string{"local", "secrets"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"local/app": outside, "local/conf.ini": victim, "secrets/d": "/etc"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	stage := stageTree(t, map[string]string{"local/app/victim": "overwritten?", "local/conf.ini": "[app]\n", "secrets/d/passwd": "x"})
	if err := moveStage(stage, dir, os.Getuid(), os.Getgid()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me" {
		t.Errorf("the file outside the task dir now holds %q", b)
	}
	if fi, _ := os.Stat(victim); fi.Mode().Perm() != 0o600 {
		t.Errorf("the file outside the task dir now has mode %v", fi.Mode().Perm())
	}
	got := tree(t, dir)
	want := map[string]string{"local/": "dir", "local/app/": "dir", "local/app/victim": "overwritten?", "local/conf.ini": "[app]\n",
		"secrets/": "dir", "secrets/d/": "dir", "secrets/d/passwd": "x"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("task dir\n%v\nwant\n%v", got, want)
	}
}

// tree lists the regular files (with their content) and directories under dir.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		switch {
		case err != nil || rel == ".":
		case d.IsDir():
			out[rel+"/"] = "dir"
		case d.Type()&os.ModeSymlink != 0:
			out[rel] = "link"
		default:
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		}
		return nil
	})
	return out
}

// A staged file is in the task's /local when it starts, owned by the task's user.
func TestStartMovesStage(t *testing.T) {
	d := newDriver(t)
	stage := stageTree(t, map[string]string{"local/app/hello.txt": "hello from the stage\n"})
	res, out, errOut := run(t, d, TaskSpec{ID: "staged", Kind: KindExec, Command: "/bin/sh", Stage: stage,
		Args: []string{"-c", "cat /local/app/hello.txt; stat -c '%U %a' /local/app/hello.txt"}})
	if res.ExitCode != 0 {
		t.Fatalf("exit %d, stderr %q", res.ExitCode, errOut)
	}
	if want := "hello from the stage\nnobody 755\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
}
