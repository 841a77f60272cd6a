package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sync"

	"github.com/shoal-sched/shoal/node/api"
)

// AllocExec implements POST /v1/client/allocation/<id>/exec, as `nomad alloc exec`
// (without a terminal): cmd runs inside the task (the group's only task when task is
// ""), reading stdin; out receives its output and then its exit code as
// newline-delimited api.ExecFrame JSON. Any peer answers; the allocation's peer runs
// the command. An error before the command starts comes back as an error, with
// nothing written to out.
func (n *Node) AllocExec(ctx context.Context, id, task string, cmd []string, stdin io.Reader, out io.Writer) error {
	if len(cmd) == 0 || cmd[0] == "" {
		return badRequest("exec needs a command")
	}
	a, err := n.findAlloc(id)
	if err != nil {
		return err
	}
	if a.NodeID != n.id {
		command, _ := json.Marshal(cmd)
		q := url.Values{"task": {task}, "command": {string(command)}}
		resp, err := n.forward(ctx, a, "/v1/client/allocation/"+a.ID+"/exec?"+q.Encode(), stdin)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(out, resp.Body)
		return err
	}
	r, err := n.localRunner(a)
	if err != nil {
		return err
	}
	lts, err := r.running(task)
	if err != nil {
		return err
	}
	if len(lts) != 1 {
		return badRequest("allocation %s runs %d tasks: name one", a.ID, len(lts))
	}
	fw := &frameWriter{w: out}
	code, err := lts[0].task.Exec(ctx, cmd, stdin, fw.stream("stdout"), fw.stream("stderr"))
	if err != nil {
		if !fw.wrote {
			return fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		return err
	}
	return fw.write(api.ExecFrame{Exited: true, Result: &api.ExecResult{ExitCode: code}})
}

// frameWriter encodes the command's output as frames, one JSON object per line;
// stdout and stderr write from two goroutines.
type frameWriter struct {
	mu    sync.Mutex
	w     io.Writer
	wrote bool
}

func (f *frameWriter) write(fr api.ExecFrame) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wrote = true
	return json.NewEncoder(f.w).Encode(fr)
}

// stream is the writer of one output stream.
func (f *frameWriter) stream(name string) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		data := &api.ExecData{Data: append([]byte(nil), p...)}
		fr := api.ExecFrame{Stdout: data}
		if name == "stderr" {
			fr = api.ExecFrame{Stderr: data}
		}
		if err := f.write(fr); err != nil {
			return 0, err
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }
