package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"
)

func newAllocExecCmd() *cobra.Command {
	var f apiFlags
	var task string
	var stdin bool
	cmd := &cobra.Command{
		Use:   "exec [-task TASK] [-i=false] ID COMMAND [ARGS...]",
		Short: "Run a command inside a running task, with its user, environment and filesystem (no terminal)",
		Long: `Run a command inside a running task, as nomad alloc exec does without -t: in the
task's namespaces, as its user, with its environment. Standard input is passed to the
command (-i=false passes none), its output is printed as it comes, and peer exits with
the command's exit code. -task names the task when the group has several.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader
			if stdin {
				in = cmd.InOrStdin()
			}
			code, err := f.client().Exec(cmd.Context(), args[0], task, args[1:], in, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if code != 0 {
				return exitCode(code, nil)
			}
			return nil
		},
	}
	cmd.Flags().SetInterspersed(false) // what follows the allocation ID is the command's
	cmd.Flags().StringVar(&task, "task", "", "the task to run in (needed when the group has several)")
	cmd.Flags().BoolVarP(&stdin, "stdin", "i", true, "pass standard input to the command")
	f.addAddress(cmd)
	cmd.SetIn(os.Stdin)
	return cmd
}
