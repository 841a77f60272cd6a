package gossip

import (
	"bytes"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Tables holds one named single-writer table per peer: this peer writes its own
// rows (SetOwn/DeleteOwn), every other peer holds a read-only copy of each
// owner's rows, pulled by version. Get it with Peer.Table. Safe for concurrent
// use; callbacks run on one goroutine of the peer, in order, never under a lock.
type Tables struct {
	name string
	r    *replicator
	self string
	ttl  time.Duration

	mu        sync.Mutex
	owners    map[string]*tableCopy
	forgotten map[string]uint64 // owner -> version forgotten at
	subs      []func(owner string)
}

// tableCopy is one owner's rows at a version. Row tombstones are kept so deltas
// can carry deletes; after they are collected, older requesters get a full copy.
type tableCopy struct {
	version  uint64
	rows     map[string]tableRow
	gcBefore uint64 // a delta since a version below this must be full
}

type tableRow struct {
	Value     []byte
	Version   uint64
	Deleted   bool
	deletedAt time.Time
}

// tableDelta carries an owner's rows changed since From (all live rows if Full).
type tableDelta struct {
	Table, Owner string
	From         uint64
	Version      uint64
	Full         bool
	Rows         []deltaRow
}

type deltaRow struct {
	Key     string
	Value   []byte
	Version uint64
	Deleted bool
}

func newTables(name string, r *replicator) *Tables {
	return &Tables{
		name: name, r: r, self: r.p.cfg.NodeName, ttl: r.p.cfg.TombstoneTTL,
		owners: map[string]*tableCopy{}, forgotten: map[string]uint64{},
	}
}

func (t *Tables) copyLocked(owner string) *tableCopy {
	c := t.owners[owner]
	if c == nil {
		c = &tableCopy{rows: map[string]tableRow{}}
		t.owners[owner] = c
	}
	return c
}

// nextVersionLocked moves our own version forward: above what we had and at least
// the wall clock in µs, so a restarted peer that lost its state still moves on.
func (t *Tables) nextVersionLocked(c *tableCopy) uint64 {
	v := c.version + 1
	if now := uint64(time.Now().UnixMicro()); now > v {
		v = now
	}
	c.version = v
	return v
}

// SetOwn writes one row of our own table.
func (t *Tables) SetOwn(key string, value []byte) {
	t.writeOwn(key, append([]byte(nil), value...), false)
}

// DeleteOwn deletes one row of our own table.
func (t *Tables) DeleteOwn(key string) {
	t.writeOwn(key, nil, true)
}

func (t *Tables) writeOwn(key string, value []byte, deleted bool) {
	t.mu.Lock()
	c := t.copyLocked(t.self)
	// A write that changes nothing publishes nothing: no new version, no notice to
	// the others, no callback (a coordinator that republishes its unchanged status
	// lines on every pass would otherwise wake every peer each time).
	if cur, ok := c.rows[key]; deleted && (!ok || cur.Deleted) || !deleted && ok && !cur.Deleted && bytes.Equal(cur.Value, value) {
		t.mu.Unlock()
		return
	}
	v := t.nextVersionLocked(c)
	row := tableRow{Value: value, Version: v, Deleted: deleted}
	if deleted {
		row.deletedAt = time.Now()
	}
	c.rows[key] = row
	t.mu.Unlock()
	t.published(v)
}

// LoadOwn seeds our own rows from disk at start (no callback, no notice). version
// is the version they were saved at (0 if unknown).
func (t *Tables) LoadOwn(rows map[string][]byte, version uint64) {
	t.mu.Lock()
	c := t.copyLocked(t.self)
	if version > c.version {
		c.version = version
	}
	v := t.nextVersionLocked(c)
	for k, val := range rows {
		c.rows[k] = tableRow{Value: append([]byte(nil), val...), Version: v}
	}
	c.gcBefore = v
	t.mu.Unlock()
	t.r.p.setDigest(t.name, v)
}

// published tells the others our table moved to version v.
func (t *Tables) published(v uint64) {
	t.r.p.setDigest(t.name, v)
	t.r.sendTableNotice(t.name)
	t.changed(t.self)
}

// Rows returns a copy of owner's live rows (nil when none are held).
func (t *Tables) Rows(owner string) map[string][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.owners[owner]
	if c == nil {
		return nil
	}
	out := make(map[string][]byte, len(c.rows))
	for k, r := range c.rows {
		if !r.Deleted {
			out[k] = r.Value
		}
	}
	return out
}

// All returns a copy of every owner's live rows.
func (t *Tables) All() map[string]map[string][]byte {
	t.mu.Lock()
	owners := make([]string, 0, len(t.owners))
	for o := range t.owners {
		owners = append(owners, o)
	}
	t.mu.Unlock()
	out := make(map[string]map[string][]byte, len(owners))
	for _, o := range owners {
		if rows := t.Rows(o); rows != nil {
			out[o] = rows
		}
	}
	return out
}

// Owners lists the owners whose rows we hold, sorted.
func (t *Tables) Owners() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return sortedKeys(t.owners)
}

