package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
)

// fakeBackend answers the API from a map of jobs; it records submissions. The real
// backend (*Node) is exercised by the process tests in peer_test.go.
type fakeBackend struct {
	jobs      map[string]*jobspec.Job
	submitted []*jobspec.Job
	panicOn   string
	changes   *changeIndex
}

func (f *fakeBackend) ListJobs() []api.JobListStub {
	var out []api.JobListStub
	for id := range f.jobs {
		out = append(out, api.JobListStub{ID: id})
	}
	return out
}

func (f *fakeBackend) GetJob(id string) (*api.Job, error) {
	if id == f.panicOn {
		panic("boom")
	}
	j, ok := f.jobs[id]
	if !ok {
		return nil, fmt.Errorf("%w: job %q", ErrNotFound, id)
	}
	return &api.Job{Job: j}, nil
}

func (f *fakeBackend) SubmitJob(ctx context.Context, job *jobspec.Job) (api.JobRegisterResponse, error) {
	f.submitted = append(f.submitted, job)
	return api.JobRegisterResponse{JobID: job.ID, Version: 7}, nil
}

func (f *fakeBackend) StopJob(ctx context.Context, id string, purge bool) error {
	if _, ok := f.jobs[id]; !ok {
		return fmt.Errorf("%w: job %q", ErrNotFound, id)
	}
	return nil
}

func (f *fakeBackend) ScaleJob(ctx context.Context, id, group string, count int) error {
	return f.StopJob(ctx, id, false)
}
func (f *fakeBackend) Services() []api.ServiceStub { return nil }
func (f *fakeBackend) Service(name string, healthyOnly bool) ([]api.ServiceRegistration, error) {
	if name != "web" {
		return nil, fmt.Errorf("%w: no running allocation offers service %q", ErrNotFound, name)
	}
	return []api.ServiceRegistration{{ServiceName: "web", Port: 20001}}, nil
}
func (f *fakeBackend) PlanJob(ctx context.Context, job *jobspec.Job) (api.JobPlan, error) {
	return api.JobPlan{JobID: job.ID, Version: 8}, nil
}
func (f *fakeBackend) PromoteJob(ctx context.Context, id string) error {
	return f.StopJob(ctx, id, false)
}
func (f *fakeBackend) ForcePeriodic(ctx context.Context, id string) (api.PeriodicForceResponse, error) {
	return api.PeriodicForceResponse{JobID: id + "/periodic-1796012100"}, f.StopJob(ctx, id, false)
}
func (f *fakeBackend) JobAllocs(id string) ([]api.Alloc, error) {
	return nil, f.StopJob(nil, id, false)
}
func (f *fakeBackend) GetAlloc(id string) (api.Alloc, error) {
	return api.Alloc{}, lookupErr(lookupPrefix(id, []string{"abc123", "abd456"}))
}
func (f *fakeBackend) AllocLogs(ctx context.Context, id, task, stream string, follow bool, w io.Writer) error {
	io.WriteString(w, "line from "+stream+"\n")
	return nil
}
func (f *fakeBackend) AllocRestart(ctx context.Context, id string, req api.AllocRestartRequest) error {
	if id == "done" {
		return fmt.Errorf("%w: allocation done is not running (complete)", ErrConflict)
	}
	return nil
}
func (f *fakeBackend) AllocSignal(ctx context.Context, id string, req api.AllocSignalRequest) error {
	return nil
}
func (f *fakeBackend) AllocStop(ctx context.Context, id string) error { return nil }
func (f *fakeBackend) AllocExec(ctx context.Context, id, task string, cmd []string, tty *api.TTYSize, stdin io.Reader, out io.Writer) error {
	in, _ := io.ReadAll(stdin)
	fmt.Fprintf(out, "%q %q %q", task, cmd, in)
	if tty != nil {
		fmt.Fprintf(out, " tty %dx%d", tty.Height, tty.Width)
	}
	fmt.Fprintln(out)
	return nil
}
func (f *fakeBackend) ListNodes() []api.Node                                 { return []api.Node{} }
func (f *fakeBackend) GetNode(id string) (api.Node, error)                   { return api.Node{}, ErrNotFound }
func (f *fakeBackend) SetDrain(ctx context.Context, id string, e bool) error { return nil }
func (f *fakeBackend) SetEligibility(ctx context.Context, id string, e bool) error {
	return errors.New("peer unreachable")
}
func (f *fakeBackend) Self() api.AgentSelf   { return api.AgentSelf{Name: "self"} }
func (f *fakeBackend) Members() []api.Member { return []api.Member{} }

