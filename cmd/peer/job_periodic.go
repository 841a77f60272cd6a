package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newJobPeriodicCmd groups the periodic job subcommands, as `nomad job periodic` does.
func newJobPeriodicCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "periodic",
		Short: "Act on periodic (cron) jobs",
	}
	cmd.AddCommand(newJobPeriodicForceCmd())
	return cmd
}

func newJobPeriodicForceCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "force ID",
		Short: "Launch a child of a periodic job now",
		Long: `Launch a child of a periodic job now, as its next tick would, even if
prohibit_overlap would skip it because an earlier child still runs. The child is named
<ID>/periodic-<unix seconds now>; forcing twice in one second launches one child.
The job must not be stopped or disabled (periodic { enabled = false }).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := f.client().PeriodicForce(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Job %q launched: %s (peer job status %s)\n", args[0], resp.JobID, resp.JobID)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
