package exec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// moveStage moves the contents of a staging directory (TaskSpec.Stage, laid out as
// the task directory) into the task directory dir: directories are merged into
// those Start made, files and symlinks are renamed into place (so the staging
// directory must be on dir's filesystem), and everything moved is owned by the
// task's user. Only local/ and secrets/ may be staged: the task sees nothing else
// of its directory. Files staged here come before the task's Files, which may
// overwrite them.
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
	return filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(stage, p)
		if err != nil || rel == "." {
			return err
		}
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			if err := os.Mkdir(dst, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("staging %s: %w", rel, err)
			}
			if rel == "local" || rel == "secrets" { // Start made them with their own modes
				return nil
			}
			if err := os.Chmod(dst, info.Mode().Perm()); err != nil {
				return err
			}
			return os.Lchown(dst, uid, gid)
		}
		if err := os.Rename(p, dst); err != nil {
			return fmt.Errorf("staging %s: %w", rel, err)
		}
		return os.Lchown(dst, uid, gid)
	})
}
