package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
)

// Errors the API maps to status codes. Anything else a backend returns is a 503 (the
// cluster could not do it now), never a 500.
var (
	ErrNotFound   = errors.New("not found")
	ErrBadRequest = errors.New("bad request")
	ErrConflict   = errors.New("conflict") // the request does not fit the state it finds (a task that is not running)
)

// backend is what the HTTP API needs from the peer. *Node implements it.
type backend interface {
	ListJobs() []api.JobListStub
	GetJob(id string) (*api.Job, error)
	SubmitJob(ctx context.Context, job *jobspec.Job) (api.JobRegisterResponse, error)
	StopJob(ctx context.Context, id string, purge bool) error
	ScaleJob(ctx context.Context, id, group string, count int) error
	PromoteJob(ctx context.Context, id string) error
	ForcePeriodic(ctx context.Context, id string) (api.PeriodicForceResponse, error)
	PlanJob(ctx context.Context, job *jobspec.Job) (api.JobPlan, error)
	Services() []api.ServiceStub
	Service(name string, healthyOnly bool) ([]api.ServiceRegistration, error)
	JobAllocs(id string) ([]api.Alloc, error)
	GetAlloc(id string) (api.Alloc, error)
	AllocLogs(ctx context.Context, id, task, stream string, follow bool, w io.Writer) error
	AllocRestart(ctx context.Context, id string, req api.AllocRestartRequest) error
	AllocSignal(ctx context.Context, id string, req api.AllocSignalRequest) error
	AllocStop(ctx context.Context, id string) error
	AllocExec(ctx context.Context, id, task string, cmd []string, tty *api.TTYSize, stdin io.Reader, out io.Writer) error
	ListNodes() []api.Node
	GetNode(id string) (api.Node, error)
	SetDrain(ctx context.Context, id string, enable bool) error
	SetEligibility(ctx context.Context, id string, eligible bool) error
	Self() api.AgentSelf
	Members() []api.Member
	// WaitIndex returns the peer's change index once it is past after, or when ctx
	// ends (blocking queries).
	WaitIndex(ctx context.Context, after uint64) uint64
}

// maxBody bounds request bodies (a job file is a few KiB).
const maxBody = 4 << 20

// newHandler builds the API's routes (Go 1.22 patterns) over b. reg serves /v1/metrics.
func newHandler(b backend, reg *prometheus.Registry, parse func(name string, src []byte, vars map[string]string) (*jobspec.Job, error), log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	h := &handlers{b: b, parse: parse, log: log}
	mux.HandleFunc("GET /v1/jobs", h.blocking(h.listJobs))
	mux.HandleFunc("POST /v1/jobs", h.submitJob)
	mux.HandleFunc("PUT /v1/jobs", h.submitJob)
	mux.HandleFunc("GET /v1/job/{id}", h.blocking(h.getJob))
	mux.HandleFunc("POST /v1/job/{id}", h.submitJob) // Nomad's register-by-id form
	mux.HandleFunc("DELETE /v1/job/{id}", h.stopJob)
	mux.HandleFunc("GET /v1/job/{id}/allocations", h.blocking(h.jobAllocs))
	mux.HandleFunc("POST /v1/job/{id}/scale", h.scaleJob)
	mux.HandleFunc("POST /v1/job/{id}/promote", h.promoteJob)
	mux.HandleFunc("POST /v1/job/{id}/plan", h.planJob)
	mux.HandleFunc("POST /v1/job/{id}/periodic/force", h.periodicForce)
	mux.HandleFunc("GET /v1/allocation/{id}", h.blocking(h.getAlloc))
	mux.HandleFunc("GET /v1/allocation/{id}/logs", h.allocLogs)
	for _, m := range []string{"POST", "PUT"} { // Nomad takes either
		mux.HandleFunc(m+" /v1/allocation/{id}/stop", h.allocStop)
		mux.HandleFunc(m+" /v1/client/allocation/{id}/restart", h.allocRestart)
		mux.HandleFunc(m+" /v1/client/allocation/{id}/signal", h.allocSignal)
		mux.HandleFunc(m+" /v1/client/allocation/{id}/exec", h.allocExec)
	}
	mux.HandleFunc("GET /v1/services", h.blocking(h.services))
	mux.HandleFunc("GET /v1/service/{name}", h.blocking(h.service))
	mux.HandleFunc("GET /v1/nodes", h.blocking(h.listNodes))
	mux.HandleFunc("GET /v1/node/{id}", h.blocking(h.getNode))
	mux.HandleFunc("POST /v1/node/{id}/drain", h.drain)
	mux.HandleFunc("POST /v1/node/{id}/eligibility", h.eligibility)
	mux.HandleFunc("GET /v1/agent/self", h.self)
	mux.HandleFunc("GET /v1/agent/members", h.blocking(h.members))
	mux.Handle("GET /v1/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path), http.StatusNotFound)
	})
	return h.recoverer(mux)
}

