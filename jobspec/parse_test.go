package jobspec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const webJob = `
variable "image" {
  default = "busybox:latest"
}
variable "count" {
  type    = number
  default = 1
}
variable "tags" {
  type    = list(string)
  default = []
}
job "web" {
  group "web" {
    count = var.count
    service {
      name = "web"
      tags = var.tags
    }
    task "srv" {
      driver = "container"
      config {
        image = var.image
      }
    }
  }
}
`

func TestVariables(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	prod := write("prod.vars", "count = 4\nimage = \"redis:7\"\n")
	extra := write("extra.vars", "colour = \"blue\"\n")
	broken := write("broken.vars", "count = = 1\n")

	tests := []struct {
		name      string
		opts      Options
		wantCount int
		wantImage string
		wantTags  []string
		wantErr   string // substring of the diagnostics; "" means valid
		wantWarn  string
	}{
		{name: "defaults", wantCount: 1, wantImage: "busybox:latest"},
		{name: "-var string", opts: Options{Vars: map[string]string{"image": "nginx:1"}}, wantCount: 1, wantImage: "nginx:1"},
		{name: "-var number", opts: Options{Vars: map[string]string{"count": "3"}}, wantCount: 3, wantImage: "busybox:latest"},
		{name: "-var list", opts: Options{Vars: map[string]string{"tags": `["a", "b"]`}}, wantCount: 1, wantImage: "busybox:latest", wantTags: []string{"a", "b"}},
		{name: "var file", opts: Options{VarFiles: []string{prod}}, wantCount: 4, wantImage: "redis:7"},
		{name: "-var beats var file", opts: Options{VarFiles: []string{prod}, Vars: map[string]string{"count": "9"}}, wantCount: 9, wantImage: "redis:7"},
		{name: "undeclared -var", opts: Options{Vars: map[string]string{"cuont": "2"}},
			wantErr: `-var cuont: the job declares no variable "cuont" (did you mean "count"?)`},
		{name: "-var of the wrong type", opts: Options{Vars: map[string]string{"count": `"many"`}},
			wantErr: `-var count: variable "count" is of type number: a number is required`},
		{name: "undeclared in var file warns", opts: Options{VarFiles: []string{extra}}, wantCount: 1, wantImage: "busybox:latest",
			wantWarn: `extra.vars:1:1: warning: colour: the job declares no variable "colour"`},
		{name: "missing var file", opts: Options{VarFiles: []string{filepath.Join(dir, "nope.vars")}},
			wantErr: "reading variable file"},
		{name: "broken var file", opts: Options{VarFiles: []string{broken}}, wantErr: "broken.vars:1:9: Invalid expression"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job, diags := Load("web.hcl", []byte(webJob), tc.opts)
			if tc.wantErr != "" {
				if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.wantErr) {
					t.Fatalf("want an error containing %q, got:\n%v", tc.wantErr, diags)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatalf("want no error, got:\n%v", diags)
			}
			if tc.wantWarn != "" && !strings.Contains(diags.Warnings().Error(), tc.wantWarn) {
				t.Errorf("want a warning containing %q, got:\n%v", tc.wantWarn, diags)
			}
			g := job.Groups[0]
			if g.Count != tc.wantCount || g.Tasks[0].Config.Image != tc.wantImage {
				t.Errorf("count, image = %d, %q; want %d, %q", g.Count, g.Tasks[0].Config.Image, tc.wantCount, tc.wantImage)
			}
			if fmt.Sprint(g.Services[0].Tags) != fmt.Sprint(tc.wantTags) {
				t.Errorf("tags = %q, want %q", g.Services[0].Tags, tc.wantTags)
			}
		})
	}
}

