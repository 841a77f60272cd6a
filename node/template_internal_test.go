package node

import (
	"strings"
	"testing"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
)

func TestRenderTemplates(t *testing.T) {
	env := map[string]string{"NOMAD_PORT_http": "20001", "NOMAD_ALLOC_ID": "abc"}
	svc := serviceLookup{
		instances: func(name string) []api.ServiceRegistration {
			if name != "db" {
				return nil
			}
			return []api.ServiceRegistration{
				{ServiceName: "db", Address: "10.0.0.1", Port: 5432, Tags: []string{"primary"}},
				{ServiceName: "db", Address: "10.0.0.2", Port: 5432},
			}
		},
		all: func() []api.ServiceStub { return []api.ServiceStub{{ServiceName: "db"}, {ServiceName: "web"}} },
	}
	ts := []jobspec.Template{
		{Destination: "local/app.conf", Data: `listen = {{ env "NOMAD_PORT_http" }}
{{ range nomadService "db" }}db = {{ .Address }}:{{ .Port }} {{ .Tags | join "," }}
{{ end }}{{ range nomadServices }}service {{ .Name | toUpper }}
{{ end }}{{ range nomadService "cache" }}never{{ end }}`},
		{Destination: "secrets/app.env", Env: true, Perms: "0600", Data: `# comment
export DB_ADDR="{{ with index (nomadService "db") 0 }}{{ .Address }}{{ end }}"
ALLOC={{ env "NOMAD_ALLOC_ID" }}
`},
		{Destination: "local/[[x]].txt", LeftDelim: "[[", RightDelim: "]]", Data: `{{ not a template }} [[ env "NOMAD_ALLOC_ID" ]]`},
	}
	files, vars, err := renderTemplates("t", ts, env, svc)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"listen = 20001\ndb = 10.0.0.1:5432 primary\ndb = 10.0.0.2:5432 \nservice DB\nservice WEB\n",
		"# comment\nexport DB_ADDR=\"10.0.0.1\"\nALLOC=abc\n",
		"{{ not a template }} abc",
	}
	for i, f := range files {
		if string(f.Data) != want[i] {
			t.Errorf("%s:\n got %q\nwant %q", f.Path, f.Data, want[i])
		}
	}
	if files[1].Mode != 0o600 || files[0].Mode != 0o644 {
		t.Errorf("modes %o, %o; want 644, 600", files[0].Mode, files[1].Mode)
	}
	if vars["DB_ADDR"] != "10.0.0.1" || vars["ALLOC"] != "abc" || len(vars) != 2 {
		t.Errorf("env from the env template: %v; want DB_ADDR=10.0.0.1 ALLOC=abc", vars)
	}

	for _, bad := range []struct {
		tmpl jobspec.Template
		want string
	}{
		{jobspec.Template{Destination: "local/n", Data: `{{ parseInt "x" }}`}, `template[0] (local/n)`},
		{jobspec.Template{Destination: "local/e.env", Env: true, Data: "not a variable"}, `line 1: "not a variable" is not NAME=value`},
	} {
		if _, _, err := renderTemplates("t", []jobspec.Template{bad.tmpl}, env, svc); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("rendering %q: %v; want an error containing %q", bad.tmpl.Data, err, bad.want)
		}
	}
}

// Every function a job's template may name when it is parsed is there when it runs.
func TestTemplateFuncsImplemented(t *testing.T) {
	funcs := templateFuncs(nil, serviceLookup{})
	for _, name := range jobspec.TemplateFuncs {
		if funcs[name] == nil {
			t.Errorf("jobspec.TemplateFuncs names %q; the peer does not implement it", name)
		}
	}
	if len(funcs) != len(jobspec.TemplateFuncs) {
		t.Errorf("the peer implements %d template functions, jobspec.TemplateFuncs names %d", len(funcs), len(jobspec.TemplateFuncs))
	}
}