// withDebug serves Go's profiles (net/http/pprof) under /debug/pprof/ beside api:
// `go tool pprof http://PEER:4646/debug/pprof/profile?seconds=10`, as on a Nomad
// agent with enable_debug.
func withDebug(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", api)
	return mux
}

// Blocking queries, as Nomad's API has them: the longest a read may wait, and the
// wait when the request gives none.
const (
	maxQueryWait     = 10 * time.Minute
	defaultQueryWait = 5 * time.Minute
)

// blocking serves a read as a blocking query: with ?index=N (the X-Shoal-Index of an
// earlier answer) it answers once what this peer sees has changed since, or after
// ?wait= (a duration, default 5m, at most 10m); without index it answers at once.
// Every answer carries the index it reflects in X-Shoal-Index.
func (h *handlers) blocking(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var after uint64
		if s := q.Get("index"); s != "" {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				writeErr(w, fmt.Errorf("%w: index=%q: want the X-Shoal-Index of an earlier answer, an unsigned integer", ErrBadRequest, s))
				return
			}
			after = v
		}
		wait := defaultQueryWait
		if s := q.Get("wait"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				writeErr(w, fmt.Errorf("%w: wait=%q: want a positive duration such as 500ms, 10s or 5m", ErrBadRequest, s))
				return
			}
			wait = min(d, maxQueryWait)
		}
		ctx := r.Context()
		if after > 0 { // without ?index, after is 0 and the index (never 0) is past it
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, wait)
			defer cancel()
		}
		w.Header().Set("X-Shoal-Index", strconv.FormatUint(h.b.WaitIndex(ctx, after), 10))
		next(w, r)
	}
}

type handlers struct {
	b     backend
	parse func(name string, src []byte, vars map[string]string) (*jobspec.Job, error)
	log   *slog.Logger
}

// recoverer turns a handler panic into a 503 and a log line, so a bug is never a
// dropped connection or a 500 without a message.
func (h *handlers) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				h.log.Error("api handler panicked", "path", r.URL.Path, "panic", v)
				http.Error(w, fmt.Sprintf("internal error handling %s: %v", r.URL.Path, v), http.StatusServiceUnavailable)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// writeJSON answers with v as compact JSON, or indented when the request asks
// with ?pretty (as Nomad's API does): indenting doubled the cost of the answers
// `peer job run` polls for.
func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	if _, pretty := r.URL.Query()["pretty"]; pretty {
		enc.SetIndent("", "    ")
	}
	enc.Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusServiceUnavailable
	var diags interface{ Unwrap() []error }
	switch {
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrBadRequest), errors.As(err, &diags):
		code = http.StatusBadRequest
	case errors.Is(err, ErrConflict):
		code = http.StatusConflict
	}
	http.Error(w, err.Error(), code)
}

func badRequest(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, a...))
}

// decodeOptional is decode for a body that may be left out (Nomad's restart with no
// body restarts every task).
func decodeOptional(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return decode(r, v)
}

// decode reads a JSON body into v, refusing unknown fields so typos are errors.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body: %v", err)
	}
	return nil
}

func (h *handlers) listJobs(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, h.b.ListJobs())
}

func (h *handlers) submitJob(w http.ResponseWriter, r *http.Request) {
	job, err := h.requestJob(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	resp, err := h.b.SubmitJob(r.Context(), job)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, r, resp)
}

func (h *handlers) planJob(w http.ResponseWriter, r *http.Request) {
	job, err := h.requestJob(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	plan, err := h.b.PlanJob(r.Context(), job)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, r, plan)
}

