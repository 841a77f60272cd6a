package node

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shoal-sched/shoal/exec"
	"github.com/shoal-sched/shoal/gossip"
	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/placement"
)

// Version is the peer's software version, advertised in gossip and /v1/agent/self.
var Version = "0.1.0-dev"

// Node is one peer. New builds it and opens every listener (so a port clash fails
// fast); Run runs it until ctx ends, then leaves the cluster and shuts down. A Node
// is used by one Run call; its methods (the HTTP API's backend) are safe for
// concurrent use.
type Node struct {
	cfg   Config
	log   *slog.Logger
	id    string
	fp    Fingerprint
	store *Store
	g     *gossip.Peer
	drv   *exec.Driver

	artifactClient *http.Client // the tasks' artifact downloads

	bridge    bridgeNet // bridge networking; nil when the peer has none (bridgeErr says why)
	bridgeErr error

	revertsDone sync.Map // "job@version" whose failed rollout autoRevert has handled

	decodeMu sync.Mutex
	decoded  map[rowKey]*decodedRow // rangeAllocs' decoded rows (never handed out)
	decodes  uint64                 // rangeAllocs' calls: a row not seen in the last one is dropped
	// nodeInfos' decoded rows by owner
	infoCache map[string]decodedInfo
	jobsMu    sync.Mutex
	jobCache  map[string]cachedJob // jobOf's decoded catalog entries by job

	jobs   *gossip.LWWMap // job id -> jobEntry
	allocs *gossip.Tables // each peer's own allocations
	infos  *gossip.Tables // each peer's nodeInfo

	reg     *prometheus.Registry
	metrics *metrics
	httpLn  net.Listener
	httpSrv *http.Server

	kick      chan struct{} // wakes the coordinator loop (coalesced)
	changes   *changeIndex  // moves with every wake; the API's blocking queries wait on it
	persistCh chan struct{} // wakes the persister (coalesced)
	gcKick    chan struct{} // wakes the collector (coalesced)
	// unplacedSaid is why each group of a job version was last logged unplaceable
	// (unplacedKey -> string): the coordinator retries every pass and warns again only
	// when the reason changes. A pass reconciles jobs concurrently.
	unplacedSaid sync.Map
	startCh      chan *runner   // runners for Run's runner component to start
	wg           sync.WaitGroup // runner goroutines

	mu       sync.Mutex
	local    map[string]*localAlloc            // this peer's allocations, by id
	epochs   placement.EpochTracker            // highest coordinator epoch seen per job
	holds    map[string]placement.Reservation  // bidder reservations by request id
	inflight map[string]map[string]allocRecord // coordinator: job -> awarded allocs not yet seen in gossip
	dirty    map[string][]byte                 // local records not yet written to the store
	eligible bool
	draining bool
	portRand *rand.Rand // dynamic port picks (under mu)

	leaving     atomic.Bool   // set on shutdown: stop publishing to gossip
	prefetching sync.Map      // image ref -> true while a bid's prefetch runs
	starts      chan struct{} // bounds concurrent task starts (see runner.start)
}

// localAlloc is one allocation this peer owns: its record and its runner (nil once
// the runner is done).
type localAlloc struct {
	rec    allocRecord
	runner *runner
}

// DriverConfig is the exec driver's configuration for a peer with cfg.
func DriverConfig(cfg Config) exec.Config {
	c := exec.DefaultConfig()
	c.DataDir = filepath.Join(cfg.DataDir, "exec")
	c.AllowCaps = cfg.AllowCaps
	return c
}

