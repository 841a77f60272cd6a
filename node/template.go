package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoal-sched/shoal/exec"
	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
)

// Templates (Nomad's template block, without Consul and Vault): each is rendered
// when its task starts, into the task directory, with the task's environment and the
// cluster's service catalog; `env = true` templates also become environment
// variables of the task. A template that reads the catalog is rendered again while
// its task runs, whenever the peer's view of the cluster changes; new content is
// written at once and acted on per change_mode (see watch).

// serviceLookup is what templates can ask about services: a service's healthy
// instances, and every service.
type serviceLookup struct {
	instances func(name string) []api.ServiceRegistration
	all       func() []api.ServiceStub
}

// templateService is one instance as nomadService gives it (the fields
// consul-template's nomadService has).
type templateService struct {
	ID, Name, NodeID, JobID, AllocID, Address string
	Port                                      int
	Tags                                      []string
}

// templateServiceStub is one service as nomadServices gives it.
type templateServiceStub struct {
	Name string
	Tags []string
}

// templateFuncs implements jobspec.TemplateFuncs for one task.
func templateFuncs(env map[string]string, svc serviceLookup) template.FuncMap {
	return template.FuncMap{
		"env": func(name string) string { return env[name] },
		"nomadService": func(name string) []templateService {
			var out []templateService
			if svc.instances == nil {
				return out
			}
			for _, r := range svc.instances(name) {
				out = append(out, templateService{ID: r.ID, Name: r.ServiceName, NodeID: r.NodeID, JobID: r.JobID,
					AllocID: r.AllocID, Address: r.Address, Port: r.Port, Tags: r.Tags})
			}
			return out
		},
		"nomadServices": func() []templateServiceStub {
			var out []templateServiceStub
			if svc.all == nil {
				return out
			}
			for _, s := range svc.all() {
				out = append(out, templateServiceStub{Name: s.ServiceName, Tags: s.Tags})
			}
			return out
		},
		"toJSON": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"toUpper":    strings.ToUpper,
		"toLower":    strings.ToLower,
		"trimSpace":  strings.TrimSpace,
		"split":      func(sep, s string) []string { return strings.Split(s, sep) },
		"join":       func(sep string, a []string) string { return strings.Join(a, sep) },
		"replaceAll": func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"contains":   func(sub, s string) bool { return strings.Contains(s, sub) },
		"parseInt":   func(s string) (int64, error) { return strconv.ParseInt(strings.TrimSpace(s), 10, 64) },
	}
}

// renderTemplates renders a task's templates. It returns the files to write into
// the task directory and the variables that env templates set.
func renderTemplates(task string, ts []jobspec.Template, env map[string]string, svc serviceLookup) ([]exec.File, map[string]string, error) {
	var files []exec.File
	vars := map[string]string{}
	funcs := templateFuncs(env, svc)
	for i, t := range ts {
		tm, err := jobspec.ParseTemplate(t, funcs)
		if err != nil {
			return nil, nil, fmt.Errorf("task %q template[%d] (%s): %w", task, i, t.Destination, err)
		}
		var buf bytes.Buffer
		if err := tm.Execute(&buf, nil); err != nil {
			return nil, nil, fmt.Errorf("task %q template[%d] (%s): %w", task, i, t.Destination, err)
		}
		files = append(files, exec.File{Path: path.Clean(t.Destination), Data: buf.Bytes(), Mode: os.FileMode(jobspec.TemplateMode(t))})
		if t.Env {
			for n, line := range strings.Split(buf.String(), "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
				if !ok || strings.TrimSpace(k) == "" {
					return nil, nil, fmt.Errorf("task %q template[%d] (%s) line %d: %q is not NAME=value (env = true)", task, i, t.Destination, n+1, line)
				}
				v = strings.TrimSpace(v)
				if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
					v = v[1 : len(v)-1]
				}
				vars[strings.TrimSpace(k)] = v
			}
		}
	}
	return files, vars, nil
}

// readsServices reports whether any of ts reads the service catalog: the one input
// of a template that changes while its task runs.
func readsServices(ts []jobspec.Template) bool {
	return slices.ContainsFunc(ts, func(t jobspec.Template) bool { return strings.Contains(t.Data, "nomadService") })
}