// requestJob reads the job of a register or plan request: a JSON job, or HCL source
// with variables; its ID must match the path's, if the path names one.
func (h *handlers) requestJob(r *http.Request) (*jobspec.Job, error) {
	var req api.JobRegisterRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	job := req.Job
	switch {
	case job != nil && req.JobHCL != "":
		return nil, badRequest(`give either "Job" or "JobHCL", not both`)
	case req.JobHCL != "":
		j, err := h.parse("job.hcl", []byte(req.JobHCL), req.Variables)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		job = j
	case job == nil:
		return nil, badRequest(`request body needs "Job" (JSON job) or "JobHCL" (HCL source)`)
	}
	if id := r.PathValue("id"); id != "" && id != job.ID {
		return nil, badRequest("job ID %q in the body does not match %q in the path", job.ID, id)
	}
	return job, nil
}

func (h *handlers) getJob(w http.ResponseWriter, r *http.Request) {
	j, err := h.b.GetJob(r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, r, j)
}

func (h *handlers) stopJob(w http.ResponseWriter, r *http.Request) {
	purge, err := boolQuery(r.URL.Query(), "purge")
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := h.b.StopJob(r.Context(), r.PathValue("id"), purge); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, r, map[string]string{"JobID": r.PathValue("id")})
}

func (h *handlers) jobAllocs(w http.ResponseWriter, r *http.Request) {
	allocs, err := h.b.JobAllocs(r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, r, allocs)
}

func (h *handlers) scaleJob(w http.ResponseWriter, r *http.Request) {
	var req api.ScaleRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.Count < 0 {
		writeErr(w, badRequest("Count %d: must be >= 0", req.Count))
		return
	}
	if err := h.b.ScaleJob(r.Context(), r.PathValue("id"), req.Group, req.Count); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, r, map[string]string{"JobID": r.PathValue("id")})
}

func (h *handlers) promoteJob(w http.ResponseWriter, r *http.Request) {
	if err := h.b.PromoteJob(r.Context(), r.PathValue("id")); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, r, map[string]string{"JobID": r.PathValue("id")})
}

func (h *handlers) periodicForce(w http.ResponseWriter, r *http.Request) {
	resp, err := h.b.ForcePeriodic(r.Context(), r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, r, resp)
}

// boolQuery reads a true/false query parameter (absent: false).
func boolQuery(q url.Values, name string) (bool, error) {
	switch v := q.Get(name); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, badRequest("%s=%q: want true or false", name, v)
	}
}

func (h *handlers) services(w http.ResponseWriter, r *http.Request) {
	out := h.b.Services()
	if out == nil {
		out = []api.ServiceStub{}
	}
	writeJSON(w, r, out)
}

func (h *handlers) service(w http.ResponseWriter, r *http.Request) {
	healthy, err := boolQuery(r.URL.Query(), "healthy")
	if err != nil {
		writeErr(w, err)
		return
	}
	regs, err := h.b.Service(r.PathValue("name"), healthy)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, r, regs)
}

func (h *handlers) getAlloc(w http.ResponseWriter, r *http.Request) {
	a, err := h.b.GetAlloc(r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, r, a)
}

func (h *handlers) allocLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	stream := q.Get("type")
	if stream == "" {
		stream = "stdout"
	}
	if stream != "stdout" && stream != "stderr" {
		writeErr(w, badRequest("type=%q: accepted: stdout or stderr", stream))
		return
	}
	follow := q.Get("follow") == "true"
	w.Header().Set("Content-Type", "text/plain; charset=utf-8") // also for an empty log
	fw := &flushWriter{w: w, header: "text/plain; charset=utf-8"}
	if err := h.b.AllocLogs(r.Context(), r.PathValue("id"), q.Get("task"), stream, follow, fw); err != nil {
		if fw.wrote {
			return // headers are gone; the stream just ends
		}
		writeErr(w, err)
	}
}

func (h *handlers) allocRestart(w http.ResponseWriter, r *http.Request) {
	var req api.AllocRestartRequest
	if err := decodeOptional(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if err := h.b.AllocRestart(r.Context(), r.PathValue("id"), req); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, r, map[string]string{"AllocID": r.PathValue("id")})
}

