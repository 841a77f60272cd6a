package node

import (
	"context"
	"sync"
	"time"
)

// changeIndex counts the changes to what this peer sees of the cluster (jobs,
// allocations, nodes, members), so that the API can answer blocking queries as
// Nomad's does: a read with ?index=N waits until the index has passed N. It starts
// at the peer's start time in nanoseconds, so that an index a client kept from
// before a restart is already passed and answered at once.
type changeIndex struct {
	mu sync.Mutex
	n  uint64
	ch chan struct{} // closed at the next bump
}

func newChangeIndex() *changeIndex {
	return &changeIndex{n: uint64(time.Now().UnixNano()), ch: make(chan struct{})}
}

// bump records a change and wakes every waiter.
func (c *changeIndex) bump() {
	c.mu.Lock()
	c.n++
	close(c.ch)
	c.ch = make(chan struct{})
	c.mu.Unlock()
}

// wait returns the index as soon as it is past after, or when ctx ends.
func (c *changeIndex) wait(ctx context.Context, after uint64) uint64 {
	for {
		c.mu.Lock()
		n, ch := c.n, c.ch
		c.mu.Unlock()
		if n > after {
			return n
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return n
		}
	}
}

// WaitIndex returns this peer's change index once it is past after, or when ctx
// ends (the API's blocking queries).
func (n *Node) WaitIndex(ctx context.Context, after uint64) uint64 {
	return n.changes.wait(ctx, after)
}
