package gossip

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// Peer is one member of the cluster: serf membership, tags, events, the RPC and
// the replicated state. New starts it; Leave or Shutdown stops it. Every method is
// safe for concurrent use. The Peer owns all of its goroutines.
type Peer struct {
	cfg  Config
	log  *slog.Logger
	serf *serf.Serf
	rpc  *rpc
	ring *memberlist.Keyring

	stop     chan struct{}      // closed by Shutdown
	stopCtx  context.Context    // cancelled by Shutdown with stop: the parent of RPC contexts
	cancel   context.CancelFunc // cancels stopCtx
	stopOnce sync.Once
	left     bool
	stateMu  sync.Mutex
	// wg counts every goroutine the peer starts (see spawn); Shutdown waits for it.
	// spawnMu orders each wg.Add before Shutdown's close(stop), so that nothing is
	// added once Shutdown waits.
	wg      sync.WaitGroup
	spawnMu sync.Mutex

	tagMu    sync.Mutex
	tags     Tags // desired (latest SetTags plus table digests)
	sentTags Tags // last broadcast
	lastTags time.Time
	tagKick  chan struct{}
	// tagBroadcasts counts tag broadcasts (tests check the rate limit).
	tagBroadcasts atomic.Int64

	memMu   sync.RWMutex
	members map[string]memberInfo // our view, kept by the event pump

	evMu     sync.Mutex
	evQueue  *queue[MemberEvent]
	evOut    chan MemberEvent
	handlers map[string]func(payload []byte)
	queries  map[string]QueryHandler

	rngMu sync.Mutex
	rng   *rand.Rand

	repl *replicator

	// The push-pull after joining (joinsync.go).
	joinKick  chan struct{}
	joinMu    sync.Mutex
	joinSeeds []string     // the addresses last given to a successful Join
	metOthers atomic.Bool  // set at the first other member we hear of
	joinSyncs atomic.Int64 // push-pulls after joining that succeeded (tests and the bench)
}

type memberInfo struct {
	rpcAddr string
	alive   bool
}

// New validates cfg, creates the keyring, starts serf, the RPC listener and the
// background loops (event pump, tag coalescing, anti-entropy, callbacks). It does
// not join anyone: call Join (a snapshot makes a restarted peer rejoin by itself).
func New(cfg Config) (*Peer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = discardLogger
	}
	log = log.With("peer", cfg.NodeName)
	seed := cfg.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	p := &Peer{
		cfg:      cfg,
		log:      log,
		stop:     make(chan struct{}),
		tagKick:  make(chan struct{}, 1),
		joinKick: make(chan struct{}, 1),
		members:  map[string]memberInfo{},
		handlers: map[string]func([]byte){},
		queries:  map[string]QueryHandler{},
		rng:      rand.New(rand.NewSource(seed)),
	}
	p.stopCtx, p.cancel = context.WithCancel(context.Background())
	ring, keyringPath, err := loadKeyring(cfg, log)
	if err != nil {
		return nil, err
	}
	p.ring = ring

	// RPC first: its address goes into our tags.
	netw := cfg.RPCNetwork
	if netw == nil {
		if n, ok := cfg.Transport.(RPCNetwork); ok {
			netw = n
		} else {
			netw = tcpNetwork{}
		}
	}
	ln, err := netw.Listen(net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.RPCPort)))
	if err != nil {
		return nil, fmt.Errorf("gossip: starting RPC listener on %s:%d: %w", cfg.BindAddr, cfg.RPCPort, err)
	}
	p.rpc = &rpc{
		name: cfg.NodeName, netw: netw, ln: ln, log: log.With("component", "rpc"),
		keys: p.keys, version: cmp.Or(cfg.rpcVersion, rpcVersion), maxFrame: cfg.RPCMaxMessage, maxIdle: cfg.RPCMaxIdle,
		idleTTL: cfg.RPCIdleTimeout, timeout: cfg.RPCTimeout,
		handlers: map[string]Handler{}, idle: map[string][]*pooledConn{}, conns: map[net.Conn]struct{}{},
	}
	p.repl = newReplicator(p)

	sc := serfConfig(cfg, ring, keyringPath, log)
	evCh := make(chan serf.Event, 1024)
	sc.EventCh = evCh
	p.tags = cfg.Tags
	p.tags.RPCAddr = p.rpcAddrFor(ln.Addr(), cfg)
	tagMap, err := checkTags(p.tags)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("gossip: initial tags: %w", err)
	}
	sc.Tags = tagMap
	p.sentTags, p.lastTags = p.tags, time.Now()
	s, err := serf.Create(sc)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("gossip: starting serf on %s:%d: %w", cfg.BindAddr, cfg.BindPort, err)
	}
	p.serf = s
	p.members[cfg.NodeName] = memberInfo{rpcAddr: p.tags.RPCAddr, alive: true}

	p.rpc.wg.Add(1)
	go p.rpc.serve()
	p.repl.registerHandlers()
	p.spawn(func() { p.pump(evCh) })
	p.spawn(p.tagLoop)
	p.spawn(p.repl.antiEntropyLoop)
	p.spawn(p.repl.noticeLoop)
	p.spawn(p.repl.callbackLoop)
	if cfg.JoinSyncDelay > 0 {
		p.spawn(p.joinSyncLoop)
	}
	log.Info("gossip peer started", "gossip", p.LocalAddr(), "rpc", p.tags.RPCAddr, "encrypted", ring != nil)
	return p, nil
}

