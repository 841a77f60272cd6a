package gossip

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// MemNetwork is an in-memory network for running many peers in one process:
// memberlist packets and streams and the RPC all go through it. Unlike
// memberlist's MockNetwork it never blocks a sender: packets go into a buffered
// channel per node and are dropped when it is full (as UDP would). It can kill a
// node (its traffic vanishes), partition sets of nodes, heal, and lose packets at
// random with a seeded source. Safe for concurrent use.
type MemNetwork struct {
	mu        sync.RWMutex
	gossip    map[string]*MemTransport // by gossip address
	rpc       map[string]*memListener  // by RPC address
	addrOwner map[string]string        // any address -> node name
	dead      map[string]bool
	blocked   map[[2]string]bool
	connMu    sync.Mutex
	conns     map[*memConn]struct{}
	nextIP    uint32
	rngMu     sync.Mutex // guards loss and rng
	loss      float64
	rng       *rand.Rand
	stats     sync.Map // node name -> *NetStats
}

// NetStats counts what one node sent (packets plus stream writes), and what
// was lost on its way in because the node did not keep up.
type NetStats struct {
	Messages atomic.Int64
	Bytes    atomic.Int64
	// Dropped counts packets to this node dropped because its receive buffer
	// (memPacketBuf) was full, and dials to it refused because its accept backlog
	// (memStreamBuf) was: losses caused by the node itself being slow, not by
	// SetLoss, Kill or Partition.
	Dropped atomic.Int64
}

// Ports used by every in-memory node (each node has its own IP).
const (
	memGossipPort = 7946
	memRPCPort    = 7947
	memPacketBuf  = 4096
	memStreamBuf  = 128
)

// NewMemNetwork returns an empty network whose packet loss uses seed.
func NewMemNetwork(seed int64) *MemNetwork {
	return &MemNetwork{
		gossip:    map[string]*MemTransport{},
		rpc:       map[string]*memListener{},
		addrOwner: map[string]string{},
		dead:      map[string]bool{},
		blocked:   map[[2]string]bool{},
		conns:     map[*memConn]struct{}{},
		rng:       rand.New(rand.NewSource(seed)),
	}
}

// NewTransport returns a transport for node name at a fresh IP address (so a
// restarted node comes back at a new address, as after a reschedule). Use it as
// both Config.Transport and (implicitly) the RPC network.
func (n *MemNetwork) NewTransport(name string) *MemTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nextIP++
	ip := net.IPv4(10, byte(n.nextIP>>16), byte(n.nextIP>>8), byte(n.nextIP))
	t := &MemTransport{
		net:      n,
		name:     name,
		ip:       ip,
		addr:     net.JoinHostPort(ip.String(), strconv.Itoa(memGossipPort)),
		packetCh: make(chan *memberlist.Packet, memPacketBuf),
		streamCh: make(chan net.Conn, memStreamBuf),
		done:     make(chan struct{}),
	}
	n.gossip[t.addr] = t
	n.addrOwner[t.addr] = name
	return t
}

// Kill makes node name unreachable: its packets and dials fail both ways and its
// open connections break. The peer itself keeps running (like a frozen host).
func (n *MemNetwork) Kill(name string) {
	n.mu.Lock()
	n.dead[name] = true
	n.mu.Unlock()
	n.breakConns(func(c *memConn) bool { return c.a == name || c.b == name })
}

// Revive undoes Kill.
func (n *MemNetwork) Revive(name string) {
	n.mu.Lock()
	delete(n.dead, name)
	n.mu.Unlock()
}

// Partition cuts every link between a node of a and a node of b.
func (n *MemNetwork) Partition(a, b []string) {
	n.mu.Lock()
	for _, x := range a {
		for _, y := range b {
			n.blocked[[2]string{x, y}] = true
			n.blocked[[2]string{y, x}] = true
		}
	}
	n.mu.Unlock()
	n.breakConns(func(c *memConn) bool {
		n.mu.RLock()
		defer n.mu.RUnlock()
		return n.blocked[[2]string{c.a, c.b}]
	})
}

