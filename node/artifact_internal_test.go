package node

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

// tarEntry is one entry of a test archive: a file (body), a directory (name ending
// in "/") or a symlink (link set).
type tarEntry struct {
	name, body, link string
	mode             int64
}

func makeTarGz(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: time.Unix(1700000000, 0)}
		switch {
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		case strings.HasSuffix(e.name, "/"):
			h.Typeflag = tar.TypeDir
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if h.Mode == 0 && h.Typeflag == tar.TypeDir {
			h.Mode = 0o755
		} else if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func makeZip(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o640)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t testing.TB, s string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	io.WriteString(zw, s)
	zw.Close()
	return buf.Bytes()
}

func sha256Of(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// artifactServer serves path -> body on 127.0.0.1 and records the requests' headers.
func artifactServer(t testing.TB, files map[string][]byte) (*httptest.Server, chan http.Header) {
	t.Helper()
	headers := make(chan http.Header, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case headers <- r.Header.Clone():
		default:
		}
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, headers
}

// tree lists the files under dir as path -> content ("dir/" for directories,
// "-> target" for symlinks), with the modes of files and directories.
func tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "-> " + target
		case fi.IsDir():
			out[rel+"/"] = fmt.Sprintf("%o", fi.Mode().Perm())
		default:
			b, _ := os.ReadFile(p)
			out[rel] = fmt.Sprintf("%o %s", fi.Mode().Perm(), b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFetchArtifacts(t *testing.T) {
	app := makeTarGz(t, []tarEntry{
		{name: "app/"}, {name: "app/bin/run", body: "#!/bin/sh\necho run\n", mode: 0o4755},
		{name: "app/VERSION", body: "1.2\n"}, {name: "app/current", link: "bin/run"},
	})
	conf := makeZip(t, map[string]string{"conf/app.ini": "[app]\n", "README": "read me\n"})
	files := map[string][]byte{
		"/app-1.2.tar.gz":       app,
		"/bundle.zip":           conf,
		"/amd64/motd.txt":       []byte("hello\n"),
		"/token.gz":             gzipped(t, "s3cr3t\n"),
		"/raw.tgz":              app,
		"/evil.tar.gz":          makeTarGz(t, []tarEntry{{name: "ok.txt", body: "fine"}, {name: "../../escaped.txt", body: "gotcha"}}),
		"/evil-abs.tar.gz":      makeTarGz(t, []tarEntry{{name: "/etc/escaped", body: "gotcha"}}),
		"/evil-link.tar.gz":     makeTarGz(t, []tarEntry{{name: "etc", link: "/etc"}, {name: "etc/escaped", body: "gotcha"}}),
		"/evil-rel-link.tar.gz": makeTarGz(t, []tarEntry{{name: "d/"}, {name: "d/up", link: "../../.."}}),
		"/evil-zip.zip":         makeZip(t, map[string]string{"../escaped.txt": "gotcha"}),
	}
	srv, headers := artifactServer(t, files)
	env := map[string]string{"NOMAD_JOB_ID": "web", "NOMAD_ALLOC_ID": "a1"}
	attrs := map[string]string{"attr.cpu.arch": "amd64", "meta.rack": "r1"}

	tests := []struct {
		name      string
		artifacts []jobspec.Artifact
		want      map[string]string // the staged tree
		wantErr   string
	}{
		{name: "a tar.gz unpacked with its modes, setuid dropped, and its sum checked",
			artifacts: []jobspec.Artifact{{Source: srv.URL + "/app-1.2.tar.gz", Destination: "local/",
				Options: map[string]string{"checksum": sha256Of(app)}}},
			want: map[string]string{"local/": "755", "local/app/": "755", "local/app/bin/": "755",
				"local/app/bin/run": "755 #!/bin/sh\necho run\n", "local/app/VERSION": "644 1.2\n", "local/app/current": "-> bin/run"}},
		{name: "a zip into a directory of secrets",
			artifacts: []jobspec.Artifact{{Source: srv.URL + "/bundle.zip", Destination: "secrets/conf"}},
			want: map[string]string{"secrets/": "755", "secrets/conf/": "755", "secrets/conf/conf/": "755",
				"secrets/conf/conf/app.ini": "640 [app]\n", "secrets/conf/README": "640 read me\n"}},
		{name: "a plain file under its base name, URL and destination interpolated, headers sent",
			artifacts: []jobspec.Artifact{{Source: srv.URL + "/${attr.cpu.arch}/motd.txt", Destination: "${NOMAD_TASK_DIR}/${meta.rack}",
				Headers: map[string]string{"X-Job": "${NOMAD_JOB_ID}"}}},
			want: map[string]string{"local/": "755", "local/r1/": "755", "local/r1/motd.txt": "644 hello\n"}},
		{name: "a .gz decompressed into the file mode file names",
			artifacts: []jobspec.Artifact{{Source: srv.URL + "/token.gz", Mode: "file", Destination: "secrets/token"}},
			want:      map[string]string{"secrets/": "755", "secrets/token": "644 s3cr3t\n"}},
		{name: "archive = false keeps the archive",
			artifacts: []jobspec.Artifact{{Source: srv.URL + "/raw.tgz", Options: map[string]string{"archive": "false"}}},
			want:      map[string]string{"local/": "755", "local/raw.tgz": "644 " + string(app)}},
		{name: "checksum mismatch names both sums",
			artifacts: []jobspec.Artifact{{Source: srv.URL + "/amd64/motd.txt", Options: map[string]string{"checksum": sha256Of([]byte("other"))}}},
			wantErr:   fmt.Sprintf("artifact[0] (%s/amd64/motd.txt): checksum mismatch: want %s, got %s", srv.URL, sha256Of([]byte("other")), sha256Of([]byte("hello\n")))},
		{name: "not found",
			artifacts: []jobspec.Artifact{{Source: srv.URL + "/app-1.2.tar.gz"}, {Source: srv.URL + "/nope.txt"}},
			wantErr:   fmt.Sprintf("artifact[1] (%s/nope.txt): GET %s/nope.txt: 404 Not Found", srv.URL, srv.URL)},
		{name: "tar entry with ../ refused", artifacts: []jobspec.Artifact{{Source: srv.URL + "/evil.tar.gz"}},
			wantErr: `archive entry "../../escaped.txt" leaves the destination`},
		{name: "absolute tar entry refused", artifacts: []jobspec.Artifact{{Source: srv.URL + "/evil-abs.tar.gz"}},
			wantErr: `archive entry "/etc/escaped" leaves the destination`},
		{name: "symlink out of the destination refused", artifacts: []jobspec.Artifact{{Source: srv.URL + "/evil-link.tar.gz"}},
			wantErr: `archive entry "etc": its link to "/etc" leaves the destination`},
		{name: "relative symlink climbing out refused", artifacts: []jobspec.Artifact{{Source: srv.URL + "/evil-rel-link.tar.gz"}},
			wantErr: `archive entry "d/up": its link to "../../.." leaves the destination`},
		{name: "zip entry with ../ refused", artifacts: []jobspec.Artifact{{Source: srv.URL + "/evil-zip.zip"}},
			wantErr: `archive entry "../escaped.txt" leaves the destination`},
		{name: "unknown reference", artifacts: []jobspec.Artifact{{Source: srv.URL + "/${meta.nope}/x"}},
			wantErr: `artifact[0] of task "t": source: ${meta.nope} is not known on this peer`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			f := artifactFetcher{client: newArtifactClient(), dir: root, attrs: attrs}
			stage, err := f.fetch(context.Background(), "t", tc.artifacts, env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if left, _ := os.ReadDir(root); len(left) != 0 {
					t.Errorf("a failed fetch left %v in the staging root", left)
				}
				if _, err := os.Stat(filepath.Join(filepath.Dir(root), "escaped.txt")); err == nil {
					t.Error("an archive entry was written outside the destination")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := tree(t, stage)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("staged\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
	close(headers)
	seen := false
	for h := range headers {
		seen = seen || h.Get("X-Job") == "web"
	}
	if !seen {
		t.Error("no request carried the interpolated header X-Job: web")
	}
}

func TestFetchArtifactUnreachableAndCancelled(t *testing.T) {
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	f := artifactFetcher{client: newArtifactClient(), dir: t.TempDir()}
	_, err = f.fetch(context.Background(), "t", []jobspec.Artifact{{Source: "http://" + dead + "/app.tgz"}}, nil)
	if want := fmt.Sprintf(`artifact[0] (http://%s/app.tgz): Get "http://%s/app.tgz": dial tcp %s: connect: connection refused`, dead, dead, dead); err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}

	// A server that sends headers and then nothing: the stall timeout, or the
	// task's stop (ctx), ends the download.
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	f.stall = 50 * time.Millisecond
	_, err = f.fetch(context.Background(), "t", []jobspec.Artifact{{Source: srv.URL + "/big.bin"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "no data for 50ms") {
		t.Errorf("stalled download: error %v, want one saying no data for 50ms", err)
	}
	f.stall = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.fetch(ctx, "t", []jobspec.Artifact{{Source: srv.URL + "/big.bin"}}, nil)
		done <- err
	}()
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("cancelled download: error %v, want context canceled", err)
	}
}
