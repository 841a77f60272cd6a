package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
)

func newJobScaleCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "scale ID GROUP COUNT",
		Short: "Set how many allocations of a task group run",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[2])
			if err != nil || n < 0 {
				return fmt.Errorf("COUNT %q: want a whole number >= 0", args[2])
			}
			if err := f.client().Scale(cmd.Context(), args[0], args[1], n); err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"JobID": args[0], "Group": args[1], "Count": n})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Job %q group %q scaled to %d\n", args[0], args[1], n)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
