package gossip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/serf/serf"
)

// MemberStatus is a member's state as this peer sees it.
type MemberStatus string

// Member statuses.
const (
	StatusAlive   MemberStatus = "alive"
	StatusLeaving MemberStatus = "leaving"
	StatusLeft    MemberStatus = "left"
	StatusFailed  MemberStatus = "failed"
	StatusNone    MemberStatus = "none"
)

// Member is one peer of the cluster with its decoded tags.
type Member struct {
	Name   string
	Addr   string // gossip ip:port
	Status MemberStatus
	Tags   Tags
}

// EventType says what happened to a member.
type EventType string

// Membership event types.
const (
	EventJoin   EventType = "join"
	EventLeave  EventType = "leave"
	EventFailed EventType = "failed"
	EventUpdate EventType = "update"
	EventReap   EventType = "reap"
)

// MemberEvent reports one change of one member.
type MemberEvent struct {
	Type   EventType
	Member Member
}

// Size limits enforced before anything reaches serf (serf would drop larger
// payloads silently, or reject them deep inside).
const (
	MaxUserEventBytes = 512  // name + payload of a user event
	MaxQueryBytes     = 1024 // name + payload of a query, and each response
)

func toMember(m serf.Member) (Member, error) {
	t, err := decodeTags(m.Tags)
	return Member{
		Name:   m.Name,
		Addr:   net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))),
		Status: toStatus(m.Status),
		Tags:   t,
	}, err
}

func toStatus(s serf.MemberStatus) MemberStatus {
	switch s {
	case serf.StatusAlive:
		return StatusAlive
	case serf.StatusLeaving:
		return StatusLeaving
	case serf.StatusLeft:
		return StatusLeft
	case serf.StatusFailed:
		return StatusFailed
	default:
		return StatusNone
	}
}

