package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newJobStopCmd() *cobra.Command {
	var f apiFlags
	var purge bool
	cmd := &cobra.Command{
		Use:   "stop ID",
		Short: "Stop a job's allocations (and with -purge forget the job)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.client().StopJob(cmd.Context(), args[0], purge); err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"JobID": args[0], "Purged": purge})
			}
			verb := "stopped"
			if purge {
				verb = "stopped and purged"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Job %q %s\n", args[0], verb)
			return nil
		},
	}
	cmd.Flags().BoolVar(&purge, "purge", false, "also remove the job from the cluster")
	f.add(cmd)
	return cmd
}
