// Command peer is Shoal: the agent every host runs (`peer run`) and the CLI that talks to it.
package main

import (
	"context"
	"errors"
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
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if ee == nil || ee.err != nil {
			fmt.Fprintln(os.Stderr, "Error:", err)
		}
		os.Exit(code)
	}
}

// exitError is an error that asks for a particular exit status; with a nil err it
// is only that status (the command has said what it had to).
type exitError struct {
	code int
	err  error
}

func exitCode(code int, err error) error { return &exitError{code, err} }

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }
