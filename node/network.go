package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/shoal-sched/shoal/node/api"
	"github.com/shoal-sched/shoal/node/bridge"
	"github.com/shoal-sched/shoal/placement"
)

// bridgeNet is what a runner needs from bridge networking. *bridge.Network
// implements it.
type bridgeNet interface {
	Setup(ctx context.Context, id string, ports []bridge.PortMapping) (bridge.Attachment, error)
	Teardown(ctx context.Context, id string) error
	NetNSPath(id string) string
}

var _ bridgeNet = (*bridge.Network)(nil)

// bridgeConfig is the bridge networking of a peer with config c: the namespaces'
// files and libcni's cache live under the data dir (like the driver's state), so
// that a restarted peer finds them.
func (c Config) bridgeConfig() bridge.Config {
	dir, _ := filepath.Abs(c.DataDir)
	return bridge.Config{
		PluginDir: c.CNIPath, Name: c.BridgeNetworkName, Subnet: c.BridgeNetworkSubnet,
		NetNSDir: filepath.Join(dir, "netns"), CacheDir: filepath.Join(dir, "cni"),
	}
}

// openBridge sets up bridge networking, or says why a peer has none: it then
// declines bridge-mode groups with that reason (bid and accept), and an allocation
// it already had fails with it.
func (n *Node) openBridge() {
	nw, err := bridge.New(n.cfg.bridgeConfig())
	if err != nil {
		n.bridgeErr = fmt.Errorf("bridge networking unavailable on peer %s: %w", n.cfg.Name, err)
		n.log.Warn("bridge networking unavailable: this peer declines groups in network mode \"bridge\"", "err", err)
		return
	}
	n.bridge = nw
}

// attach gives a bridge-mode allocation its network: a new namespace on the bridge
// with its ports mapped, or, for an allocation a restarted peer reattached to, the
// namespace it already has (its address is in its record, and so already in the
// tasks' environment). It records a new allocation's address and sets the tasks'
// environment with it.
func (r *runner) attach(ctx context.Context) error {
	if r.bridgeErr != nil {
		return r.bridgeErr
	}
	if len(r.recovered) > 0 {
		r.netns = r.bridge.NetNSPath(r.allocID)
		return nil
	}
	att, err := r.bridge.Setup(ctx, r.allocID, portMappings(r.group, r.ports, r.hostIP))
	if err != nil {
		return err
	}
	r.netns, r.allocIP = att.NetNS, att.IP
	r.env = portEnv(r.group, r.ports, r.hostIP, att.IP)
	r.update(r.allocID, func(a *allocRecord) { a.AllocIP = att.IP })
	r.log.Info("allocation attached to the bridge", "ip", att.IP, "netns", att.NetNS)
	return nil
}

// detach removes what attach made (CNI DEL, the namespace), once every task is gone.
func (r *runner) detach() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.bridge.Teardown(ctx, r.allocID); err != nil {
		r.log.Warn("detaching the allocation from the bridge", "err", err)
	}
}

// failSetup ends an allocation whose set-up failed (its shared directory, its
// network): every task is dead (tasks a restarted peer had reattached to are
// stopped), and the allocation failed, saying why.
func (r *runner) failSetup(msg string) {
	r.log.Warn("allocation could not be set up", "err", msg)
	destroyTasks(r.recovered)
	r.update(r.allocID, func(a *allocRecord) {
		if a.TaskStates == nil {
			a.TaskStates = map[string]api.TaskState{}
		}
		for _, t := range r.group.Tasks {
			a.TaskStates[t.Name] = api.TaskState{State: "dead", Failed: true, Message: msg, FinishedAt: r.now()}
		}
		a.ClientStatus = placement.ClientFailed
		a.ClientDescription = msg
	})
}

// attachedLocked reports whether a bridge-mode allocation's namespace file is still
// there (its network not torn down). n.mu is held.
func (n *Node) attachedLocked(rec *allocRecord) bool {
	if rec.NetworkMode != "bridge" || n.bridge == nil {
		return false
	}
	_, err := os.Stat(n.bridge.NetNSPath(rec.ID))
	return err == nil
}

// detachLost tears down the network of allocations that ended without a runner.
func (n *Node) detachLost(ids []string) {
	if n.bridge == nil || len(ids) == 0 {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, id := range ids {
			if err := n.bridge.Teardown(ctx, id); err != nil {
				n.log.Warn("detaching an ended allocation from the bridge", "alloc", id, "err", err)
			}
		}
	}()
}
