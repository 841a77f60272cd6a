package node

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/bridge"
	"github.com/shoal-sched/shoal/placement"
)

// failingBridge is a bridge whose Setup fails, as when a CNI plugin errors out.
type failingBridge struct{ err error }

func (f failingBridge) Setup(context.Context, string, []bridge.PortMapping) (bridge.Attachment, error) {
	return bridge.Attachment{}, f.err
}
func (failingBridge) Teardown(context.Context, string) error { return nil }
func (failingBridge) NetNSPath(id string) string             { return "/nonexistent/" + id }

// A bridge-mode allocation whose network cannot be set up fails without starting a
// task, and its record says why: the allocation, and each task.
func TestRunnerFailsWithoutNetwork(t *testing.T) {
	g := group(jobspec.Port{Label: "http", To: 8080})
	g.Network.Mode = "bridge"
	g.Tasks = []*jobspec.Task{{Name: "a"}, {Name: "b"}}
	job := &jobspec.Job{ID: "web", Groups: []*jobspec.Group{g}}
	for _, tc := range []struct {
		name string
		set  func(r *runner)
		want string
	}{
		{"CNI ADD fails", func(r *runner) { r.bridge = failingBridge{errors.New(`plugin type="bridge" failed: boom`)} }, `plugin type="bridge" failed: boom`},
		{"peer has no plugins", func(r *runner) {
			r.bridgeErr = errors.New(`bridge networking unavailable on peer p1: CNI plugins missing: cni_path "/x" is not a directory`)
		}, `cni_path "/x" is not a directory`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			rec := allocRecord{}
			update := func(_ string, f func(*allocRecord)) { mu.Lock(); defer mu.Unlock(); f(&rec) }
			r := newRunner("alloc-1", job, g, nil, update, slog.New(slog.DiscardHandler)) // no driver: nothing may start
			tc.set(r)
			r.run(context.Background())
			if rec.ClientStatus != placement.ClientFailed || !strings.Contains(rec.ClientDescription, tc.want) {
				t.Errorf("allocation %s %q, want failed saying %q", rec.ClientStatus, rec.ClientDescription, tc.want)
			}
			for _, name := range []string{"a", "b"} {
				ts := rec.TaskStates[name]
				if ts.State != "dead" || !ts.Failed || !strings.Contains(ts.Message, tc.want) {
					t.Errorf("task %s: %+v, want dead, failed, saying %q", name, ts, tc.want)
				}
			}
		})
	}
}
