package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

// DefaultAddress is where a peer's API listens unless told otherwise.
const DefaultAddress = "http://127.0.0.1:4646"

// Client talks to one peer's HTTP API. It is safe for concurrent use.
type Client struct {
	address string
	http    *http.Client
}

// NewClient returns a client for address ("http://host:port" or "host:port"); empty
// means $SHOAL_ADDR, then DefaultAddress.
func NewClient(address string) *Client {
	if address == "" {
		address = os.Getenv("SHOAL_ADDR")
	}
	if address == "" {
		address = DefaultAddress
	}
	if !strings.Contains(address, "://") {
		address = "http://" + address
	}
	return &Client{address: strings.TrimRight(address, "/"), http: &http.Client{}}
}

// Address is the base URL this client talks to.
func (c *Client) Address() string { return c.address }

// Error is a non-2xx answer: the status code and the peer's message.
type Error struct {
	StatusCode int
	Message    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.StatusCode)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	_, err := c.doTimeout(ctx, method, path, in, out, 30*time.Second)
	return err
}

// QueryOptions makes a read a blocking query, as in Nomad's API: with WaitIndex set
// (the LastIndex of an earlier answer), the peer answers once what it sees of the
// cluster has changed since, or after WaitTime (default 5m, at most 10m).
type QueryOptions struct {
	WaitIndex uint64
	WaitTime  time.Duration
}

// QueryMeta describes a read's answer: LastIndex is the peer's change index it
// reflects (X-Shoal-Index), to pass as the next query's WaitIndex.
type QueryMeta struct {
	LastIndex uint64
}

// query reads path as a blocking query when q asks for one.
func (c *Client) query(ctx context.Context, path string, q *QueryOptions, out any) (QueryMeta, error) {
	timeout := 30 * time.Second
	if q != nil && q.WaitIndex > 0 {
		v := url.Values{"index": {strconv.FormatUint(q.WaitIndex, 10)}}
		wait := 5 * time.Minute
		if q.WaitTime > 0 {
			wait = q.WaitTime
			v.Set("wait", q.WaitTime.String())
		}
		timeout += wait
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + v.Encode()
	}
	h, err := c.doTimeout(ctx, "GET", path, nil, out, timeout)
	if err != nil {
		return QueryMeta{}, err
	}
	idx, _ := strconv.ParseUint(h.Get("X-Shoal-Index"), 10, 64)
	return QueryMeta{LastIndex: idx}, nil
}

func (c *Client) doTimeout(ctx context.Context, method, path string, in, out any, timeout time.Duration) (http.Header, error) {
	resp, err := c.send(ctx, method, path, in, timeout)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return resp.Header, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return nil, fmt.Errorf("%s %s: decoding answer: %w", method, path, err)
	}
	return resp.Header, nil
}

