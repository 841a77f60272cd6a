package gossip

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config configures a Peer. Build one with DefaultLANConfig, DefaultNodeConfig or
// DefaultLocalConfig and change what you need; New calls Validate. A Config is read by
// New and not retained: changing it afterwards has no effect.
type Config struct {
	// NodeName is this peer's unique name in the cluster (serf/memberlist node name).
	// It is the identity others see; reuse it across restarts. Required.
	NodeName string
	// BindAddr is the IP the gossip (UDP+TCP) and RPC (TCP) listeners bind.
	BindAddr string
	// BindPort is the gossip port; 0 picks a free port (tests).
	BindPort int
	// AdvertiseAddr is the IP others use to reach us; empty = memberlist picks one
	// (the bind address, or a private address when binding 0.0.0.0).
	AdvertiseAddr string
	// AdvertisePort is the gossip port others use; 0 = the bound port.
	AdvertisePort int
	// RPCPort is the TCP port of the peer-to-peer RPC; 0 picks a free port.
	RPCPort int

	// SecretKey, when set (16, 24 or 32 bytes), encrypts gossip with serf's keyring
	// (AES-GCM) and authenticates and encrypts the RPC with the same primary key.
	SecretKey []byte
	// SnapshotPath is serf's snapshot file; with it a restarted peer rejoins the
	// peers it knew and keeps its Lamport clocks. Empty = no snapshot.
	SnapshotPath string
	// KeyringPath persists the keyring across restarts and key rotations. Empty =
	// "keyring.json" beside SnapshotPath when that is set, otherwise not persisted.
	KeyringPath string
	// RejoinAfterLeave makes a peer restarted from its snapshot rejoin even after a
	// graceful Leave (a restarted peer keeps its identity and cluster).
	RejoinAfterLeave bool

	// Logger receives our logs and serf's and memberlist's (nil = discard).
	Logger *slog.Logger
	// Transport replaces memberlist's UDP/TCP transport (the in-memory network in
	// tests). Nil = real sockets on BindAddr:BindPort.
	Transport memberlist.NodeAwareTransport
	// RPCNetwork carries the RPC. Nil = real TCP, unless Transport also implements
	// RPCNetwork (the in-memory network does), in which case that is used.
	RPCNetwork RPCNetwork
	// Tags are the initial tags (RPCAddr is filled in when empty).
	Tags Tags

	// Membership timings (memberlist). See DefaultLANConfig for what each means.
	ProbeInterval           time.Duration
	ProbeTimeout            time.Duration
	SuspicionMult           int
	SuspicionMaxTimeoutMult int
	AwarenessMaxMultiplier  int
	GossipInterval          time.Duration
	GossipNodes             int
	GossipToTheDeadTime     time.Duration
	RetransmitMult          int
	PushPullInterval        time.Duration
	DeadNodeReclaimTime     time.Duration
	// Compression: memberlist compresses every gossip packet and push-pull (LZW).
	// Off, a packet carries the same messages in more bytes: memberlist sizes what it
	// piggybacks before compressing. Peers with it on and off understand each other.
	Compression bool
	// Serf timings.
	ReapInterval      time.Duration
	ReconnectInterval time.Duration
	ReconnectTimeout  time.Duration
	TombstoneTimeout  time.Duration
	LeavePropagate    time.Duration
	BroadcastTimeout  time.Duration

	// Ours.
	TagInterval    time.Duration // minimum time between two tag broadcasts (unless forced)
	NoticeInterval time.Duration // minimum time between two notices for one own table
	// NoticePeers: a change to an own table is also told straight to this many
	// random live peers over the RPC (coalesced over directNoticeDelay), so they
	// pull it at once instead of after NoticeInterval and a gossip round; the gossip
	// notice still reaches everyone else. 0: gossip only.
	NoticePeers         int
	AntiEntropyInterval time.Duration // one digest exchange with a random live peer per interval
	TombstoneTTL        time.Duration // LWW tombstones and table row tombstones are collected after this
	RPCTimeout          time.Duration // deadline of a Call whose ctx has none
	RPCMaxMessage       int           // largest RPC frame accepted or sent, in bytes
	RPCMaxIdle          int           // idle pooled connections kept per remote peer
	RPCIdleTimeout      time.Duration // pooled connections idle longer are closed
	Seed                int64         // seeds the random peer choice of anti-entropy (0 = time)

	// JoinSyncDelay: this long after joining (Join, or serf's rejoin from the
	// snapshot), one more full membership exchange (push-pull) with a random alive
	// member other than the seeds, so a joiner does not keep its seed's holes until
	// memberlist's periodic push-pull (joinsync.go). 0: none.
	JoinSyncDelay time.Duration

	rpcVersion byte // tests: speak another RPC protocol version (0 = rpcVersion)
}