// New opens the store (creating the identity on first start), fingerprints the host,
// starts gossip (listeners bound, not yet joined), opens the exec driver and the HTTP
// listener. On error everything opened is closed again.
func New(cfg Config) (_ *Node, retErr error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var closers []func()
	defer func() {
		if retErr != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	store, err := OpenStore(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { store.Close() })
	id, err := store.NodeID()
	if err != nil {
		return nil, fmt.Errorf("node identity: %w", err)
	}
	n := &Node{
		cfg: cfg, log: log.With("node", cfg.Name), id: id, store: store,
		fp:   TakeFingerprint(cfg),
		kick: make(chan struct{}, 1), changes: newChangeIndex(), persistCh: make(chan struct{}, 1), gcKick: make(chan struct{}, 1), dirty: map[string][]byte{},
		startCh: make(chan *runner, 64),
		local:   map[string]*localAlloc{}, holds: map[string]placement.Reservation{},
		inflight: map[string]map[string]allocRecord{},
		eligible: true,
		starts:   make(chan struct{}, 2*runtime.NumCPU()),
		portRand: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),

		artifactClient: newArtifactClient(),
	}
	n.fp.Attributes["node.unique.id"] = id
	if epochs, err := store.Epochs(); err == nil {
		for job, e := range epochs {
			n.epochs.Observe(job, placement.Epoch(e))
		}
	}

	drvCfg := DriverConfig(cfg)
	drvCfg.Logger = n.log.With("component", "exec")
	if why, needed := drvCfg.SealNeeded(); needed {
		n.log.Warn("every container start copies the peer binary ("+why+"); start it with `peer run`, which seals it once, or move it", "binary_dir_overlaps_state", true)
	}
	if n.drv, err = exec.New(drvCfg); err != nil {
		return nil, err
	}
	// Staged artifacts a killed peer left behind: no start will pick them up.
	_ = os.RemoveAll(artifactStageDir(cfg.DataDir))
	n.openBridge()

	if n.g, err = gossip.New(n.gossipConfig()); err != nil {
		return nil, fmt.Errorf("starting gossip on %s:%d: %w", cfg.BindAddr, cfg.GossipPort, err)
	}
	closers = append(closers, func() { n.g.Shutdown() })
	n.jobs = n.g.Map(mapJobs)
	n.allocs = n.g.Table(tableAlloc)
	n.infos = n.g.Table(tableNode)
	if err := n.loadState(); err != nil {
		return nil, err
	}
	n.registerRPC()
	n.jobs.OnChange(n.onJobChange)
	n.allocs.OnChange(func(string) { n.wake() })
	n.infos.OnChange(func(string) { n.changes.bump() }) // drain, eligibility: nothing to coordinate

	n.reg = prometheus.NewRegistry()
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n.metrics = newMetrics(n.reg, n)

	addr := net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.HTTPPort))
	if n.httpLn, err = net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("HTTP API on %s: %w", addr, err)
	}
	api := newHandler(n, n.reg, jobspec.Parse, n.log.With("component", "http"))
	if cfg.EnableDebug {
		api = withDebug(api)
	}
	n.httpSrv = &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
	}
	n.publishInfo()
	return n, nil
}

// ID is this peer's persistent node id.
func (n *Node) ID() string { return n.id }

// HTTPAddr is the address the API listens on (useful when HTTPPort was 0).
func (n *Node) HTTPAddr() string { return n.httpLn.Addr().String() }

func (n *Node) advertiseAddr() string {
	if n.cfg.AdvertiseAddr != "" {
		return n.cfg.AdvertiseAddr
	}
	if ip := net.ParseIP(n.cfg.BindAddr); ip != nil && !ip.IsUnspecified() {
		return n.cfg.BindAddr
	}
	return "127.0.0.1"
}

func (n *Node) gossipConfig() gossip.Config {
	g := gossip.DefaultNodeConfig() // fast failure detection: ~1-2 s from a kill to everyone knowing
	if n.cfg.Dev {
		g = gossip.DefaultLocalConfig()
	}
	// A healed partition is noticed when serf reconnects to the peers it saw fail:
	// every 2 s rather than LAN's 30 s, so doubled slots are resolved in seconds.
	// Cheap: one connection attempt to one failed peer per interval.
	g.ReconnectInterval = min(g.ReconnectInterval, 2*time.Second)
	g.NodeName = n.cfg.Name
	g.BindAddr = n.cfg.BindAddr
	g.BindPort = n.cfg.GossipPort
	g.AdvertiseAddr = n.cfg.AdvertiseAddr
	g.RPCPort = n.cfg.RPCPort
	g.SnapshotPath = filepath.Join(n.cfg.DataDir, "serf.snapshot")
	g.Logger = n.log.With("component", "gossip")
	if n.cfg.EncryptKey != "" {
		g.SecretKey, _ = base64.StdEncoding.DecodeString(n.cfg.EncryptKey) // Validate checked it
	}
	g.Tags = n.tags()
	return g
}

// tags is what this peer advertises in serf: identity and free capacity.
func (n *Node) tags() gossip.Tags {
	n.mu.Lock()
	free := n.freeLocked()
	eligible, draining := n.eligible, n.draining
	n.mu.Unlock()
	cpu, mem := n.capacity()
	return gossip.Tags{
		NodeID: n.id, Datacenter: n.cfg.Datacenter, Class: n.cfg.NodeClass, Version: Version,
		RPCAddr:  n.rpcAddr(),
		CPUTotal: int64(cpu), MemTotalMB: int64(mem),
		CPUFree: int64(max(free.CPU, 0)), MemFreeMB: int64(max(free.MemoryMB, 0)),
		Eligible: eligible, Draining: draining,
	}
}

