package gossip

import (
	"fmt"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

func TestSupersedes(t *testing.T) {
	base := Entry{Key: "k", Version: 5, Writer: "b", Value: []byte("x")}
	tests := []struct {
		name string
		a, b Entry
		want bool
	}{
		{"higher version wins", Entry{Version: 6, Writer: "a"}, base, true},
		{"lower version loses", Entry{Version: 4, Writer: "z"}, base, false},
		{"writer breaks a version tie", Entry{Version: 5, Writer: "c"}, base, true},
		{"lower writer loses the tie", Entry{Version: 5, Writer: "a"}, base, false},
		{"tombstone wins an exact tie", Entry{Version: 5, Writer: "b", Deleted: true}, base, true},
		{"live loses to its tombstone", base, Entry{Version: 5, Writer: "b", Deleted: true}, false},
		{"identical does not supersede", base, base, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.a.Key = "k"
			if got := Supersedes(tc.a, tc.b); got != tc.want {
				t.Errorf("Supersedes(%+v, %+v) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

// lwwModel is a pure cluster: peers' states, their Lamport clocks, and messages
// in flight (a notice carrying the entry itself, as a pull would fetch it).
type lwwModel struct {
	states []lwwState
	clocks []uint64
	flight []lwwMsg
	best   lwwState // the Supersedes-maximum of every write ever made, per key
}

type lwwMsg struct {
	to int
	e  Entry
}

func (m *lwwModel) witness(i int, e Entry) {
	if e.Version > m.clocks[i] {
		m.clocks[i] = e.Version
	}
}

// antiEntropy runs the bucket exchange the peers run over the RPC, from a's side.
func antiEntropy(a, b lwwState) {
	diff := diffBuckets(a.bucketHashes(), b.bucketHashes())
	if len(diff) == 0 {
		return
	}
	sent := a.inBuckets(diff)
	for _, e := range sent {
		b.merge(e)
	}
	for _, e := range notIn(b.inBuckets(diff), sent) {
		a.merge(e)
	}
}

// TestLWWConvergesUnderAnyInterleaving: any interleaving of writes, deletes,
// deliveries, duplicate deliveries and losses converges, once anti-entropy runs,
// to the same map on every peer: the per-key maximum of all writes.
func TestLWWConvergesUnderAnyInterleaving(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 5).Draw(t, "peers")
		m := &lwwModel{states: make([]lwwState, n), clocks: make([]uint64, n), best: lwwState{}}
		for i := range m.states {
			m.states[i] = lwwState{}
		}
		steps := rapid.IntRange(1, 80).Draw(t, "steps")
		for s := 0; s < steps; s++ {
			switch op := rapid.IntRange(0, 3).Draw(t, "op"); {
			case op == 0 || len(m.flight) == 0: // a write at some peer, notices to all
				i := rapid.IntRange(0, n-1).Draw(t, "writer")
				m.clocks[i]++
				e := Entry{
					Key:     fmt.Sprintf("k%d", rapid.IntRange(0, 4).Draw(t, "key")),
					Version: m.clocks[i], Writer: fmt.Sprintf("p%d", i),
					Deleted: rapid.Bool().Draw(t, "delete"),
				}
				if !e.Deleted {
					e.Value = []byte(fmt.Sprintf("v%d", s))
				}
				m.states[i].merge(e)
				m.best.merge(e)
				for j := 0; j < n; j++ {
					if j != i {
						m.flight = append(m.flight, lwwMsg{to: j, e: e})
					}
				}
			case op == 1: // deliver one message
				k := rapid.IntRange(0, len(m.flight)-1).Draw(t, "deliver")
				msg := m.flight[k]
				m.flight = append(m.flight[:k], m.flight[k+1:]...)
				m.states[msg.to].merge(msg.e)
				m.witness(msg.to, msg.e)
			case op == 2: // lose one message
				k := rapid.IntRange(0, len(m.flight)-1).Draw(t, "lose")
				m.flight = append(m.flight[:k], m.flight[k+1:]...)
			case op == 3: // deliver a message twice (stays in flight)
				msg := m.flight[rapid.IntRange(0, len(m.flight)-1).Draw(t, "dup")]
				m.states[msg.to].merge(msg.e)
				m.witness(msg.to, msg.e)
			}
		}
		// The network goes quiet: anti-entropy between every pair, two rounds.
		for round := 0; round < 2; round++ {
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					if i != j {
						antiEntropy(m.states[i], m.states[j])
					}
				}
			}
		}
		for i, s := range m.states {
			if !reflect.DeepEqual(map[string]Entry(s), map[string]Entry(m.best)) {
				t.Fatalf("peer %d holds %v, want %v", i, s, m.best)
			}
		}
	})
}
