package main

import "github.com/spf13/cobra"

// newJobCmd groups the job subcommands, as `nomad job ...` does.
func newJobCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Validate, inspect, submit and manage jobs",
	}
	cmd.AddCommand(newJobStatusCmd(), newJobStopCmd(), newJobScaleCmd(), newJobPromoteCmd(), newJobPeriodicCmd(), newJobPlanCmd(), newJobValidateCmd(), newJobInspectCmd(), newJobRunCmd())
	return cmd
}
