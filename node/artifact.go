package node

import (
	"archive/tar"
	"archive/zip"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/shoal-sched/shoal/jobspec"
)

// Artifacts (Nomad's artifact block, http and https only): before each start of a
// task, after its environment is known and before its templates render (Nomad's
// order), the runner fetches the task's artifacts into a staging directory laid out
// as the task directory; the driver moves it into the task directory
// (exec.TaskSpec.Stage). A failed fetch fails that start, as a bad image does, and
// the restart policy decides what follows.

// artifactStageDir holds the staging directories of a peer with data dir dataDir,
// beside the exec driver's task directories, so the driver can rename what they hold.
func artifactStageDir(dataDir string) string { return filepath.Join(dataDir, "artifacts") }

// artifactFetcher is what a runner needs to fetch artifacts.
type artifactFetcher struct {
	client *http.Client
	dir    string            // staging directories are made here (on the exec data dir's filesystem)
	attrs  map[string]string // the peer's attributes and meta, for ${attr.x}, ${node.x}, ${meta.x}; read-only
	stall  time.Duration     // a download that reads nothing for this long fails; 0: artifactStall
}

// Timeouts of artifact downloads. A whole download has no deadline (artifacts may
// be large); one that stops moving fails after artifactStall, and stopping the
// task cancels it.
const (
	artifactDialTimeout   = 30 * time.Second
	artifactHeaderTimeout = 30 * time.Second
	artifactStall         = time.Minute
)

// newArtifactClient is the HTTP client of a peer's artifact downloads.
func newArtifactClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: artifactDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: artifactHeaderTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          4,
		ForceAttemptHTTP2:     true,
	}}
}

// refRE is a ${...} reference in an artifact's fields.
var refRE = regexp.MustCompile(`\$\{([^}]+)\}`)

// fetch fetches a task's artifacts into a new staging directory and returns it (""
// when the task has none); the caller removes it. env is the task's environment;
// ${NAME} in an artifact's source, destination, options and headers is its value,
// ${attr.x}, ${node.x} and ${meta.x} the peer's, and NOMAD_TASK_DIR and
// NOMAD_SECRETS_DIR /local and /secrets, as in Nomad.
func (f artifactFetcher) fetch(ctx context.Context, task string, as []jobspec.Artifact, env map[string]string) (_ string, retErr error) {
	if len(as) == 0 {
		return "", nil
	}
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return "", fmt.Errorf("fetching artifacts: %w", err)
	}
	stage, err := os.MkdirTemp(f.dir, "stage-")
	if err != nil {
		return "", fmt.Errorf("fetching artifacts: %w", err)
	}
	defer func() {
		if retErr != nil {
			os.RemoveAll(stage)
		}
	}()
	expand := func(s string) string {
		return refRE.ReplaceAllStringFunc(s, func(ref string) string {
			name := ref[2 : len(ref)-1]
			if v, ok := env[name]; ok {
				return v
			}
			switch name {
			case "NOMAD_TASK_DIR":
				return "/local"
			case "NOMAD_SECRETS_DIR":
				return "/secrets"
			}
			if v, ok := f.attrs[name]; ok {
				return v
			}
			return ref // Resolve names it
		})
	}
	for i, a := range as {
		a.Source, a.Destination = expand(a.Source), expand(a.Destination)
		a.Options, a.Headers = expandMap(a.Options, expand), expandMap(a.Headers, expand)
		spec, err := a.Resolve()
		if err != nil {
			return "", fmt.Errorf("artifact[%d] of task %q: %w", i, task, err)
		}
		if err := f.fetchOne(ctx, spec, stage, i); err != nil {
			return "", fmt.Errorf("artifact[%d] (%s): %w", i, spec.URL.Redacted(), err)
		}
	}
	return stage, nil
}

func expandMap(m map[string]string, expand func(string) string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = expand(v)
	}
	return out
}

