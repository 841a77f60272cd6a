package main

import (
	"io"

	"github.com/spf13/cobra"
)

func newAllocLogsCmd() *cobra.Command {
	var f apiFlags
	var follow, stderr bool
	cmd := &cobra.Command{
		Use:   "logs [-f] [-stderr] ID [TASK]",
		Short: "Print a task's stdout (or stderr); TASK may be left out when the group has one",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			task := taskArg(args)
			stream := "stdout"
			if stderr {
				stream = "stderr"
			}
			rc, err := f.client().Logs(cmd.Context(), args[0], task, stream, follow)
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
	f.addAddress(cmd)
	return cmd
}
