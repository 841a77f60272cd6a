package gossip

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/hashicorp/memberlist"
)

// Diagnostics for TestGossipBench: when a large cluster does not form, say which
// observer lacks which member and what memberlist holds for it, instead of only
// counting. memberlist keeps dead members and incarnations private; the benchmark
// reads them by reflection (test code only, under memberlist's own lock).

// mlNode is what one memberlist instance holds about one member.
type mlNode struct {
	known       bool
	state       memberlist.NodeStateType
	incarnation uint32
	since       time.Time
}

func (n mlNode) String() string {
	if !n.known {
		return "never heard of it"
	}
	st := map[memberlist.NodeStateType]string{memberlist.StateAlive: "alive", memberlist.StateSuspect: "suspect",
		memberlist.StateDead: "dead", memberlist.StateLeft: "left"}[n.state]
	return fmt.Sprintf("holds it %s at incarnation %d since %v ago", st, n.incarnation, time.Since(n.since).Round(time.Second))
}

// mlNodeOf returns what ml holds about member name.
func mlNodeOf(ml *memberlist.Memberlist, name string) mlNode {
	v := reflect.ValueOf(ml).Elem()
	mu := (*sync.RWMutex)(unsafe.Pointer(v.FieldByName("nodeLock").UnsafeAddr()))
	mu.RLock()
	defer mu.RUnlock()
	ns := v.FieldByName("nodeMap").MapIndex(reflect.ValueOf(name))
	if !ns.IsValid() || ns.IsNil() {
		return mlNode{}
	}
	e := ns.Elem()
	return mlNode{
		known:       true,
		state:       memberlist.NodeStateType(e.FieldByName("State").Int()),
		incarnation: uint32(e.FieldByName("Incarnation").Uint()),
		since:       *(*time.Time)(unsafe.Pointer(e.FieldByName("StateChange").UnsafeAddr())),
	}
}

// mlIncarnation is ml's own incarnation number.
func mlIncarnation(ml *memberlist.Memberlist) uint32 {
	f := reflect.ValueOf(ml).Elem().FieldByName("incarnation")
	return (*atomic.Uint32)(unsafe.Pointer(f.UnsafeAddr())).Load()
}

// holes lists the (observer, member) pairs where the observer's memberlist view
// lacks a live member, and for each member the observers that lack it.
func holes(peers []*Peer) (pairs [][2]string, missing map[string][]string) {
	missing = map[string][]string{} // member -> observers lacking it
	for _, p := range peers {
		ml := p.serf.Memberlist()
		if ml.NumMembers() == len(peers) {
			continue
		}
		seen := map[string]bool{}
		for _, m := range ml.Members() {
			seen[m.Name] = true
		}
		for _, q := range peers {
			if !seen[q.Name()] {
				missing[q.Name()] = append(missing[q.Name()], p.Name())
				pairs = append(pairs, [2]string{p.Name(), q.Name()})
			}
		}
	}
	return pairs, missing
}

// describeHoles says, for up to limit of the pairs holes found, what the observer
// holds about the member, the member's own incarnation, how many observers lack
// it, and (logs not nil) the observer's logged memberlist lines that name it.
func describeHoles(peers []*Peer, pairs [][2]string, missing map[string][]string, limit int, logs *logLines) []string {
	byName := map[string]*Peer{}
	for _, p := range peers {
		byName[p.Name()] = p
	}
	var out []string
	for i, pr := range pairs {
		if i == limit {
			out = append(out, fmt.Sprintf("... and %d more", len(pairs)-limit))
			break
		}
		obs, mem := byName[pr[0]], byName[pr[1]]
		line := fmt.Sprintf("%s lacks %s: %s; %s is at incarnation %d; %d observer(s) lack it",
			pr[0], pr[1], mlNodeOf(obs.serf.Memberlist(), pr[1]), pr[1], mlIncarnation(mem.serf.Memberlist()),
			len(missing[pr[1]]))
		if logs != nil {
			for _, l := range logs.about(pr[0], pr[1], 6) {
				line += "\n\t" + l
			}
		}
		out = append(out, line)
	}
	return out
}

// logLines keeps the memberlist lines (and serf's failure lines, and failed
// push-pulls after joining) that every peer of the benchmark logs at INFO and
// above: suspicions, failures, refutations, full handler queues. Safe for concurrent use.
type logLines struct {
	mu      sync.Mutex
	lines   []string
	dropped int
}

const maxLogLines = 200_000

func (l *logLines) Write(p []byte) (int, error) {
	s := string(bytes.TrimRight(p, "\n"))
	if !strings.Contains(s, "msg=memberlist") && !strings.Contains(s, "EventMemberFailed") &&
		!strings.Contains(s, "EventMemberLeave") && !strings.Contains(s, "push-pull after joining failed") {
		return len(p), nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) >= maxLogLines {
		l.dropped++
	} else {
		l.lines = append(l.lines, s)
	}
	return len(p), nil
}

// about returns the last n lines logged by observer that name member, and by
// member itself about refuting.
func (l *logLines) about(observer, member string, n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if (strings.Contains(s, "peer="+observer+" ") && strings.Contains(s, member)) ||
			(strings.Contains(s, "peer="+member+" ") && strings.Contains(s, "Refuting")) {
			out = append(out, s)
		}
	}
	return out[max(0, len(out)-n):]
}

// queueFull breaks memberlist's "handler queue full" drops down by message
// type, e.g. "95496 (alive 120, user 95376) at 431 peers".
func (l *logLines) queueFull() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	types := map[string]string{"(3)": "suspect", "(4)": "alive", "(5)": "dead", "(8)": "user"}
	byType, peers, total := map[string]int{}, map[string]bool{}, 0
	for _, s := range l.lines {
		_, rest, ok := strings.Cut(s, "dropping message ")
		if !ok {
			continue
		}
		total++
		typ, _, _ := strings.Cut(rest, " ")
		byType[cmp.Or(types[typ], typ)]++
		if _, p, ok := strings.Cut(s, "peer="); ok {
			p, _, _ = strings.Cut(p, " ")
			peers[p] = true
		}
	}
	if total == 0 {
		return "0"
	}
	var parts []string
	for _, t := range slices.Sorted(maps.Keys(byType)) {
		parts = append(parts, fmt.Sprintf("%s %d", t, byType[t]))
	}
	return fmt.Sprintf("%d (%s) at %d peers", total, strings.Join(parts, ", "), len(peers))
}

// count returns how many kept lines contain substr.
func (l *logLines) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}
