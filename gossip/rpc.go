package gossip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// RPCNetwork is how the RPC listens and dials: real TCP in production, the
// in-memory network in tests. Implementations must be safe for concurrent use.
type RPCNetwork interface {
	Listen(addr string) (net.Listener, error)
	DialContext(ctx context.Context, addr string) (net.Conn, error)
}

// tcpNetwork is the production RPCNetwork.
type tcpNetwork struct{}

func (tcpNetwork) Listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

func (tcpNetwork) DialContext(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// Handler serves one RPC method. from is the caller's node name (as it claims; with
// a key set, it is a peer holding the cluster key). req is the raw msgpack body
// (or raw bytes when the caller passed a []byte). Handlers run concurrently, one
// goroutine per connection, and must honour ctx (the caller's deadline).
type Handler func(ctx context.Context, from string, req []byte) ([]byte, error)

// RemoteError is an error returned by the remote handler. When the handler failed
// because the caller's deadline (which travels with the request) passed, the error
// is also context.DeadlineExceeded, as it would be had the caller timed out first.
type RemoteError struct {
	Node, Method, Message string
	Deadline              bool
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("rpc %s on %s: %s", e.Method, e.Node, e.Message)
}

func (e *RemoteError) Unwrap() error {
	if e.Deadline {
		return context.DeadlineExceeded
	}
	return nil
}

type rpcRequest struct {
	Method  string
	From    string
	Timeout int64 // nanoseconds left to the caller's deadline
	Body    []byte
}

type rpcResponse struct {
	Body     []byte
	Err      string
	Deadline bool // Err is the handler giving up at the caller's deadline
}

// serverIdleTimeout closes connections idle that long (above RPCIdleTimeout).
const serverIdleTimeout = 2 * time.Minute

// rpc is the RPC endpoint of a Peer: server, handlers and client pool.
type rpc struct {
	name     string
	netw     RPCNetwork
	ln       net.Listener
	log      *slog.Logger
	keys     func() [][]byte // primary first; nil result = no encryption
	version  byte
	maxFrame int
	maxIdle  int
	idleTTL  time.Duration
	timeout  time.Duration

	mu       sync.Mutex
	handlers map[string]Handler
	idle     map[string][]*pooledConn
	conns    map[net.Conn]struct{} // server side, for shutdown
	closed   bool
	wg       sync.WaitGroup
	dials    atomic.Int64 // connections dialed (pool misses)
}

type pooledConn struct {
	*wireConn
	used time.Time
}

func (r *rpc) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			r.mu.Lock()
			closed := r.closed
			r.mu.Unlock()
			if !closed && !errors.Is(err, net.ErrClosed) {
				r.log.Warn("rpc accept failed", "err", err)
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			_ = c.Close()
			return
		}
		r.conns[c] = struct{}{}
		r.wg.Add(1)
		r.mu.Unlock()
		go r.serveConn(c)
	}
}

