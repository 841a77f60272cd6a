package main

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/spf13/cobra"

	"github.com/shoal-sched/shoal/node/api"
)

// The alloc subcommands that act on an allocation's tasks, as `nomad alloc restart`,
// `nomad alloc signal` and `nomad alloc stop` do. Any peer takes them; the peer that
// runs the allocation acts.

// jobAlloc resolves the first argument of an alloc command given -job, as Nomad's
// -job does: the argument names a job, and the command acts on one of its running
// allocations, chosen at random (for logs, anyAlloc: when none runs, on any of its
// allocations, any of them as likely).
func jobAlloc(ctx context.Context, c *api.Client, job string, anyAlloc bool) (string, error) {
	allocs, err := c.JobAllocs(ctx, job)
	if err != nil {
		return "", err
	}
	var running []api.Alloc
	for _, a := range allocs {
		if a.ClientStatus == "running" {
			running = append(running, a)
		}
	}
	pick := running
	if len(pick) == 0 && anyAlloc {
		pick = allocs
	}
	switch {
	case len(allocs) == 0:
		return "", fmt.Errorf("job %q has no allocations", job)
	case len(pick) == 0:
		return "", fmt.Errorf("job %q has no running allocation (%d not running: see peer job status %s)", job, len(allocs), job)
	}
	return pick[rand.IntN(len(pick))].ID, nil
}

// taskArg is the optional TASK argument after the allocation ID.
func taskArg(args []string) string {
	if len(args) == 2 {
		return args[1]
	}
	return ""
}

func newAllocRestartCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "restart ID [TASK]",
		Short: "Restart a task of an allocation in place, or every running task (outside its restart policy)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.client().RestartAlloc(cmd.Context(), args[0], taskArg(args)); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Restarting %s of allocation %s\n", tasksNamed(taskArg(args)), args[0])
			return nil
		},
	}
	f.addAddress(cmd)
	return cmd
}

func newAllocSignalCmd() *cobra.Command {
	var f apiFlags
	var signal string
	cmd := &cobra.Command{
		Use:   "signal [-s SIGNAL] ID [TASK]",
		Short: "Send a signal to a task of an allocation, or to every running task",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.client().SignalAlloc(cmd.Context(), args[0], taskArg(args), signal); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Sent %s to %s of allocation %s\n", signal, tasksNamed(taskArg(args)), args[0])
			return nil
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "SIGKILL", "the signal to send (Nomad's default, SIGKILL, when left out)")
	f.addAddress(cmd)
	return cmd
}

func newAllocStopCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "stop ID",
		Short: "Stop an allocation; its job places a replacement",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.client().StopAlloc(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Stopping allocation %s; `peer job status` shows its replacement\n", args[0])
			return nil
		},
	}
	f.addAddress(cmd)
	return cmd
}

func tasksNamed(task string) string {
	if task == "" {
		return "every running task"
	}
	return fmt.Sprintf("task %q", task)
}
