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
	u := unpacker{root: dir, parents: map[string]string{}}
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
		n, err := u.entry(h, tr)
		if err != nil {
			return size, fmt.Errorf("%s: %w", h.Name, err)
		}
		size += n
	}
	for _, h := range links {
		dst, err := u.path(h.Name)
		if err != nil {
			return size, err
		}
		src, err := securejoin.SecureJoin(dir, h.Linkname)
		if err != nil {
			return size, err
		}
		u.remove(dst)
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
		if p, err := u.path(dirs[i].Name); err == nil {
			_ = os.Chtimes(p, dirs[i].AccessTime, dirs[i].ModTime)
		}
	}
	return size, nil
}

// unpacker writes one image's entries under root. An image is mostly files in a few
// directories (busybox: 270 entries in /bin), so it resolves each parent directory
// once: parents maps an entry's parent name to the real directory securejoin found
// (and made), and is forgotten whenever something is removed, since a removal is
// how a directory can turn into a symlink.
type unpacker struct {
	root    string
	parents map[string]string
	setgid  bool // a directory with the setgid bit: new entries may not get our group
}

// path resolves name's parent inside root (following symlinks only within root),
// making it if missing, and appends name's last element unresolved.
func (u *unpacker) path(name string) (string, error) {
	clean := filepath.Clean("/" + name)
	if clean == "/" {
		return u.root, nil
	}
	dir := filepath.Dir(clean)
	parent, ok := u.parents[dir]
	if !ok {
		var err error
		if parent, err = securejoin.SecureJoin(u.root, dir); err != nil {
			return "", err
		}
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return "", err
		}
		u.parents[dir] = parent
	}
	return filepath.Join(parent, filepath.Base(clean)), nil
}

func (u *unpacker) remove(p string) {
	_ = os.RemoveAll(p)
	clear(u.parents)
}

// create runs mk, and once more after removing what is in the way if p exists: a
// fresh directory rarely has anything there, so this saves a removal per entry.
func (u *unpacker) create(p string, mk func() error) error {
	err := mk()
	if errors.Is(err, os.ErrExist) {
		u.remove(p)
		err = mk()
	}
	return err
}

func (u *unpacker) entry(h *tar.Header, r io.Reader) (int64, error) {
	p, err := u.path(h.Name)
	if err != nil {
		return 0, err
	}
	if p == u.root {
		return 0, nil
	}
	// FileMode keeps setuid, setgid and sticky in bits of its own: 0o4000 is not
	// ModeSetuid, so the header's raw bits cannot be converted as they are.
	mode := h.FileInfo().Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
	var n int64
	switch h.Typeflag {
	case tar.TypeDir:
		if fi, err := os.Lstat(p); err != nil || !fi.IsDir() {
			u.remove(p)
			if err := os.Mkdir(p, mode); err != nil {
				return 0, err
			}
		}
		u.setgid = u.setgid || h.Mode&unix.S_ISGID != 0
	case tar.TypeReg:
		var f *os.File
		if err := u.create(p, func() (err error) {
			f, err = os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
			return err
		}); err != nil {
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
		if err := u.create(p, func() error { return os.Symlink(h.Linkname, p) }); err != nil {
			return 0, err
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[h.Typeflag]
		dev := unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor))
		if err := u.create(p, func() error { return unix.Mknod(p, kind|uint32(h.Mode&0o7777), int(dev)) }); err != nil {
			return 0, err
		}
	default:
		return 0, nil // xattr-only and other entries carry nothing we use
	}
	// What we create is ours already, unless a setgid directory gave it its group.
	if h.Uid != os.Geteuid() || h.Gid != os.Getegid() || u.setgid {
		if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
			return n, err
		}
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
