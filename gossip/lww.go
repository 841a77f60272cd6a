package gossip

import (
	"bytes"
	"encoding/binary"
	"hash/fnv"
	"sync"
	"time"
)

// Entry is one key of a replicated last-writer-wins map. Value is opaque to gossip;
// treat it as read-only (it may be shared with the map).
type Entry struct {
	Key     string
	Value   []byte
	Version uint64 // Lamport version of this write
	Writer  string // node name of the writer (breaks version ties)
	Deleted bool   // a tombstone: the key was deleted by this write
	// DeletedAt is the deleter's wall clock (Unix ns) for a tombstone; every peer
	// collects the tombstone once it is older than Config.TombstoneTTL.
	DeletedAt int64
}

// Supersedes reports whether a replaces b (entries for the same key): the higher
// Version wins, then the higher Writer, then a tombstone over a live entry, then
// (never in practice: a writer does not reuse a version) the larger value, so any
// two peers agree. It is a strict total order: the merge is commutative,
// associative and idempotent.
func Supersedes(a, b Entry) bool {
	if a.Version != b.Version {
		return a.Version > b.Version
	}
	if a.Writer != b.Writer {
		return a.Writer > b.Writer
	}
	if a.Deleted != b.Deleted {
		return a.Deleted
	}
	return bytes.Compare(a.Value, b.Value) > 0
}

// lwwState is the pure merge state of one map: what the property test drives.
type lwwState map[string]Entry

// merge applies e and reports whether it changed the state.
func (s lwwState) merge(e Entry) bool {
	cur, ok := s[e.Key]
	if ok && !Supersedes(e, cur) {
		return false
	}
	s[e.Key] = e
	return true
}

const numBuckets = 64

// bucketHashes returns the XOR of the entry hashes per key bucket.
func (s lwwState) bucketHashes() []uint64 {
	out := make([]uint64, numBuckets)
	for _, e := range s {
		out[bucketOf(e.Key)] ^= entryHash(e)
	}
	return out
}

// inBuckets returns the entries in the given buckets.
func (s lwwState) inBuckets(bs []int) []Entry {
	want := map[int]bool{}
	for _, b := range bs {
		want[b] = true
	}
	var out []Entry
	for k, e := range s {
		if want[bucketOf(k)] {
			out = append(out, e)
		}
	}
	return out
}

// diffBuckets lists the buckets whose hashes differ.
func diffBuckets(mine, theirs []uint64) []int {
	var diff []int
	for b := range mine {
		if b >= len(theirs) || mine[b] != theirs[b] {
			diff = append(diff, b)
		}
	}
	return diff
}

// notIn returns the entries of mine that the peer did not send identically.
func notIn(mine, sent []Entry) []Entry {
	have := make(map[string]uint64, len(sent))
	for _, e := range sent {
		have[e.Key] = entryHash(e)
	}
	var out []Entry
	for _, e := range mine {
		if h, ok := have[e.Key]; !ok || h != entryHash(e) {
			out = append(out, e)
		}
	}
	return out
}

func bucketOf(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % numBuckets)
}

// entryHash identifies an entry's state (not its value: (Version, Writer) names it).
func entryHash(e Entry) uint64 {
	h := fnv.New64a()
	h.Write([]byte(e.Key))
	var b [9]byte
	binary.BigEndian.PutUint64(b[:8], e.Version)
	if e.Deleted {
		b[8] = 1
	}
	h.Write(b[:])
	h.Write([]byte(e.Writer))
	return h.Sum64()
}

// LWWMap is a replicated last-writer-wins map, identical on every peer once
// gossip is quiet. Get it with Peer.Map. Safe for concurrent use; callbacks run
// on one goroutine of the peer, in order, never under the map's lock.
type LWWMap struct {
	name string
	r    *replicator
	ttl  time.Duration

	mu      sync.Mutex
	entries lwwState
	buckets [numBuckets]uint64
	clock   uint64
	subs    []func(Entry)
}

func newLWWMap(name string, r *replicator) *LWWMap {
	return &LWWMap{name: name, r: r, ttl: r.p.cfg.TombstoneTTL, entries: lwwState{}}
}

// Put writes value under key with a version above any this peer has seen, notifies
// the cluster, and returns the new entry.
func (m *LWWMap) Put(key string, value []byte) Entry {
	return m.write(Entry{Key: key, Value: append([]byte(nil), value...)})
}

// Delete writes a tombstone for key (it wins over older writes everywhere).
func (m *LWWMap) Delete(key string) Entry {
	return m.write(Entry{Key: key, Deleted: true, DeletedAt: time.Now().UnixNano()})
}