// rpcAddr is the advertised RPC address; empty (gossip fills it in) when the port
// is picked by the system (RPCPort 0, tests).
func (n *Node) rpcAddr() string {
	if n.cfg.RPCPort == 0 {
		if n.g != nil {
			return n.g.LocalTags().RPCAddr
		}
		return ""
	}
	return net.JoinHostPort(n.advertiseAddr(), strconv.Itoa(n.cfg.RPCPort))
}

// capacity is what allocations may use: the host's totals minus the reserved part.
func (n *Node) capacity() (cpu, memMB int) {
	return max(n.fp.CPUTotalMHz-n.cfg.ReservedCPU, 0), max(n.fp.MemoryTotalMB-n.cfg.ReservedMemoryMB, 0)
}

// freeLocked is the exact free capacity: capacity minus live local allocations and
// bid holds. n.mu must be held.
func (n *Node) freeLocked() placement.Usage {
	cpu, mem := n.capacity()
	var allocs []placement.Alloc
	for _, la := range n.local {
		allocs = append(allocs, la.rec.Alloc)
	}
	free := placement.FreeResources(placement.Node{CPUTotal: cpu, MemoryTotalMB: mem}, allocs)
	now := time.Now()
	for _, h := range n.holds {
		if h.Active(now) {
			free.CPU -= h.Resources.CPU
			free.MemoryMB -= h.Resources.MemoryMB
		}
	}
	return free
}

// publishInfo puts this peer's attributes in the node table and its tags in serf.
func (n *Node) publishInfo() {
	_, port, _ := net.SplitHostPort(n.HTTPAddr())
	info := nodeInfo{Name: n.cfg.Name, HTTPAddr: net.JoinHostPort(n.advertiseAddr(), port),
		Attributes: n.fp.Attributes, Meta: n.cfg.Meta, HostVolumes: n.cfg.HostVolumes}
	n.infos.SetOwn("info", mustJSON(info))
	if err := n.g.SetTags(n.tags()); err != nil {
		n.log.Warn("updating tags", "err", err)
	}
}

// loadState seeds the job map from the store and reloads this peer's allocations.
func (n *Node) loadState() error {
	recs, err := n.store.Jobs()
	if err != nil {
		return err
	}
	entries := make([]gossip.Entry, 0, len(recs))
	for _, r := range recs {
		entries = append(entries, gossip.Entry{Key: r.Key, Value: r.Value, Version: r.Version, Writer: r.Writer, Deleted: r.Deleted})
	}
	n.jobs.Load(entries)
	raw, err := n.store.Allocs()
	if err != nil {
		return err
	}
	rows := map[string][]byte{}
	for id, b := range raw {
		a, err := decodeAlloc(b)
		if err != nil {
			n.log.Warn("skipping unreadable allocation in store", "alloc", id, "err", err)
			continue
		}
		n.local[id] = &localAlloc{rec: a}
		rows[id] = b
	}
	// The saved version goes on where the last process stopped, so that peers
	// holding our rows at that version accept what we publish next.
	n.allocs.LoadOwn(rows, n.store.Counter("allocs_version")+1)
	return nil
}