// spawn runs f in a goroutine that Shutdown waits for, and reports true; once
// Shutdown has begun it runs nothing and reports false.
func (p *Peer) spawn(f func()) bool {
	p.spawnMu.Lock()
	defer p.spawnMu.Unlock()
	if p.stopped() {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// rpcAddrFor is the RPC address others should dial.
func (p *Peer) rpcAddrFor(a net.Addr, cfg Config) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if cfg.AdvertiseAddr != "" {
		host = cfg.AdvertiseAddr
	} else if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if priv, err := privateIP(); err == nil {
			host = priv
		}
	}
	return net.JoinHostPort(host, port)
}

// privateIP is memberlist's choice of advertise address when binding 0.0.0.0.
func privateIP() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.IsPrivate() {
			return n.IP.String(), nil
		}
	}
	return "", errors.New("no private IP address found")
}

// serfConfig maps our Config onto serf's and memberlist's.
func serfConfig(cfg Config, ring *memberlist.Keyring, keyringPath string, log *slog.Logger) *serf.Config {
	ml := memberlist.DefaultLANConfig()
	ml.Name = cfg.NodeName
	ml.BindAddr, ml.BindPort = cfg.BindAddr, cfg.BindPort
	ml.AdvertiseAddr, ml.AdvertisePort = cfg.AdvertiseAddr, cfg.AdvertisePort
	if cfg.AdvertisePort == 0 && cfg.BindPort != 0 {
		ml.AdvertisePort = cfg.BindPort
	}
	ml.ProbeInterval, ml.ProbeTimeout = cfg.ProbeInterval, cfg.ProbeTimeout
	ml.SuspicionMult, ml.SuspicionMaxTimeoutMult = cfg.SuspicionMult, cfg.SuspicionMaxTimeoutMult
	ml.AwarenessMaxMultiplier = cfg.AwarenessMaxMultiplier
	ml.GossipInterval, ml.GossipNodes = cfg.GossipInterval, cfg.GossipNodes
	ml.GossipToTheDeadTime, ml.RetransmitMult = cfg.GossipToTheDeadTime, cfg.RetransmitMult
	ml.PushPullInterval, ml.DeadNodeReclaimTime = cfg.PushPullInterval, cfg.DeadNodeReclaimTime
	ml.Keyring = ring
	ml.Logger = stdLogger(log)
	ml.EnableCompression = cfg.Compression
	if cfg.Transport != nil {
		ml.Transport = cfg.Transport
		ml.EnableCompression = false
	}
	sc := serf.DefaultConfig()
	sc.NodeName = cfg.NodeName
	sc.MemberlistConfig = ml
	sc.Logger, sc.LogOutput = ml.Logger, nil
	sc.SnapshotPath, sc.RejoinAfterLeave = cfg.SnapshotPath, cfg.RejoinAfterLeave
	sc.KeyringFile = keyringPath
	sc.ReapInterval, sc.ReconnectInterval = cfg.ReapInterval, cfg.ReconnectInterval
	sc.ReconnectTimeout, sc.TombstoneTimeout = cfg.ReconnectTimeout, cfg.TombstoneTimeout
	sc.LeavePropagateDelay, sc.BroadcastTimeout = cfg.LeavePropagate, cfg.BroadcastTimeout
	sc.UserEventSizeLimit = MaxUserEventBytes
	// Queries (key rotation uses them) time out after GossipInterval*mult*log10(N+1):
	// keep that at least a second even with test-fast gossip.
	sc.QueryTimeoutMult = max(sc.QueryTimeoutMult, int(time.Second/cfg.GossipInterval))
	sc.EnableNameConflictResolution = false // a restarted peer reclaims its name (DeadNodeReclaimTime)
	sc.DisableCoordinates = true            // unused; saves bytes in every ping
	return sc
}

