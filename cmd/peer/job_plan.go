package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
	"github.com/spf13/cobra"
)

// errPlanChanges makes `peer job plan` exit 1 when the submission would create,
// destroy or replace allocations, as `nomad job plan` does (0: it would not; 255:
// an error).
var errPlanChanges = exitCode(1, nil)

func newJobPlanCmd() *cobra.Command {
	var f apiFlags
	var vf jobVarFlags
	cmd := &cobra.Command{
		Use:   "plan FILE",
		Short: "Show what submitting a job would change, without changing anything",
		Long: `Plan parses the job file locally, asks a peer what submitting it would do, and
prints it: the fields that differ from the running version, then for each task group
how many allocations would be created, destroyed, replaced (create/destroy update),
left alone, or first run as canaries; then a dry run of the auction over every peer
as the cluster is now, saying why slots would not be placed. Nothing is submitted.

Exit status, as nomad job plan: 0 if no allocation would be created, destroyed or
replaced; 1 if some would; 255 on an error.`,
		Example: `  peer job plan examples/web.hcl && echo "nothing would change"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := vf.options()
			if err != nil {
				return exitCode(255, err)
			}
			job, diags := jobspec.LoadFile(args[0], opts)
			if diags.HasErrors() {
				printDiagnostics(cmd.ErrOrStderr(), diags.Errors())
				return exitCode(255, fmt.Errorf("%s is not a valid job (%d problems)", args[0], len(diags.Errors())))
			}
			c := f.client()
			plan, err := c.Plan(cmd.Context(), job)
			if err != nil {
				return exitCode(255, err)
			}
			var current *jobspec.Job
			if plan.Exists {
				cur, err := c.Job(cmd.Context(), job.ID)
				if err != nil {
					return exitCode(255, err)
				}
				current = cur.Job
			}
			out := cmd.OutOrStdout()
			if f.json {
				if err := printJSON(out, plan); err != nil {
					return exitCode(255, err)
				}
			} else {
				printPlan(out, plan, current, job)
			}
			for _, g := range plan.Groups {
				if g.Create+g.Destroy+g.Update+g.Canary > 0 {
					return errPlanChanges
				}
			}
			return nil
		},
	}
	vf.add(cmd)
	f.add(cmd)
	return cmd
}

func printPlan(out io.Writer, plan api.JobPlan, current, job *jobspec.Job) {
	switch {
	case !plan.Exists:
		fmt.Fprintf(out, "+ Job: %q (new, version %d)\n", plan.JobID, plan.Version)
	case plan.Version == plan.CurrentVersion:
		fmt.Fprintf(out, "Job: %q (version %d): no changes\n", plan.JobID, plan.Version)
		return
	default:
		fmt.Fprintf(out, "+/- Job: %q (version %d -> %d)\n", plan.JobID, plan.CurrentVersion, plan.Version)
		changes := diffJobs(current, job)
		const most = 40
		for i, c := range changes {
			if i == most {
				fmt.Fprintf(out, "    ... %d more changes (peer job inspect shows the whole job)\n", len(changes)-most)
				break
			}
			fmt.Fprintf(out, "    %s\n", c)
		}
	}
	var unplaced []string
	for _, g := range plan.Groups {
		var parts []string
		for _, p := range []struct {
			n    int
			what string
		}{{g.Create, "create"}, {g.Destroy, "destroy"}, {g.Update, "create/destroy update"}, {g.Ignore, "ignore"}, {g.Canary, "canary"}} {
			if p.n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
			}
		}
		if len(parts) == 0 {
			parts = []string{"nothing"}
		}
		fmt.Fprintf(out, "    Task Group: %q (%s)\n", g.Group, strings.Join(parts, ", "))
		for _, why := range g.Unplaced {
			unplaced = append(unplaced, fmt.Sprintf("Task Group %q: %s", g.Group, why))
		}
	}
	fmt.Fprintln(out, "\nScheduler dry-run:")
	if job.Periodic != nil {
		next := "none (periodic { enabled = false })"
		if !plan.NextPeriodicLaunch.IsZero() {
			next = plan.NextPeriodicLaunch.UTC().Format("2006-01-02T15:04:05Z")
		}
		fmt.Fprintf(out, "- Periodic job: it places nothing itself; each child is placed when it is launched. Next launch: %s\n", next)
		return
	}
	if len(unplaced) == 0 {
		fmt.Fprintln(out, "- All tasks successfully allocated.")
		return
	}
	fmt.Fprintln(out, "- WARNING: Failed to place all allocations.")
	for _, u := range unplaced {
		fmt.Fprintf(out, "  %s\n", u)
	}
}

// diffJobs lists the fields that differ between two versions of a job, one line
// each ("~ Groups[0].Count: 3 => 5", "+ path: new", "- path: old"), sorted by path.
// Versions and other bookkeeping the cluster sets are left out.
func diffJobs(old, new *jobspec.Job) []string {
	a, b := flatten(old), flatten(new)
	var paths []string
	for p := range a {
		paths = append(paths, p)
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	var out []string
	for _, p := range paths {
		if p == "Version" {
			continue
		}
		va, inA := a[p]
		vb, inB := b[p]
		switch {
		case !inA:
			out = append(out, fmt.Sprintf("+ %s: %s", p, vb))
		case !inB:
			out = append(out, fmt.Sprintf("- %s: %s", p, va))
		case va != vb:
			out = append(out, fmt.Sprintf("~ %s: %s => %s", p, va, vb))
		}
	}
	return out
}

// flatten maps every leaf of a job's JSON form to its path; empty values and
// collections are left out, so that absent and empty compare equal.
func flatten(job *jobspec.Job) map[string]string {
	out := map[string]string{}
	if job == nil {
		return out
	}
	b, err := json.Marshal(job)
	if err != nil {
		return out
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return out
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		default:
			if x == nil || x == "" || x == false || x == float64(0) {
				return
			}
			s, _ := json.Marshal(x)
			out[path] = string(s)
		}
	}
	walk("", v)
	return out
}
