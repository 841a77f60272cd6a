package containerinit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// An attached init is a binary's file followed by the init's bytes and a trailer: the
// init's length (8 bytes, little-endian) and trailerMagic. The loader maps only the
// binary's own segments, so the bytes after them cost the running peer no memory.
const (
	trailerMagic = "shoal-init/v1\x00\x00\x00"
	trailerLen   = 8 + len(trailerMagic)
)

// ErrNotAttached is returned by Attached for a binary that carries no init.
var ErrNotAttached = errors.New("no container init attached")

// Attached returns the init attached to f (a binary's file), or ErrNotAttached.
func Attached(f *os.File) (*io.SectionReader, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < int64(trailerLen) {
		return nil, ErrNotAttached
	}
	var tr [trailerLen]byte
	if _, err := f.ReadAt(tr[:], size-int64(trailerLen)); err != nil {
		return nil, fmt.Errorf("reading the end of %s: %w", f.Name(), err)
	}
	if string(tr[8:]) != trailerMagic {
		return nil, ErrNotAttached
	}
	n := binary.LittleEndian.Uint64(tr[:8])
	if n == 0 || n > uint64(size-int64(trailerLen)) {
		return nil, fmt.Errorf("%s: the trailer of its attached init gives %d bytes, but the file has %d before it", f.Name(), n, size-int64(trailerLen))
	}
	return io.NewSectionReader(f, size-int64(trailerLen)-int64(n), int64(n)), nil
}

// Attach appends the init binary at initPath to the binary at path, replacing an
// init attached before (`go build` leaves an up-to-date output file as it is, with
// what was attached to it).
func Attach(path, initPath string) error {
	in, err := os.ReadFile(initPath)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if old, err := Attached(f); err == nil {
		_, end, _ = old.Outer() // where the old init starts
	} else if !errors.Is(err, ErrNotAttached) {
		return err
	}
	if err := f.Truncate(end); err != nil {
		return err
	}
	tr := binary.LittleEndian.AppendUint64(nil, uint64(len(in)))
	tr = append(tr, trailerMagic...)
	if _, err := f.WriteAt(append(in, tr...), end); err != nil {
		return fmt.Errorf("attaching %s to %s: %w", initPath, path, err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	// Leave the binary as an install leaves it, out of the page cache: the Go
	// linker writes its output through a mapping, in 2 MiB folios, and a process
	// maps such a folio whole at its first touch (Linux 6.18), so a peer started
	// straight after the build had ~4 MiB more resident than the same binary read
	// from disk (docs/bench/node.md).
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