// LocalAddr is the gossip address others Join.
func (p *Peer) LocalAddr() string {
	n := p.serf.Memberlist().LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Name is this peer's node name.
func (p *Peer) Name() string { return p.cfg.NodeName }

// Join contacts the given seeds ("ip:port", or "ip" for the default port) and
// returns how many answered. It errors only when none did; the error says whether
// an encryption key mismatch is the likely cause. Config.JoinSyncDelay later, the
// peer exchanges its member list once more with another member (joinsync.go).
func (p *Peer) Join(addrs []string) (int, error) {
	if p.stopped() {
		return 0, ErrShutdown
	}
	n, err := p.serf.Join(addrs, true)
	if err != nil && n == 0 {
		hint := ""
		msg := err.Error()
		if p.ring != nil || strings.Contains(msg, "encrypt") || strings.Contains(msg, "EOF") ||
			strings.Contains(msg, "decrypt") || strings.Contains(msg, "reset by peer") {
			hint = " (encryption key mismatch? every peer needs the same SecretKey, or none)"
		}
		p.log.Error("join failed", "seeds", addrs, "err", err, "hint", strings.TrimSpace(hint))
		return 0, fmt.Errorf("gossip: joining %v: %w%s", addrs, err, hint)
	}
	p.repl.kickSync()
	p.kickJoinSync(addrs)
	return n, nil
}

// RetryJoin calls Join every interval until it succeeds or ctx ends.
func (p *Peer) RetryJoin(ctx context.Context, addrs []string, interval time.Duration) (int, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := p.Join(addrs)
		if err == nil || errors.Is(err, ErrShutdown) {
			return n, err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// Leave tells the cluster we are going (others see "left" at once, not "failed"),
// then shuts down. Idempotent; safe after Shutdown.
func (p *Peer) Leave() error {
	p.stateMu.Lock()
	if p.left || p.stopped() {
		p.stateMu.Unlock()
		return nil
	}
	p.left = true
	p.stateMu.Unlock()
	err := p.serf.Leave()
	if err2 := p.Shutdown(); err == nil {
		err = err2
	}
	if err != nil {
		return fmt.Errorf("gossip: leaving: %w", err)
	}
	return nil
}

// Shutdown stops at once: others will find us failed. Idempotent. It waits for
// the peer's goroutines, so it must not be called from an OnChange callback, an
// event handler, a query handler or an RPC handler.
func (p *Peer) Shutdown() error {
	var err error
	p.stopOnce.Do(func() {
		err = p.serf.Shutdown() // first: serf stops emitting events the pump would not read
		p.spawnMu.Lock()
		close(p.stop)
		p.cancel()
		p.spawnMu.Unlock()
		p.rpc.close()
		p.wg.Wait()
		p.evMu.Lock()
		if p.evQueue != nil {
			p.evQueue.close()
		}
		p.evMu.Unlock()
		p.log.Info("gossip peer stopped")
	})
	return err
}

// ctxUntil returns a context cancelled at shutdown or at deadline.
func (p *Peer) ctxUntil(deadline time.Time) (context.Context, context.CancelFunc) {
	return context.WithDeadline(p.stopCtx, deadline)
}

func (p *Peer) stopped() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// Run blocks until ctx ends or the peer is shut down; it returns nil. The peer's
// loops run from New on; Run exists so node can supervise the peer like its other
// components. It does not shut the peer down: call Leave or Shutdown.
func (p *Peer) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-p.stop:
	}
	return nil
}

// Handle registers h for RPC method (replacing any previous one). Method names
// starting with "gossip." are reserved.
func (p *Peer) Handle(method string, h Handler) { p.rpc.handle(method, h) }

// Call invokes method on node. req is msgpack-encoded (a []byte is sent as is);
// the response is decoded into resp (a *[]byte receives the raw bytes; nil
// ignores it). The deadline is ctx's, or Config.RPCTimeout. Connections are pooled;
// a call on a stale pooled connection is retried once, so handlers should tolerate
// a duplicate.
func (p *Peer) Call(ctx context.Context, node, method string, req, resp any) error {
	addr, err := p.rpcAddr(node)
	if err != nil {
		return err
	}
	return p.CallAddr(ctx, node, addr, method, req, resp)
}

// CallAddr is Call with an explicit RPC address.
func (p *Peer) CallAddr(ctx context.Context, node, addr, method string, req, resp any) error {
	var body []byte
	switch r := req.(type) {
	case []byte:
		body = r
	case nil:
	default:
		b, err := Encode(req)
		if err != nil {
			return fmt.Errorf("rpc %s to %s: encoding request: %w", method, node, err)
		}
		body = b
	}
	out, err := p.rpc.call(ctx, node, addr, method, body)
	if err != nil {
		return err
	}
	switch r := resp.(type) {
	case nil:
		return nil
	case *[]byte:
		*r = append((*r)[:0], out...)
		return nil
	default:
		if err := Decode(out, resp); err != nil {
			return fmt.Errorf("rpc %s to %s: decoding response: %w", method, node, err)
		}
		return nil
	}
}

func (p *Peer) rpcAddr(node string) (string, error) {
	p.memMu.RLock()
	m, ok := p.members[node]
	p.memMu.RUnlock()
	if !ok || m.rpcAddr == "" {
		return "", fmt.Errorf("rpc to %q: %w (not a known member with an RPC address)", node, ErrUnknownPeer)
	}
	return m.rpcAddr, nil
}

// aliveOthers lists the other peers we believe alive, sorted.
func (p *Peer) aliveOthers() []string {
	p.memMu.RLock()
	defer p.memMu.RUnlock()
	out := make([]string, 0, len(p.members))
	for name, m := range p.members {
		if m.alive && name != p.cfg.NodeName && m.rpcAddr != "" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (p *Peer) randIntn(n int) int {
	p.rngMu.Lock()
	defer p.rngMu.Unlock()
	return p.rng.Intn(n)
}

func (p *Peer) randFloat() float64 {
	p.rngMu.Lock()
	defer p.rngMu.Unlock()
	return p.rng.Float64()
}