func (r *rpc) serveConn(c net.Conn) {
	defer r.wg.Done()
	defer func() {
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		_ = c.Close()
	}()
	wc := newWireConn(c, r.maxFrame)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wc.serverHandshake(r.version, r.keys()); err != nil {
		r.log.Warn("rpc handshake refused", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	for {
		_ = c.SetDeadline(time.Now().Add(serverIdleTimeout))
		frame, err := wc.readFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrClosedPipe) {
				r.log.Debug("rpc connection ended", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		var req rpcRequest
		if err := Decode(frame, &req); err != nil {
			r.log.Warn("rpc request undecodable", "remote", c.RemoteAddr().String(), "err", err)
			return
		}
		resp := r.dispatch(req)
		out, err := Encode(resp)
		if err != nil {
			return
		}
		_ = c.SetWriteDeadline(time.Now().Add(r.timeout))
		if err := wc.writeFrame(out); err != nil {
			if errors.Is(err, ErrTooLarge) {
				out, _ = Encode(rpcResponse{Err: err.Error()})
				if wc.writeFrame(out) == nil {
					continue
				}
			}
			return
		}
	}
}

func (r *rpc) dispatch(req rpcRequest) rpcResponse {
	r.mu.Lock()
	h := r.handlers[req.Method]
	r.mu.Unlock()
	if h == nil {
		return rpcResponse{Err: fmt.Sprintf("no handler for method %q", req.Method)}
	}
	timeout := time.Duration(req.Timeout)
	if timeout <= 0 || timeout > r.timeout*6 {
		timeout = r.timeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	body, err := h(ctx, req.From, req.Body)
	if err != nil {
		return rpcResponse{Err: err.Error(), Deadline: errors.Is(err, context.DeadlineExceeded)}
	}
	return rpcResponse{Body: body}
}

// handle registers h for method, replacing any previous handler.
func (r *rpc) handle(method string, h Handler) {
	r.mu.Lock()
	r.handlers[method] = h
	r.mu.Unlock()
}

// get takes a pooled connection to addr or dials one.
func (r *rpc) get(ctx context.Context, addr string) (*pooledConn, bool, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, false, ErrShutdown
	}
	for list := r.idle[addr]; len(list) > 0; list = r.idle[addr] {
		pc := list[len(list)-1]
		r.idle[addr] = list[:len(list)-1]
		if time.Since(pc.used) < r.idleTTL {
			r.mu.Unlock()
			return pc, true, nil
		}
		_ = pc.Close()
	}
	r.mu.Unlock()
	r.dials.Add(1)
	c, err := r.netw.DialContext(ctx, addr)
	if err != nil {
		return nil, false, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	wc := newWireConn(c, r.maxFrame)
	if err := wc.clientHandshake(r.version, r.keys(), addr); err != nil {
		_ = c.Close()
		return nil, false, err
	}
	return &pooledConn{wireConn: wc}, false, nil
}

func (r *rpc) put(addr string, pc *pooledConn) {
	pc.used = time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || len(r.idle[addr]) >= r.maxIdle {
		_ = pc.Close()
		return
	}
	r.idle[addr] = append(r.idle[addr], pc)
}

// call sends body to method at addr and returns the response body.
func (r *rpc) call(ctx context.Context, node, addr, method string, body []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	dl, _ := ctx.Deadline()
	req, err := Encode(rpcRequest{Method: method, From: r.name, Timeout: int64(time.Until(dl)), Body: body})
	if err != nil {
		return nil, fmt.Errorf("rpc %s to %s: encoding request: %w", method, node, err)
	}
	if len(req) > r.maxFrame {
		return nil, fmt.Errorf("rpc %s to %s: %w: request of %d bytes exceeds the limit of %d bytes", method, node, ErrTooLarge, len(req), r.maxFrame)
	}
	for attempt := 0; ; attempt++ {
		pc, pooled, err := r.get(ctx, addr)
		if err != nil {
			return nil, fmt.Errorf("rpc %s to %s (%s): %w", method, node, addr, err)
		}
		resp, sent, err := r.roundTrip(ctx, pc, dl, req)
		if err == nil {
			r.put(addr, pc)
			if resp.Err != "" {
				return nil, &RemoteError{Node: node, Method: method, Message: resp.Err, Deadline: resp.Deadline}
			}
			return resp.Body, nil
		}
		_ = pc.Close()
		// A pooled connection the server closed while idle fails before the
		// request got anywhere: retry once on a fresh one.
		if pooled && !sent && attempt == 0 && ctx.Err() == nil {
			continue
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w (%v)", ctxErr, err)
		} else if errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(dl) {
			err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
		return nil, fmt.Errorf("rpc %s to %s (%s): %w", method, node, addr, err)
	}
}

// roundTrip writes req and reads one response; sent reports whether any response
// byte arrived or the write certainly reached the server.
func (r *rpc) roundTrip(ctx context.Context, pc *pooledConn, dl time.Time, req []byte) (rpcResponse, bool, error) {
	var resp rpcResponse
	_ = pc.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = pc.SetDeadline(time.Now()) })
	defer stop()
	if err := pc.writeFrame(req); err != nil {
		return resp, false, err
	}
	frame, err := pc.readFrame()
	if err != nil {
		// EOF before any byte: the server had closed the idle connection.
		return resp, !errors.Is(err, io.EOF), err
	}
	if err := Decode(frame, &resp); err != nil {
		return resp, true, fmt.Errorf("decoding response: %w", err)
	}
	return resp, true, nil
}

// close stops the listener, closes every connection and waits for handlers.
func (r *rpc) close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	for _, list := range r.idle {
		for _, pc := range list {
			_ = pc.Close()
		}
	}
	r.idle = nil
	for c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	_ = r.ln.Close()
	r.wg.Wait()
}
