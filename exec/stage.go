package exec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// moveStage moves the contents of a staging directory (TaskSpec.Stage, laid out as
// the task directory) into the task directory dir: directories are merged into
// those there, files and symlinks are renamed into place (so the staging directory
// must be on dir's filesystem), and everything moved is owned by the task's user.
// Only local/ and secrets/ may be staged: the task sees nothing else of its
// directory. Files staged here come before the task's Files, which may overwrite
// them.
//
// dir may hold what the task left in an earlier run (a restart keeps local/ and
// secrets/), links included: every step resolves inside dir (os.Root), and where
// the stage has a directory, a file or link the task left there is replaced.
func moveStage(stage, dir string, uid, gid int) error {
	tops, err := os.ReadDir(stage)
	if err != nil {
		return fmt.Errorf("reading the staged files: %w", err)
	}
	for _, e := range tops {
		if (e.Name() != "local" && e.Name() != "secrets") || !e.IsDir() {
			return fmt.Errorf("staged %q: only the directories local/ and secrets/ are moved into the task directory", e.Name())
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(stage, p)
		if err != nil || rel == "." {
			return err
		}
		if fi, err := root.Lstat(rel); err == nil && fi.IsDir() != d.IsDir() {
			if err := root.RemoveAll(rel); err != nil { // a file where a directory goes, or the reverse
				return fmt.Errorf("staging %s: %w", rel, err)
			}
		}
		if d.IsDir() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			if err := root.Mkdir(rel, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("staging %s: %w", rel, err)
			}
			if rel == "local" || rel == "secrets" { // Start made them with their own modes
				return nil
			}
			if err := root.Chmod(rel, info.Mode().Perm()); err != nil {
				return err
			}
			return root.Lchown(rel, uid, gid)
		}
		// Renamed into its directory as opened inside dir: the last component is
		// replaced, never followed.
		parent, err := root.Open(filepath.Dir(rel))
		if err != nil {
			return fmt.Errorf("staging %s: %w", rel, err)
		}
		defer parent.Close()
		if err := unix.Renameat(unix.AT_FDCWD, p, int(parent.Fd()), filepath.Base(rel)); err != nil {
			return fmt.Errorf("staging %s: %w", rel, err)
		}
		return root.Lchown(rel, uid, gid)
	})
}
