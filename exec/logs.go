package exec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Log streams.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// A task's output goes through a FIFO in its container's state directory
// (<StateDir>/<id>/stdout.fifo), which the container holds open read-write: a write
// never fails with EPIPE while the peer is away (it blocks once the 64 KiB pipe
// buffer is full), and a restarted peer reopens the FIFO and carries on. The peer copies from the FIFO into
// logs/stdout, rotated by size into stdout.1, stdout.2, ... (oldest highest).

func fifoPath(containerDir, stream string) string {
	return filepath.Join(containerDir, stream+".fifo")
}

func logPath(taskDir, stream string) string {
	return filepath.Join(taskDir, "logs", stream)
}

// openFIFO creates (if needed) and opens a stream's FIFO: the read end for the peer
// (non-blocking, so it parks on the netpoller) and, when withWriter, the read-write
// end for the container.
func openFIFO(containerDir, stream string, withWriter bool) (r, w *os.File, err error) {
	p := fifoPath(containerDir, stream)
	if err := unix.Mkfifo(p, 0o600); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, nil, fmt.Errorf("creating %s: %w", p, err)
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s: %w", p, err)
	}
	r = os.NewFile(uintptr(fd), p)
	if withWriter {
		w, err = os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			r.Close()
			return nil, nil, fmt.Errorf("opening %s: %w", p, err)
		}
	}
	return r, w, nil
}

// rotator writes a stream into size-rotated files. The live file is created on the
// first write (a quiet task costs no log files). Used by one goroutine.
type rotator struct {
	path     string
	maxBytes int64
	maxFiles int
	f        *os.File
	size     int64
}

func newRotator(path string, maxBytes int64, maxFiles int) *rotator {
	return &rotator{path: path, maxBytes: maxBytes, maxFiles: maxFiles}
}

func (r *rotator) open() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	r.f, r.size = f, fi.Size()
	return nil
}

// Write appends p to the live file, rotating when it is full. Files are cut after
// a newline, so a line stays in one file unless it is longer than maxBytes.
func (r *rotator) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if r.f == nil {
			if err := r.open(); err != nil {
				return written, err
			}
		}
		room := r.maxBytes - r.size
		if int64(len(p)) <= room {
			n, err := r.f.Write(p)
			r.size += int64(n)
			return written + n, err
		}
		cut := bytes.LastIndexByte(p[:max(room, 0)], '\n') + 1
		if cut == 0 {
			if r.size > 0 {
				if err := r.rotate(); err != nil {
					return written, err
				}
				continue
			}
			cut = int(room) // one line longer than a whole file
		}
		n, err := r.f.Write(p[:cut])
		written += n
		r.size += int64(n)
		if err != nil {
			return written, err
		}
		p = p[cut:]
		if err := r.rotate(); err != nil {
			return written, err
		}
	}
	return written, nil
}

func (r *rotator) rotate() error {
	r.f.Close()
	r.f = nil // reopened by the next Write if this fails
	if r.maxFiles <= 1 {
		_ = os.Remove(r.path)
	} else {
		_ = os.Remove(r.path + "." + strconv.Itoa(r.maxFiles-1))
		for i := r.maxFiles - 2; i >= 1; i-- {
			_ = os.Rename(r.path+"."+strconv.Itoa(i), r.path+"."+strconv.Itoa(i+1))
		}
		if err := os.Rename(r.path, r.path+".1"); err != nil {
			return err
		}
	}
	return r.open()
}

func (r *rotator) Close() error {
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}

// copyLogs copies the FIFO into the rotated files until every writer (the
// container's processes) has closed it, then closes done. When the files cannot be
// written (disk full) it keeps draining the FIFO, dropping output, so that the task
// never blocks on its stdout.
func copyLogs(fifo *os.File, rot *rotator, done chan<- struct{}, log *slog.Logger) {
	defer close(done)
	defer fifo.Close()
	defer rot.Close()
	buf := make([]byte, 16<<10)
	var failing bool
	for {
		n, err := fifo.Read(buf)
		if n > 0 {
			if _, werr := rot.Write(buf[:n]); werr != nil && !failing {
				log.Warn("cannot write task output: dropping it", "file", rot.path, "err", werr)
				failing = true
			} else if werr == nil {
				failing = false
			}
		}
		if err != nil {
			return
		}
	}
}