// DefaultLANConfig returns memberlist's and serf's own LAN defaults (the values
// Consul and Nomad ship): conservative failure detection (~5-25 s to declare a
// peer dead), low chatter.
func DefaultLANConfig() Config {
	return Config{
		BindAddr:         "0.0.0.0",
		BindPort:         4648, // Shoal's gossip port (Nomad's serf port)
		RPCPort:          4647, // Shoal's RPC port (Nomad's RPC port)
		RejoinAfterLeave: true, // a restarted peer comes back under its name

		ProbeInterval:           time.Second,            // one probe of a random peer per second
		ProbeTimeout:            500 * time.Millisecond, // wait this long for an ack before indirect probes
		SuspicionMult:           4,                      // suspect for 4 * log10(N) * ProbeInterval (min) ...
		SuspicionMaxTimeoutMult: 6,                      // ... up to 6x that without confirmations (Lifeguard)
		AwarenessMaxMultiplier:  8,                      // a slow local peer stretches its probe timeouts up to 8x (Lifeguard)
		GossipInterval:          200 * time.Millisecond, // push queued broadcasts every 200 ms ...
		GossipNodes:             3,                      // ... to 3 random peers
		GossipToTheDeadTime:     30 * time.Second,       // keep telling dead peers for 30 s (they may refute)
		RetransmitMult:          4,                      // each broadcast is retransmitted 4 * log10(N+1) times
		PushPullInterval:        30 * time.Second,       // full membership sync with one peer (scaled up past 32 peers)
		DeadNodeReclaimTime:     10 * time.Second,       // a dead name may come back from a new address after 10 s
		Compression:             true,                   // LZW on every packet

		ReapInterval:      15 * time.Second, // serf's reaper period
		ReconnectInterval: 30 * time.Second, // serf tries to reconnect to failed peers this often ...
		ReconnectTimeout:  24 * time.Hour,   // ... for this long before reaping them
		TombstoneTimeout:  24 * time.Hour,   // left peers are remembered this long
		LeavePropagate:    time.Second,      // Leave waits this long for the leave intent to spread
		BroadcastTimeout:  5 * time.Second,  // Leave/SetTags wait at most this for their broadcast

		TagInterval:         time.Second,            // capacity updates at most once a second
		NoticeInterval:      100 * time.Millisecond, // table notices coalesced over 100 ms
		NoticePeers:         3,                      // ... and told at once to 3 random peers
		AntiEntropyInterval: 2 * time.Second,        // repairs lost notices within a few seconds
		JoinSyncDelay:       5 * time.Second,        // 25 gossip rounds (serf's model: a join reaches 99.9% of 1,000 peers in ~9, 1.84 s; docs/bench/gossip.md): the partner knows who joined with us
		TombstoneTTL:        24 * time.Hour,         // longer than any peer is expected to stay down
		RPCTimeout:          10 * time.Second,       // a Call without a ctx deadline
		RPCMaxMessage:       16 << 20,               // 16 MiB frames (a large allocation table)
		RPCMaxIdle:          4,                      // enough for concurrent bids/awards to one peer
		RPCIdleTimeout:      60 * time.Second,       // below the server's 2-minute idle close
	}
}

