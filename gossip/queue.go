package gossip

import "sync"

// queue is an unbounded FIFO between a producer that must never block (serf's
// event loop, RPC handlers) and one consumer goroutine. Safe for concurrent use.
type queue[T any] struct {
	mu     sync.Mutex
	items  []T
	ready  chan struct{} // has a token while items is non-empty
	closed bool
}

func newQueue[T any]() *queue[T] {
	return &queue[T]{ready: make(chan struct{}, 1)}
}

// push appends v; it never blocks. Pushes after close are dropped.
func (q *queue[T]) push(v T) {
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, v)
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// drain takes everything queued so far (nil when empty).
func (q *queue[T]) drain() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// close drops what is queued and refuses further pushes.
func (q *queue[T]) close() {
	q.mu.Lock()
	q.closed, q.items = true, nil
	q.mu.Unlock()
}

// run feeds every item to fn, in order, until stop is closed.
func (q *queue[T]) run(stop <-chan struct{}, fn func(T)) {
	for {
		select {
		case <-stop:
			return
		case <-q.ready:
		}
		for _, v := range q.drain() {
			select {
			case <-stop:
				return
			default:
			}
			fn(v)
		}
	}
}