// fetchOne downloads one artifact, checks its sum and puts it in place under stage.
func (f artifactFetcher) fetchOne(ctx context.Context, spec jobspec.FetchSpec, stage string, i int) error {
	download := filepath.Join(stage, fmt.Sprintf(".download-%d", i)) // gone before the driver moves stage
	defer os.Remove(download)
	var sum hash.Hash
	if spec.Checksum != nil {
		sum = newHash(spec.Checksum.Type)
	}
	if err := f.download(ctx, spec, download, sum); err != nil {
		return err
	}
	if sum != nil {
		if got := sum.Sum(nil); string(got) != string(spec.Checksum.Sum) {
			return fmt.Errorf("checksum mismatch: want %s, got %s:%x", spec.Checksum, spec.Checksum.Type, got)
		}
	}
	dest, err := securejoin.SecureJoin(stage, spec.Dest)
	if err != nil {
		return err
	}
	single := spec.Compressed()
	switch {
	case spec.Archive != "" && !single: // into the destination directory
		return unpackArchive(download, spec.Archive, dest)
	case spec.Mode != jobspec.ArtifactModeFile: // into the directory; else dest is the file
		dest = filepath.Join(dest, jobspec.ArtifactFileName(spec)) // Resolve checked there is one
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	if !single {
		return os.Rename(download, dest)
	}
	return decompressFile(download, spec.Archive, dest)
}

// download GETs spec.URL into file, hashing what it writes into sum (if not nil).
func (f artifactFetcher) download(ctx context.Context, spec jobspec.FetchSpec, file string, sum hash.Hash) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, spec.URL.String(), nil)
	if err != nil {
		return err
	}
	for k, v := range spec.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	client := f.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return err // names the URL, without its password
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", spec.URL.Redacted(), resp.Status)
	}
	out, err := os.OpenFile(file, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	stall := f.stall
	if stall <= 0 {
		stall = artifactStall
	}
	idle := time.AfterFunc(stall, func() { cancel(fmt.Errorf("no data for %s", stall)) })
	defer idle.Stop()
	var w io.Writer = out
	if sum != nil {
		w = io.MultiWriter(out, sum)
	}
	body := readerFunc(func(p []byte) (int, error) {
		n, err := resp.Body.Read(p)
		idle.Reset(stall)
		return n, err
	})
	if _, err := io.Copy(w, body); err != nil {
		if cause := context.Cause(ctx); cause != nil { // nil until ctx is done
			err = cause
		}
		return fmt.Errorf("reading %s: %w", spec.URL.Redacted(), err)
	}
	return out.Close()
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func newHash(typ string) hash.Hash {
	switch typ {
	case "md5":
		return md5.New()
	case "sha1":
		return sha1.New()
	case "sha512":
		return sha512.New()
	}
	return sha256.New()
}

// decompressFile writes the decompressed content of a gz or bz2 file to dest.
func decompressFile(src, format, dest string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	var r io.Reader
	if format == "gz" {
		zr, err := gzip.NewReader(in)
		if err != nil {
			return fmt.Errorf("decompressing: %w", err)
		}
		r = zr
	} else {
		r = bzip2.NewReader(in)
	}
	_ = os.Remove(dest) // never write through a link an earlier artifact left there
	out, err := os.OpenFile(dest, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := io.Copy(out, r); err != nil {
		return fmt.Errorf("decompressing: %w", err)
	}
	return out.Close()
}

// errEscape marks an archive entry that would land outside its destination.
var errEscape = errors.New("leaves the destination")

// unpackArchive unpacks a tar (plain, gz, bz2) or zip archive into dir. Entries keep
// their permission bits (not setuid, setgid or sticky); an entry whose name, or
// whose link's target, leads outside dir is refused, as is any entry that is not a
// file, directory or link.
func unpackArchive(file, format, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if format == "zip" {
		return unzip(file, dir)
	}
	in, err := os.Open(file)
	if err != nil {
		return err
	}
	defer in.Close()
	var r io.Reader = in
	switch format {
	case "tar.gz", "tgz":
		zr, err := gzip.NewReader(in)
		if err != nil {
			return fmt.Errorf("unpacking %s: %w", format, err)
		}
		r = zr
	case "tar.bz2", "tbz2":
		r = bzip2.NewReader(in)
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unpacking %s: %w", format, err)
		}
		var e entry
		switch h.Typeflag {
		case tar.TypeDir:
			e = entry{kind: 'd'}
		case tar.TypeReg, tar.TypeRegA:
			e = entry{kind: 'f', body: tr}
		case tar.TypeSymlink:
			e = entry{kind: 'l', target: h.Linkname}
		case tar.TypeLink:
			e = entry{kind: 'h', target: h.Linkname}
		case tar.TypeXGlobalHeader, tar.TypeXHeader:
			continue
		default:
			return fmt.Errorf("archive entry %q: type %q is not unpacked (only files, directories and links)", h.Name, string(h.Typeflag))
		}
		e.name, e.mode, e.mtime = h.Name, os.FileMode(h.Mode).Perm(), h.ModTime
		if err := e.write(dir); err != nil {
			return err
		}
	}
}

func unzip(file, dir string) error {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return fmt.Errorf("unpacking zip: %w", err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		m := f.Mode()
		e := entry{name: f.Name, mode: m.Perm(), mtime: f.Modified}
		switch {
		case m.IsDir():
			e.kind = 'd'
		case m&os.ModeSymlink != 0:
			rc, err := f.Open()
			if err != nil {
				return err
			}
			b, err := io.ReadAll(io.LimitReader(rc, 4096))
			rc.Close()
			if err != nil {
				return err
			}
			e.kind, e.target = 'l', string(b)
		case m.IsRegular():
			rc, err := f.Open()
			if err != nil {
				return err
			}
			e.kind, e.body = 'f', rc
			err = e.write(dir)
			rc.Close()
			if err != nil {
				return err
			}
			continue
		default:
			return fmt.Errorf("archive entry %q: mode %s is not unpacked (only files, directories and links)", f.Name, m)
		}
		if err := e.write(dir); err != nil {
			return err
		}
	}
	return nil
}

// entry is one archive entry to write.
type entry struct {
	name   string
	kind   byte // 'f' file, 'd' directory, 'l' symlink, 'h' hard link
	mode   os.FileMode
	mtime  time.Time
	target string    // links
	body   io.Reader // files
}

// write writes e under root. The entry's parent is resolved inside root (following
// only symlinks that stay in it), so nothing is written outside root; a symlink
// must point inside root from where it is, so that nothing written through it
// later (another entry, a template) lands outside either.
func (e entry) write(root string) error {
	name := strings.TrimPrefix(path.Clean("/"+e.name), "/")
	if path.IsAbs(e.name) || slices.Contains(strings.Split(e.name, "/"), "..") {
		return fmt.Errorf("archive entry %q %w %s: entries must be relative paths without \"..\"", e.name, errEscape, root)
	}
	if name == "" || name == "." {
		return nil
	}
	parent, err := securejoin.SecureJoin(root, path.Dir(name))
	if err != nil {
		return fmt.Errorf("archive entry %q: %w", e.name, err)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	p := filepath.Join(parent, path.Base(name))
	switch e.kind {
	case 'd':
		if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		return os.Chmod(p, e.mode|0o700) // the peer (root) writes into it in any case; the owner may too
	case 'l':
		rel, _ := filepath.Rel(root, parent)
		if !linkInside(filepath.ToSlash(rel), e.target) {
			return fmt.Errorf("archive entry %q: its link to %q %w %s", e.name, e.target, errEscape, root)
		}
		_ = os.Remove(p)
		return os.Symlink(e.target, p)
	case 'h':
		target, err := securejoin.SecureJoin(root, e.target)
		if err != nil {
			return err
		}
		_ = os.Remove(p)
		if err := os.Link(target, p); err != nil {
			return fmt.Errorf("archive entry %q: hard link to %q: %w", e.name, e.target, err)
		}
		return nil
	}
	_ = os.Remove(p) // a later entry replaces an earlier one, never writes through a link
	out, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, e.body); err != nil {
		out.Close()
		return fmt.Errorf("archive entry %q: %w", e.name, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	mode := e.mode
	if mode == 0 {
		mode = 0o644 // zips written without unix modes
	}
	if err := os.Chmod(p, mode); err != nil {
		return err
	}
	if !e.mtime.IsZero() {
		_ = os.Chtimes(p, e.mtime, e.mtime)
	}
	return nil
}

// linkInside reports whether a symlink in dir (a clean slash path relative to the
// root, whose every component is a real directory: securejoin resolved it) to
// target stays inside the root: target is relative, its ".." all come first (after
// them it may pass only through links that stay inside, by this same check), and
// they climb no higher than dir is deep.
func linkInside(dir, target string) bool {
	if target == "" || path.IsAbs(target) {
		return false
	}
	parts := strings.Split(target, "/")
	up, i := 0, 0
	for ; i < len(parts) && (parts[i] == ".." || parts[i] == "." || parts[i] == ""); i++ {
		if parts[i] == ".." {
			up++
		}
	}
	if slices.Contains(parts[i:], "..") {
		return false
	}
	depth := 0
	if dir != "." && dir != "" {
		depth = strings.Count(dir, "/") + 1
	}
	return up <= depth
}
