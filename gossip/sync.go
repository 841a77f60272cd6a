package gossip

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"sync"
	"time"
)

// Replication: a write sends a small notice (a serf user event: map/table name,
// key, version, writer); receivers pull what they lack from the writer over the
// RPC. Every AntiEntropyInterval each peer also exchanges digests with one random
// live peer and repairs differences both ways, so lost notices, partitions and
// peers that were down all converge. Own table versions also travel in tags.

const (
	noticeEvent = "shoal.n"
	noticeMap   = 'm'
	noticeTable = 't'

	methodSync      = "gossip.sync"
	methodMapGet    = "gossip.map.get"
	methodMapXchg   = "gossip.map.exchange"
	methodTableGet  = "gossip.table.get"
	methodTablePush = "gossip.table.push"
	methodNotice    = "gossip.notice"

	// directNoticeDelay coalesces the direct notices of a burst of table writes.
	directNoticeDelay = 5 * time.Millisecond

	maxConcurrentPulls = 8
)

// notice announces one write; Writer is where to pull from.
type notice struct {
	Kind    byte   `codec:"k"`
	Name    string `codec:"n"`
	Key     string `codec:"y,omitempty"`
	Version uint64 `codec:"v"`
	Writer  string `codec:"w"`
}

type syncReq struct {
	Maps   map[string]uint64 // map name -> digest
	Tables map[string]uint64 // table name -> digest of owner versions
}

type syncResp struct {
	Buckets  map[string][]uint64          // differing maps -> bucket hashes
	Versions map[string]map[string]uint64 // differing tables -> owner -> version
}

type mapGetReq struct {
	Map  string
	Keys []string
}

type mapXchg struct {
	Map     string
	Buckets []int
	Entries []Entry
}

type tableGetReq struct {
	Table, Owner string
	Since        uint64
}

type replicator struct {
	p         *Peer
	callbacks *queue[func()]
	notices   *queue[notice]
	kick      chan struct{}
	sem       chan struct{}

	mu       sync.Mutex
	maps     map[string]*LWWMap
	tables   map[string]*Tables
	inflight map[string]bool
	again    map[string]func(context.Context) error // pulls asked for while one of their key ran
	noticeAt map[string]time.Time                   // table -> last notice sent
	pending  map[string]bool                        // table -> a coalesced notice is scheduled
	direct   map[string]bool                        // table -> a coalesced direct notice is scheduled
}

func newReplicator(p *Peer) *replicator {
	return &replicator{
		p: p, callbacks: newQueue[func()](), notices: newQueue[notice](),
		kick: make(chan struct{}, 1), sem: make(chan struct{}, maxConcurrentPulls),
		maps: map[string]*LWWMap{}, tables: map[string]*Tables{}, inflight: map[string]bool{}, again: map[string]func(context.Context) error{},
		noticeAt: map[string]time.Time{}, pending: map[string]bool{}, direct: map[string]bool{},
	}
}

// Map returns the replicated map called name, creating it on first use. Names are
// at most 64 bytes; every peer that uses a map must use the same name.
func (p *Peer) Map(name string) *LWWMap { return p.repl.mapFor(name) }

// Table returns the single-writer tables called name (at most 16 bytes; at most
// MaxDigests tables carry their version in tags), creating them on first use.
func (p *Peer) Table(name string) *Tables { return p.repl.tableFor(name) }

func (r *replicator) mapFor(name string) *LWWMap {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.maps[name]
	if m == nil {
		m = newLWWMap(name, r)
		r.maps[name] = m
	}
	return m
}

func (r *replicator) tableFor(name string) *Tables {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tables[name]
	if t == nil {
		t = newTables(name, r)
		r.tables[name] = t
	}
	return t
}

func (r *replicator) allMaps() map[string]*LWWMap {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]*LWWMap, len(r.maps))
	for k, v := range r.maps {
		out[k] = v
	}
	return out
}

func (r *replicator) allTables() map[string]*Tables {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]*Tables, len(r.tables))
	for k, v := range r.tables {
		out[k] = v
	}
	return out
}

// sendNotice broadcasts n; a notice too large for a user event is skipped
// (anti-entropy carries the write instead).
func (r *replicator) sendNotice(n notice) {
	b, err := Encode(n)
	if err == nil {
		err = r.p.userEventRaw(noticeEvent, b)
	}
	if err != nil && !r.p.stopped() {
		r.p.log.Debug("notice not sent; anti-entropy will carry the change", "name", n.Name, "key", n.Key, "err", err)
	}
}