func (m *LWWMap) write(e Entry) Entry {
	m.mu.Lock()
	m.clock++
	if cur, ok := m.entries[e.Key]; ok && cur.Version >= m.clock {
		m.clock = cur.Version + 1
	}
	e.Version, e.Writer = m.clock, m.r.p.cfg.NodeName
	m.setLocked(e)
	m.mu.Unlock()
	m.changed([]Entry{e})
	m.r.sendNotice(notice{Kind: noticeMap, Name: m.name, Key: e.Key, Version: e.Version, Writer: e.Writer})
	return e
}

// Get returns the live entry for key; a deleted key reports false.
func (m *LWWMap) Get(key string) (Entry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok || e.Deleted {
		return Entry{}, false
	}
	return e, true
}

// Range calls f for each live entry (unordered) until f returns false. It holds
// the map's lock: f must not call back into the map.
func (m *LWWMap) Range(f func(Entry) bool) {
	m.RangeAll(func(e Entry) bool {
		if e.Deleted {
			return true
		}
		return f(e)
	})
}

// RangeAll is Range including tombstones.
func (m *LWWMap) RangeAll(f func(Entry) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries {
		if !f(e) {
			return
		}
	}
}

// Len counts live entries.
func (m *LWWMap) Len() int {
	n := 0
	m.Range(func(Entry) bool { n++; return true })
	return n
}

// Load seeds the map (from disk, at start): entries are merged, no callback fires
// and no notice is sent.
func (m *LWWMap) Load(entries []Entry) {
	m.merge(entries, false)
}

// OnChange registers f, called after every change (local or remote, tombstones
// included) with the entry now held.
func (m *LWWMap) OnChange(f func(Entry)) {
	m.mu.Lock()
	m.subs = append(m.subs, f)
	m.mu.Unlock()
}

// setLocked stores e (or removes its key when e is nil-ed by GC) and keeps the
// bucket hashes.
func (m *LWWMap) setLocked(e Entry) {
	b := bucketOf(e.Key)
	if cur, ok := m.entries[e.Key]; ok {
		m.buckets[b] ^= entryHash(cur)
	}
	m.entries[e.Key] = e
	m.buckets[b] ^= entryHash(e)
	if e.Version > m.clock {
		m.clock = e.Version
	}
}

func (m *LWWMap) removeLocked(key string) {
	if cur, ok := m.entries[key]; ok {
		m.buckets[bucketOf(key)] ^= entryHash(cur)
		delete(m.entries, key)
	}
}

func (m *LWWMap) expired(e Entry, now time.Time) bool {
	return e.Deleted && now.UnixNano()-e.DeletedAt > int64(m.ttl)
}

// merge applies remote entries; it returns those that changed the map.
func (m *LWWMap) merge(in []Entry, notify bool) []Entry {
	now := time.Now()
	var changed []Entry
	m.mu.Lock()
	for _, e := range in {
		cur, ok := m.entries[e.Key]
		if ok && !Supersedes(e, cur) {
			continue
		}
		if m.expired(e, now) {
			// A collected tombstone: apply the delete, keep nothing.
			if ok {
				m.removeLocked(e.Key)
				changed = append(changed, e)
			}
			continue
		}
		m.setLocked(e)
		changed = append(changed, e)
	}
	m.mu.Unlock()
	if notify && len(changed) > 0 {
		m.changed(changed)
	}
	return changed
}

func (m *LWWMap) changed(es []Entry) {
	m.mu.Lock()
	subs := m.subs
	m.mu.Unlock()
	if len(subs) == 0 {
		return
	}
	m.r.callbacks.push(func() {
		for _, e := range es {
			for _, f := range subs {
				f(e)
			}
		}
	})
}

// gc collects expired tombstones.
func (m *LWWMap) gc(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, e := range m.entries {
		if m.expired(e, now) {
			m.removeLocked(k)
		}
	}
}

// digest is the whole-map hash (XOR of the bucket hashes).
func (m *LWWMap) digest() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var h uint64
	for _, b := range m.buckets {
		h ^= b
	}
	return h
}

func (m *LWWMap) bucketHashes() []uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]uint64(nil), m.buckets[:]...)
}

// inBuckets returns the entries (tombstones included) in the given buckets.
func (m *LWWMap) inBuckets(bs []int) []Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.entries.inBuckets(bs)
}

// get returns the entry held for key, tombstone or not.
func (m *LWWMap) get(key string) (Entry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	return e, ok
}
