package main

import (
	"errors"

	"github.com/shoal-sched/shoal/exec"
	"github.com/spf13/cobra"
)

// newInitCmd is the hidden `peer init`. libcontainer starts the peer binary as
// `/proc/self/exe init` to become a container's first process; main() hands that
// to exec.Init before cobra or any goroutine runs (see main.go), so this command
// only exists to keep `peer --help` and a mistaken manual call honest.
func newInitCmd() *cobra.Command {
	return &cobra.Command{
		Use:    exec.InitArg,
		Short:  "Container init (started by the peer itself; not for manual use)",
		Hidden: true,
		Args:   cobra.ArbitraryArgs,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("peer init is started by the peer to set up a container; it is not a command to run by hand")
		},
	}
}