// sendTableNotice announces our table's version, at most once per NoticeInterval
// by gossip, and at once to NoticePeers peers directly.
func (r *replicator) sendTableNotice(table string) {
	r.directNotice(table)
	r.mu.Lock()
	if r.pending[table] {
		r.mu.Unlock()
		return
	}
	wait := time.Until(r.noticeAt[table].Add(r.p.cfg.NoticeInterval))
	if wait <= 0 {
		r.noticeAt[table] = time.Now()
		r.mu.Unlock()
		r.tableNoticeNow(table)
		return
	}
	r.pending[table] = true
	r.mu.Unlock()
	time.AfterFunc(wait, func() {
		r.mu.Lock()
		r.pending[table] = false
		r.noticeAt[table] = time.Now()
		r.mu.Unlock()
		r.tableNoticeNow(table)
	})
}

// directNotice tells up to NoticePeers random live peers our table's version over
// the RPC, coalescing the writes of the next directNoticeDelay; they pull at once.
func (r *replicator) directNotice(table string) {
	k := r.p.cfg.NoticePeers
	if k <= 0 {
		return
	}
	if !r.claim(r.direct, table) {
		return
	}
	time.AfterFunc(directNoticeDelay, func() {
		r.release(r.direct, table)
		if r.p.stopped() {
			return
		}
		n := r.ownTableNotice(table)
		others := r.p.aliveOthers()
		for i := 0; i < len(others) && i < k; i++ { // a random k of them
			j := i + r.p.randIntn(len(others)-i)
			others[i], others[j] = others[j], others[i]
			peer := others[i]
			r.p.spawn(func() {
				ctx, cancel := r.ctx(r.p.cfg.RPCTimeout)
				defer cancel()
				if err := r.p.Call(ctx, peer, methodNotice, n, nil); err != nil && !r.p.stopped() {
					r.p.log.Debug("direct notice not delivered; gossip carries it", "to", peer, "table", table, "err", err)
				}
			})
		}
	})
}

func (r *replicator) tableNoticeNow(table string) {
	if r.p.stopped() {
		return
	}
	r.sendNotice(r.ownTableNotice(table))
}

// ownTableNotice announces the current version of our own rows of table.
func (r *replicator) ownTableNotice(table string) notice {
	t := r.tableFor(table)
	return notice{Kind: noticeTable, Name: table, Version: t.Version(t.self), Writer: t.self}
}

// notice is called by the event pump: it must not block.
func (r *replicator) notice(payload []byte) {
	var n notice
	if err := Decode(payload, &n); err != nil {
		r.p.log.Warn("undecodable notice", "err", err)
		return
	}
	r.heard(n)
}

// heard queues a notice, by gossip or told directly, for noticeLoop; our own
// notices coming back are ignored.
func (r *replicator) heard(n notice) {
	if n.Writer != r.p.cfg.NodeName {
		r.notices.push(n)
	}
}

// noticeLoop turns notices into pulls from the writer.
func (r *replicator) noticeLoop() {
	r.notices.run(r.p.stop, func(n notice) {
		switch n.Kind {
		case noticeMap:
			cur, ok := r.mapFor(n.Name).get(n.Key)
			if ok && !Supersedes(Entry{Key: n.Key, Version: n.Version, Writer: n.Writer, Deleted: true}, cur) {
				return
			}
			r.pull("m/"+n.Name+"/"+n.Key, func(ctx context.Context) error {
				var es []Entry
				if err := r.p.Call(ctx, n.Writer, methodMapGet, mapGetReq{Map: n.Name, Keys: []string{n.Key}}, &es); err != nil {
					return err
				}
				r.mapFor(n.Name).merge(es, true)
				return nil
			})
		case noticeTable:
			r.wantTable(n.Name, n.Writer, n.Version)
		}
	})
}

// wantTable pulls owner's rows if version v is new to us.
func (r *replicator) wantTable(table, owner string, v uint64) {
	t := r.tableFor(table)
	if !t.wants(owner, v) {
		return
	}
	r.pull("t/"+table+"/"+owner, func(ctx context.Context) error {
		return r.pullTable(ctx, owner, t, owner)
	})
}