func (h *handlers) allocSignal(w http.ResponseWriter, r *http.Request) {
	var req api.AllocSignalRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if err := h.b.AllocSignal(r.Context(), r.PathValue("id"), req); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, r, map[string]string{"AllocID": r.PathValue("id")})
}

// allocExec runs ?command=["cmd","arg"...] in ?task of the allocation with the
// request body as its stdin, and streams api.ExecFrame lines back as they come.
// With ?tty=true&height=H&width=W it runs on a terminal of that size, and the body
// is api.ExecInput lines.
func (h *handlers) allocExec(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var cmd []string
	if err := json.Unmarshal([]byte(q.Get("command")), &cmd); err != nil {
		writeErr(w, badRequest("command=%q: want a JSON array of strings, e.g. [\"/bin/sh\",\"-c\",\"ls\"]", q.Get("command")))
		return
	}
	tty, err := ttyQuery(q)
	if err != nil {
		writeErr(w, err)
		return
	}
	// The command's stdin (the request body) is read while its output is written.
	http.NewResponseController(w).EnableFullDuplex()
	fw := &flushWriter{w: w, header: "application/x-ndjson"}
	if err := h.b.AllocExec(r.Context(), r.PathValue("id"), q.Get("task"), cmd, tty, r.Body, fw); err != nil && !fw.wrote {
		writeErr(w, err)
	}
}

// ttyQuery reads an exec's terminal from its query: nil without tty=true, else
// its first size (height and width, 0 to 65535 characters; 0 or left out: the
// kernel's default, 0x0).
func ttyQuery(q url.Values) (*api.TTYSize, error) {
	if tty, err := boolQuery(q, "tty"); !tty {
		return nil, err
	}
	var size api.TTYSize
	for _, d := range []struct {
		name string
		v    *uint16
	}{{"height", &size.Height}, {"width", &size.Width}} {
		s := q.Get(d.name)
		if s == "" {
			continue
		}
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return nil, badRequest("%s=%q: want a number of characters, 0 to 65535", d.name, s)
		}
		*d.v = uint16(n)
	}
	return &size, nil
}

func (h *handlers) allocStop(w http.ResponseWriter, r *http.Request) {
	if err := h.b.AllocStop(r.Context(), r.PathValue("id")); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, r, map[string]string{"AllocID": r.PathValue("id")})
}

// flushWriter flushes after each write so `alloc logs -f` sees lines as they come.
// The answer's Content-Type is header, set at the first write (an error before it
// gets its own).
type flushWriter struct {
	w      http.ResponseWriter
	header string
	wrote  bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	if !f.wrote {
		f.w.Header().Set("Content-Type", f.header)
	}
	f.wrote = true
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

func (h *handlers) listNodes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, h.b.ListNodes())
}

func (h *handlers) getNode(w http.ResponseWriter, r *http.Request) {
	n, err := h.b.GetNode(r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, r, n)
}

func (h *handlers) drain(w http.ResponseWriter, r *http.Request) {
	var req api.DrainRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if err := h.b.SetDrain(r.Context(), r.PathValue("id"), req.Enable); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, r, map[string]string{"NodeID": r.PathValue("id")})
}

func (h *handlers) eligibility(w http.ResponseWriter, r *http.Request) {
	var req api.EligibilityRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if err := h.b.SetEligibility(r.Context(), r.PathValue("id"), req.Eligible); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, r, map[string]string{"NodeID": r.PathValue("id")})
}

func (h *handlers) self(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, h.b.Self())
}

func (h *handlers) members(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, h.b.Members())
}

// lookupPrefix finds the one key of keys equal to id or starting with it (ids are
// long; users type prefixes, as with Nomad). Ambiguous prefixes are a 400.
func lookupPrefix(id string, keys []string) (string, error) {
	if id == "" {
		return "", badRequest("empty id")
	}
	var found []string
	for _, k := range keys {
		if k == id {
			return k, nil
		}
		if strings.HasPrefix(k, id) {
			found = append(found, k)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%w: no such id %q", ErrNotFound, id)
	case 1:
		return found[0], nil
	}
	return "", badRequest("id prefix %q matches %d ids; give more characters", id, len(found))
}
