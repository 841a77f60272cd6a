package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newJobPromoteCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "promote ID",
		Short: "Promote the canaries of a job's new version, so its rollout goes on",
		Long: `Promote the canaries of a job's current version (update { canary = N }): the
old allocations they stand beside stop, and the rolling update replaces the rest
under max_parallel. Without auto_promote, a canary rollout waits for this.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.client().Promote(cmd.Context(), args[0]); err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"JobID": args[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Job %q promoted: its rollout goes on\n", args[0])
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