// pullTable fetches owner's rows of t from node `from` and applies them.
func (r *replicator) pullTable(ctx context.Context, from string, t *Tables, owner string) error {
	var d tableDelta
	if err := r.p.Call(ctx, from, methodTableGet, tableGetReq{Table: t.name, Owner: owner, Since: t.Version(owner)}, &d); err != nil {
		return err
	}
	if d.Version == 0 {
		return nil
	}
	_, err := t.apply(d)
	return err
}

// pull runs f in the background, at most once at a time per key. A pull asked for
// while one runs is run after it, the latest asked for only: what it was asked for
// may be newer than what the running one read (a burst of writes by one owner), and
// dropping it would leave the change to the next notice or to anti-entropy.
func (r *replicator) pull(key string, f func(ctx context.Context) error) {
	r.mu.Lock()
	if r.inflight[key] {
		r.again[key] = f
		r.mu.Unlock()
		return
	}
	r.inflight[key] = true
	r.mu.Unlock()
	// next is the pull asked for meanwhile, if any; else key is free again.
	next := func(stop bool) func(context.Context) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		f := r.again[key]
		delete(r.again, key)
		if stop || f == nil {
			delete(r.inflight, key)
			return nil
		}
		return f
	}
	ok := r.p.spawn(func() {
		for ; f != nil; f = next(r.p.stopped()) {
			select {
			case r.sem <- struct{}{}:
			case <-r.p.stop:
				continue
			}
			ctx, cancel := r.ctx(r.p.cfg.RPCTimeout)
			if err := f(ctx); err != nil && !r.p.stopped() {
				r.p.log.Debug("pull failed; anti-entropy will retry", "what", key, "err", err)
			}
			cancel()
			<-r.sem
		}
	})
	if !ok {
		next(true)
	}
}

// claim marks key in set (one of the replicator's "scheduled" or "running" sets) and
// reports true, or reports false if it was marked already.
func (r *replicator) claim(set map[string]bool, key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if set[key] {
		return false
	}
	set[key] = true
	return true
}

// release unmarks key in set.
func (r *replicator) release(set map[string]bool, key string) {
	r.mu.Lock()
	delete(set, key)
	r.mu.Unlock()
}

// ctx returns a context cancelled at shutdown or after d.
func (r *replicator) ctx(d time.Duration) (context.Context, context.CancelFunc) {
	return r.p.ctxUntil(time.Now().Add(d))
}

// memberChanged is called by the event pump for other members (must not block).
func (r *replicator) memberChanged(typ EventType, m Member, n int) {
	switch typ {
	case EventJoin:
		// Push our state to a newcomer: a few peers each, not all of them.
		if r.p.randFloat() < 3/math.Max(1, float64(n-1)) {
			r.pull("sync/"+m.Name, func(ctx context.Context) error { return r.syncWith(ctx, m.Name) })
		}
		fallthrough
	case EventUpdate:
		for table, v := range m.Tags.Digests {
			r.wantTable(table, m.Name, v)
		}
	}
}

func (r *replicator) kickSync() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *replicator) callbackLoop() {
	r.callbacks.run(r.p.stop, func(f func()) { f() })
}

// antiEntropyLoop syncs with a random live peer every interval (and on kicks).
func (r *replicator) antiEntropyLoop() {
	t := time.NewTicker(r.p.cfg.AntiEntropyInterval)
	defer t.Stop()
	gcEvery := time.NewTicker(time.Minute)
	defer gcEvery.Stop()
	for {
		select {
		case <-r.p.stop:
			return
		case <-gcEvery.C:
			now := time.Now()
			for _, m := range r.allMaps() {
				m.gc(now)
			}
			for _, tb := range r.allTables() {
				tb.gc(now)
			}
			continue
		case <-t.C:
		case <-r.kick:
		}
		others := r.p.aliveOthers()
		if len(others) == 0 {
			continue
		}
		peer := others[r.p.randIntn(len(others))]
		ctx, cancel := r.ctx(r.p.cfg.RPCTimeout)
		if err := r.syncWith(ctx, peer); err != nil && !r.p.stopped() {
			r.p.log.Debug("anti-entropy round failed", "with", peer, "err", err)
		}
		cancel()
	}
}

func versionsDigest(vs map[string]uint64) uint64 {
	var h uint64
	for o, v := range vs {
		f := fnv.New64a()
		f.Write([]byte(o))
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], v)
		f.Write(b[:])
		h ^= f.Sum64()
	}
	return h
}

