package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/shoal-sched/shoal/jobspec"
)

func TestDiffJobs(t *testing.T) {
	load := func(src string) *jobspec.Job {
		t.Helper()
		job, err := jobspec.Parse("job.hcl", []byte(src), nil)
		if err != nil {
			t.Fatal(err)
		}
		return job
	}
	const base = `job "web" {
  group "g" {
    count = 2
    task "t" {
      driver = "exec"
      config {
        command = "/bin/sleep"
        args    = ["60"]
      }
    }
  }
}`
	old := load(base)
	if d := diffJobs(old, load(base)); len(d) != 0 {
		t.Errorf("the same job differs: %q", d)
	}
	bumped := load(base)
	bumped.Version = 9
	if d := diffJobs(old, bumped); len(d) != 0 {
		t.Errorf("a version bump alone shows as a change: %q", d)
	}
	changed := load(strings.NewReplacer(`count = 2`, `count = 3`, `["60"]`, `["60", "-x"]`).Replace(base))
	want := []string{
		`~ TaskGroups[0].Count: 2 => 3`,
		`+ TaskGroups[0].Tasks[0].Config.args[1]: "-x"`,
	}
	if got := diffJobs(old, changed); !slices.Equal(got, want) {
		t.Errorf("diff:\n got %q\nwant %q", got, want)
	}

	// An artifact added, then its checksum changed: the plan names the fields.
	artifact := func(sum string) string {
		return strings.Replace(base, `driver = "exec"`, `driver = "exec"
      artifact {
        source = "https://example.com/app.tgz"
        options {
          checksum = "md5:`+sum+`"
        }
      }`, 1)
	}
	sumA, sumB := strings.Repeat("a", 32), strings.Repeat("b", 32)
	withA := load(artifact(sumA))
	want = []string{
		`+ TaskGroups[0].Tasks[0].Artifacts[0].GetterMode: "any"`,
		`+ TaskGroups[0].Tasks[0].Artifacts[0].GetterOptions.checksum: "md5:` + sumA + `"`,
		`+ TaskGroups[0].Tasks[0].Artifacts[0].GetterSource: "https://example.com/app.tgz"`,
		`+ TaskGroups[0].Tasks[0].Artifacts[0].RelativeDest: "local/"`,
	}
	if got := diffJobs(old, withA); !slices.Equal(got, want) {
		t.Errorf("artifact added, diff:\n got %q\nwant %q", got, want)
	}
	want = []string{`~ TaskGroups[0].Tasks[0].Artifacts[0].GetterOptions.checksum: "md5:` + sumA + `" => "md5:` + sumB + `"`}
	if got := diffJobs(withA, load(artifact(sumB))); !slices.Equal(got, want) {
		t.Errorf("checksum changed, diff:\n got %q\nwant %q", got, want)
	}
}

func TestDiffPeriodicJobs(t *testing.T) {
	const base = `job "report" {
  type = "batch"
  periodic {
    crons = ["*/15 * * * *"]
  }
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/true"
      }
    }
  }
}`
	old, err := jobspec.Parse("job.hcl", []byte(base), nil)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := jobspec.Parse("job.hcl", []byte(strings.NewReplacer(`"*/15 * * * *"`, `"*/15 * * * *", "@daily"`,
		"periodic {", "periodic {\n    prohibit_overlap = true").Replace(base)), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`+ Periodic.ProhibitOverlap: true`, `+ Periodic.Specs[1]: "@daily"`}
	if got := diffJobs(old, changed); !slices.Equal(got, want) {
		t.Errorf("diff:\n got %q\nwant %q", got, want)
	}
}
