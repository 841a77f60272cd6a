package main

import (
	"slices"
	"testing"
)

func TestNomadStyleArgs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in, want []string
	}{
		{"long flags get two dashes", []string{"peer", "run", "-dev", "-http-port", "5646"}, []string{"peer", "run", "--dev", "--http-port", "5646"}},
		{"flag=value", []string{"peer", "job", "run", "-var=count=3", "f.hcl"}, []string{"peer", "job", "run", "--var=count=3", "f.hcl"}},
		{"shorthand stays", []string{"peer", "alloc", "logs", "-f", "abc"}, []string{"peer", "alloc", "logs", "-f", "abc"}},
		{"double dash stays", []string{"peer", "run", "--dev"}, []string{"peer", "run", "--dev"}},
		{"negative number stays", []string{"peer", "job", "scale", "j", "g", "-1"}, []string{"peer", "job", "scale", "j", "g", "-1"}},
		{"after -- nothing changes", []string{"peer", "x", "--", "-keep"}, []string{"peer", "x", "--", "-keep"}},
		{"program name untouched", []string{"-peer"}, []string{"-peer"}},
		{"alloc exec: the command's flags stay", []string{"peer", "alloc", "exec", "-task", "web", "abc", "ls", "-la"}, []string{"peer", "alloc", "exec", "--task", "web", "abc", "ls", "-la"}},
		{"alloc exec without -task", []string{"peer", "alloc", "exec", "abc", "ps", "-ef"}, []string{"peer", "alloc", "exec", "abc", "ps", "-ef"}},
		{"other commands' later flags still change", []string{"peer", "job", "stop", "web", "-purge"}, []string{"peer", "job", "stop", "web", "--purge"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nomadStyleArgs(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("nomadStyleArgs(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
