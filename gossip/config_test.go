package gossip

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestDefaultConfigsAreValid(t *testing.T) {
	for name, cfg := range map[string]Config{
		"LAN": DefaultLANConfig(), "Node": DefaultNodeConfig(), "Local": DefaultLocalConfig(),
	} {
		cfg.NodeName = "n1"
		if err := cfg.Validate(); err != nil {
			t.Errorf("Default%sConfig: %v", name, err)
		}
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no name", func(c *Config) { c.NodeName = "" }, `NodeName = "": must be set`},
		{"bad bind", func(c *Config) { c.BindAddr = "localhost" }, `BindAddr = "localhost": must be an IP address`},
		{"bad advertise", func(c *Config) { c.AdvertiseAddr = "x" }, `AdvertiseAddr = "x"`},
		{"port range", func(c *Config) { c.RPCPort = 70000 }, "RPCPort = 70000: must be in 0..65535"},
		{"same ports", func(c *Config) { c.BindPort, c.RPCPort = 5000, 5000 }, "RPCPort = 5000: must differ from BindPort"},
		{"key size", func(c *Config) { c.SecretKey = []byte("short") }, "SecretKey = 5 bytes: must be 16, 24 or 32 bytes"},
		{"zero interval", func(c *Config) { c.ProbeInterval = 0 }, "ProbeInterval = 0s: must be > 0"},
		{"timeout above interval", func(c *Config) { c.ProbeTimeout = 2 * c.ProbeInterval }, "ProbeTimeout = 100ms: must not exceed ProbeInterval (50ms)"},
		{"mult", func(c *Config) { c.SuspicionMult = 0 }, "SuspicionMult = 0: must be >= 1"},
		{"join sync", func(c *Config) { c.JoinSyncDelay = -time.Second }, "JoinSyncDelay = -1s: must be >= 0"},
		{"notice peers", func(c *Config) { c.NoticePeers = -1 }, "NoticePeers = -1: must be >= 0"},
		{"frame", func(c *Config) { c.RPCMaxMessage = 10 }, "RPCMaxMessage = 10: must be in 64 KiB..1 GiB"},
		{"tags", func(c *Config) { c.Tags.Datacenter = strings.Repeat("d", 40) }, "tag Datacenter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultLocalConfig()
			cfg.NodeName = "n1"
			tc.mod(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
			if _, err := New(cfg); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestTagsRoundTrip(t *testing.T) {
	in := Tags{NodeID: "8c0f", Datacenter: "dc1", Class: "gpu", RPCAddr: "10.0.0.1:4647", Version: "0.1.0",
		CPUTotal: 8000, CPUFree: 1234, MemTotalMB: 16384, MemFreeMB: 99, Eligible: true, Draining: true,
		Digests: map[string]uint64{"allocs": 1763912345678901}}
	out, err := decodeTags(in.encode())
	if err != nil {
		t.Fatal(err)
	}
	if !equalTags(in, out) || out.CPUFree != 1234 || !out.Draining || out.Digests["allocs"] != 1763912345678901 {
		t.Errorf("round trip: got %+v, want %+v", out, in)
	}
	if _, err := decodeTags(map[string]string{"cf": "!!"}); err == nil || !strings.Contains(err.Error(), `tag "cf" = "!!"`) {
		t.Errorf("bad number: err = %v", err)
	}
}

// TestTagsWorstCaseFits proves the field limits keep tags within 512 bytes.
func TestTagsWorstCaseFits(t *testing.T) {
	const maxU = ^uint64(0)
	const maxI = int64(^uint64(0) >> 1)
	worst := Tags{
		NodeID: strings.Repeat("i", 36), Datacenter: strings.Repeat("d", 32), Class: strings.Repeat("c", 32),
		RPCAddr: "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", Version: strings.Repeat("v", 32),
		CPUTotal: maxI, CPUFree: maxI, MemTotalMB: maxI, MemFreeMB: maxI, Eligible: true, Draining: true,
		Digests: map[string]uint64{},
	}
	for _, name := range []string{"aaaaaaaaaaaaaaa1", "aaaaaaaaaaaaaaa2", "aaaaaaaaaaaaaaa3", "aaaaaaaaaaaaaaa4"} {
		worst.Digests[name] = maxU
	}
	if err := worst.Validate(); err != nil {
		t.Fatalf("worst case is not valid: %v", err)
	}
	m, err := checkTags(worst)
	if err != nil {
		t.Fatalf("worst case rejected: %v", err)
	}
	n := encodedTagSize(m)
	t.Logf("worst-case tags encode to %d bytes", n)
	if n > MaxTagBytes {
		t.Fatalf("worst-case tags = %d bytes, limit %d", n, MaxTagBytes)
	}
	worst.Digests["fifth"] = 1
	if err := worst.Validate(); err == nil {
		t.Error("five digests accepted")
	}
}

func TestOversizedPayloadsRejected(t *testing.T) {
	c := newCluster(t, 2, nil)
	p := c.peers[0]
	if err := p.UserEvent("ok", make([]byte, 100)); err != nil {
		t.Fatalf("small user event: %v", err)
	}
	tests := []struct {
		name string
		err  error
	}{
		{"user event", p.UserEvent("big", make([]byte, MaxUserEventBytes))},
		{"query", func() error {
			_, err := p.Query(t.Context(), "big", make([]byte, MaxQueryBytes), nil)
			return err
		}()},
		{"tags", p.SetTags(Tags{Datacenter: strings.Repeat("x", 100)})},
	}
	for _, tc := range tests {
		if tc.err == nil {
			t.Errorf("%s: oversized payload accepted", tc.name)
		}
	}
	for _, tc := range tests[:2] {
		if !errors.Is(tc.err, ErrTooLarge) {
			t.Errorf("%s: error %v is not ErrTooLarge", tc.name, tc.err)
		}
	}
	if err := p.UserEvent("shoal.x", nil); err == nil {
		t.Error("reserved event name accepted")
	}
}

// TestShutdownEndsHandlers: a query handler still at work when its peer shuts down
// sees its context end, and Shutdown returns only after it has: a node's handler
// never runs against stores it has already closed.
func TestShutdownEndsHandlers(t *testing.T) {
	c := newCluster(t, 2, nil)
	entered := make(chan struct{})
	var returned atomic.Bool
	c.peers[1].HandleQuery("slow", func(ctx context.Context, _ string, _ []byte) ([]byte, error) {
		close(entered)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // cleanup that Shutdown must wait for
		returned.Store(true)
		return nil, ctx.Err()
	})
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		_, _ = c.peers[0].Query(ctx, "slow", nil, []string{c.peers[1].Name()})
	}()
	select {
	case <-entered:
	case <-time.After(convergeDeadline):
		t.Fatal("the query never reached its handler")
	}
	done := make(chan struct{})
	go func() { _ = c.peers[1].Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown did not end a running query handler")
	}
	if !returned.Load() {
		t.Fatal("Shutdown returned while a query handler was still running")
	}
}

func TestUserEventsAndQueries(t *testing.T) {
	c := newCluster(t, 3, nil)
	got := make(chan string, 3)
	for _, p := range c.peers {
		p.HandleEvent("hello", func(b []byte) { got <- string(b) })
		p.HandleQuery("who", func(_ context.Context, from string, b []byte) ([]byte, error) {
			return []byte(p.Name() + " answers " + from), nil
		})
	}
	if err := c.peers[0].UserEvent("hello", []byte("world")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		select {
		case s := <-got:
			if s != "world" {
				t.Errorf("event payload = %q", s)
			}
		case <-time.After(convergeDeadline):
			t.Fatalf("only %d of 3 peers got the event", i)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	resp, err := c.peers[0].Query(ctx, "who", nil, []string{c.peers[1].Name(), c.peers[2].Name()})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp) != 2 {
		t.Fatalf("got %d answers, want 2: %+v", len(resp), resp)
	}
}