// Version returns the version of owner's rows we hold (0 = none).
func (t *Tables) Version(owner string) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.owners[owner]; c != nil {
		return c.version
	}
	return 0
}

// OnChange registers f, called with the owner whose rows changed (ours included).
func (t *Tables) OnChange(f func(owner string)) {
	t.mu.Lock()
	t.subs = append(t.subs, f)
	t.mu.Unlock()
}

// Forget drops our copy of owner's rows (node decided the owner is lost). Copies
// at or below the forgotten version are refused afterwards; a newer version (the
// owner came back and published) is accepted again.
func (t *Tables) Forget(owner string) {
	if owner == t.self {
		return
	}
	t.mu.Lock()
	c := t.owners[owner]
	if c == nil {
		t.mu.Unlock()
		return
	}
	t.forgotten[owner] = c.version
	delete(t.owners, owner)
	t.mu.Unlock()
	t.changed(owner)
}

func (t *Tables) changed(owner string) {
	t.mu.Lock()
	subs := t.subs
	t.mu.Unlock()
	if len(subs) == 0 {
		return
	}
	t.r.callbacks.push(func() {
		for _, f := range subs {
			f(owner)
		}
	})
}

// delta returns owner's rows changed since version since.
func (t *Tables) delta(owner string, since uint64) (tableDelta, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.owners[owner]
	if c == nil || c.version <= since {
		return tableDelta{}, false
	}
	d := tableDelta{Table: t.name, Owner: owner, From: since, Version: c.version}
	d.Full = since == 0 || since < c.gcBefore
	for k, r := range c.rows {
		if (d.Full && !r.Deleted) || (!d.Full && r.Version > since) {
			d.Rows = append(d.Rows, deltaRow{Key: k, Value: r.Value, Version: r.Version, Deleted: r.Deleted})
		}
	}
	sort.Slice(d.Rows, func(i, j int) bool { return d.Rows[i].Key < d.Rows[j].Key })
	return d, true
}

// apply merges a delta from another peer. Writes into our own table are refused;
// if a peer holds a newer version of our table than we do (we restarted and lost
// it), we republish above it so our current rows win.
func (t *Tables) apply(d tableDelta) (bool, error) {
	if d.Owner == t.self {
		t.mu.Lock()
		c := t.copyLocked(t.self)
		bump := d.Version > c.version
		if bump {
			c.version = d.Version
		}
		var v uint64
		if bump {
			v = t.nextVersionLocked(c)
			c.gcBefore = v
		}
		t.mu.Unlock()
		if bump {
			t.published(v)
		}
		return false, fmt.Errorf("table %q: refusing a remote write into %s's own table", t.name, t.self)
	}
	t.mu.Lock()
	if f, ok := t.forgotten[d.Owner]; ok {
		if d.Version <= f {
			t.mu.Unlock()
			return false, nil
		}
		delete(t.forgotten, d.Owner)
	}
	c := t.copyLocked(d.Owner)
	if d.Version <= c.version || (!d.Full && d.From > c.version) {
		t.mu.Unlock()
		return false, nil
	}
	now := time.Now()
	if d.Full {
		c.rows = make(map[string]tableRow, len(d.Rows))
		c.gcBefore = d.Version
	}
	for _, r := range d.Rows {
		row := tableRow{Value: r.Value, Version: r.Version, Deleted: r.Deleted}
		if r.Deleted {
			row.deletedAt = now
		}
		c.rows[r.Key] = row
	}
	c.version = d.Version
	t.mu.Unlock()
	t.changed(d.Owner)
	return true, nil
}

// versions returns the version held per owner; a forgotten owner counts at the
// version it was forgotten at, so peers that still hold it do not push it back.
func (t *Tables) versions() map[string]uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]uint64, len(t.owners)+len(t.forgotten))
	for o, v := range t.forgotten {
		out[o] = v
	}
	for o, c := range t.owners {
		out[o] = c.version
	}
	return out
}

// wants reports whether a version v of owner's rows would be new to us.
func (t *Tables) wants(owner string, v uint64) bool {
	if owner == t.self {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if f, ok := t.forgotten[owner]; ok && v <= f {
		return false
	}
	c := t.owners[owner]
	return c == nil || c.version < v
}

// gc collects row tombstones older than the TTL.
func (t *Tables) gc(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.owners {
		for k, r := range c.rows {
			if r.Deleted && now.Sub(r.deletedAt) > t.ttl {
				delete(c.rows, k)
				if r.Version >= c.gcBefore {
					c.gcBefore = r.Version + 1
				}
			}
		}
	}
}
