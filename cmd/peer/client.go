package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-sched/shoal/node/api"
)

// apiFlags are the flags every command that talks to a peer takes.
type apiFlags struct {
	address string
	json    bool
}

// add registers -address and -json on cmd.
func (f *apiFlags) add(cmd *cobra.Command) {
	f.addAddress(cmd)
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON for scripts instead of a table")
}

// addAddress registers -address alone, for commands that print no table.
func (f *apiFlags) addAddress(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.address, "address", "", "HTTP address of any peer (default $SHOAL_ADDR, then "+api.DefaultAddress+")")
}

func (f *apiFlags) client() *api.Client { return api.NewClient(f.address) }

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows aligned in columns; the first row is the header.
func table(w io.Writer, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// short shows the first 8 characters of an id, as Nomad does.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// ago renders a time as a duration before now, rounded for people.
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String() + " ago"
	case d < time.Hour:
		return d.Round(time.Minute).String() + " ago"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// allocRows is the allocation table `job status` and `alloc status` print.
func allocRows(allocs []api.Alloc) [][]string {
	rows := [][]string{{"ID", "Node", "Task Group", "Index", "Version", "Desired", "Status", "Restarts", "Modified"}}
	for _, a := range allocs {
		version := fmt.Sprint(a.JobVersion)
		if a.Canary {
			version += " (canary)"
		}
		rows = append(rows, []string{short(a.ID), a.NodeName, a.TaskGroup, fmt.Sprint(a.Index), version,
			a.DesiredStatus, a.ClientStatus, fmt.Sprint(a.RestartCount), ago(a.ModifyTime)})
	}
	return rows
}
