package gossip

import (
	"testing"

	"github.com/hashicorp/memberlist"
)

// A node that does not drain its packets or accept its connections loses what
// overflows its buffers, and the network says so in the node's Dropped counter
// (the benchmark reports it, so a stalled cluster can be told from a slow one).
func TestMemNetworkCountsWhatASlowNodeDrops(t *testing.T) {
	n := NewMemNetwork(1)
	a, b := n.NewTransport("a"), n.NewTransport("b")
	const extra = 5
	for i := 0; i < memPacketBuf+extra; i++ {
		if _, err := a.WriteToAddress([]byte("ping"), memberlist.Address{Addr: b.Addr()}); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	if got := len(b.PacketCh()); got != memPacketBuf {
		t.Errorf("b holds %d packets, want its buffer full (%d)", got, memPacketBuf)
	}
	if got := n.Stats("b").Dropped.Load(); got != extra {
		t.Errorf("b dropped %d packets, want %d", got, extra)
	}
	refused := 0
	for i := 0; i < memStreamBuf+extra; i++ {
		if _, err := a.DialAddressTimeout(memberlist.Address{Addr: b.Addr()}, 0); err != nil {
			refused++
		}
	}
	if refused != extra {
		t.Errorf("%d dials refused, want %d (the backlog holds %d)", refused, extra, memStreamBuf)
	}
	if got := n.Stats("b").Dropped.Load(); got != 2*extra {
		t.Errorf("b dropped %d packets and dials, want %d", got, 2*extra)
	}
	if got := n.Stats("a").Dropped.Load(); got != 0 {
		t.Errorf("a dropped %d, want 0 (it was never sent anything)", got)
	}
}