// Heal removes every partition (killed nodes stay dead).
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	n.blocked = map[[2]string]bool{}
	n.mu.Unlock()
}

// SetLoss drops each packet (not stream) with probability p.
func (n *MemNetwork) SetLoss(p float64) {
	n.rngMu.Lock()
	n.loss = p
	n.rngMu.Unlock()
}

// Stats returns the counters of what node name sent.
func (n *MemNetwork) Stats(name string) *NetStats {
	if s, ok := n.stats.Load(name); ok {
		return s.(*NetStats)
	}
	s, _ := n.stats.LoadOrStore(name, &NetStats{})
	return s.(*NetStats)
}

func (n *MemNetwork) count(name string, bytes int) {
	s := n.Stats(name)
	s.Messages.Add(1)
	s.Bytes.Add(int64(bytes))
}

// reachable reports whether from can talk to the node owning addr, and its name.
// Caller holds n.mu (read).
func (n *MemNetwork) reachable(from, addr string) (string, bool) {
	to, ok := n.addrOwner[addr]
	if !ok || n.dead[from] || n.dead[to] || n.blocked[[2]string{from, to}] {
		return to, false
	}
	return to, true
}

func (n *MemNetwork) lose() bool {
	n.rngMu.Lock()
	defer n.rngMu.Unlock()
	return n.loss > 0 && n.rng.Float64() < n.loss
}

func (n *MemNetwork) breakConns(match func(*memConn) bool) {
	n.connMu.Lock()
	var broken []*memConn
	for c := range n.conns {
		broken = append(broken, c)
	}
	n.connMu.Unlock()
	kept := broken[:0]
	for _, c := range broken {
		if match(c) {
			kept = append(kept, c)
		}
	}
	broken = kept
	for _, c := range broken {
		_ = c.Close()
	}
}

// pipe makes a connection from node a to node b and tracks it.
func (n *MemNetwork) pipe(a, b string, local, remote net.Addr) (client, server *memConn) {
	p1, p2 := net.Pipe()
	client = &memConn{Conn: p1, net: n, a: a, b: b, local: local, remote: remote, writer: a}
	server = &memConn{Conn: p2, net: n, a: a, b: b, local: remote, remote: local, writer: b}
	n.connMu.Lock()
	n.conns[client] = struct{}{}
	n.conns[server] = struct{}{}
	n.connMu.Unlock()
	return client, server
}

// MemTransport is one node's end of a MemNetwork. It implements
// memberlist.NodeAwareTransport and RPCNetwork.
type MemTransport struct {
	net      *MemNetwork
	name     string
	ip       net.IP
	addr     string
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{}
	once     sync.Once
}

var (
	_ memberlist.NodeAwareTransport = (*MemTransport)(nil)
	_ RPCNetwork                    = (*MemTransport)(nil)
)

// Addr is the node's gossip address (what to Join).
func (t *MemTransport) Addr() string { return t.addr }

// FinalAdvertiseAddr implements memberlist.Transport.
func (t *MemTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.ip, memGossipPort, nil
}