func (f *fakeBackend) WaitIndex(ctx context.Context, after uint64) uint64 {
	return f.changes.wait(ctx, after)
}

func lookupErr(_ string, err error) error {
	if err == nil {
		return nil
	}
	return err
}

func TestHTTPAPI(t *testing.T) {
	fb := &fakeBackend{jobs: map[string]*jobspec.Job{"web": {ID: "web", Name: "web"}}, panicOn: "explode", changes: newChangeIndex()}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "shoal_test_total", Help: "test"}))
	srv := httptest.NewServer(newHandler(fb, reg, jobspec.Parse, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"list jobs", "GET", "/v1/jobs", "", 200, `"ID":"web"`},
		{"read job", "GET", "/v1/job/web", "", 200, `"Name":"web"`},
		{"force a periodic launch", "POST", "/v1/job/web/periodic/force", "", 200, `"JobID":"web/periodic-1796012100"`},
		{"force a launch of an unknown job", "POST", "/v1/job/nope/periodic/force", "", 404, `not found: job "nope"`},
		{"read job, indented on request", "GET", "/v1/job/web?pretty", "", 200, "\n    \"Name\": \"web\""},
		{"unknown job", "GET", "/v1/job/nope", "", 404, `job "nope"`},
		{"submit HCL", "POST", "/v1/jobs", `{"JobHCL": "job \"x\" {\n group \"g\" {\n task \"t\" {\n driver = \"exec\"\n config {\n command = \"/bin/true\"\n }\n }\n }\n}"}`, 200, `"Version":7`},
		{"submit JSON", "PUT", "/v1/jobs", `{"Job": {"ID": "y", "TaskGroups": []}}`, 200, `"JobID":"y"`},
		{"bad JSON", "POST", "/v1/jobs", `{"Job": [`, 400, "request body"},
		{"unknown field", "POST", "/v1/jobs", `{"Jobb": {}}`, 400, `unknown field "Jobb"`},
		{"both forms", "POST", "/v1/jobs", `{"Job": {"ID": "a"}, "JobHCL": "x"}`, 400, "not both"},
		{"HCL error names the line", "POST", "/v1/jobs", `{"JobHCL": "job \"x\" {\n  group \"g\" {\n    count = \"many\"\n  }\n}"}`, 400, "job.hcl:3"},
		{"path and body disagree", "POST", "/v1/job/other", `{"Job": {"ID": "y"}}`, 400, `does not match "other"`},
		{"stop", "DELETE", "/v1/job/web", "", 200, `"JobID":"web"`},
		{"bad purge", "DELETE", "/v1/job/web?purge=yes", "", 400, `purge="yes"`},
		{"stop unknown", "DELETE", "/v1/job/nope?purge=true", "", 404, "nope"},
		{"negative scale", "POST", "/v1/job/web/scale", `{"Group": "g", "Count": -1}`, 400, "Count -1"},
		{"scale", "POST", "/v1/job/web/scale", `{"Group": "g", "Count": 2}`, 200, "web"},
		{"promote", "POST", "/v1/job/web/promote", ``, 200, "web"},
		{"services", "GET", "/v1/services", ``, 200, "[]"},
		{"service", "GET", "/v1/service/web?healthy=true", ``, 200, "20001"},
		{"unknown service", "GET", "/v1/service/db", ``, 404, `service "db"`},
		{"service with a bad filter", "GET", "/v1/service/web?healthy=yes", ``, 400, "healthy"},
		{"plan", "POST", "/v1/job/web/plan", `{"Job": {"ID": "web"}}`, 200, `"Version":8`},
		{"plan with another job's body", "POST", "/v1/job/web/plan", `{"Job": {"ID": "db"}}`, 400, "does not match"},
		{"plan without a job", "POST", "/v1/job/web/plan", `{}`, 400, "needs"},
		{"promote unknown job", "POST", "/v1/job/nope/promote", ``, 404, "nope"},
		{"alloc prefix ambiguous", "GET", "/v1/allocation/ab", "", 400, "matches 2 ids"},
		{"alloc unknown", "GET", "/v1/allocation/zz", "", 404, `"zz"`},
		{"logs bad stream", "GET", "/v1/allocation/abc123/logs?type=stdin", "", 400, `type="stdin"`},
		{"logs", "GET", "/v1/allocation/abc123/logs?type=stderr", "", 200, "line from stderr"},
		{"restart every task: no body", "POST", "/v1/client/allocation/abc123/restart", "", 200, `"AllocID":"abc123"`},
		{"restart one task", "PUT", "/v1/client/allocation/abc123/restart", `{"TaskName": "web"}`, 200, "abc123"},
		{"restart with a misspelt field", "POST", "/v1/client/allocation/abc123/restart", `{"Task": "web"}`, 400, `unknown field "Task"`},
		{"restart what does not run", "POST", "/v1/client/allocation/done/restart", "", 409, "not running"},
		{"signal", "POST", "/v1/client/allocation/abc123/signal", `{"Signal": "SIGHUP"}`, 200, "abc123"},
		{"signal without a body", "POST", "/v1/client/allocation/abc123/signal", "", 400, "request body"},
		{"alloc stop", "POST", "/v1/allocation/abc123/stop", "", 200, "abc123"},
		{"exec", "POST", `/v1/client/allocation/abc123/exec?task=a&command=["ls","-l"]`, "in", 200, `"a" ["ls" "-l"] "in"`},
		{"exec with a command that is not a JSON array", "POST", "/v1/client/allocation/abc123/exec?command=ls", "", 400, "want a JSON array"},
		{"exec on a terminal", "POST", `/v1/client/allocation/abc123/exec?command=["sh"]&tty=true&height=24&width=80`, "{}", 200, `"" ["sh"] "{}" tty 24x80`},
		{"exec on a terminal of no size", "POST", `/v1/client/allocation/abc123/exec?command=["sh"]&tty=true`, "", 200, `"" ["sh"] "" tty 0x0`},
		{"exec with tty neither true nor false", "POST", `/v1/client/allocation/abc123/exec?command=["sh"]&tty=yes`, "", 400, `tty="yes": want true or false`},
		{"exec on a terminal of a negative width", "POST", `/v1/client/allocation/abc123/exec?command=["sh"]&tty=true&width=-1`, "", 400, `width="-1": want a number of characters, 0 to 65535`},
		{"node unknown", "GET", "/v1/node/x", "", 404, "not found"},
		{"drain body", "POST", "/v1/node/x/drain", `{"Enable": "yes"}`, 400, "request body"},
		{"eligibility unreachable", "POST", "/v1/node/x/eligibility", `{"Eligible": true}`, 503, "peer unreachable"},
		{"self", "GET", "/v1/agent/self", "", 200, `"Name":"self"`},
		{"metrics", "GET", "/v1/metrics", "", 200, "shoal_test_total 0"},
		{"unknown endpoint", "GET", "/v1/nope", "", 404, "no such endpoint"},
		{"blocking query with a bad index", "GET", "/v1/jobs?index=-1", "", 400, `index="-1"`},
		{"blocking query with a bad wait", "GET", "/v1/job/web/allocations?index=1&wait=soon", "", 400, `wait="soon"`},
		{"wrong method", "PATCH", "/v1/jobs", "", 404, "no such endpoint: PATCH /v1/jobs"},
		{"handler panic is a 503 with a message", "GET", "/v1/job/explode", "", 503, "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
				t.Errorf("%s %s: HTTP %d %q; want %d containing %q", tc.method, tc.path, resp.StatusCode, b, tc.code, tc.want)
			}
		})
	}
	if len(fb.submitted) != 2 || fb.submitted[0].ID != "x" {
		t.Errorf("submitted %d jobs (first %+v), want 2 starting with x: bad bodies must not reach the backend", len(fb.submitted), fb.submitted)
	}
}