// Logs returns a reader of a task's stdout or stderr: the rotated files oldest
// first, then the live file. With follow, the reader waits for more output until
// the task has exited and all of it is read, or until Close. Works for running and
// exited tasks alike, until Destroy removes the task directory.
func (d *Driver) Logs(id, stream string, follow bool) (io.ReadCloser, error) {
	if stream != Stdout && stream != Stderr {
		return nil, fmt.Errorf("logs of task %q: stream %q: must be %q or %q", id, stream, Stdout, Stderr)
	}
	d.mu.Lock()
	t := d.tasks[id]
	d.mu.Unlock()
	if t == nil {
		return nil, fmt.Errorf("logs of task %q: %w", id, ErrNotFound)
	}
	lr := &logReader{base: logPath(t.dir, stream), maxFiles: d.cfg.LogMaxFiles, follow: follow, done: t.copied[stream], closed: make(chan struct{})}
	return lr, nil
}

// logReader reads the rotated files, then the live one; following, it polls the
// live file and notices rotation by the inode changing. mu is held by Read except
// while it waits, so Close can release the file under it.
type logReader struct {
	base      string
	maxFiles  int
	follow    bool
	done      <-chan struct{} // closed when the copier has written everything
	closed    chan struct{}
	closeOnce sync.Once

	mu  sync.Mutex
	cur *os.File
}

const followPoll = 50 * time.Millisecond

func (l *logReader) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

func (l *logReader) name(i int) string {
	if i == 0 {
		return l.base
	}
	return l.base + "." + strconv.Itoa(i)
}

// next opens the file after the current one (the oldest one at first): files are
// identified by inode, not name, since the writer renames them as it rotates.
func (l *logReader) next() (*os.File, error) {
	from := l.maxFiles // the oldest kept file, when cur is nil or was deleted
	if l.cur != nil {
		fi, err := l.cur.Stat()
		if err != nil {
			return nil, err
		}
		for i := 1; i < l.maxFiles; i++ {
			if st, err := os.Stat(l.name(i)); err == nil && os.SameFile(fi, st) {
				from = i
				break
			}
		}
	}
	for i := from - 1; i >= 0; i-- {
		f, err := os.Open(l.name(i))
		if err == nil {
			return f, nil
		}
		if i == 0 {
			return nil, err
		}
	}
	return nil, os.ErrNotExist
}

func (l *logReader) isLive() bool {
	a, err1 := l.cur.Stat()
	b, err2 := os.Stat(l.base)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

func (l *logReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.isClosed() {
			return 0, os.ErrClosed
		}
		if l.cur == nil {
			f, err := l.next()
			if errors.Is(err, os.ErrNotExist) && l.cur == nil {
				// Nothing written yet: empty so far.
				if !l.follow {
					return 0, io.EOF
				}
				if done := l.wait(); done {
					if _, err := os.Stat(l.base); err != nil {
						return 0, io.EOF
					}
				}
				continue
			}
			if err != nil {
				return 0, err
			}
			l.cur = f
		}
		n, err := l.cur.Read(p)
		if n > 0 {
			return n, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if !l.isLive() {
			// Rotated: complete now, but it may have got a last write between our
			// read and the rename.
			if n, _ := l.cur.Read(p); n > 0 {
				return n, nil
			}
			f, err := l.next()
			if err != nil {
				return 0, err
			}
			l.cur.Close()
			l.cur = f
			continue
		}
		if !l.follow {
			return 0, io.EOF
		}
		select {
		case <-l.done:
			// The copier finished: one more read catches its last write.
			if n, _ := l.cur.Read(p); n > 0 {
				return n, nil
			}
			if !l.isLive() {
				continue
			}
			return 0, io.EOF
		default:
		}
		l.wait()
	}
}

// wait sleeps a poll interval (or until the copier is done or the reader closed)
// with mu released; it reports whether the copier is done.
func (l *logReader) wait() bool {
	l.mu.Unlock()
	defer l.mu.Lock()
	select {
	case <-l.done:
		return true
	case <-l.closed:
	case <-time.After(followPoll):
	}
	return false
}

// Close ends the reader; a Read blocked following the log returns os.ErrClosed.
func (l *logReader) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur != nil {
		l.cur.Close()
		l.cur = nil
	}
	return nil
}
