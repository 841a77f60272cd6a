package main

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/spf13/cobra"
)

// newNodeCmd groups the node subcommands, as `nomad node ...` does.
func newNodeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Inspect and manage peers (nodes)",
	}
	cmd.AddCommand(newNodeStatusCmd(), newNodeDrainCmd(), newNodeEligibilityCmd())
	return cmd
}

func newNodeStatusCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "status [ID]",
		Short: "List peers, or show one peer's attributes and capacity",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := f.client()
			out := cmd.OutOrStdout()
			if len(args) == 0 {
				nodes, err := c.Nodes(cmd.Context())
				if err != nil {
					return err
				}
				if f.json {
					return printJSON(out, nodes)
				}
				rows := [][]string{{"ID", "Name", "Address", "DC", "Class", "Drain", "Eligibility", "Status", "CPU free/total", "Mem free/total", "Allocs"}}
				for _, n := range nodes {
					rows = append(rows, []string{short(n.ID), n.Name, n.Address, n.Datacenter, dash(n.Class), fmt.Sprint(n.Drain), n.SchedulingEligibility, n.Status,
						fmt.Sprintf("%d/%d MHz", n.CPUFree, n.CPUTotal), fmt.Sprintf("%d/%d MiB", n.MemoryFreeMB, n.MemoryTotalMB), fmt.Sprint(n.Allocs)})
				}
				table(out, rows)
				return nil
			}
			n, err := c.Node(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(out, n)
			}
			table(out, [][]string{
				{"ID", "= " + n.ID}, {"Name", "= " + n.Name}, {"Address", "= " + n.Address},
				{"Datacenter", "= " + n.Datacenter}, {"Class", "= " + dash(n.Class)},
				{"Status", "= " + n.Status}, {"Eligibility", "= " + n.SchedulingEligibility}, {"Drain", fmt.Sprint("= ", n.Drain)},
				{"CPU", fmt.Sprintf("= %d/%d MHz free", n.CPUFree, n.CPUTotal)},
				{"Memory", fmt.Sprintf("= %d/%d MiB free", n.MemoryFreeMB, n.MemoryTotalMB)},
				{"Allocations", fmt.Sprint("= ", n.Allocs)},
			})
			if len(n.HostVolumes) > 0 { // as Nomad's `node status -verbose`
				fmt.Fprintln(out, "\nHost Volumes")
				rows := [][]string{{"Name", "ReadOnly", "Source"}}
				for _, name := range slices.Sorted(maps.Keys(n.HostVolumes)) {
					v := n.HostVolumes[name]
					rows = append(rows, []string{name, fmt.Sprint(v.ReadOnly), v.Path})
				}
				table(out, rows)
			}
			if len(n.Attributes) > 0 {
				fmt.Fprintln(out, "\nAttributes")
				keys := make([]string, 0, len(n.Attributes))
				for k := range n.Attributes {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				var rows [][]string
				for _, k := range keys {
					rows = append(rows, []string{k, "= " + n.Attributes[k]})
				}
				table(out, rows)
			}
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
