package node

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/shoal-sched/shoal/exec"
	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
)

// Check statuses, as Nomad names them.
const (
	checkPassing  = "passing"
	checkWarning  = "warning" // a script check that exited 1: not passing
	checkCritical = "critical"
)

// checkClient makes a fresh connection for every probe, as a health check should.
var checkClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// checkSpec is one service check of an allocation, resolved to an address.
type checkSpec struct {
	key     string // "<service>/<check>": unique in the allocation
	service string
	check   jobspec.Check
	addr    string // host:port, "" when the port label has no port
}

// checkSpecs resolves the checks of a group's services against the allocation's
// ports (label -> host port on hostIP).
func checkSpecs(g *jobspec.Group, ports map[string]int, hostIP string) []checkSpec {
	var specs []checkSpec
	for _, s := range g.Services {
		for i, c := range s.Checks {
			label := s.Port
			if c.PortLabel != "" {
				label = c.PortLabel
			}
			name := c.Name
			if name == "" {
				name = fmt.Sprintf("%s-%s-%d", s.Name, c.Type, i)
			}
			spec := checkSpec{key: s.Name + "/" + name, service: s.Name, check: c}
			spec.check.Name = name
			if p, ok := ports[label]; ok {
				spec.addr = net.JoinHostPort(hostIP, strconv.Itoa(p))
			}
			specs = append(specs, spec)
		}
	}
	return specs
}

// probe runs one check once: http passes on a 2xx answer to GET path, tcp when a
// connection opens, script when its command exits 0 inside its task (1 warns). The
// output says what happened, for `peer alloc status`.
func (r *runner) probe(ctx context.Context, c checkSpec) (status, output string) {
	timeout := c.check.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if c.check.Type == "script" {
		return r.probeScript(ctx, c.check)
	}
	if c.addr == "" {
		return checkCritical, fmt.Sprintf("service %q has no port for this check", c.service)
	}
	switch c.check.Type {
	case "tcp":
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return checkCritical, err.Error()
		}
		conn.Close()
		return checkPassing, "TCP connect " + c.addr + ": Success"
	default: // http (validated by jobspec)
		path := c.check.Path
		if path == "" {
			path = "/"
		}
		url := "http://" + c.addr + path
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return checkCritical, err.Error()
		}
		resp, err := checkClient.Do(req)
		if err != nil {
			return checkCritical, err.Error()
		}
		resp.Body.Close()
		out := fmt.Sprintf("HTTP GET %s: %s", url, resp.Status)
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return checkCritical, out
		}
		return checkPassing, out
	}
}

// maxCheckOutput bounds what a script check's output keeps, as Consul's 4 KiB.
const maxCheckOutput = 4 << 10

// probeScript runs a script check's command inside its task, as Nomad does, until it
// exits or ctx (the check's timeout) ends.
func (r *runner) probeScript(ctx context.Context, c jobspec.Check) (status, output string) {
	task := c.TaskName
	if task == "" && len(r.group.Tasks) == 1 {
		task = r.group.Tasks[0].Name
	}
	lts, err := r.running(task)
	if err != nil {
		return checkCritical, err.Error()
	}
	code, out, err := runScript(ctx, lts[0].task, c.Command, c.Args)
	switch {
	case err != nil:
		return checkCritical, err.Error()
	case ctx.Err() != nil:
		return checkCritical, fmt.Sprintf("%s timed out after %s", c.Command, c.Timeout)
	case code == 0:
		return checkPassing, out
	case code == 1:
		return checkWarning, out
	}
	return checkCritical, fmt.Sprintf("exit code %d: %s", code, out)
}

// runScript runs command with args inside task (script checks, change_script) until
// it exits or ctx ends, with no stdin, and returns its exit code and the first
// maxCheckOutput bytes of its stdout and stderr together.
func runScript(ctx context.Context, task *exec.Task, command string, args []string) (int, string, error) {
	out := &limitedBuffer{max: maxCheckOutput}
	code, err := task.Exec(ctx, append([]string{command}, args...), nil, out, out)
	return code, out.String(), err
}

// limitedBuffer keeps the first max bytes written to it (from two goroutines).
type limitedBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p[:min(len(p), b.max-len(b.buf))]...)
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// runChecks probes every check of the allocation at its interval until ctx ends,
// and records each change of status or output (not every probe) through update, together with
// ChecksPassingSince: when every check last started passing, zero while any fails.
func (r *runner) runChecks(ctx context.Context, specs []checkSpec) {
	if len(specs) == 0 {
		return
	}
	var (
		mu     sync.Mutex
		status = map[string]api.CheckStatus{}
	)
	for _, c := range specs {
		status[c.key] = api.CheckStatus{Service: c.service, Name: c.check.Name, Type: c.check.Type, Status: checkCritical, Output: "not run yet"}
	}
	publish := func() { // under mu
		snapshot := make(map[string]api.CheckStatus, len(status))
		all := true
		var since time.Time
		for k, s := range status {
			snapshot[k] = s
			all = all && s.Status == checkPassing
			if s.Since.After(since) {
				since = s.Since
			}
		}
		r.update(r.allocID, func(a *allocRecord) {
			a.Checks = snapshot
			if !all {
				a.ChecksPassingSince = time.Time{}
			} else if a.ChecksPassingSince.IsZero() {
				a.ChecksPassingSince = since
			}
		})
	}
	mu.Lock()
	publish()
	mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			interval := c.check.Interval
			if interval <= 0 {
				interval = 10 * time.Second
			}
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				st, out := r.probe(ctx, c)
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				if prev := status[c.key]; prev.Status != st || prev.Output != out {
					since := prev.Since
					if prev.Status != st || since.IsZero() {
						since = r.now()
					}
					status[c.key] = api.CheckStatus{Service: c.service, Name: c.check.Name, Type: c.check.Type, Status: st, Output: out, Since: since}
					publish()
				}
				mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	wg.Wait()
}
