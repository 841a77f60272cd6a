package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/shoal-sched/shoal/node/api"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func newAllocExecCmd() *cobra.Command {
	var f apiFlags
	var task, escape string
	var stdin, tty, job bool
	cmd := &cobra.Command{
		Use:   "exec [-task TASK] [-i=false] [-t] [-e CHAR] [-job] ID COMMAND [ARGS...]",
		Short: "Run a command inside a running task, with its user, environment and filesystem",
		Long: `Run a command inside a running task, as nomad alloc exec does: in the task's
namespaces, as its user, with its environment, in its working directory. Standard
input is passed to the command (-i=false passes none), its output is printed as it
comes, and peer exits with the command's exit code. -task names the task when the
group has several. With -job, ID names a job, and the command runs in one of its
running allocations, chosen at random.

-t runs the command on a terminal (the default when standard input is a terminal):
the local terminal is in raw mode until the command exits, and its size follows the
local one. With -t, the escape character (-e, default ~) typed at the start of a line
and followed by a dot closes the session; typed twice it sends itself; -e none
turns escapes off.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader
			if stdin {
				in = cmd.InOrStdin()
			}
			id := args[0]
			if job {
				var err error
				if id, err = jobAlloc(cmd.Context(), f.client(), id, false); err != nil {
					return err
				}
			}
			var code int
			var err error
			if tty {
				esc, perr := escapeChar(escape)
				if perr != nil {
					return perr
				}
				code, err = execTerminal(cmd.Context(), f.client(), id, task, args[1:], esc, in, cmd.OutOrStdout())
			} else {
				code, err = f.client().Exec(cmd.Context(), id, task, args[1:], in, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			if err != nil {
				return err
			}
			if code != 0 {
				return exitCode(code, nil)
			}
			return nil
		},
	}
	cmd.Flags().SetInterspersed(false) // what follows the allocation ID is the command's
	cmd.Flags().StringVar(&task, "task", "", "the task to run in (needed when the group has several)")
	cmd.Flags().BoolVar(&job, "job", false, "ID is a job: run in one of its running allocations, chosen at random")
	cmd.Flags().BoolVarP(&stdin, "stdin", "i", true, "pass standard input to the command")
	cmd.Flags().BoolVarP(&tty, "tty", "t", isTerminal(os.Stdin), "run the command on a terminal (default: when standard input is a terminal)")
	cmd.Flags().StringVarP(&escape, "escape", "e", "~", `with -t, the escape character: at the start of a line, followed by "." it closes the session ("none": no escapes)`)
	f.addAddress(cmd)
	cmd.SetIn(os.Stdin)
	return cmd
}

// escapeChar reads -e: one character, or "none" (0: no escapes).
func escapeChar(s string) (byte, error) {
	switch {
	case s == "none":
		return 0, nil
	case len(s) == 1:
		return s[0], nil
	}
	return 0, fmt.Errorf("-e %q: want one character, or none", s)
}

// errEscaped ends a session closed with the escape sequence.
var errEscaped = errors.New("session closed by the escape sequence")

// execTerminal runs cmd on a terminal in the task: with in a local terminal, that
// terminal is raw until the command exits, and the remote one takes its size at
// the start and at each SIGWINCH; esc (0: none) then "." in what is typed closes
// the session.
func execTerminal(ctx context.Context, c *api.Client, id, task string, cmd []string, esc byte, in io.Reader, out io.Writer) (int, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var size api.TTYSize
	resize := make(chan api.TTYSize)
	if local := localTerminal(in, out); local != nil {
		size = terminalSize(local)
		if in == io.Reader(local) {
			restore, err := makeRaw(local)
			if err != nil {
				return -1, fmt.Errorf("putting the terminal in raw mode: %w", err)
			}
			defer restore()
		}
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, unix.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for {
				select {
				case <-winch:
					select {
					case resize <- terminalSize(local):
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	if in != nil && esc != 0 {
		in = &escapeReader{r: in, esc: esc, lineStart: true, closed: func() { cancel(errEscaped) }}
	}
	code, err := c.ExecTerminal(ctx, id, task, cmd, size, resize, in, out)
	if cause := context.Cause(ctx); errors.Is(cause, errEscaped) {
		return -1, cause
	}
	return code, err
}

// localTerminal is the terminal the user types on: stdin's, else stdout's (for its
// size only); nil when neither is a terminal.
func localTerminal(in io.Reader, out io.Writer) *os.File {
	for _, v := range []any{in, out} {
		if f, ok := v.(*os.File); ok && isTerminal(f) {
			return f
		}
	}
	return nil
}

// isTerminal says whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// terminalSize is the size of the terminal f (0x0 when it cannot be read).
func terminalSize(f *os.File) api.TTYSize {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return api.TTYSize{}
	}
	return api.TTYSize{Height: ws.Row, Width: ws.Col}
}

// makeRaw puts the terminal f in raw mode, as cfmakeraw(3) (and ssh, docker and
// nomad exec -t) do: no echo, no line editing, no signals from keys (^C goes to the
// remote command), no output processing (its \r\n arrive as they are). restore
// puts back the settings f had.
func makeRaw(f *os.File) (restore func() error, err error) {
	fd := int(f.Fd())
	was, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	raw := *was
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	return func() error { return unix.IoctlSetTermios(fd, unix.TCSETS, was) }, nil
}

// escapeReader passes what is read from r, except escape sequences typed at the
// start of a line, as ssh's: esc then "." calls closed and ends the reading; esc
// twice passes one esc; esc then anything else passes both.
type escapeReader struct {
	r         io.Reader
	esc       byte
	lineStart bool // the next byte starts a line
	pending   bool // esc was read at the start of a line; the next byte decides
	closed    func()
	out       []byte // read and passed, not yet returned
	err       error  // r's error, or errEscaped, once out is returned
	buf       []byte
}

func (e *escapeReader) Read(p []byte) (int, error) {
	for len(e.out) == 0 {
		if e.err != nil {
			return 0, e.err
		}
		if len(e.buf) < len(p) {
			e.buf = make([]byte, len(p))
		}
		n, err := e.r.Read(e.buf[:len(p)])
		e.err = err
	bytes:
		for _, b := range e.buf[:n] {
			switch {
			case e.pending:
				e.pending = false
				if b == '.' {
					e.closed()
					e.err = errEscaped
					break bytes
				}
				if b != e.esc {
					e.out = append(e.out, e.esc)
				}
			case e.lineStart && b == e.esc:
				e.pending, e.lineStart = true, false
				continue
			}
			e.out = append(e.out, b)
			e.lineStart = b == '\r' || b == '\n'
		}
		if e.err != nil && e.err != errEscaped && e.pending { // nothing follows a held esc
			e.out, e.pending = append(e.out, e.esc), false
		}
	}
	n := copy(p, e.out)
	e.out = e.out[n:]
	return n, nil
}
