package main

import (
	"encoding/json"
	"fmt"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/spf13/cobra"
)

func newJobInspectCmd() *cobra.Command {
	var vf jobVarFlags
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Print a job file as the canonical JSON job, after variables and defaults",
		Long: `Inspect parses a job file, applies variables and Nomad's defaults, and prints the
job as JSON, in the form the HTTP API takes (POST /v1/jobs {"Job": ...}). Warnings go
to stderr; an invalid file prints its problems and exits 1.`,
		Example: `  peer job inspect examples/web.hcl
  peer job inspect -var count=5 examples/variables.hcl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := vf.options()
			if err != nil {
				return err
			}
			job, diags := jobspec.LoadFile(args[0], opts)
			printDiagnostics(cmd.ErrOrStderr(), diags)
			if diags.HasErrors() {
				return fmt.Errorf("%s is invalid", args[0])
			}
			b, err := json.MarshalIndent(job, "", "  ")
			if err != nil {
				return fmt.Errorf("encoding job %q: %w", job.ID, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	}
	vf.add(cmd)
	return cmd
}
