package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
)

func newJobRunCmd() *cobra.Command {
	var f apiFlags
	var vf jobVarFlags
	var detach bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Submit a job and watch it being placed until every allocation runs",
		Long: `Run parses the job file locally (every problem is reported with file:line:col
before anything is sent), submits it to a peer, then shows placement progress live:
allocations as peers win them and start them. It exits 0 once every allocation of
this version runs (batch: has run or completed), and 2 if the job cannot be placed,
saying why. -detach submits and exits at once.`,
		Example: `  peer job run examples/sleep-exec.hcl
  peer job run -var count=5 -address 127.0.0.2:4646 job.hcl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := vf.options()
			if err != nil {
				return err
			}
			job, diags := jobspec.LoadFile(args[0], opts)
			if diags.HasErrors() {
				printDiagnostics(cmd.ErrOrStderr(), diags.Errors())
				return fmt.Errorf("%s is not a valid job (%d problems)", args[0], len(diags.Errors()))
			}
			c := f.client()
			resp, err := c.Register(cmd.Context(), api.JobRegisterRequest{Job: job})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json && detach {
				return printJSON(out, resp)
			}
			fmt.Fprintf(out, "==> Job %q submitted to %s: version %d\n", resp.JobID, c.Address(), resp.Version)
			if detach {
				return nil
			}
			if job.Periodic != nil {
				// A parent places nothing: say when it launches, as nomad job run does.
				return printNextLaunch(cmd.Context(), out, c, resp.JobID)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return monitor(ctx, out, c, resp.JobID, resp.Version)
		},
	}
	cmd.Flags().BoolVar(&detach, "detach", false, "submit and exit without watching placement")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to watch before giving up")
	vf.add(cmd)
	f.add(cmd)
	return cmd
}

// printNextLaunch says when a periodic job launches its next child.
func printNextLaunch(ctx context.Context, out io.Writer, c *api.Client, id string) error {
	j, err := c.Job(ctx, id)
	if err != nil {
		return err
	}
	if j.NextLaunch.IsZero() {
		fmt.Fprintf(out, "==> Periodic job %q launches nothing (periodic { enabled = false })\n", id)
		return nil
	}
	fmt.Fprintf(out, "==> Periodic job %q: next launch %s (in %s); follow with: peer job status %s\n", id,
		j.NextLaunch.UTC().Format("2006-01-02T15:04:05Z"), time.Until(j.NextLaunch).Round(time.Second), id)
	return nil
}

// errUnplaced is returned (exit 2, the reasons printed) when the job cannot be placed.
var errUnplaced = exitCode(2, errors.New("job cannot be fully placed"))

// monitor watches the job's allocations (blocking queries) and prints each change
// until every allocation of version runs, or the peer reports why slots cannot be
// placed.
func monitor(ctx context.Context, out io.Writer, c *api.Client, id string, version uint64) error {
	seen := map[string]string{}
	lastWhy := ""
	start := time.Now()
	var index uint64 // the peer's change index of the last look
	var looked time.Time
	ok, want := 0, 0
	for {
		// Look at most once per pollInterval (each look costs the peer CPU while it is
		// placing), and between looks wait on the peer, not on a timer: a blocking
		// query answers as soon as anything changed since the last look.
		if pause := pollInterval(time.Since(start)) - time.Since(looked); pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
		looked = time.Now()
		allocs, meta, err := c.JobAllocsQuery(ctx, id, &api.QueryOptions{WaitIndex: index, WaitTime: time.Second})
		if ctx.Err() != nil {
			return fmt.Errorf("%d of %d allocations running when the watch ended (%v); follow with: peer job status %s", ok, want, ctx.Err(), id)
		}
		if err != nil {
			return err
		}
		index = meta.LastIndex
		job, err := c.Job(ctx, id) // read after the allocations: a change since bumps the index past this look's
		if err != nil {
			return err
		}
		want = 0
		for _, g := range job.Groups {
			want += g.Count
		}
		if job.Type == jobspec.TypeSystem {
			nodes, err := c.Nodes(ctx)
			if err == nil {
				want = 0
				for _, n := range nodes {
					if n.Status == "ready" && n.SchedulingEligibility == "eligible" {
						want++
					}
				}
			}
		}
		ok = 0
		done := 0
		for _, a := range allocs {
			if a.JobVersion != version && a.ClientStatus != "running" {
				continue
			}
			state := a.ClientStatus + "/" + a.DesiredStatus
			if seen[a.ID] != state {
				seen[a.ID] = state
				fmt.Fprintf(out, "    %6s  alloc %s  %-16s on %-10s %s\n", time.Since(start).Round(10*time.Millisecond), short(a.ID), a.Slot, a.NodeName, a.ClientStatus)
			}
			if a.DesiredStatus == "run" && (a.ClientStatus == "running" || (job.Type == jobspec.TypeBatch && a.ClientStatus == "complete")) {
				ok++
				if a.ClientStatus == "complete" {
					done++
				}
			}
		}
		if why := strings.Join(job.PlacementFailures, "; "); why != lastWhy {
			lastWhy = why
			if why != "" {
				fmt.Fprintf(out, "    placement failures: %s\n", why)
			}
		}
		// The old version running is not the end of a canary rollout: give the
		// coordinator a moment to place the canaries and say where they stand.
		settling := canaryPending(job, allocs, version) && time.Since(start) < 5*time.Second
		if ok >= want && !settling {
			fmt.Fprintln(out, placedLine(id, want, done, time.Since(start)))
			for _, d := range job.Deployment {
				fmt.Fprintf(out, "==> Canaries: %s\n", d)
			}
			return nil
		}
		if len(job.PlacementFailures) > 0 && time.Since(start) > 5*time.Second {
			fmt.Fprintf(out, "==> %d of %d allocations running; the rest cannot be placed:\n", ok, want)
			for _, w := range job.PlacementFailures {
				fmt.Fprintf(out, "    %s\n", w)
			}
			return errUnplaced
		}
	}
}

// canaryPending reports whether a job with canaries still runs older allocations
// while no peer has said where its canary rollout stands.
func canaryPending(job *api.Job, allocs []api.Alloc, version uint64) bool {
	if len(job.Deployment) > 0 || !job.HasCanaries() {
		return false
	}
	for _, a := range allocs {
		if a.JobVersion < version && a.ClientStatus == "running" {
			return true
		}
	}
	return false
}

// pollInterval is the least time between two of monitor's looks: 20 ms while a
// placement is usually under way (a job of dozens of allocations runs within a
// second), then 250 ms, so that a long watch costs the peer little.
func pollInterval(elapsed time.Duration) time.Duration {
	if elapsed < 5*time.Second {
		return 20 * time.Millisecond
	}
	return 250 * time.Millisecond
}

// placedLine is what `peer job run` ends with once all want allocations of job id
// run, done of them (a batch job's) already complete.
func placedLine(id string, want, done int, took time.Duration) string {
	took = took.Round(time.Millisecond)
	if done > 0 {
		return fmt.Sprintf("==> All %d allocations of %q placed: %d complete, %d running after %s", want, id, done, want-done, took)
	}
	return fmt.Sprintf("==> All %d allocations of %q running after %s", want, id, took)
}