// TestDebugEndpoints: with enable_debug the API also serves Go's profiles, and
// without it /debug/pprof/ is an unknown endpoint like any other.
func TestDebugEndpoints(t *testing.T) {
	fb := &fakeBackend{jobs: map[string]*jobspec.Job{"web": {ID: "web", Name: "web"}}, changes: newChangeIndex()}
	api := newHandler(fb, prometheus.NewRegistry(), jobspec.Parse, slog.New(slog.DiscardHandler))
	get := func(h http.Handler, path string) (int, string) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(withDebug(api), "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("with enable_debug, /debug/pprof/: %d %q, want 200 listing the profiles", code, body)
	}
	if code, body := get(withDebug(api), "/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("with enable_debug, the goroutine profile: %d %.80q", code, body)
	}
	if code, body := get(withDebug(api), "/v1/job/web"); code != 200 || !strings.Contains(body, `"Name":"web"`) {
		t.Errorf("with enable_debug, /v1/job/web: %d %q, want the job", code, body)
	}
	if code, body := get(api, "/debug/pprof/"); code != 404 || !strings.Contains(body, "no such endpoint") {
		t.Errorf("without enable_debug, /debug/pprof/: %d %q, want 404", code, body)
	}
}

// TestBlockingQuery: a read with ?index waits for a change past that index and then
// answers with the new index; with ?wait it gives up after that long and answers
// with the index it had. A read without index answers at once.
func TestBlockingQuery(t *testing.T) {
	fb := &fakeBackend{jobs: map[string]*jobspec.Job{"web": {ID: "web", Name: "web"}}, changes: newChangeIndex()}
	srv := httptest.NewServer(newHandler(fb, prometheus.NewRegistry(), jobspec.Parse, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	c := api.NewClient(srv.URL)
	ctx := t.Context()

	_, meta, err := c.JobAllocsQuery(ctx, "web", nil)
	if err != nil || meta.LastIndex == 0 {
		t.Fatalf("plain read: index %d, err %v; want an index at once", meta.LastIndex, err)
	}
	before := meta.LastIndex

	start := time.Now()
	_, meta, err = c.JobAllocsQuery(ctx, "web", &api.QueryOptions{WaitIndex: before, WaitTime: 100 * time.Millisecond})
	if err != nil || meta.LastIndex != before || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("nothing changed: index %d after %v, err %v; want %d after the 100ms wait", meta.LastIndex, time.Since(start), err, before)
	}

	type answer struct {
		meta api.QueryMeta
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		_, meta, err := c.JobAllocsQuery(ctx, "web", &api.QueryOptions{WaitIndex: before, WaitTime: time.Minute})
		got <- answer{meta, err}
	}()
	select {
	case a := <-got:
		t.Fatalf("answered before any change: %+v", a)
	case <-time.After(50 * time.Millisecond): // long enough for the query to be waiting
	}
	fb.changes.bump()
	select {
	case a := <-got:
		if a.err != nil || a.meta.LastIndex <= before {
			t.Fatalf("after a change: index %d, err %v; want past %d", a.meta.LastIndex, a.err, before)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a change did not end the blocking query")
	}
}

// BenchmarkWriteAllocs: encoding the answer to GET /v1/job/<id>/allocations for a
// 30-allocation job, compact (the default) against indented (?pretty).
//
//	go test -run '^$' -bench WriteAllocs -benchmem ./node
func BenchmarkWriteAllocs(b *testing.B) {
	now := time.Now()
	allocs := make([]api.Alloc, 30)
	for i := range allocs {
		allocs[i] = api.Alloc{
			ID: fmt.Sprintf("%08d-27a1-79d3-1ce4-80c86d3ab1ef", i), JobID: "s30", TaskGroup: "g", Index: i,
			Slot: fmt.Sprintf("s30/g[%d]", i), NodeID: "ae6a1b26-27a1-79d3-1ce4-80c86d3ab1ef", NodeName: "p1",
			ClientStatus: "running", DesiredStatus: "run", CreateTime: now, ModifyTime: now,
			TaskStates: map[string]api.TaskState{"t": {State: "running", StartedAt: now}},
		}
	}
	for _, query := range []string{"", "?pretty"} {
		name := map[string]string{"": "compact", "?pretty": "pretty"}[query]
		b.Run(name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/v1/job/s30/allocations"+query, nil)
			for b.Loop() {
				writeJSON(httptest.NewRecorder(), r, allocs)
			}
		})
	}
}

// TestChildJobIDInPath: a periodic child's id has a slash; the client escapes it and
// the routes read it back whole.
func TestChildJobIDInPath(t *testing.T) {
	child := "report/periodic-1796012100"
	fb := &fakeBackend{jobs: map[string]*jobspec.Job{child: {ID: child, Name: child, ParentID: "report"}}, changes: newChangeIndex()}
	srv := httptest.NewServer(newHandler(fb, prometheus.NewRegistry(), jobspec.Parse, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	c := api.NewClient(srv.URL)
	j, err := c.Job(context.Background(), child)
	if err != nil || j.ID != child || j.ParentID != "report" {
		t.Fatalf("reading %s: %+v, %v", child, j, err)
	}
	if err := c.StopJob(context.Background(), child, false); err != nil {
		t.Errorf("stopping %s: %v", child, err)
	}
}
