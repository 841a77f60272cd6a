package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type echoReq struct {
	Text  string
	Sleep time.Duration
}

func registerEcho(p *Peer) {
	p.Handle("test.echo", func(ctx context.Context, from string, b []byte) ([]byte, error) {
		var req echoReq
		if err := Decode(b, &req); err != nil {
			return nil, err
		}
		if req.Text == "fail" {
			return nil, errors.New("asked to fail")
		}
		if req.Text == "give up" { // as a handler whose ctx expired just before the caller's
			return nil, fmt.Errorf("giving up: %w", context.DeadlineExceeded)
		}
		select {
		case <-time.After(req.Sleep):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return Encode(from + ":" + req.Text)
	})
}

func TestRPC(t *testing.T) {
	c := newCluster(t, 2, nil)
	a, b := c.peers[0], c.peers[1]
	registerEcho(b)
	ctx := t.Context()

	var got string
	if err := a.Call(ctx, b.Name(), "test.echo", echoReq{Text: "hi"}, &got); err != nil {
		t.Fatalf("Call: %v", err)
	}
	if want := a.Name() + ":hi"; got != want {
		t.Errorf("reply = %q, want %q", got, want)
	}
	// Connections are pooled: sequential calls do not dial again (anti-entropy
	// may dial one more concurrently).
	before := a.rpc.dials.Load()
	for i := 0; i < 20; i++ {
		if err := a.Call(ctx, b.Name(), "test.echo", echoReq{Text: "again"}, &got); err != nil {
			t.Fatalf("Call %d: %v", i, err)
		}
	}
	if d := a.rpc.dials.Load() - before; d > 1 {
		t.Errorf("20 sequential calls dialed %d connections, want at most 1", d)
	}

	tests := []struct {
		name   string
		node   string
		method string
		req    any
		ctx    func() (context.Context, context.CancelFunc)
		want   string
		is     error
	}{
		{name: "handler error", node: b.Name(), method: "test.echo", req: echoReq{Text: "fail"},
			want: "rpc test.echo on n001: asked to fail"},
		{name: "unknown method", node: b.Name(), method: "nope", req: echoReq{},
			want: `no handler for method "nope"`},
		{name: "unknown node", node: "ghost", method: "test.echo", req: echoReq{}, is: ErrUnknownPeer},
		{name: "deadline", node: b.Name(), method: "test.echo", req: echoReq{Text: "slow", Sleep: 5 * time.Second},
			ctx: func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 100*time.Millisecond) },
			is:  context.DeadlineExceeded},
		{name: "handler gave up at the caller's deadline", node: b.Name(), method: "test.echo",
			req: echoReq{Text: "give up"}, is: context.DeadlineExceeded},
		{name: "oversized request", node: b.Name(), method: "test.echo",
			req: echoReq{Text: strings.Repeat("x", 17<<20)}, is: ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cctx, cancel := ctx, func() {}
			if tc.ctx != nil {
				cctx, cancel = tc.ctx()
			}
			defer cancel()
			err := a.Call(cctx, tc.node, tc.method, tc.req, &got)
			if err == nil {
				t.Fatal("Call succeeded, want an error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	// Still usable after the failures.
	if err := a.Call(ctx, b.Name(), "test.echo", echoReq{Text: "ok"}, &got); err != nil {
		t.Fatalf("Call after errors: %v", err)
	}
}

func TestRPCRawBytesAndLargeFrames(t *testing.T) {
	c := newCluster(t, 2, nil)
	a, b := c.peers[0], c.peers[1]
	b.Handle("test.raw", func(_ context.Context, _ string, req []byte) ([]byte, error) {
		return bytes.ToUpper(req), nil
	})
	big := bytes.Repeat([]byte("ab"), 4<<20) // 8 MiB: below the 16 MiB limit
	var out []byte
	if err := a.Call(t.Context(), b.Name(), "test.raw", big, &out); err != nil {
		t.Fatalf("Call: %v", err)
	}
	if !bytes.Equal(out, bytes.ToUpper(big)) {
		t.Errorf("raw reply of %d bytes differs from the expected %d bytes", len(out), len(big))
	}
}

func TestRPCVersionMismatch(t *testing.T) {
	c := newCluster(t, 2, func(cfg *Config) {
		if cfg.NodeName == nodeName(1) {
			cfg.rpcVersion = rpcVersion + 1 // n001 speaks a future protocol
		}
	})
	a, b := c.peers[0], c.peers[1]
	registerEcho(b)
	err := a.Call(t.Context(), b.Name(), "test.echo", echoReq{Text: "hi"}, nil)
	if !errors.Is(err, ErrProtocolVersion) {
		t.Fatalf("error = %v, want %v", err, ErrProtocolVersion)
	}
	if want := "speaks version 2, we speak 1"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestRPCOverPartitionFails(t *testing.T) {
	c := newCluster(t, 2, nil)
	a, b := c.peers[0], c.peers[1]
	registerEcho(b)
	if err := a.Call(t.Context(), b.Name(), "test.echo", echoReq{Text: "x"}, nil); err != nil {
		t.Fatal(err)
	}
	c.net.Partition([]string{a.Name()}, []string{b.Name()})
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := a.Call(ctx, b.Name(), "test.echo", echoReq{Text: "x"}, nil); err == nil {
		t.Fatal("Call across a partition succeeded")
	}
	c.net.Heal()
	if err := a.Call(t.Context(), b.Name(), "test.echo", echoReq{Text: "x"}, nil); err != nil {
		t.Fatalf("Call after heal: %v", err)
	}
}

func BenchmarkRPCCall(b *testing.B) {
	c := newCluster(b, 2, nil)
	registerEcho(c.peers[1])
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var out string
		if err := c.peers[0].Call(ctx, c.peers[1].Name(), "test.echo", echoReq{Text: "bid"}, &out); err != nil {
			b.Fatal(err)
		}
	}
}
