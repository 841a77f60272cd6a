package node_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/console"
	"github.com/shoal-sched/shoal/node/api"
	"golang.org/x/sys/unix"
)

// TestAllocExecTerminal: `alloc exec -t`, asked of a peer that does not run the
// allocation, runs the command on a terminal of the size asked for on the peer that
// does, resizes it as asked, and types what is sent; through the API and through the
// CLI. Bad input frames end the exec with an error that names them; a terminal in
// an allocation that is not running is a clear error.
func TestAllocExecTerminal(t *testing.T) {
	c := newCluster(t, 2)
	ctx := context.Background()
	submit(t, c.peers[0].client, ctlJob)
	alloc, other := c.startedElsewhere("ctl", "a")
	addr := "http://" + other.addr + ":4646"

	var out bytes.Buffer
	code, err := other.client.ExecTerminal(ctx, alloc.ID, "", []string{"/bin/sh", "-c", "tty; stty size"}, api.TTYSize{Height: 33, Width: 101}, nil, nil, &out)
	if lines := strings.Split(out.String(), "\r\n"); err != nil || code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "/dev/pts/") || lines[1] != "33 101" {
		t.Errorf("tty; stty size on a 33x101 terminal: code %d, err %v, output %q; want 0, a /dev/pts path and \"33 101\"", code, err, out.String())
	}

	// A resize reaches the command (bash: dash can lose a trapped signal).
	resize := make(chan api.TTYSize)
	outR, outW := io.Pipe()
	result := make(chan error, 1)
	go func() {
		code, err := other.client.ExecTerminal(ctx, alloc.ID, "a", []string{"/bin/bash", "-c", `trap "stty size; exit 4" WINCH; echo waiting; while :; do sleep 0.05; done`},
			api.TTYSize{Height: 24, Width: 80}, resize, nil, outW)
		if err == nil && code != 4 {
			err = fmt.Errorf("exit code %d, want 4", code)
		}
		outW.Close()
		result <- err
	}()
	resized := bufio.NewReader(outR)
	if line, err := resized.ReadString('\n'); line != "waiting\r\n" {
		t.Fatalf("before the resize: %q (%v), want waiting", line, err)
	}
	resize <- api.TTYSize{Height: 50, Width: 132}
	rest, _ := io.ReadAll(resized)
	if err := <-result; err != nil || string(rest) != "50 132\r\n" {
		t.Errorf("resized to 50x132: %v, output %q; want \"50 132\"", err, rest)
	}

	// The CLI: stdin is no terminal here, so -t is asked for, and the terminal has no size.
	cli := exec.Command(peerBin, "alloc", "exec", "-address", addr, "-t", alloc.ID[:8], "/bin/sh")
	cli.Stdin = strings.NewReader("echo typed-$((40+2)); exit 5\n")
	cliOut, err := cli.Output()
	if cli.ProcessState.ExitCode() != 5 || !strings.Contains(string(cliOut), "typed-42\r\n") {
		t.Errorf("peer alloc exec -t ... /bin/sh typing \"echo typed-$((40+2)); exit 5\": exit %d (%v), output %q; want 5 and a line typed-42", cli.ProcessState.ExitCode(), err, cliOut)
	}
	cliOut, err = exec.Command(peerBin, "alloc", "exec", "-address", addr, "-t", "-i=false", alloc.ID, "stty", "size").Output()
	if err != nil || string(cliOut) != "0 0\r\n" {
		t.Errorf("peer alloc exec -t -i=false ... stty size: %v, output %q; want \"0 0\\r\\n\"", err, cliOut)
	}

	// The CLI on a terminal: -t by default, the local terminal raw (the remote's
	// \r\n arrive untouched) and restored at the end, its size sent at the start and
	// at SIGWINCH.
	local, slavePath, err := console.NewPty()
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	local.Resize(console.WinSize{Height: 40, Width: 120})
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	cli = exec.Command(peerBin, "alloc", "exec", "-address", addr, alloc.ID, "/bin/bash", "-c", `stty size; trap "stty size; exit 4" WINCH; echo waiting; while :; do sleep 0.05; done`)
	cli.Stdin, cli.Stdout, cli.Stderr = slave, slave, slave
	cli.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true} // the pty's foreground: SIGWINCH reaches it
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	hung := time.AfterFunc(time.Minute, func() { cli.Process.Kill(); local.Close() }) // the reads below end
	defer hung.Stop()
	onTerminal := bufio.NewReader(local)
	for _, want := range []string{"40 120\r\n", "waiting\r\n"} {
		if line, err := onTerminal.ReadString('\n'); line != want {
			cli.Process.Kill()
			t.Fatalf("peer alloc exec on a 40x120 terminal: %q (%v), want %q", line, err, want)
		}
	}
	local.Resize(console.WinSize{Height: 50, Width: 132})
	line, _ := onTerminal.ReadString('\n')
	err = cli.Wait()
	if line != "50 132\r\n" || cli.ProcessState.ExitCode() != 4 {
		t.Errorf("peer alloc exec on a terminal resized to 50x132: %q, %v; want \"50 132\" and exit status 4", line, err)
	}
	if after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS); err != nil || *after != *before {
		t.Errorf("the terminal after peer alloc exec: %+v (%v), want it as before, %+v", after, err, before)
	}

	// A bad input frame: the command is killed and the answer ends with an error.
	body := `{"stdin":{"data":"aGkK"}}` + "\nnot json\n"
	resp, err := http.Post(addr+"/v1/client/allocation/"+alloc.ID+"/exec?"+api.ExecQuery("", []string{"cat"}, &api.TTYSize{}), "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var last api.ExecFrame
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		last = api.ExecFrame{}
		json.Unmarshal(sc.Bytes(), &last)
	}
	resp.Body.Close()
	if !strings.Contains(last.Error, "input frame 2: invalid character 'o' in literal null") || !strings.Contains(last.Error, "the command was killed") {
		t.Errorf("exec with a bad second input frame: last frame %+v; want an error naming input frame 2 and saying the command was killed", last)
	}

	if err := other.client.StopAlloc(ctx, alloc.ID); err != nil {
		t.Fatal(err)
	}
	c.waitFor(20*time.Second, "the allocation stopped", func() (bool, string) {
		a, err := other.client.Alloc(ctx, alloc.ID)
		return err == nil && a.ClientStatus != "running", fmt.Sprint(a.ClientStatus, err)
	})
	_, err = other.client.ExecTerminal(ctx, alloc.ID, "", []string{"/bin/sh"}, api.TTYSize{Height: 24, Width: 80}, nil, strings.NewReader("exit\n"), &out)
	if want := "allocation " + alloc.ID + " is not running"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("exec -t in a stopped allocation: %v, want an error containing %q", err, want)
	}
}

// startedElsewhere waits for the one allocation of job to run and its task to print
// "start"; it returns the allocation and a peer that does not run it.
func (c *cluster) startedElsewhere(job, task string) (api.Alloc, *proc) {
	var alloc api.Alloc
	c.waitFor(30*time.Second, "the task running", func() (bool, string) {
		allocs, err := c.peers[0].client.JobAllocs(context.Background(), job)
		if err != nil || len(allocs) != 1 || allocs[0].ClientStatus != "running" {
			return false, fmt.Sprint(allocs, err)
		}
		alloc = allocs[0]
		out, err := stdout(c.peers[0].client, alloc.ID, task)
		return strings.Contains(out, "start"), fmt.Sprint(out, err)
	})
	if alloc.NodeName == c.peers[0].name {
		return alloc, c.peers[1]
	}
	return alloc, c.peers[0]
}
