package node_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/node/api"
)

// artifactJob is a batch job whose one exec task fetches artifacts and prints what
// it finds; it neither restarts nor reschedules, so a failed fetch fails it at once.
func artifactJob(id, script, artifacts string) string {
	return fmt.Sprintf(`job %q {
  type = "batch"
  group "g" {
    reschedule {
      attempts  = 0
      unlimited = false
    }
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "t" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", %q]
      }
%s
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`, id, script, artifacts)
}

// TestArtifacts: a task starts with its artifacts (a file, a tar.gz and a zip served
// on 127.0.0.1) in its /local, owned by its user; a checksum mismatch or an
// unreachable source fails the allocation, saying which artifact and why.
func TestArtifacts(t *testing.T) {
	var tgz bytes.Buffer
	zw := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(zw)
	for _, f := range []struct {
		name, body string
		mode       int64
	}{{"app/VERSION", "1.2\n", 0o644}, {"app/bin/hello", "#!/bin/sh\necho hello from the app\n", 0o755}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg})
		io.WriteString(tw, f.body)
	}
	tw.Close()
	zw.Close()
	var zipped bytes.Buffer
	zipw := zip.NewWriter(&zipped)
	w, _ := zipw.Create("conf/app.ini")
	io.WriteString(w, "[app]\nport = 8080\n")
	zipw.Close()
	hello := []byte("hello, artifact\n")
	files := map[string][]byte{"/hello.txt": hello, "/app-1.2.tar.gz": tgz.Bytes(), "/conf.zip": zipped.Bytes()}
	var flaky atomic.Int32            // /flaky.txt fails its first request
	hanging := make(chan struct{}, 1) // /hang sends its headers, then nothing until the client goes
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case hanging <- struct{}{}:
			default:
			}
			<-r.Context().Done()
			return
		}
		if r.URL.Path == "/flaky.txt" && flaky.Add(1) == 1 {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/flaky.txt" {
			w.Write(hello)
			return
		}
		if b, ok := files[r.URL.Path]; ok {
			w.Write(b)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()

	c := newCluster(t, 1)
	p := c.peers[0].client
	ctx := context.Background()
	// ended waits until job's allocation is complete or failed, and returns it.
	ended := func(job string) api.Alloc {
		var a api.Alloc
		c.waitFor(60*time.Second, job+"'s allocation ended", func() (bool, string) {
			allocs, err := p.JobAllocs(ctx, job)
			if err != nil || len(allocs) != 1 {
				return false, fmt.Sprint(allocs, err)
			}
			a = allocs[0]
			return a.ClientStatus == "complete" || a.ClientStatus == "failed", fmt.Sprintf("%s %+v", a.ClientStatus, a.TaskStates)
		})
		return a
	}

	sum := fmt.Sprintf("sha256:%x", sha256.Sum256(hello))
	submit(t, p, artifactJob("fetch", "cat /local/hello.txt /local/app/VERSION /local/conf/app.ini; /local/app/bin/hello; stat -c '%U %a' /local/app/bin/hello", fmt.Sprintf(`
      artifact {
        source = "%[1]s/hello.txt"
        options {
          checksum = %[2]q
        }
      }
      artifact {
        source      = "%[1]s/app-${NOMAD_META_version}.tar.gz"
        destination = "local/"
      }
      artifact {
        source      = "%[1]s/conf.zip"
        destination = "${NOMAD_TASK_DIR}"
      }
      env {
        NOMAD_META_version = "1.2"
      }`, srv.URL, sum)))
	a := ended("fetch")
	if a.ClientStatus != "complete" {
		t.Fatalf("allocation %s (%+v), want complete", a.ClientStatus, a.TaskStates)
	}
	rc, err := p.Logs(ctx, a.ID, "t", "stdout", false)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(rc)
	rc.Close()
	if want := "hello, artifact\n1.2\n[app]\nport = 8080\nhello from the app\nnobody 755\n"; string(out) != want {
		t.Errorf("the task printed %q, want %q", out, want)
	}

	t.Run("checksum mismatch", func(t *testing.T) {
		bad := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("something else")))
		submit(t, p, artifactJob("badsum", "echo started", fmt.Sprintf(`
      artifact {
        source = "%s/hello.txt"
        options {
          checksum = %q
        }
      }`, srv.URL, bad)))
		a := ended("badsum")
		want := fmt.Sprintf("artifact[0] (%s/hello.txt): checksum mismatch: want %s, got %s", srv.URL, bad, sum)
		if s := a.TaskStates["t"]; a.ClientStatus != "failed" || !s.Failed || !strings.Contains(s.Message, want) {
			t.Errorf("allocation %s, task %+v; want failed with a message containing %q", a.ClientStatus, s, want)
		}
	})

	t.Run("a failed fetch is retried by the restart policy", func(t *testing.T) {
		job := strings.Replace(artifactJob("retry", "cat /local/flaky.txt", fmt.Sprintf(`
      artifact {
        source = "%s/flaky.txt"
      }`, srv.URL)), `attempts = 0
      mode     = "fail"`, `attempts = 1
      delay    = "100ms"
      mode     = "fail"`, 1)
		submit(t, p, job)
		a := ended("retry")
		if s := a.TaskStates["t"]; a.ClientStatus != "complete" || s.Restarts != 1 {
			t.Errorf("allocation %s, task %+v; want complete after one restart (the first fetch got 503)", a.ClientStatus, s)
		}
	})

	t.Run("stopping the job cancels a download and the task ends stopped, not failed", func(t *testing.T) {
		submit(t, p, artifactJob("slow", "echo started", fmt.Sprintf(`
      artifact {
        source = "%s/hang"
      }`, srv.URL)))
		select {
		case <-hanging:
		case <-time.After(30 * time.Second):
			t.Fatal("the peer never asked for the artifact")
		}
		if err := p.StopJob(ctx, "slow", false); err != nil {
			t.Fatal(err)
		}
		a := ended("slow")
		if s := a.TaskStates["t"]; a.ClientStatus != "complete" || s.Failed || s.Message != "stopped before it started" {
			t.Errorf("allocation %s, task %+v; want complete, the task stopped before it started", a.ClientStatus, s)
		}
	})

	t.Run("unreachable source", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := ln.Addr().String()
		ln.Close()
		submit(t, p, artifactJob("unreachable", "echo started", fmt.Sprintf(`
      artifact {
        source = "http://%s/app.tar.gz"
      }`, dead)))
		a := ended("unreachable")
		want := fmt.Sprintf("artifact[0] (http://%s/app.tar.gz): Get \"http://%s/app.tar.gz\": dial tcp %s: connect: connection refused", dead, dead, dead)
		if s := a.TaskStates["t"]; a.ClientStatus != "failed" || !strings.Contains(s.Message, want) {
			t.Errorf("allocation %s, task %+v; want failed with a message containing %q", a.ClientStatus, s, want)
		}
	})
}
