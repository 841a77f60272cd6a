package main

import (
	"github.com/spf13/cobra"
)

func newMembersCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the gossip members the peer sees, with their health",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ms, err := f.client().Members(cmd.Context())
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), ms)
			}
			rows := [][]string{{"Name", "ID", "Address", "Status", "DC"}}
			for _, m := range ms {
				rows = append(rows, []string{m.Name, short(m.ID), m.Addr, m.Status, m.DC})
			}
			table(cmd.OutOrStdout(), rows)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