// DefaultNodeConfig is what `peer run` should use on a LAN: DefaultLANConfig with
// faster failure detection (kill -> every peer sees it dead: p50 1.2 s at N=10,
// 2.0 s at N=100 in docs/bench/gossip.md, against 6.8 s and 11.6 s with LAN
// timings). Lifeguard's awareness stretches probe timeouts on an overloaded peer,
// and suspicion gives a slow-but-alive peer SuspicionMult*log10(N)*ProbeInterval to
// refute. SuspicionMult is 4, not 3: on five real hosts with 10% loss, 50 ms delay
// and both cores busy (integration scenario 7) multiplier 3 gave five false deaths in
// 3 minutes and 4 gave none, for ~0.2 s more detection (RELIABILITY.md). With 4
// alone a later run still had one live peer declared dead: its refutation did not
// reach two peers inside their 1.7 s suspicion window. Broadcasts are therefore
// retransmitted twice as often (RetransmitMult 8; cheap: only changes are
// broadcast) and a suspicion that others do not confirm is given memberlist's own
// 6x window (SuspicionMaxTimeoutMult 6, was 3) to be refuted. A dead peer is
// confirmed by the others within about a second, so its detection is unchanged.
func DefaultNodeConfig() Config {
	c := DefaultLANConfig()
	c.ProbeInterval = 250 * time.Millisecond // 4 probes a second: a dead peer is probed within ~250 ms
	c.ProbeTimeout = 150 * time.Millisecond  // LAN RTT is < 1 ms; 150 ms absorbs GC and scheduling pauses
	c.SuspicionMult = 4                      // suspicion >= 1 s at N <= 10, 2 s at 100, 2.7 s at 500 (with confirmations)
	c.SuspicionMaxTimeoutMult = 6            // a suspicion nobody confirms lasts up to 6x that (memberlist's default)
	c.GossipInterval = 100 * time.Millisecond
	c.RetransmitMult = 8 // a broadcast (e.g. a refutation) goes out 8 * log10(N+1) times
	c.DeadNodeReclaimTime = 5 * time.Second
	c.ReconnectInterval = 2 * time.Second // a healed partition merges in ~2 s, not serf's 30 s
	// A new LZW writer (64 KiB) per packet sent and a reader per packet received:
	// 8 of the 24 MB a peer allocated while starting its share of 30 containers, and
	// CPU a LAN does not need to save bytes on (docs/bench/node.md, 2026-11-30).
	c.Compression = false
	return c
}

// DefaultLocalConfig is for tests on one machine (127.0.0.x or the in-memory
// network): timings like serf's own tests (gossip every 5 ms, probe every 50 ms),
// ephemeral ports, quick anti-entropy.
func DefaultLocalConfig() Config {
	c := DefaultLANConfig()
	c.BindAddr = "127.0.0.1"
	c.BindPort = 0                          // any free port
	c.RPCPort = 0                           // any free port
	c.ProbeInterval = 50 * time.Millisecond // serf's testConfig
	c.ProbeTimeout = 25 * time.Millisecond  // half the interval
	c.SuspicionMult = 3                     // quick, still confirmed by others
	c.SuspicionMaxTimeoutMult = 4           // bounded when nobody confirms
	c.GossipInterval = 5 * time.Millisecond // serf's testConfig
	c.GossipToTheDeadTime = 2 * time.Second // short-lived clusters
	c.PushPullInterval = 2 * time.Second    // quick full syncs (repairs after partitions)
	c.DeadNodeReclaimTime = time.Second     // restarted peers reuse their name quickly
	c.ReapInterval = time.Second            // reap quickly
	c.ReconnectInterval = time.Second       // reconnect quickly after a partition heals
	c.ReconnectTimeout = time.Minute        // tests are short
	c.Compression = false                   // as DefaultNodeConfig
	c.TombstoneTimeout = time.Minute        // tests are short
	c.LeavePropagate = 100 * time.Millisecond
	c.BroadcastTimeout = 2 * time.Second
	c.TagInterval = 100 * time.Millisecond
	c.NoticeInterval = 20 * time.Millisecond
	c.AntiEntropyInterval = 250 * time.Millisecond
	c.JoinSyncDelay = 100 * time.Millisecond // 20 gossip rounds, as LAN's 25
	c.RPCTimeout = 5 * time.Second
	return c
}

