package integration

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// live holds the clusters not yet closed, so that an interrupt (^C, SIGTERM) removes them
// before the process exits: t.Cleanup does not run when a test binary is killed. This is the
// package's only mutable global; it exists because signals are process-wide.
var live = struct {
	sync.Mutex
	clusters map[*Cluster]bool
	once     sync.Once
}{clusters: map[*Cluster]bool{}}

func register(c *Cluster) {
	live.once.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		go func() {
			sig := <-ch
			fmt.Fprintf(os.Stderr, "integration: %v: removing the test clusters before exiting\n", sig)
			live.Lock()
			runs := make([]int, 0, len(live.clusters))
			for c := range live.clusters {
				runs = append(runs, c.Run)
			}
			live.Unlock()
			for _, r := range runs {
				if err := sweepRun(r); err != nil {
					fmt.Fprintf(os.Stderr, "integration: run %d: %v\n", r, err)
				}
			}
			os.Exit(2)
		}()
	})
	live.Lock()
	live.clusters[c] = true
	live.Unlock()
}

func unregister(c *Cluster) {
	live.Lock()
	delete(live.clusters, c)
	live.Unlock()
}