// watch starts watching task t's templates while task runs, if they read the
// service catalog, asking for a restart on restart when they call for one; it returns
// the function that stops the watcher and waits for it. rendered is what the
// templates rendered when the task started (nil for a task a restarted peer adopted:
// the first render is taken as what it has).
func (r *runner) watch(ctx context.Context, t *jobspec.Task, task *exec.Task, rendered []exec.File, restart chan<- string) func() {
	if r.changes == nil || !readsServices(t.Templates) {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.watchTemplates(ctx, t, task, rendered, restart)
	}()
	return func() { cancel(); <-done }
}

// watchTemplates renders t's templates again each time the peer's view of the
// cluster changes. A template whose content changed is written into the task
// directory at once (always, as Nomad does); then, after a random wait of up to the
// largest splay among them, the task is restarted when any changed template has
// change_mode "restart" or is an env = true template (a task's environment is fixed
// when it starts): the reason goes on restart and watchTemplates returns. Otherwise
// the task is sent the change_signal of each "signal" template and runs the
// change_script of each "script" one (a script that fails kills the task when it
// says fail_on_error). "noop" templates are only written.
func (r *runner) watchTemplates(ctx context.Context, t *jobspec.Task, task *exec.Task, last []exec.File, restart chan<- string) {
	log := r.log.With("task", t.Name)
	spec, err := r.spec(t) // the environment templates render with is fixed while the task runs
	if err != nil {
		return
	}
	var index uint64
	for {
		index = r.changes(ctx, index)
		if ctx.Err() != nil {
			return
		}
		files, _, err := renderTemplates(t.Name, t.Templates, spec.Env, r.services)
		if err != nil {
			log.Warn("rendering templates again", "err", err)
			continue
		}
		if last == nil {
			last = files
			continue
		}
		var (
			changed []exec.File
			names   []string
			signals []string
			scripts []*jobspec.ChangeScript
			mode    = "noop"
			splay   time.Duration
		)
		for i, f := range files {
			if bytes.Equal(f.Data, last[i].Data) {
				continue
			}
			tpl := t.Templates[i]
			changed, names = append(changed, f), append(names, f.Path)
			switch {
			case tpl.Env || tpl.ChangeMode == "restart":
				mode = "restart"
			case tpl.ChangeMode == "signal":
				if mode == "noop" {
					mode = "signal"
				}
				if !slices.Contains(signals, tpl.ChangeSignal) {
					signals = append(signals, tpl.ChangeSignal)
				}
			case tpl.ChangeMode == "script" && tpl.ChangeScript != nil:
				if mode == "noop" {
					mode = "script"
				}
				scripts = append(scripts, tpl.ChangeScript)
			}
			splay = max(splay, tpl.Splay)
		}
		if len(changed) == 0 {
			continue
		}
		if err := task.WriteFiles(changed); err != nil {
			log.Warn("writing re-rendered templates", "err", err)
			continue
		}
		last = files
		log.Info("templates rendered new content", "files", names, "change_mode", mode)
		if mode == "noop" {
			continue
		}
		if splay > 0 {
			select {
			case <-time.After(rand.N(splay)):
			case <-ctx.Done():
				return
			}
		}
		if mode == "restart" {
			askRestart(restart, "template "+strings.Join(names, ", ")+" changed")
			return
		}
		for _, name := range signals {
			sig, _ := exec.ParseSignal(name) // validated by jobspec
			if err := task.Signal(sig); err != nil {
				log.Warn("signalling task after a template changed", "signal", name, "err", err)
			}
		}
		for _, cs := range scripts {
			r.runChangeScript(ctx, log, task, cs)
		}
	}
}

// runChangeScript runs a template's change_script inside the task; when it fails (it
// cannot run, times out or exits non-zero) and says fail_on_error, the task is killed,
// and its restart policy decides what follows, as in Nomad.
func (r *runner) runChangeScript(ctx context.Context, log *slog.Logger, task *exec.Task, cs *jobspec.ChangeScript) {
	ctx, cancel := context.WithTimeout(ctx, cs.Timeout)
	defer cancel()
	code, out, err := runScript(ctx, task, cs.Command, cs.Args)
	if err == nil && code == 0 {
		log.Info("template change_script ran", "command", cs.Command)
		return
	}
	log.Warn("template change_script failed", "command", cs.Command, "exit_code", code, "err", err, "output", out, "fail_on_error", cs.FailOnError)
	if cs.FailOnError {
		task.Signal(unix.SIGKILL)
	}
}
