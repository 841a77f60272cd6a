package main

import (
	"io"

	"github.com/spf13/cobra"
)

func newAllocLogsCmd() *cobra.Command {
	var f apiFlags
	var follow, stderr, job bool
	cmd := &cobra.Command{
		Use:   "logs [-f] [-stderr] [-job] ID [TASK]",
		Short: "Print a task's stdout (or stderr); TASK may be left out when the group has one",
		Long: `Print a task's stdout (or stderr); TASK may be left out when the group has one.
With -job, ID names a job, and the logs are those of one of its running allocations,
chosen at random (of any of its allocations when none runs), as nomad alloc logs -job.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			task := taskArg(args)
			stream := "stdout"
			if stderr {
				stream = "stderr"
			}
			id := args[0]
			if job {
				var err error
				if id, err = jobAlloc(cmd.Context(), f.client(), id, true); err != nil {
					return err
				}
			}
			rc, err := f.client().Logs(cmd.Context(), id, task, stream, follow)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(cmd.OutOrStdout(), rc)
			if cmd.Context().Err() != nil {
				return nil // interrupted while following
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output until interrupted")
	cmd.Flags().BoolVar(&stderr, "stderr", false, "print stderr instead of stdout")
	cmd.Flags().BoolVar(&job, "job", false, "ID is a job: print the logs of one of its allocations, a running one if any")
	f.addAddress(cmd)
	return cmd
}