func (c *Client) send(ctx context.Context, method, path string, in any, timeout time.Duration) (*http.Response, error) {
	var body io.Reader
	switch v := in.(type) {
	case nil:
	case io.Reader: // sent as it is (an exec'd command's stdin)
		body = v
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	cancel := context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.address+path, body)
	if err != nil {
		cancel()
		return nil, err
	}
	if _, raw := in.(io.Reader); in != nil && !raw {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("cannot reach the peer at %s (set -address or SHOAL_ADDR): %w", c.address, err)
	}
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		cancel()
		return nil, &Error{StatusCode: resp.StatusCode, Message: strings.TrimSpace(string(msg))}
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

// cancelOnClose releases a request's timeout when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// Jobs lists every job the cluster knows.
func (c *Client) Jobs(ctx context.Context) ([]JobListStub, error) {
	var out []JobListStub
	return out, c.do(ctx, "GET", "/v1/jobs", nil, &out)
}

// Register submits a job (parsed, or HCL for the peer to parse).
func (c *Client) Register(ctx context.Context, req JobRegisterRequest) (JobRegisterResponse, error) {
	var out JobRegisterResponse
	return out, c.do(ctx, "POST", "/v1/jobs", req, &out)
}

// Job reads one job.
func (c *Client) Job(ctx context.Context, id string) (*Job, error) {
	var out Job
	return &out, c.do(ctx, "GET", "/v1/job/"+url.PathEscape(id), nil, &out)
}

// StopJob stops a job's allocations; purge also forgets the job.
func (c *Client) StopJob(ctx context.Context, id string, purge bool) error {
	q := ""
	if purge {
		q = "?purge=true"
	}
	return c.do(ctx, "DELETE", "/v1/job/"+url.PathEscape(id)+q, nil, nil)
}

// JobAllocs lists a job's allocations across the cluster.
func (c *Client) JobAllocs(ctx context.Context, id string) ([]Alloc, error) {
	out, _, err := c.JobAllocsQuery(ctx, id, nil)
	return out, err
}

// JobAllocsQuery is JobAllocs as a blocking query (see QueryOptions).
func (c *Client) JobAllocsQuery(ctx context.Context, id string, q *QueryOptions) ([]Alloc, QueryMeta, error) {
	var out []Alloc
	meta, err := c.query(ctx, "/v1/job/"+url.PathEscape(id)+"/allocations", q, &out)
	return out, meta, err
}

// Services lists the services running allocations offer.
func (c *Client) Services(ctx context.Context) (out []ServiceStub, err error) {
	err = c.do(ctx, "GET", "/v1/services", nil, &out)
	return out, err
}

// Service lists the instances of a service; healthyOnly leaves out those whose
// checks fail.
func (c *Client) Service(ctx context.Context, name string, healthyOnly bool) (out []ServiceRegistration, err error) {
	path := "/v1/service/" + url.PathEscape(name)
	if healthyOnly {
		path += "?healthy=true"
	}
	err = c.do(ctx, "GET", path, nil, &out)
	return out, err
}

// Plan asks what submitting a job would do, changing nothing.
func (c *Client) Plan(ctx context.Context, job *jobspec.Job) (plan JobPlan, err error) {
	err = c.do(ctx, "POST", "/v1/job/"+url.PathEscape(job.ID)+"/plan", JobRegisterRequest{Job: job}, &plan)
	return plan, err
}

// Promote promotes the canaries of a job's current version.
func (c *Client) Promote(ctx context.Context, id string) error {
	return c.do(ctx, "POST", "/v1/job/"+url.PathEscape(id)+"/promote", nil, nil)
}

// PeriodicForce launches a child of a periodic job now, whatever its schedule and
// prohibit_overlap say.
func (c *Client) PeriodicForce(ctx context.Context, id string) (PeriodicForceResponse, error) {
	var out PeriodicForceResponse
	return out, c.do(ctx, "POST", "/v1/job/"+url.PathEscape(id)+"/periodic/force", nil, &out)
}

// Scale sets a group's count.
func (c *Client) Scale(ctx context.Context, id, group string, count int) error {
	return c.do(ctx, "POST", "/v1/job/"+url.PathEscape(id)+"/scale", ScaleRequest{Group: group, Count: count}, nil)
}

// Alloc reads one allocation; id may be a unique prefix.
func (c *Client) Alloc(ctx context.Context, id string) (*Alloc, error) {
	var out Alloc
	return &out, c.do(ctx, "GET", "/v1/allocation/"+url.PathEscape(id), nil, &out)
}

// Logs streams a task's stdout or stderr; with follow it stays open until ctx ends.
func (c *Client) Logs(ctx context.Context, id, task, stream string, follow bool) (io.ReadCloser, error) {
	q := url.Values{"task": {task}, "type": {stream}}
	if follow {
		q.Set("follow", "true")
	}
	resp, err := c.send(ctx, "GET", "/v1/allocation/"+url.PathEscape(id)+"/logs?"+q.Encode(), nil, 0)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// RestartAlloc restarts a task of an allocation in place, or every running task when
// task is "".
func (c *Client) RestartAlloc(ctx context.Context, id, task string) error {
	return c.do(ctx, "POST", "/v1/client/allocation/"+url.PathEscape(id)+"/restart", AllocRestartRequest{TaskName: task}, nil)
}

// SignalAlloc sends a signal to a task of an allocation, or to every running task
// when task is "".
func (c *Client) SignalAlloc(ctx context.Context, id, task, signal string) error {
	return c.do(ctx, "POST", "/v1/client/allocation/"+url.PathEscape(id)+"/signal", AllocSignalRequest{Task: task, Signal: signal}, nil)
}

// Exec runs cmd inside a task of an allocation (task "" for a group of one task), as
// `nomad alloc exec` does without a terminal: stdin (nil: none) is the command's
// stdin, its output goes to stdout and stderr as it comes, and Exec returns its exit
// code.
func (c *Client) Exec(ctx context.Context, id, task string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	resp, err := c.send(ctx, "POST", "/v1/client/allocation/"+url.PathEscape(id)+"/exec?"+ExecQuery(task, cmd, nil), stdin, 0)
	if err != nil {
		return -1, err
	}
	defer resp.Body.Close()
	return readExecFrames(resp.Body, stdout, stderr)
}

// ExecTerminal runs cmd inside a task of an allocation on a new terminal of the
// given size, as `nomad alloc exec -t` does: what is read from stdin (nil: nothing)
// is typed into the terminal, each size received from resize (nil: none) resizes
// it, what the command writes to its terminal goes to out as it comes, and
// ExecTerminal returns the command's exit code. It does not wait for a read of
// stdin in progress when it returns.
func (c *Client) ExecTerminal(ctx context.Context, id, task string, cmd []string, size TTYSize, resize <-chan TTYSize, stdin io.Reader, out io.Writer) (int, error) {
	body, input := io.Pipe()
	defer input.Close() // ends the request once the answer has ended
	done := make(chan struct{})
	defer close(done)
	var mu sync.Mutex
	enc := json.NewEncoder(input)
	send := func(f ExecInput) error {
		mu.Lock()
		defer mu.Unlock()
		return enc.Encode(f)
	}
	if stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := stdin.Read(buf)
				if n > 0 && send(ExecInput{Stdin: &ExecData{Data: buf[:n]}}) != nil {
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
	go func() {
		for {
			select {
			case s, ok := <-resize:
				if !ok || send(ExecInput{TTYSize: &s}) != nil {
					return
				}
			case <-done:
				return
			}
		}
	}()
	resp, err := c.send(ctx, "POST", "/v1/client/allocation/"+url.PathEscape(id)+"/exec?"+ExecQuery(task, cmd, &size), body, 0)
	if err != nil {
		return -1, err
	}
	defer resp.Body.Close()
	return readExecFrames(resp.Body, out, out)
}

// ExecQuery is the query of POST /v1/client/allocation/<id>/exec: the task, the
// command as a JSON array and, for a terminal (tty not nil), tty=true and its first
// size.
func ExecQuery(task string, cmd []string, tty *TTYSize) string {
	command, _ := json.Marshal(cmd) // a []string always encodes
	q := url.Values{"task": {task}, "command": {string(command)}}
	if tty != nil {
		q.Set("tty", "true")
		q.Set("height", strconv.Itoa(int(tty.Height)))
		q.Set("width", strconv.Itoa(int(tty.Width)))
	}
	return q.Encode()
}

// readExecFrames copies the output frames of an exec's answer to stdout and stderr
// and returns the command's exit code, last.
func readExecFrames(answer io.Reader, stdout, stderr io.Writer) (int, error) {
	dec := json.NewDecoder(answer)
	for {
		var f ExecFrame
		if err := dec.Decode(&f); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return -1, fmt.Errorf("exec: the answer ended before the command's exit code: %w", err)
		}
		switch {
		case f.Stdout != nil:
			stdout.Write(f.Stdout.Data)
		case f.Stderr != nil:
			stderr.Write(f.Stderr.Data)
		case f.Error != "":
			return -1, errors.New("exec: " + f.Error)
		case f.Exited && f.Result != nil:
			return f.Result.ExitCode, nil
		}
	}
}

// StopAlloc stops an allocation; its job places a replacement.
func (c *Client) StopAlloc(ctx context.Context, id string) error {
	return c.do(ctx, "POST", "/v1/allocation/"+url.PathEscape(id)+"/stop", struct{}{}, nil)
}

// Nodes lists every peer the answering peer knows.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var out []Node
	return out, c.do(ctx, "GET", "/v1/nodes", nil, &out)
}

// Node reads one peer by id, id prefix or name.
func (c *Client) Node(ctx context.Context, id string) (*Node, error) {
	var out Node
	return &out, c.do(ctx, "GET", "/v1/node/"+url.PathEscape(id), nil, &out)
}

// Drain turns draining of a peer on or off.
func (c *Client) Drain(ctx context.Context, id string, enable bool) error {
	return c.do(ctx, "POST", "/v1/node/"+url.PathEscape(id)+"/drain", DrainRequest{Enable: enable}, nil)
}

// Eligibility marks a peer eligible or not for new placements.
func (c *Client) Eligibility(ctx context.Context, id string, eligible bool) error {
	return c.do(ctx, "POST", "/v1/node/"+url.PathEscape(id)+"/eligibility", EligibilityRequest{Eligible: eligible}, nil)
}

// Self describes the answering peer.
func (c *Client) Self(ctx context.Context) (*AgentSelf, error) {
	var out AgentSelf
	return &out, c.do(ctx, "GET", "/v1/agent/self", nil, &out)
}

// Members lists the gossip members the answering peer sees.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var out []Member
	return out, c.do(ctx, "GET", "/v1/agent/members", nil, &out)
}
