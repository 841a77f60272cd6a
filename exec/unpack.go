package exec

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"golang.org/x/sys/unix"
)

// mountpoints are created in every unpacked image so that starting a container
// never writes into the shared image directory.
var mountpoints = []string{"proc", "sys", "dev", "tmp", "local", "secrets", "etc"}

// unpackImage flattens img's layers into dir. mutate.Extract applies the layers top
// down and honours whiteouts (.wh.name) and opaque directories (.wh..wh..opq), so
// the result is the image's final filesystem; every path is resolved inside dir so
// that no entry (nor a symlink it passes through) can write outside it.
func unpackImage(img v1.Image, dir string) (int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var (
		size  int64
		links []*tar.Header // hard links: their target may come later in the stream
		dirs  []*tar.Header // directory times, set last
	)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return size, err
		}
		switch h.Typeflag {
		case tar.TypeLink:
			links = append(links, h)
			continue
		case tar.TypeDir:
			dirs = append(dirs, h)
		}
		n, err := unpackEntry(dir, h, tr)
		if err != nil {
			return size, fmt.Errorf("%s: %w", h.Name, err)
		}
		size += n
	}
	for _, h := range links {
		dst, err := securePath(dir, h.Name)
		if err != nil {
			return size, err
		}
		src, err := securejoin.SecureJoin(dir, h.Linkname)
		if err != nil {
			return size, err
		}
		_ = os.Remove(dst)
		if err := os.Link(src, dst); err != nil {
			return size, fmt.Errorf("%s: hard link to %s: %w", h.Name, h.Linkname, err)
		}
	}
	for _, m := range mountpoints {
		p, err := securejoin.SecureJoin(dir, m)
		if err != nil {
			return size, err
		}
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			if err := os.Mkdir(p, 0o755); err != nil {
				return size, err
			}
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if p, err := securePath(dir, dirs[i].Name); err == nil {
			_ = os.Chtimes(p, dirs[i].AccessTime, dirs[i].ModTime)
		}
	}
	return size, nil
}

// securePath resolves name's parent inside root (following symlinks only within
// root) and appends name's last element unresolved.
func securePath(root, name string) (string, error) {
	clean := filepath.Clean("/" + name)
	if clean == "/" {
		return root, nil
	}
	parent, err := securejoin.SecureJoin(root, filepath.Dir(clean))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, filepath.Base(clean)), nil
}

func unpackEntry(root string, h *tar.Header, r io.Reader) (int64, error) {
	p, err := securePath(root, h.Name)
	if err != nil {
		return 0, err
	}
	if p == root {
		return 0, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return 0, err
	}
	mode := os.FileMode(h.Mode & 0o7777)
	var n int64
	switch h.Typeflag {
	case tar.TypeDir:
		if fi, err := os.Lstat(p); err != nil || !fi.IsDir() {
			_ = os.RemoveAll(p)
			if err := os.Mkdir(p, mode); err != nil {
				return 0, err
			}
		}
	case tar.TypeReg:
		_ = os.RemoveAll(p)
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
		if err != nil {
			return 0, err
		}
		n, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return n, err
		}
	case tar.TypeSymlink:
		_ = os.RemoveAll(p)
		if err := os.Symlink(h.Linkname, p); err != nil {
			return 0, err
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		_ = os.RemoveAll(p)
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[h.Typeflag]
		dev := unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor))
		if err := unix.Mknod(p, kind|uint32(mode), int(dev)); err != nil {
			return 0, err
		}
	default:
		return 0, nil // xattr-only and other entries carry nothing we use
	}
	if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
		return n, err
	}
	if h.Typeflag != tar.TypeSymlink {
		// chown clears setuid/setgid bits: set the mode last.
		if err := os.Chmod(p, mode); err != nil {
			return n, err
		}
		if h.Typeflag != tar.TypeDir {
			_ = os.Chtimes(p, orNow(h.AccessTime, h.ModTime), h.ModTime)
		}
	}
	return n, nil
}

func orNow(t, fallback time.Time) time.Time {
	if t.IsZero() {
		return fallback
	}
	return t
}