func TestParseReturnsDiagnostics(t *testing.T) {
	_, err := Parse("x.hcl", []byte("job \"x\" {\n  group \"g\" {\n    count = -1\n  }\n}\n"), nil)
	var diags Diagnostics
	if !errors.As(err, &diags) {
		t.Fatalf("want a Diagnostics error, got %T %v", err, err)
	}
	want := []string{
		`x.hcl:2:3: group "g": group "g" has no task; add task "name" { driver = "container" ... }`,
		`x.hcl:3:13: group "g": count: count -1 is negative; want 0 or more`,
	}
	if got := strings.Split(diags.Error(), "\n"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestNomadFileRunsWithWarnings(t *testing.T) {
	job, diags := LoadFile("testdata/docker.hcl", Options{})
	if diags.HasErrors() {
		t.Fatalf("want no errors, got:\n%v", diags)
	}
	if got := len(diags.Warnings()); got != 7 {
		t.Errorf("want 7 warnings (region, namespace, to in host mode, provider, auth_soft_fail, identity, logs), got %d:\n%v", got, diags)
	}
	if d := job.Groups[0].Tasks[0].Driver; d != DriverContainer {
		t.Errorf("driver = %q, want docker normalised to %q", d, DriverContainer)
	}
	if _, err := ParseFile("testdata/docker.hcl", nil, nil); err != nil {
		t.Errorf("ParseFile: warnings must not be an error, got %v", err)
	}
}

func TestDefaultsByJobType(t *testing.T) {
	src := func(typ string) []byte {
		return []byte(fmt.Sprintf(`job "j" {
  type = %q
  group "g" {
    restart {
      attempts = 7
    }
    task "a" {
      driver = "exec"
      config { command = "/bin/true" }
      restart { delay = "1s" }
    }
    task "b" {
      driver = "exec"
      config { command = "/bin/true" }
    }
  }
}`, typ))
	}
	tests := []struct {
		typ        string
		restart    RestartPolicy
		reschedule *ReschedulePolicy
		update     bool
	}{
		{TypeService, RestartPolicy{Attempts: 7, Interval: 30 * time.Minute, Delay: 15 * time.Second, Mode: "fail"},
			&ReschedulePolicy{Delay: 30 * time.Second, DelayFunction: "exponential", MaxDelay: time.Hour, Unlimited: true}, true},
		{TypeBatch, RestartPolicy{Attempts: 7, Interval: 24 * time.Hour, Delay: 15 * time.Second, Mode: "fail"},
			&ReschedulePolicy{Attempts: 1, Interval: 24 * time.Hour, Delay: 5 * time.Second, DelayFunction: "constant"}, false},
		{TypeSystem, RestartPolicy{Attempts: 7, Interval: 30 * time.Minute, Delay: 15 * time.Second, Mode: "fail"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			job, err := Parse("j.hcl", src(tc.typ), nil)
			if err != nil {
				t.Fatal(err)
			}
			g := job.Groups[0]
			if *g.Restart != tc.restart {
				t.Errorf("group restart = %+v, want %+v", *g.Restart, tc.restart)
			}
			if fmt.Sprint(g.Reschedule) != fmt.Sprint(tc.reschedule) {
				t.Errorf("reschedule = %+v, want %+v", g.Reschedule, tc.reschedule)
			}
			if (g.Update != nil) != tc.update || (job.Update != nil) != tc.update {
				t.Errorf("update set = %v, want %v", g.Update != nil, tc.update)
			}
			if tc.update && *g.Update != *DefaultUpdate() {
				t.Errorf("update = %+v, want the defaults %+v", *g.Update, *DefaultUpdate())
			}
			wantA := tc.restart
			wantA.Delay = time.Second
			if *g.Tasks[0].Restart != wantA {
				t.Errorf("task a restart = %+v, want the group's merged with delay 1s: %+v", *g.Tasks[0].Restart, wantA)
			}
			if *g.Tasks[1].Restart != tc.restart {
				t.Errorf("task b restart = %+v, want the group's %+v", *g.Tasks[1].Restart, tc.restart)
			}
			tk := g.Tasks[1]
			if g.Count != 1 || tk.Resources.CPU != 100 || tk.Resources.MemoryMB != 300 || tk.KillTimeout != 5*time.Second ||
				job.Priority != 50 || fmt.Sprint(job.Datacenters) != "[*]" {
				t.Errorf("count %d cpu %d memory %d kill_timeout %s priority %d datacenters %v; want Nomad's defaults 1 100 300 5s 50 [*]",
					g.Count, tk.Resources.CPU, tk.Resources.MemoryMB, tk.KillTimeout, job.Priority, job.Datacenters)
			}
		})
	}
}

// validJob is a small valid job built in Go, as one arriving over the API would be.
func validJob() *Job {
	j := &Job{ID: "api", Groups: []*Group{{
		Name: "web", Count: 2,
		Network:  &Network{Ports: []Port{{Label: "http", To: 80}}},
		Services: []Service{{Port: "http", Checks: []Check{{Type: "tcp", Interval: time.Second, Timeout: time.Second}}}},
		Tasks:    []*Task{{Name: "srv", Driver: "docker", Config: TaskConfig{Image: "busybox:latest", Ports: []string{"http"}}}},
	}}}
	j.Canonicalize()
	return j
}

func TestValidateJSONJobs(t *testing.T) {
	if err := validJob().Validate(); err != nil {
		t.Fatalf("valid job: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(j *Job)
		want   []string // every diagnostic, as printed
	}{
		{"memory", func(j *Job) { j.Groups[0].Tasks[0].Resources.MemoryMB = 4 },
			[]string{`group "web" task "srv": resources.memory: memory 4 is too small; want at least 10 (MB)`}},
		{"port label", func(j *Job) { j.Groups[0].Services[0].Port = "htp" },
			[]string{`group "web": service[0].port: the group's network has no port labelled "htp"; accepted: "http" (did you mean "http"?)`}},
		{"id and count", func(j *Job) { j.ID = "a/b"; j.Groups[0].Count = -1 },
			[]string{`id: job id "a/b" has characters other than letters, digits, '-', '_' and '.'`,
				`group "web": count: count -1 is negative; want 0 or more`}},
		{"duplicate group", func(j *Job) { j.Groups = append(j.Groups, j.Groups[0]) },
			[]string{`group "web": group name "web" is used more than once; group names must be unique in a job`}},
		{"negative duration", func(j *Job) { j.Groups[0].Restart.Delay = -time.Second },
			[]string{`group "web": restart.delay: -1s is negative; want zero or more`}},
		{"nil group", func(j *Job) { j.Groups = append(j.Groups, nil) }, []string{`group[1]: group is null`}},
		{"lifecycle hook", func(j *Job) { j.Groups[0].Tasks[0].Lifecycle = &Lifecycle{Hook: "PreStart"} },
			[]string{`group "web" task "srv": lifecycle.hook: unknown lifecycle hook "PreStart"; accepted: "prestart", "poststart" or "poststop" (did you mean "prestart"?)`,
				`group "web": group "web" has no main task: every task has a lifecycle block; at least one task must have none (hooks run around the main tasks)`}},
		{"no groups", func(j *Job) { j.Groups = nil }, []string{`job "api" has no group`}},
		{"docker options on an exec task", func(j *Job) {
			t := j.Groups[0].Tasks[0]
			t.Driver, t.Config = "exec", TaskConfig{Command: "/bin/true", ReadOnlyRootfs: true, CapDrop: []string{"all"}}
		}, []string{`group "web" task "srv": config.readonly_rootfs: readonly_rootfs is not accepted by the exec driver; accepted: "command" or "args"`,
			`group "web" task "srv": config.cap_drop: cap_drop is not accepted by the exec driver; accepted: "command" or "args"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := validJob()
			tc.mutate(j)
			err := j.Validate()
			var diags Diagnostics
			if !errors.As(err, &diags) {
				t.Fatalf("want Diagnostics, got %v", err)
			}
			if got := strings.Split(diags.Error(), "\n"); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	var nilJob *Job
	if nilJob.Validate() == nil {
		t.Error("a nil job must not validate")
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{"cuont", "count"}, {"memroy", "memory"}, {"imgae", "image"}, {"resorces", "resources"},
		{"dokcer", "docker"}, {"zzzzzz", ""}, {"", ""},
	}
	known := []string{"count", "memory", "image", "resources", "docker", "exec"}
	for _, tc := range tests {
		want := ""
		if tc.want != "" {
			want = fmt.Sprintf(" (did you mean %q?)", tc.want)
		}
		if got := suggest(tc.got, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", tc.got, got, want)
		}
	}
}

func TestInterpolation(t *testing.T) {
	src := `variable "name" {
  default = "web"
}
job "j" {
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/echo"
        args    = ["${var.name}-${node.datacenter}", "$${literal}", "${upper(var.name)}:${NOMAD_PORT_http}"]
      }
      env {
        HOST = "${attr.unique.hostname}"
      }
    }
  }
}`
	job, err := Parse("j.hcl", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	task := job.Groups[0].Tasks[0]
	want := []string{"web-${node.datacenter}", "${literal}", "WEB:${NOMAD_PORT_http}"}
	if fmt.Sprint(task.Config.Args) != fmt.Sprint(want) {
		t.Errorf("args = %q, want %q", task.Config.Args, want)
	}
	if got := task.Env["HOST"]; got != "${attr.unique.hostname}" {
		t.Errorf("env HOST = %q, want the run-time reference kept", got)
	}
	// A run-time value outside a string cannot be known when parsing.
	_, err = Parse("j.hcl", []byte(strings.Replace(src, `command = "/bin/echo"`, `command = attr.x`, 1)), nil)
	if err == nil || !strings.Contains(err.Error(), "j.hcl:9:19: group \"g\" task \"t\": config.command: run-time values") {
		t.Errorf("want an error about a run-time value outside a string, got %v", err)
	}
}

func TestFunctions(t *testing.T) {
	tests := []struct{ expr, want string }{
		{`upper("a")`, "A"},
		{`format("%s-%03d", "web", 7)`, "web-007"},
		{`join(",", concat(["a"], ["b", "c"]))`, "a,b,c"},
		{`tostring(length(split(",", "a,b,c")))`, "3"},
		{`tostring(max(1, 5, 3) + min(2, 4))`, "7"},
		{`coalesce(null, "x")`, "x"},
		{`jsonencode({ a = [1, true] })`, `{"a":[1,true]}`},
		{`base64decode(base64encode("hi"))`, "hi"},
		{`sha256("abc")`, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{`try(var.missing_map.x, "fallback")`, "fallback"},
		{`regex_replace("a1b2", "[0-9]", "_")`, "a_b_"},
		{`lookup({ a = "b" }, "a", "none")`, "b"},
	}
	for _, tc := range tests {
		src := fmt.Sprintf(`variable "missing_map" {
  default = {}
}
job "f" {
  meta {
    out = %s
  }
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}`, tc.expr)
		job, err := Parse("f.hcl", []byte(src), nil)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if got := job.Meta["out"]; got != tc.want {
			t.Errorf("%s = %q, want %q", tc.expr, got, tc.want)
		}
	}
	_, err := Parse("f.hcl", []byte(`job "f" {
  meta {
    out = file("/etc/passwd")
  }
}`), nil)
	if err == nil || !strings.Contains(err.Error(), `f.hcl:3:11: meta.out: Call to unknown function: There is no function named "file"`) {
		t.Errorf("file() must not be offered, got %v", err)
	}
}

// A Nomad user's bridge-mode group parses without a warning; "to" in host mode,
// where nothing maps it, is flagged on its line.
func TestNetworkModeWarnings(t *testing.T) {
	_, diags := LoadFile("testdata/full.hcl", Options{})
	if diags.HasErrors() {
		t.Fatalf("want no errors, got:\n%v", diags)
	}
	for _, d := range diags.Warnings() {
		if strings.Contains(d.Field, "network") {
			t.Errorf("bridge mode with to = 8080: want no network warning, got %v", d)
		}
	}
	_, diags = Load("host.hcl", []byte(`job "web" {
  group "g" {
    network {
      port "http" {
        to = 8080
      }
    }
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}`), Options{})
	if diags.HasErrors() {
		t.Fatalf("want no errors, got:\n%v", diags)
	}
	var found bool
	for _, d := range diags.Warnings() {
		if strings.HasSuffix(d.Field, `network.port "http".to`) && strings.Contains(d.Message, `ignored in network mode "host"`) && strings.Contains(d.Message, `set mode = "bridge" to map the host port to 8080`) {
			found = true
			if d.Line != 5 {
				t.Errorf("warning on line %d, want 5 (the to attribute)", d.Line)
			}
		}
	}
	if !found {
		t.Errorf("to = 8080 in host mode: want a warning that it is ignored, got:\n%v", diags)
	}
}
