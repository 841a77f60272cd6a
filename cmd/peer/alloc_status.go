package main

import (
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/spf13/cobra"
)

// newAllocCmd groups the alloc subcommands, as `nomad alloc ...` does.
func newAllocCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alloc",
		Short: "Inspect allocations, read their logs, run commands in them, restart, signal or stop them",
	}
	cmd.AddCommand(newAllocStatusCmd(), newAllocLogsCmd(), newAllocRestartCmd(), newAllocSignalCmd(), newAllocStopCmd(), newAllocExecCmd())
	return cmd
}

func newAllocStatusCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show one allocation (ID may be a unique prefix)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := f.client().Alloc(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json {
				return printJSON(out, a)
			}
			table(out, [][]string{
				{"ID", "= " + a.ID}, {"Slot", "= " + a.Slot}, {"Job ID", "= " + a.JobID},
				{"Job Version", fmt.Sprint("= ", a.JobVersion)}, {"Task Group", "= " + a.TaskGroup},
				{"Node", "= " + a.NodeName + " (" + short(a.NodeID) + ")"},
				{"Client Status", "= " + a.ClientStatus}, {"Client Description", "= " + dash(a.ClientDescription)},
				{"Desired Status", "= " + a.DesiredStatus}, {"Desired Description", "= " + dash(a.DesiredDescription)},
				{"Restarts", fmt.Sprint("= ", a.RestartCount)}, {"Previous Alloc", "= " + dash(a.PreviousAlloc)},
				{"Created", "= " + ago(a.CreateTime)}, {"Modified", "= " + ago(a.ModifyTime)},
			})
			if a.NetworkMode == "bridge" {
				fmt.Fprintln(out, "\nNetwork")
				table(out, [][]string{{"Mode", "= bridge"}, {"Allocation IP", "= " + dash(a.AllocIP)}})
			}
			if len(a.Ports) > 0 {
				rows := [][]string{{"Label", "Host Address"}}
				if a.NetworkMode == "bridge" {
					rows[0] = append(rows[0], "To")
				}
				for _, p := range a.Ports {
					row := []string{p.Label, net.JoinHostPort(p.HostIP, strconv.Itoa(p.Value))}
					if a.NetworkMode == "bridge" {
						row = append(row, strconv.Itoa(p.To))
					}
					rows = append(rows, row)
				}
				fmt.Fprintln(out, "\nAllocation Addresses")
				table(out, rows)
			}
			if len(a.Checks) > 0 {
				rows := [][]string{{"Service", "Check", "Type", "Status", "Since", "Output"}}
				for _, c := range a.Checks {
					rows = append(rows, []string{c.Service, c.Name, c.Type, c.Status, ago(c.Since), c.Output})
				}
				fmt.Fprintln(out, "\nService Checks")
				table(out, rows)
			}
			names := make([]string, 0, len(a.TaskStates))
			for n := range a.TaskStates {
				names = append(names, n)
			}
			sort.Strings(names)
			hooks := a.TaskLifecycles // as the allocation's job version has them
			if hooks == nil {
				// A peer of an older version: the job's, if it is the same version.
				if job, err := f.client().Job(cmd.Context(), a.JobID); err == nil && job.Job != nil && job.Version == a.JobVersion {
					if g := job.LookupGroup(a.TaskGroup); g != nil {
						hooks = g.LifecycleHooks()
					}
				}
			}
			for _, n := range names {
				ts := a.TaskStates[n]
				label := ""
				if h := hooks[n]; h != "" {
					label = " (" + h + ")"
				}
				fmt.Fprintf(out, "\nTask %q%s is %q\n", n, label, ts.State)
				table(out, [][]string{
					{"Restarts", fmt.Sprint("= ", ts.Restarts)}, {"Failed", fmt.Sprint("= ", ts.Failed)},
					{"Exit Code", fmt.Sprint("= ", ts.ExitCode)}, {"Started", "= " + ago(ts.StartedAt)},
					{"Finished", "= " + ago(ts.FinishedAt)}, {"Message", "= " + dash(ts.Message)},
				})
			}
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
