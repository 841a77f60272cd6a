package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func newNodeDrainCmd() *cobra.Command {
	var f apiFlags
	var disable bool
	cmd := &cobra.Command{
		Use:   "drain ID",
		Short: "Move every allocation off a peer and keep new ones away (-disable to undo)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.client().Drain(cmd.Context(), args[0], !disable); err != nil {
				return err
			}
			state := "enabled"
			if disable {
				state = "disabled"
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"NodeID": args[0], "Drain": !disable})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Drain %s for node %q\n", state, args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&disable, "disable", false, "stop draining and make the peer eligible again")
	f.add(cmd)
	return cmd
}

func newNodeEligibilityCmd() *cobra.Command {
	var f apiFlags
	var enable, disable bool
	cmd := &cobra.Command{
		Use:   "eligibility ID (-enable | -disable)",
		Short: "Allow or refuse new placements on a peer; running allocations stay",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if enable == disable {
				return errors.New("give exactly one of -enable or -disable")
			}
			if err := f.client().Eligibility(cmd.Context(), args[0], enable); err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"NodeID": args[0], "Eligible": enable})
			}
			state := "eligible"
			if disable {
				state = "ineligible"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Node %q is now %s\n", args[0], state)
			return nil
		},
	}
	cmd.Flags().BoolVar(&enable, "enable", false, "allow new placements")
	cmd.Flags().BoolVar(&disable, "disable", false, "refuse new placements")
	f.add(cmd)
	return cmd
}