// wake asks the coordinator loop for a pass soon (never blocks), and answers the
// API's blocking queries: it is called on every job, allocation-table and member
// change.
func (n *Node) wake() {
	n.changes.bump()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// onJobChange persists a job entry and reacts: the coordinator reconciles; owners of
// allocations of a stopped or purged job stop them.
func (n *Node) onJobChange(e gossip.Entry) {
	if err := n.store.PutJob(JobRecord{Key: e.Key, Value: e.Value, Version: e.Version, Writer: e.Writer, Deleted: e.Deleted}); err != nil {
		n.log.Error("persisting job", "job", e.Key, "err", err)
	}
	n.wake()
	stopped := e.Deleted
	if !stopped {
		if je, err := n.jobOf(e.Key, e.Value); err == nil && je.Stop {
			stopped = true
		}
	}
	if stopped {
		n.stopLocalJob(e.Key, "job stopped")
	}
}

// Run runs the peer until ctx ends: it reattaches to running tasks, joins the
// cluster, and runs its components, each stopped in this order on shutdown:
//  1. the HTTP API (no new requests),
//  2. gossip Leave: others see this peer "left" at once and replace its allocations;
//     meanwhile the local tasks are stopped (they would be doubled otherwise),
//  3. the coordinator loop and the other components,
//  4. the runners (once their tasks are gone),
//  5. gossip Shutdown (already done by Leave; idempotent) and the store.
//
// A peer killed with SIGKILL skips all of this; restarted, it reattaches instead.
func (n *Node) Run(ctx context.Context) error {
	n.recoverTasks(ctx)
	if len(n.cfg.Join) > 0 {
		if _, err := n.g.Join(n.cfg.Join); err != nil {
			n.log.Warn("join failed; retrying in the background", "peers", n.cfg.Join, "err", err)
		}
	}
	compCtx, stopComponents := context.WithCancel(context.Background())
	var comps sync.WaitGroup
	goComp := func(name string, f func(context.Context) error) {
		comps.Add(1)
		go func() {
			defer comps.Done()
			if err := f(compCtx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, http.ErrServerClosed) {
				n.log.Error("component stopped", "component", name, "err", err)
			}
		}()
	}
	goComp("gossip", n.g.Run)
	goComp("retry-join", n.retryJoin)
	goComp("coordinator", n.coordinate)
	goComp("tags", n.refreshTags)
	goComp("runners", n.runRunners)
	goComp("members", n.watchMembers)
	goComp("persister", n.persist)
	goComp("collector", n.gcAllocs)
	httpDone := make(chan error, 1)
	go func() { httpDone <- n.httpSrv.Serve(n.httpLn) }()
	n.log.Info("peer running", "id", n.id, "http", n.HTTPAddr(), "gossip_port", n.cfg.GossipPort, "rpc_port", n.cfg.RPCPort)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-httpDone:
		runErr = fmt.Errorf("HTTP API: %w", err)
	}
	n.log.Info("peer shutting down")
	// 1. HTTP API.
	shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	n.httpSrv.Shutdown(shutCtx)
	cancel()
	// 2 + 3 + 4. Leave (others replace our allocations at once) while the local
	// tasks stop: both take a while (leave propagation, kill_timeout), so together.
	// From here on, record changes are persisted but not published: gossip is
	// leaving, and a table write would wait on its broadcasts.
	n.mu.Lock()
	n.leaving.Store(true)
	n.mu.Unlock()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		n.stopAllLocal("peer left the cluster")
	}()
	if err := n.g.Leave(); err != nil {
		n.log.Warn("leaving the cluster", "err", err)
	}
	stopComponents()
	<-stopped
	comps.Wait()
	n.wg.Wait()
	n.flush() // what the runners wrote last
	// 5.
	n.g.Shutdown()
	return errors.Join(runErr, n.store.Close())
}

// retryJoin joins retry_join (and join, if the first attempt failed) until it
// succeeds once, then returns.
func (n *Node) retryJoin(ctx context.Context) error {
	addrs := append(append([]string(nil), n.cfg.RetryJoin...), n.cfg.Join...)
	if len(addrs) == 0 {
		return nil
	}
	for {
		if len(n.g.Members()) > 1 {
			return nil
		}
		if _, err := n.g.Join(addrs); err == nil {
			n.log.Info("joined the cluster", "via", addrs)
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(n.cfg.RetryInterval):
		}
	}
}

// refreshTags re-advertises free capacity when it changed (gossip rate-limits), and
// now and then forgets finished allocations of purged jobs.
func (n *Node) refreshTags(ctx context.Context) error {
	last := n.tags()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if i%10 == 0 {
			n.gcLocal() // every 5 s
		}
		cur := n.tags()
		if cur.CPUFree != last.CPUFree || cur.MemFreeMB != last.MemFreeMB || cur.Eligible != last.Eligible || cur.Draining != last.Draining {
			if err := n.g.SetTags(cur); err == nil {
				last = cur
			}
		}
	}
}

// watchMembers wakes the coordinator on every membership change (a dead peer's
// allocations are replaced at once).
func (n *Node) watchMembers(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-n.g.Events():
			if !ok {
				return nil
			}
			n.wake()
		}
	}
}

// runRunners starts the runners handed to it with the Run ctx, so that they outlive
// the RPC or API request that created them.
func (n *Node) runRunners(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			// Runners handed over but not started yet still run (and, stopped,
			// end at once), so that whoever waits on their done is released.
			for {
				select {
				case r := <-n.startCh:
					n.goRun(ctx, r)
				default:
					return nil
				}
			}
		case r := <-n.startCh:
			n.goRun(ctx, r)
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