// WriteTo implements memberlist.Transport.
func (t *MemTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress implements memberlist.NodeAwareTransport. It never blocks.
func (t *MemTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	t.net.count(t.name, len(b))
	t.net.mu.RLock()
	_, ok := t.net.reachable(t.name, a.Addr)
	dest := t.net.gossip[a.Addr]
	t.net.mu.RUnlock()
	if !ok || dest == nil || t.net.lose() {
		return now, nil // a lost datagram is not an error
	}
	pkt := &memberlist.Packet{Buf: append([]byte(nil), b...), From: memAddr(t.addr), Timestamp: now}
	select {
	case dest.packetCh <- pkt:
	case <-dest.done:
	default: // receiver's buffer full: dropped, as by a kernel
		t.net.Stats(dest.name).Dropped.Add(1)
	}
	return now, nil
}

// PacketCh implements memberlist.Transport.
func (t *MemTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout implements memberlist.Transport.
func (t *MemTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *MemTransport) DialAddressTimeout(a memberlist.Address, _ time.Duration) (net.Conn, error) {
	t.net.mu.RLock()
	to, ok := t.net.reachable(t.name, a.Addr)
	dest := t.net.gossip[a.Addr]
	t.net.mu.RUnlock()
	if !ok || dest == nil {
		return nil, fmt.Errorf("dial %s: no route to host", a.Addr)
	}
	client, server := t.net.pipe(t.name, to, memAddr(t.addr), memAddr(a.Addr))
	select {
	case dest.streamCh <- server:
		return client, nil
	case <-dest.done:
	default:
		t.net.Stats(to).Dropped.Add(1)
	}
	_ = client.Close()
	return nil, fmt.Errorf("dial %s: connection refused", a.Addr)
}

// StreamCh implements memberlist.Transport.
func (t *MemTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown implements memberlist.Transport: the node's addresses disappear.
func (t *MemTransport) Shutdown() error {
	t.once.Do(func() {
		close(t.done)
		t.net.mu.Lock()
		if t.net.gossip[t.addr] == t {
			delete(t.net.gossip, t.addr)
			delete(t.net.addrOwner, t.addr)
		}
		t.net.mu.Unlock()
	})
	return nil
}

// Listen implements RPCNetwork: the RPC listener of this node (the port in addr
// is ignored; the node's RPC address is its IP and port 7947).
func (t *MemTransport) Listen(string) (net.Listener, error) {
	l := &memListener{
		t:    t,
		addr: net.JoinHostPort(t.ip.String(), strconv.Itoa(memRPCPort)),
		ch:   make(chan net.Conn, memStreamBuf),
		done: make(chan struct{}),
	}
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	if _, busy := t.net.rpc[l.addr]; busy {
		return nil, fmt.Errorf("listen %s: address already in use", l.addr)
	}
	t.net.rpc[l.addr] = l
	t.net.addrOwner[l.addr] = t.name
	return l, nil
}

// DialContext implements RPCNetwork.
func (t *MemTransport) DialContext(ctx context.Context, addr string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t.net.mu.RLock()
	to, ok := t.net.reachable(t.name, addr)
	l := t.net.rpc[addr]
	t.net.mu.RUnlock()
	if !ok || l == nil {
		return nil, fmt.Errorf("dial %s: no route to host", addr)
	}
	client, server := t.net.pipe(t.name, to, memAddr(t.addr), memAddr(addr))
	select {
	case l.ch <- server:
		return client, nil
	case <-l.done:
	default:
		t.net.Stats(to).Dropped.Add(1)
	}
	_ = client.Close()
	return nil, fmt.Errorf("dial %s: connection refused", addr)
}

type memListener struct {
	t    *MemTransport
	addr string
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		n := l.t.net
		n.mu.Lock()
		if n.rpc[l.addr] == l {
			delete(n.rpc, l.addr)
			delete(n.addrOwner, l.addr)
		}
		n.mu.Unlock()
	})
	return nil
}

func (l *memListener) Addr() net.Addr { return memAddr(l.addr) }

// memConn is one end of an in-memory connection between nodes a and b.
type memConn struct {
	net.Conn
	net           *MemNetwork
	a, b, writer  string
	local, remote net.Addr

	once sync.Once
}

func (c *memConn) Write(p []byte) (int, error) {
	c.net.count(c.writer, len(p))
	return c.Conn.Write(p)
}

func (c *memConn) Close() error {
	c.once.Do(func() {
		c.net.connMu.Lock()
		delete(c.net.conns, c)
		c.net.connMu.Unlock()
		_ = c.Conn.Close()
	})
	return nil
}

func (c *memConn) LocalAddr() net.Addr  { return c.local }
func (c *memConn) RemoteAddr() net.Addr { return c.remote }

// memAddr is an address on the in-memory network.
type memAddr string

func (a memAddr) Network() string { return "mem" }
func (a memAddr) String() string  { return string(a) }
