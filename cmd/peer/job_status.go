package main

import (
	"cmp"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-sched/shoal/node/api"
)

func newJobStatusCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "status [ID]",
		Short: "List jobs, or show one job and its allocations",
		Long: `Without an ID, lists every job the cluster knows. With an ID, shows the job,
a summary of its allocations by status, and each allocation. Any peer answers for the
whole cluster.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := f.client()
			out := cmd.OutOrStdout()
			if len(args) == 0 {
				jobs, err := c.Jobs(cmd.Context())
				if err != nil {
					return err
				}
				if f.json {
					return printJSON(out, jobs)
				}
				if len(jobs) == 0 {
					fmt.Fprintln(out, "No running jobs")
					return nil
				}
				table(out, jobRows(jobs))
				return nil
			}
			job, err := c.Job(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			allocs, err := c.JobAllocs(cmd.Context(), job.ID)
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(out, struct {
					Job         *api.Job
					Allocations []api.Alloc
				}{job, allocs})
			}
			if job.Periodic != nil {
				printParent(out, job)
				return nil
			}
			version := fmt.Sprintf("= %d", job.Version)
			if job.RevertedFrom > 0 {
				version += fmt.Sprintf(" (auto_revert: the last stable version, after version %d failed)", job.RevertedFrom)
			}
			head := [][]string{
				{"ID", "= " + job.ID},
				{"Name", "= " + job.Name},
				{"Type", "= " + job.Type},
				{"Version", version},
				{"Stable", fmt.Sprintf("= %v", job.Stable)},
				{"Status", "= " + job.Status},
				{"Datacenters", "= " + strings.Join(job.Datacenters, ",")},
			}
			if job.ParentID != "" {
				head = append(head, []string{"Parent", "= " + job.ParentID})
			}
			table(out, head)
			fmt.Fprintln(out, "\nSummary")
			rows := [][]string{{"Task Group", "Desired", "Pending", "Running", "Complete", "Failed", "Lost"}}
			for _, g := range job.Groups {
				cnt := map[string]int{}
				for _, a := range allocs {
					if a.TaskGroup == g.Name && a.JobVersion <= job.Version {
						cnt[a.ClientStatus]++
					}
				}
				desired := g.Count
				if job.Stop {
					desired = 0
				}
				rows = append(rows, []string{g.Name, fmt.Sprint(desired), fmt.Sprint(cnt["pending"]), fmt.Sprint(cnt["running"]),
					fmt.Sprint(cnt["complete"]), fmt.Sprint(cnt["failed"]), fmt.Sprint(cnt["lost"])})
			}
			table(out, rows)
			if len(job.Deployment) > 0 {
				fmt.Fprintln(out, "\nDeployment")
				for _, d := range job.Deployment {
					fmt.Fprintln(out, "  "+d)
				}
			}
			fmt.Fprintln(out, "\nAllocations")
			table(out, allocRows(allocs))
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

// jobRows is the job list: a periodic parent's type reads batch/periodic, as in
// Nomad, and children name their parent.
func jobRows(jobs []api.JobListStub) [][]string {
	parents := false
	for _, j := range jobs {
		parents = parents || j.ParentID != ""
	}
	head := []string{"ID", "Type", "Version", "Status", "Allocations"}
	if parents {
		head = append(head, "Parent")
	}
	rows := [][]string{head}
	for _, j := range jobs {
		typ := j.Type
		if j.Periodic {
			typ += "/periodic"
		}
		row := []string{j.ID, typ, fmt.Sprint(j.Version), j.Status, summary(j.Summary)}
		if parents {
			row = append(row, cmp.Or(j.ParentID, "-"))
		}
		rows = append(rows, row)
	}
	return rows
}

// printParent shows a periodic parent: its schedule, its next launch and the
// children it launched (it has no allocations of its own), as nomad job status does.
func printParent(out io.Writer, job *api.Job) {
	p := job.Periodic
	next := "none (no tick of its crons is left)"
	switch {
	case job.Stop:
		next = "none (stopped)"
	case !p.IsEnabled():
		next = "none (periodic { enabled = false })"
	case !job.NextLaunch.IsZero():
		next = fmt.Sprintf("%s (in %s)", job.NextLaunch.UTC().Format("2006-01-02T15:04:05Z"), time.Until(job.NextLaunch).Round(time.Second))
	}
	table(out, [][]string{
		{"ID", "= " + job.ID},
		{"Name", "= " + job.Name},
		{"Type", "= " + job.Type},
		{"Version", fmt.Sprintf("= %d", job.Version)},
		{"Status", "= " + job.Status},
		{"Periodic", "= true"},
		{"Crons", "= " + strings.Join(p.Specs, ", ")},
		{"Time Zone", "= " + p.TimeZone},
		{"Prohibit Overlap", fmt.Sprintf("= %v", p.ProhibitOverlap)},
		{"Next Periodic Launch", "= " + next},
	})
	fmt.Fprintln(out, "\nPreviously Launched Jobs")
	if len(job.Children) == 0 {
		fmt.Fprintln(out, "No instances of periodic job found")
		return
	}
	rows := [][]string{{"ID", "Status", "Allocations", "Launched"}}
	for _, c := range job.Children {
		rows = append(rows, []string{c.ID, c.Status, summary(c.Summary), ago(c.SubmitTime)})
	}
	table(out, rows)
}

// summary renders {"running":3,"pending":1} as "running=3 pending=1", sorted.
func summary(m map[string]int) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}