// Members returns every member serf knows (alive, leaving, left, failed), sorted by
// name, with decoded tags. Members whose tags do not decode are returned with what
// could be decoded (and logged).
func (p *Peer) Members() []Member {
	sm := p.serf.Members()
	out := make([]Member, 0, len(sm))
	for _, m := range sm {
		mm, err := toMember(m)
		if err != nil {
			p.log.Warn("member has malformed tags", "member", m.Name, "err", err)
		}
		out = append(out, mm)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Events returns the channel of membership events. Events are queued (without
// bound, so memberlist never waits) only from the first call on; the channel is
// closed when the peer shuts down. Read it from one goroutine.
func (p *Peer) Events() <-chan MemberEvent {
	p.evMu.Lock()
	defer p.evMu.Unlock()
	if p.evOut != nil {
		return p.evOut
	}
	p.evQueue = newQueue[MemberEvent]()
	p.evOut = make(chan MemberEvent, 64)
	q, out := p.evQueue, p.evOut
	p.spawn(func() {
		defer close(out)
		q.run(p.stop, func(e MemberEvent) {
			select {
			case out <- e:
			case <-p.stop:
			}
		})
	})
	return out
}

// pump reads serf's events: it never blocks on a consumer.
func (p *Peer) pump(ch <-chan serf.Event) {
	for {
		var ev serf.Event
		select {
		case <-p.stop:
			return
		case ev = <-ch:
		}
		switch e := ev.(type) {
		case serf.MemberEvent:
			p.memberEvent(e)
		case serf.UserEvent:
			p.userEvent(e)
		case *serf.Query:
			p.query(e)
		}
	}
}

var eventTypes = map[serf.EventType]EventType{
	serf.EventMemberJoin: EventJoin, serf.EventMemberLeave: EventLeave,
	serf.EventMemberFailed: EventFailed, serf.EventMemberUpdate: EventUpdate,
	serf.EventMemberReap: EventReap,
}

func (p *Peer) memberEvent(e serf.MemberEvent) {
	typ := eventTypes[e.Type]
	p.evMu.Lock()
	q := p.evQueue
	p.evMu.Unlock()
	for _, sm := range e.Members {
		m, err := toMember(sm)
		if err != nil {
			p.log.Warn("member has malformed tags", "member", sm.Name, "err", err)
		}
		p.memMu.Lock()
		switch typ {
		case EventReap:
			delete(p.members, m.Name)
		default:
			p.members[m.Name] = memberInfo{rpcAddr: m.Tags.RPCAddr, alive: m.Status == StatusAlive}
		}
		n := len(p.members)
		p.memMu.Unlock()
		if q != nil {
			q.push(MemberEvent{Type: typ, Member: m})
		}
		if m.Name != p.cfg.NodeName {
			p.repl.memberChanged(typ, m, n)
			// However we got into a cluster (Join, or serf's rejoin from its
			// snapshot after a restart), sync once more a little later.
			if typ == EventJoin && p.metOthers.CompareAndSwap(false, true) {
				p.kickJoinSync(nil)
			}
		}
	}
}

// SetTags replaces our tags (RPCAddr is kept when empty; table digests are managed
// by Tables and override t.Digests). The broadcast is coalesced: at most one per
// Config.TagInterval, carrying the latest value. It errors when the tags break the
// size limits, before anything is sent.
func (p *Peer) SetTags(t Tags) error { return p.setTags(t, false) }

// SetTagsNow is SetTags without waiting for the rate limit (e.g. drain).
func (p *Peer) SetTagsNow(t Tags) error { return p.setTags(t, true) }

func (p *Peer) setTags(t Tags, force bool) error {
	if p.stopped() {
		return ErrShutdown
	}
	p.tagMu.Lock()
	if t.RPCAddr == "" {
		t.RPCAddr = p.tags.RPCAddr
	}
	t.Digests = p.tags.Digests
	if _, err := checkTags(t); err != nil {
		p.tagMu.Unlock()
		return fmt.Errorf("gossip: SetTags: %w", err)
	}
	p.tags = t
	if force {
		p.lastTags = time.Time{}
	}
	p.tagMu.Unlock()
	select {
	case p.tagKick <- struct{}{}:
	default:
	}
	return nil
}

// LocalTags returns the tags we last asked for (maybe not yet broadcast).
func (p *Peer) LocalTags() Tags {
	p.tagMu.Lock()
	defer p.tagMu.Unlock()
	return p.tags
}

// setDigest records an own table's version in our tags (coalesced broadcast).
func (p *Peer) setDigest(table string, v uint64) {
	p.tagMu.Lock()
	d := make(map[string]uint64, len(p.tags.Digests)+1)
	for k, x := range p.tags.Digests {
		d[k] = x
	}
	d[table] = v
	t := p.tags
	t.Digests = d
	if _, err := checkTags(t); err != nil {
		p.tagMu.Unlock()
		p.log.Warn("table version left out of tags", "table", table, "err", err)
		return
	}
	p.tags = t
	p.tagMu.Unlock()
	select {
	case p.tagKick <- struct{}{}:
	default:
	}
}

// tagLoop broadcasts the latest tags at most once per TagInterval.
func (p *Peer) tagLoop() {
	var timer <-chan time.Time
	for {
		select {
		case <-p.stop:
			return
		case <-p.tagKick:
		case <-timer:
			timer = nil
		}
		p.tagMu.Lock()
		if equalTags(p.tags, p.sentTags) {
			p.tagMu.Unlock()
			continue
		}
		if wait := time.Until(p.lastTags.Add(p.cfg.TagInterval)); wait > 0 {
			p.tagMu.Unlock()
			if timer == nil {
				timer = time.After(wait)
			}
			continue
		}
		t := p.tags
		p.sentTags, p.lastTags = t, time.Now()
		p.tagMu.Unlock()
		p.tagBroadcasts.Add(1)
		if err := p.serf.SetTags(t.encode()); err != nil && !p.stopped() {
			p.log.Warn("broadcasting tags failed", "err", err)
		}
	}
}

// UserEvent broadcasts a small notice to every peer (best effort, no coalescing).
// name+payload must fit MaxUserEventBytes; larger ones are refused here rather
// than silently dropped by serf. Names starting with "shoal." are reserved.
func (p *Peer) UserEvent(name string, payload []byte) error {
	if strings.HasPrefix(name, reservedPrefix) {
		return fmt.Errorf("gossip: user event name %q: the prefix %q is reserved", name, reservedPrefix)
	}
	return p.userEventRaw(name, payload)
}

const reservedPrefix = "shoal."

func (p *Peer) userEventRaw(name string, payload []byte) error {
	if n := len(name) + len(payload); n > MaxUserEventBytes-userEventOverhead {
		return fmt.Errorf("gossip: user event %q: %w: %d bytes of name and payload, limit %d",
			name, ErrTooLarge, n, MaxUserEventBytes-userEventOverhead)
	}
	if p.stopped() {
		return ErrShutdown
	}
	if err := p.serf.UserEvent(name, payload, false); err != nil {
		return fmt.Errorf("gossip: user event %q: %w", name, err)
	}
	return nil
}

// userEventOverhead is what serf's encoding adds (type byte, msgpack field names,
// Lamport time); keeping name+payload below the limit minus this means serf's own
// post-encoding check never fails.
const userEventOverhead = 40

// HandleEvent registers fn for user events called name. fn runs on the event
// pump: it must not block (hand work to another goroutine).
func (p *Peer) HandleEvent(name string, fn func(payload []byte)) {
	p.evMu.Lock()
	p.handlers[name] = fn
	p.evMu.Unlock()
}

func (p *Peer) userEvent(e serf.UserEvent) {
	if e.Name == noticeEvent {
		p.repl.notice(e.Payload)
		return
	}
	p.evMu.Lock()
	fn := p.handlers[e.Name]
	p.evMu.Unlock()
	if fn != nil {
		fn(e.Payload)
	}
}

// QueryHandler answers a query; the answer must fit MaxQueryBytes.
type QueryHandler func(ctx context.Context, from string, payload []byte) ([]byte, error)

// QueryResponse is one peer's answer to a query.
type QueryResponse struct {
	From    string
	Payload []byte
}

// HandleQuery registers h for queries called name.
func (p *Peer) HandleQuery(name string, h QueryHandler) {
	p.evMu.Lock()
	p.queries[name] = h
	p.evMu.Unlock()
}

func (p *Peer) query(q *serf.Query) {
	p.evMu.Lock()
	h := p.queries[q.Name]
	p.evMu.Unlock()
	if h == nil {
		return
	}
	p.spawn(func() {
		ctx, cancel := p.ctxUntil(q.Deadline())
		defer cancel()
		out, err := h(ctx, q.SourceNode(), q.Payload)
		if err != nil {
			p.log.Debug("query handler failed", "query", q.Name, "err", err)
			return
		}
		if err := q.Respond(out); err != nil {
			p.log.Warn("query response not sent", "query", q.Name, "bytes", len(out), "err", err)
		}
	})
}

// Query asks the given nodes (all when empty) and collects answers until all
// answered, the query times out (ctx's deadline, or serf's default) or ctx ends.
// name+payload must fit MaxQueryBytes.
func (p *Peer) Query(ctx context.Context, name string, payload []byte, nodes []string) ([]QueryResponse, error) {
	if n := len(name) + len(payload); n > MaxQueryBytes-userEventOverhead {
		return nil, fmt.Errorf("gossip: query %q: %w: %d bytes of name and payload, limit %d",
			name, ErrTooLarge, n, MaxQueryBytes-userEventOverhead)
	}
	if p.stopped() {
		return nil, ErrShutdown
	}
	params := p.serf.DefaultQueryParams()
	params.FilterNodes = nodes
	if dl, ok := ctx.Deadline(); ok {
		params.Timeout = time.Until(dl)
	}
	resp, err := p.serf.Query(name, payload, params)
	if err != nil {
		return nil, fmt.Errorf("gossip: query %q: %w", name, err)
	}
	defer resp.Close()
	var out []QueryResponse
	for {
		select {
		case r, ok := <-resp.ResponseCh():
			if !ok {
				return out, nil
			}
			out = append(out, QueryResponse{From: r.From, Payload: r.Payload})
			if len(nodes) > 0 && len(out) == len(nodes) {
				return out, nil
			}
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return out, nil // the query's own timeout
			}
			return out, ctx.Err()
		case <-p.stop:
			return out, ErrShutdown
		}
	}
}
