package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"text/template"

	"github.com/shoal-sched/shoal/exec"
	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
)

// Templates (Nomad's template block, without Consul and Vault): each is rendered
// once, when its task starts, into the task directory, with the task's environment
// and the cluster's service catalog; `env = true` templates also become environment
// variables of the task.

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