// Validate reports the first problem in c, naming the field and what is accepted.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field string, value any, want string) {
		errs = append(errs, fmt.Errorf("gossip config: %s = %v: %s", field, value, want))
	}
	if c.NodeName == "" {
		bad("NodeName", `""`, "must be set (a unique name per peer)")
	} else if len(c.NodeName) > maxNameLen {
		bad("NodeName", c.NodeName, fmt.Sprintf("at most %d bytes", maxNameLen))
	}
	if c.Transport == nil && net.ParseIP(c.BindAddr) == nil {
		bad("BindAddr", fmt.Sprintf("%q", c.BindAddr), "must be an IP address")
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		bad("AdvertiseAddr", fmt.Sprintf("%q", c.AdvertiseAddr), "must be an IP address or empty")
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"BindPort", c.BindPort}, {"AdvertisePort", c.AdvertisePort}, {"RPCPort", c.RPCPort}} {
		if p.v < 0 || p.v > 65535 {
			bad(p.name, p.v, "must be in 0..65535")
		}
	}
	if c.RPCPort != 0 && c.RPCPort == c.BindPort && c.Transport == nil {
		bad("RPCPort", c.RPCPort, "must differ from BindPort (gossip also uses TCP)")
	}
	switch len(c.SecretKey) {
	case 0, 16, 24, 32:
	default:
		bad("SecretKey", fmt.Sprintf("%d bytes", len(c.SecretKey)), "must be 16, 24 or 32 bytes (AES-128/192/256)")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ProbeInterval", c.ProbeInterval}, {"ProbeTimeout", c.ProbeTimeout},
		{"GossipInterval", c.GossipInterval}, {"GossipToTheDeadTime", c.GossipToTheDeadTime},
		{"PushPullInterval", c.PushPullInterval}, {"ReapInterval", c.ReapInterval},
		{"ReconnectInterval", c.ReconnectInterval}, {"ReconnectTimeout", c.ReconnectTimeout},
		{"TombstoneTimeout", c.TombstoneTimeout}, {"BroadcastTimeout", c.BroadcastTimeout},
		{"TagInterval", c.TagInterval}, {"NoticeInterval", c.NoticeInterval},
		{"AntiEntropyInterval", c.AntiEntropyInterval}, {"TombstoneTTL", c.TombstoneTTL},
		{"RPCTimeout", c.RPCTimeout}, {"RPCIdleTimeout", c.RPCIdleTimeout},
	} {
		if d.v <= 0 {
			bad(d.name, d.v, "must be > 0")
		}
	}
	if c.ProbeTimeout > c.ProbeInterval {
		bad("ProbeTimeout", c.ProbeTimeout, fmt.Sprintf("must not exceed ProbeInterval (%v)", c.ProbeInterval))
	}
	if c.JoinSyncDelay < 0 {
		bad("JoinSyncDelay", c.JoinSyncDelay, "must be >= 0 (0: no extra push-pull after joining)")
	}
	if c.DeadNodeReclaimTime < 0 || c.LeavePropagate < 0 {
		bad("DeadNodeReclaimTime/LeavePropagate", fmt.Sprintf("%v/%v", c.DeadNodeReclaimTime, c.LeavePropagate), "must be >= 0")
	}
	for _, m := range []struct {
		name string
		v    int
	}{
		{"SuspicionMult", c.SuspicionMult}, {"SuspicionMaxTimeoutMult", c.SuspicionMaxTimeoutMult},
		{"AwarenessMaxMultiplier", c.AwarenessMaxMultiplier}, {"GossipNodes", c.GossipNodes},
		{"RetransmitMult", c.RetransmitMult}, {"RPCMaxIdle", c.RPCMaxIdle},
	} {
		if m.v < 1 {
			bad(m.name, m.v, "must be >= 1")
		}
	}
	if c.NoticePeers < 0 {
		bad("NoticePeers", c.NoticePeers, "must be >= 0 (0: table changes travel by gossip only)")
	}
	if c.RPCMaxMessage < 64<<10 || c.RPCMaxMessage > 1<<30 {
		bad("RPCMaxMessage", c.RPCMaxMessage, "must be in 64 KiB..1 GiB")
	}
	if err := c.Tags.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("gossip config: Tags: %w", err))
	}
	return errors.Join(errs...)
}

// maxNameLen bounds node, map and table names so notices and tags stay small.
const maxNameLen = 64
