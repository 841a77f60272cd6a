package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/shoal-sched/shoal/exec"
	"github.com/shoal-sched/shoal/node/api"
)

// Control of one allocation's tasks, as Nomad's `alloc restart`, `alloc signal` and
// `alloc stop`: any peer answers; the peer that runs the allocation acts.

// AllocRestart implements POST /v1/client/allocation/<id>/restart: the named task, or
// every running task, is stopped with its kill signal and started again at once, in
// place and outside its restart policy.
func (n *Node) AllocRestart(ctx context.Context, id string, req api.AllocRestartRequest) error {
	if req.TaskName != "" && req.AllTasks {
		return badRequest("restart names task %q and all tasks: give one or the other", req.TaskName)
	}
	return n.onRunner(ctx, id, "/v1/client/allocation/%s/restart", req, func(r *runner) error {
		return r.restartTasks(req.TaskName, "restart requested")
	})
}

// AllocSignal implements POST /v1/client/allocation/<id>/signal: the named task, or
// every running task, is sent the signal.
func (n *Node) AllocSignal(ctx context.Context, id string, req api.AllocSignalRequest) error {
	sig, err := exec.ParseSignal(req.Signal)
	if err != nil || req.Signal == "" {
		return badRequest("signal %q: want a signal name such as SIGHUP, SIGUSR1 or SIGTERM, or a number", req.Signal)
	}
	return n.onRunner(ctx, id, "/v1/client/allocation/%s/signal", req, func(r *runner) error {
		return r.signalTasks(req.Task, sig)
	})
}

// AllocStop implements POST /v1/allocation/<id>/stop: the allocation stops, and its
// job's coordinator places a replacement as for any allocation that ended.
func (n *Node) AllocStop(ctx context.Context, id string) error {
	return n.onRunner(ctx, id, "/v1/allocation/%s/stop", struct{}{}, func(r *runner) error {
		n.stopLocal(r.allocID, "stopped by request")
		n.wake()
		return nil
	})
}

// onRunner finds allocation id and runs do with its runner when this peer runs it;
// else it forwards the request (path, with the full id for %s, and body) to the API of
// the peer that does.
func (n *Node) onRunner(ctx context.Context, id, path string, body any, do func(*runner) error) error {
	a, err := n.findAlloc(id)
	if err != nil {
		return err
	}
	if a.NodeID != n.id {
		return n.forwardAllocCtl(ctx, a, fmt.Sprintf(path, a.ID), body)
	}
	r, err := n.localRunner(a)
	if err != nil {
		return err
	}
	return do(r)
}

// localRunner is the runner of a's tasks on this peer: an error when it has none
// running.
func (n *Node) localRunner(a allocRecord) (*runner, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	la := n.local[a.ID]
	if la == nil || la.runner == nil || la.rec.Terminal() {
		return nil, fmt.Errorf("%w: allocation %s is not running (%s)", ErrConflict, a.ID, a.ClientStatus)
	}
	return la.runner, nil
}

// forwardAllocCtl sends a control request to the API of the peer that runs a, and
// brings back its answer's kind of error.
func (n *Node) forwardAllocCtl(ctx context.Context, a allocRecord, path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := n.forward(ctx, a, path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// forward POSTs body to path on the API of the peer that runs a. It returns the
// answer when it is a 200 (the caller reads and closes its body), else an error of
// the answer's kind (ErrNotFound, ErrBadRequest, ErrConflict) with its message.
func (n *Node) forward(ctx context.Context, a allocRecord, path string, body io.Reader) (*http.Response, error) {
	base, err := n.peerAPI(a)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", base+path, body)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking %s: %w", a.NodeName, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	kind := map[int]error{http.StatusNotFound: ErrNotFound, http.StatusBadRequest: ErrBadRequest, http.StatusConflict: ErrConflict}[resp.StatusCode]
	if kind == nil {
		return nil, fmt.Errorf("%s answered %s: %s", a.NodeName, resp.Status, strings.TrimSpace(string(msg)))
	}
	// The message already names its kind ("not found: ..."): keep it as it is.
	return nil, fmt.Errorf("%w%s", kind, strings.TrimPrefix(strings.TrimSpace(string(msg)), kind.Error()))
}

// peerAPI is the base URL of the API of the peer that runs a.
func (n *Node) peerAPI(a allocRecord) (string, error) {
	info, ok := n.nodeInfos()[a.NodeName]
	if !ok || info.HTTPAddr == "" {
		return "", fmt.Errorf("allocation %s runs on %s, whose API address is unknown", a.ID, a.NodeName)
	}
	return (&url.URL{Scheme: "http", Host: info.HTTPAddr}).String(), nil
}
