// Command peer is Shoal: the agent every host runs (`peer run`) and the CLI that talks to it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/shoal-sched/shoal/exec"
)

func main() {
	// The container init: libcontainer re-executes this binary as `peer init`; its
	// nsenter constructor has already run, and nothing else (flags, goroutines) may.
	if exec.IsInit() {
		exec.Init() // never returns
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
