package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/spf13/cobra"
)

// jobVarFlags are the -var and -var-file flags of the commands that read job files.
type jobVarFlags struct {
	vars     []string
	varFiles []string
}

func (f *jobVarFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.vars, "var", nil, "set a job variable, `NAME=VALUE` (repeatable)")
	cmd.Flags().StringArrayVar(&f.varFiles, "var-file", nil, "read job variables from an HCL `FILE` of NAME = value lines (repeatable)")
}

// options turns the flags into parse options; a -var without '=' is an error.
func (f *jobVarFlags) options() (jobspec.Options, error) {
	opts := jobspec.Options{Vars: map[string]string{}, VarFiles: f.varFiles}
	for _, kv := range f.vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return opts, fmt.Errorf("-var %q: want NAME=VALUE", kv)
		}
		opts.Vars[k] = v
	}
	return opts, nil
}

// printDiagnostics writes one diagnostic per line.
func printDiagnostics(w io.Writer, diags jobspec.Diagnostics) {
	for _, d := range diags {
		fmt.Fprintln(w, d.String())
	}
}

func newJobValidateCmd() *cobra.Command {
	var vf jobVarFlags
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check job files and report every problem at once",
		Long: `Validate parses each job file (HCL, in the syntax Nomad users write), applies
variables and defaults, and checks it. It prints "FILE: ok" for a valid file, and
for an invalid one every problem as file:line:col: field: message. Settings Nomad
has but Shoal ignores are printed as warnings and do not fail the file.
The exit status is 1 if any file is invalid.`,
		Example: `  peer job validate examples/*.hcl
  peer job validate -var image=redis:7 -var-file prod.vars job.hcl`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := vf.options()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			bad := 0
			for _, path := range args {
				_, diags := jobspec.LoadFile(path, opts)
				printDiagnostics(out, diags)
				if diags.HasErrors() {
					bad++
					continue
				}
				fmt.Fprintf(out, "%s: ok\n", path)
			}
			if bad > 0 {
				return fmt.Errorf("%d of %d job files are invalid", bad, len(args))
			}
			return nil
		},
	}
	vf.add(cmd)
	return cmd
}
