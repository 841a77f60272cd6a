package main

import (
	"os"
	"strings"
)

// Nomad users type long flags with one dash (`-address`, `-dev`, `-config`); pflag
// reads `-address` as the shorthands -a -d -d .... Before cobra parses, every argument
// that looks like a single-dash long flag is rewritten to its double-dash form. Single
// letters (-f), negative numbers and everything after a bare "--" are left alone.
// This runs once at program start, before any goroutine, and is the only place that
// touches os.Args.
func init() {
	os.Args = nomadStyleArgs(os.Args)
}

func nomadStyleArgs(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	positional := 0 // arguments seen that are not flags
	for i := 1; i < len(out); i++ {
		a := out[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			positional++
			// `alloc exec ID COMMAND ARGS...`: the command's own flags stay as typed.
			if positional > 3 && out[1] == "alloc" && out[2] == "exec" {
				break
			}
			continue
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && !isNumber(a[1:]) {
			name, _, _ := strings.Cut(a[1:], "=")
			if len(name) > 1 {
				out[i] = "-" + a
			}
		}
	}
	return out
}

func isNumber(s string) bool {
	for _, r := range s {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return s != ""
}
