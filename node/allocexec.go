package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/shoal-sched/shoal/exec"
	"github.com/shoal-sched/shoal/node/api"
)

// AllocExec implements POST /v1/client/allocation/<id>/exec, as `nomad alloc exec`:
// cmd runs inside the task (the group's only task when task is ""); out receives its
// output and then its exit code as newline-delimited api.ExecFrame JSON. Without a
// terminal (tty nil) stdin is the command's stdin, and its stdout and stderr come
// back apart. With one (tty the terminal's first size), stdin is a stream of
// newline-delimited api.ExecInput frames (what is typed, and resizes) and what the
// command writes to its terminal comes back as stdout. Any peer answers; the
// allocation's peer runs the command. An error before the command starts comes back
// as an error, with nothing written to out; bad input frames end the command and
// the answer with an error frame.
func (n *Node) AllocExec(ctx context.Context, id, task string, cmd []string, tty *api.TTYSize, stdin io.Reader, out io.Writer) error {
	if len(cmd) == 0 || cmd[0] == "" {
		return badRequest("exec needs a command")
	}
	a, err := n.findAlloc(id)
	if err != nil {
		return err
	}
	if a.NodeID != n.id {
		resp, err := n.forward(ctx, a, "/v1/client/allocation/"+a.ID+"/exec?"+api.ExecQuery(task, cmd, tty), stdin)
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
	var code int
	if tty == nil {
		code, err = lts[0].task.Exec(ctx, cmd, stdin, fw.stream("stdout"), fw.stream("stderr"))
	} else {
		code, err = execTerminal(ctx, lts[0].task, cmd, *tty, stdin, fw.stream("stdout"))
		var bad *badInputError
		if errors.As(err, &bad) {
			return fw.write(api.ExecFrame{Error: err.Error()})
		}
	}
	if err != nil {
		if !fw.wrote {
			return fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		return err
	}
	return fw.write(api.ExecFrame{Exited: true, Result: &api.ExecResult{ExitCode: code}})
}

// badInputError is an input frame execTerminal could not read; the command was
// killed.
type badInputError struct {
	frame int // 1 for the first line
	err   error
}

func (e *badInputError) Error() string {
	return fmt.Sprintf("input frame %d: %v (want one JSON object per line: {\"stdin\":{\"data\":\"<base64>\"}} or {\"tty_size\":{\"height\":H,\"width\":W}}); the command was killed", e.frame, e.err)
}

// execTerminal runs cmd on a terminal in task, typing the stdin frames of in and
// resizing it as its tty_size frames say, until the command exits. An input frame
// that is not JSON kills the command and comes back as a *badInputError.
func execTerminal(ctx context.Context, task *exec.Task, cmd []string, size api.TTYSize, in io.Reader, out io.Writer) (int, error) {
	typed, typing := io.Pipe()
	resize := make(chan exec.TermSize)
	done := make(chan struct{})
	ctx, cancel := context.WithCancelCause(ctx)
	// The reader may outlive this call, blocked reading in until the caller closes
	// it (the HTTP server does once the answer is written): everything else it does
	// ends once typed is closed and done is.
	defer typed.Close()
	defer close(done)
	defer cancel(nil)
	go func() {
		err := readExecInput(in, typing, resize, done)
		typing.Close()
		if err != nil {
			cancel(err)
		}
	}()
	code, err := task.ExecTerminal(ctx, cmd, exec.TermSize(size), resize, typed, out)
	var bad *badInputError
	if errors.As(context.Cause(ctx), &bad) {
		return code, bad
	}
	return code, err
}

// readExecInput decodes input frames from in until it ends (nil), a frame is not
// JSON (a *badInputError), or done is closed (nil): it writes what is typed to
// stdin and sends sizes to resize. Frames with neither (Nomad's heartbeats) are
// skipped.
func readExecInput(in io.Reader, stdin io.Writer, resize chan<- exec.TermSize, done <-chan struct{}) error {
	dec := json.NewDecoder(in)
	for frame := 1; ; frame++ {
		var f api.ExecInput
		if err := dec.Decode(&f); err != nil {
			select {
			case <-done:
				return nil
			default:
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return &badInputError{frame: frame, err: err}
		}
		if f.Stdin != nil && len(f.Stdin.Data) > 0 {
			if _, err := stdin.Write(f.Stdin.Data); err != nil {
				return nil // the command is done
			}
		}
		if f.TTYSize != nil {
			select {
			case resize <- exec.TermSize(*f.TTYSize):
			case <-done:
				return nil
			}
		}
	}
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
