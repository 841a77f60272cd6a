package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runJobCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newJobCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), err
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestJobValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.hcl")
	bad := filepath.Join(dir, "bad.hcl")
	writeFile(t, good, `variable "n" {
  type = number
}
job "ok" {
  group "g" {
    count = var.n
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}`)
	writeFile(t, bad, `job "bad" {
  group "g" {
    count = -1
    task "t" {
      driver = "dokcer"
      config {
        image = "busybox"
      }
    }
  }
}`)

	out, err := runJobCmd(t, "validate", "--var", "n=2", good)
	if err != nil || strings.TrimSpace(out) != good+": ok" {
		t.Errorf("valid file: got %q, %v; want %q and no error", out, err, good+": ok")
	}
	out, err = runJobCmd(t, "validate", "--var", "n=2", good, bad)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 job files are invalid") {
		t.Errorf("want an error (exit 1) for the bad file, got %v", err)
	}
	for _, want := range []string{
		good + ": ok",
		bad + `:3:13: group "g": count: count -1 is negative; want 0 or more`,
		bad + `:5:16: group "g" task "t": driver: unknown driver "dokcer"; accepted: "container", "exec" or "docker" (did you mean "docker"?)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := runJobCmd(t, "validate", good); err == nil {
		t.Error("want an error when a variable without default is not set")
	}
	if _, err := runJobCmd(t, "validate", "--var", "n", good); err == nil || !strings.Contains(err.Error(), "want NAME=VALUE") {
		t.Errorf("want a usage error for -var without '=', got %v", err)
	}

	out, err = runJobCmd(t, "inspect", "--var", "n=3", good)
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	var job struct {
		ID         string
		TaskGroups []struct{ Count int }
	}
	if err := json.Unmarshal([]byte(out), &job); err != nil || job.ID != "ok" || job.TaskGroups[0].Count != 3 {
		t.Errorf("inspect printed %q (%v); want the job with count 3", out, err)
	}
	if _, err := runJobCmd(t, "inspect", bad); err == nil {
		t.Error("inspect of an invalid file must fail")
	}
}

// TestPlacedLine: a batch job whose allocations finished before the watch saw them all
// running is not reported as running.
func TestPlacedLine(t *testing.T) {
	for _, c := range []struct {
		want, done int
		line       string
	}{
		{3, 0, `==> All 3 allocations of "j" running after 41ms`},
		{3, 1, `==> All 3 allocations of "j" placed: 1 complete, 2 running after 41ms`},
		{1, 1, `==> All 1 allocations of "j" placed: 1 complete, 0 running after 41ms`},
	} {
		if got := placedLine("j", c.want, c.done, 41*time.Millisecond+300*time.Microsecond); got != c.line {
			t.Errorf("placedLine(want %d, done %d) = %q, want %q", c.want, c.done, got, c.line)
		}
	}
}
