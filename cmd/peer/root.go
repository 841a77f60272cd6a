package main

import "github.com/spf13/cobra"

// newRootCmd builds the command tree. Each subcommand lives in its own file and is
// added here; there is no package-level mutable state.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "peer",
		Short: "Shoal: a container scheduler with no masters",
		Long: `Shoal runs containers on a cluster of equal peers. Every host runs 'peer run';
jobs are HCL files in the syntax Nomad users write, submitted to any peer.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newVersionCmd(), newInitCmd(),
		newJobCmd(),
		newNodeCmd(), newAllocCmd(), newServiceCmd(), newMembersCmd(), newRunCmd(),
	)
	return root
}
