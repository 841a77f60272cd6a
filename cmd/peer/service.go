package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newServiceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Find the services running allocations offer (Nomad's native service discovery)",
	}
	cmd.AddCommand(newServiceListCmd(), newServiceInfoCmd())
	return cmd
}

func newServiceListCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List every service, its tags and how many instances pass their checks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ss, err := f.client().Services(cmd.Context())
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), ss)
			}
			rows := [][]string{{"Service Name", "Tags", "Instances", "Passing"}}
			for _, s := range ss {
				rows = append(rows, []string{s.ServiceName, "[" + strings.Join(s.Tags, ",") + "]", fmt.Sprint(s.Instances), fmt.Sprint(s.Passing)})
			}
			table(cmd.OutOrStdout(), rows)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func newServiceInfoCmd() *cobra.Command {
	var f apiFlags
	var healthy bool
	cmd := &cobra.Command{
		Use:   "info NAME",
		Short: "List a service's instances: address, port, job, allocation and health",
		Example: `  peer service info web
  curl -s "$SHOAL_ADDR/v1/service/web?healthy=true"   # the same, for programs`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			regs, err := f.client().Service(cmd.Context(), args[0], healthy)
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), regs)
			}
			rows := [][]string{{"Job ID", "Address", "Tags", "Node", "Alloc ID", "Health"}}
			for _, r := range regs {
				health := r.Health
				if health == "" {
					health = "-"
				}
				rows = append(rows, []string{r.JobID, fmt.Sprintf("%s:%d", r.Address, r.Port), "[" + strings.Join(r.Tags, ",") + "]",
					r.NodeName, short(r.AllocID), health})
			}
			table(cmd.OutOrStdout(), rows)
			return nil
		},
	}
	cmd.Flags().BoolVar(&healthy, "healthy", false, "only instances whose checks pass")
	f.add(cmd)
	return cmd
}