// syncWith runs one anti-entropy exchange with peer, repairing both sides.
func (r *replicator) syncWith(ctx context.Context, peer string) error {
	maps, tables := r.allMaps(), r.allTables()
	req := syncReq{Maps: map[string]uint64{}, Tables: map[string]uint64{}}
	for name, m := range maps {
		req.Maps[name] = m.digest()
	}
	for name, t := range tables {
		req.Tables[name] = versionsDigest(t.versions())
	}
	var resp syncResp
	if err := r.p.Call(ctx, peer, methodSync, req, &resp); err != nil {
		return err
	}
	for name, theirs := range resp.Buckets {
		m := r.mapFor(name)
		diff := diffBuckets(m.bucketHashes(), theirs)
		if len(diff) == 0 {
			continue
		}
		var back []Entry
		if err := r.p.Call(ctx, peer, methodMapXchg, mapXchg{Map: name, Buckets: diff, Entries: m.inBuckets(diff)}, &back); err != nil {
			return err
		}
		m.merge(back, true)
	}
	for name, theirs := range resp.Versions {
		t := r.tableFor(name)
		mine := t.versions()
		for owner, v := range theirs {
			if t.wants(owner, v) {
				if err := r.pullTable(ctx, peer, t, owner); err != nil {
					return err
				}
			}
		}
		for owner, v := range mine {
			if theirs[owner] < v {
				d, ok := t.delta(owner, theirs[owner])
				if !ok {
					continue
				}
				if err := r.p.Call(ctx, peer, methodTablePush, d, nil); err != nil {
					r.p.log.Debug("table push refused", "to", peer, "table", name, "owner", owner, "err", err)
				}
			}
		}
	}
	return nil
}

func (r *replicator) registerHandlers() {
	h := r.p.rpc.handle
	h(methodSync, func(_ context.Context, _ string, b []byte) ([]byte, error) {
		var req syncReq
		if err := Decode(b, &req); err != nil {
			return nil, err
		}
		resp := syncResp{Buckets: map[string][]uint64{}, Versions: map[string]map[string]uint64{}}
		for name, m := range r.allMaps() {
			if req.Maps[name] != m.digest() {
				resp.Buckets[name] = m.bucketHashes()
			}
		}
		for name := range req.Maps {
			if _, ok := resp.Buckets[name]; !ok && req.Maps[name] != r.mapFor(name).digest() {
				resp.Buckets[name] = r.mapFor(name).bucketHashes()
			}
		}
		for name, t := range r.allTables() {
			vs := t.versions()
			if req.Tables[name] != versionsDigest(vs) {
				resp.Versions[name] = vs
			}
		}
		for name, d := range req.Tables {
			if _, ok := resp.Versions[name]; !ok && d != 0 {
				if vs := r.tableFor(name).versions(); d != versionsDigest(vs) {
					resp.Versions[name] = vs
				}
			}
		}
		return Encode(resp)
	})
	h(methodMapGet, func(_ context.Context, _ string, b []byte) ([]byte, error) {
		var req mapGetReq
		if err := Decode(b, &req); err != nil {
			return nil, err
		}
		m := r.mapFor(req.Map)
		var out []Entry
		for _, k := range req.Keys {
			if e, ok := m.get(k); ok {
				out = append(out, e)
			}
		}
		return Encode(out)
	})
	h(methodMapXchg, func(_ context.Context, _ string, b []byte) ([]byte, error) {
		var req mapXchg
		if err := Decode(b, &req); err != nil {
			return nil, err
		}
		m := r.mapFor(req.Map)
		m.merge(req.Entries, true)
		return Encode(notIn(m.inBuckets(req.Buckets), req.Entries))
	})
	h(methodNotice, func(_ context.Context, _ string, b []byte) ([]byte, error) {
		var n notice
		if err := Decode(b, &n); err != nil {
			return nil, err
		}
		r.heard(n)
		return nil, nil
	})
	h(methodTableGet, func(_ context.Context, _ string, b []byte) ([]byte, error) {
		var req tableGetReq
		if err := Decode(b, &req); err != nil {
			return nil, err
		}
		d, _ := r.tableFor(req.Table).delta(req.Owner, req.Since)
		return Encode(d)
	})
	h(methodTablePush, func(_ context.Context, from string, b []byte) ([]byte, error) {
		var d tableDelta
		if err := Decode(b, &d); err != nil {
			return nil, err
		}
		if _, err := r.tableFor(d.Table).apply(d); err != nil {
			return nil, fmt.Errorf("push from %s: %w", from, err)
		}
		return nil, nil
	})
}
