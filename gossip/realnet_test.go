package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Tests on real UDP/TCP sockets over loopback addresses 127.0.0.x.

func realPeer(t *testing.T, i int, key []byte, mod func(*Config)) *Peer {
	t.Helper()
	cfg := DefaultLocalConfig()
	cfg.NodeName = fmt.Sprintf("real%d", i)
	cfg.BindAddr = fmt.Sprintf("127.0.0.%d", 10+i)
	cfg.SecretKey = key
	cfg.Logger = testLogger()
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("starting %s: %v", cfg.NodeName, err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// joinAll joins every peer to the first and waits until each sees all the others alive.
func joinAll(t *testing.T, peers []*Peer) {
	t.Helper()
	for _, p := range peers[1:] {
		if _, err := p.Join([]string{peers[0].LocalAddr()}); err != nil {
			t.Fatalf("join: %v", err)
		}
	}
	eventually(t, fmt.Sprintf("%d alive everywhere", len(peers)), func() bool {
		for _, p := range peers {
			if len(p.aliveOthers()) != len(peers)-1 {
				return false
			}
		}
		return true
	})
}

// waitEntry waits until every peer's map m holds key.
func waitEntry(t *testing.T, peers []*Peer, m, key string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s[%s] reaches every peer", m, key), func() bool {
		for _, p := range peers {
			if _, ok := p.Map(m).Get(key); !ok {
				return false
			}
		}
		return true
	})
}

func TestRealNetworkJoinTagsMapAndRPCEncrypted(t *testing.T) {
	k := key(1)
	peers := []*Peer{realPeer(t, 1, k, nil), realPeer(t, 2, k, nil), realPeer(t, 3, k, nil)}
	joinAll(t, peers)
	if err := peers[2].SetTags(Tags{Datacenter: "dc9", CPUFree: 500}); err != nil {
		t.Fatal(err)
	}
	peers[1].Map("jobs").Put("web", []byte("spec"))
	eventually(t, "tags reach every peer", func() bool {
		for _, p := range peers {
			for _, m := range p.Members() {
				if m.Name == peers[2].Name() && m.Tags.Datacenter != "dc9" {
					return false
				}
			}
		}
		return true
	})
	waitEntry(t, peers, "jobs", "web")
	registerEcho(peers[0])
	var got string
	if err := peers[2].Call(t.Context(), peers[0].Name(), "test.echo", echoReq{Text: "x"}, &got); err != nil {
		t.Fatalf("encrypted RPC: %v", err)
	}
}

func TestRealNetworkWrongKeyRefused(t *testing.T) {
	good := realPeer(t, 4, key(1), nil)
	tests := []struct {
		name string
		key  []byte
	}{
		{"other key", key(2)},
		{"no key", nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := realPeer(t, 5+i, tc.key, nil)
			_, err := bad.Join([]string{good.LocalAddr()})
			if err == nil {
				t.Fatal("join with the wrong key succeeded")
			}
			if !strings.Contains(err.Error(), "encryption key mismatch?") {
				t.Errorf("join error %q does not suggest a key mismatch", err)
			}
			if n := len(good.aliveOthers()); n != 0 {
				t.Errorf("the good peer sees %d others, want 0", n)
			}
			// The RPC refuses it too.
			addr := good.LocalTags().RPCAddr
			err = bad.CallAddr(t.Context(), good.Name(), addr, methodSync, syncReq{}, nil)
			if !errors.Is(err, ErrAuth) {
				t.Errorf("RPC with the wrong key: error %v, want %v", err, ErrAuth)
			}
		})
	}
}

func TestRealNetworkKeyRotation(t *testing.T) {
	dir := t.TempDir()
	withKeyring := func(i int) func(*Config) {
		return func(c *Config) { c.KeyringPath = filepath.Join(dir, fmt.Sprintf("keyring%d.json", i)) }
	}
	old, next := key(1), key(7)
	peers := []*Peer{realPeer(t, 8, old, withKeyring(8)), realPeer(t, 9, old, withKeyring(9)), realPeer(t, 10, old, withKeyring(10))}
	for _, p := range peers[1:] {
		if _, err := p.Join([]string{peers[0].LocalAddr()}); err != nil {
			t.Fatalf("join: %v", err)
		}
	}
	eventually(t, "3 alive", func() bool { return len(peers[0].aliveOthers()) == 2 && len(peers[2].aliveOthers()) == 2 })
	if err := peers[1].InstallKey(next); err != nil {
		t.Fatalf("InstallKey: %v", err)
	}
	if err := peers[1].UseKey(next); err != nil {
		t.Fatalf("UseKey: %v", err)
	}
	if err := peers[1].RemoveKey(old); err != nil {
		t.Fatalf("RemoveKey: %v", err)
	}
	keys, err := peers[0].ListKeys()
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if len(keys) != 1 {
		t.Errorf("keys after rotation = %v, want only the new key", keys)
	}
	// The cluster still works on the new key: gossip and the RPC.
	peers[2].Map("jobs").Put("after-rotation", []byte("1"))
	eventually(t, "a write after rotation reaches every peer", func() bool {
		for _, p := range peers {
			if _, ok := p.Map("jobs").Get("after-rotation"); !ok {
				return false
			}
		}
		return true
	})
	// The rotation was persisted, and a peer with only the old key is refused.
	raw, err := os.ReadFile(filepath.Join(dir, "keyring8.json"))
	if err != nil || strings.Contains(string(raw), "AQEBAQ") {
		t.Errorf("keyring file after rotation: %s (err %v); want only the new key", raw, err)
	}
	stale := realPeer(t, 11, old, nil)
	if _, err := stale.Join([]string{peers[0].LocalAddr()}); err == nil {
		t.Error("a peer with the removed key joined")
	}
}

// A peer that compresses its gossip (memberlist's default, and Shoal's before
// DefaultNodeConfig turned it off) and peers that do not form one cluster: they
// join, see each other's tags and a failure, and replicate a map. This is a rolling
// upgrade from the old default.
func TestRealNetworkCompressionMixed(t *testing.T) {
	compress := func(on bool) func(*Config) { return func(c *Config) { c.Compression = on } }
	peers := []*Peer{realPeer(t, 20, nil, compress(true)), realPeer(t, 21, nil, compress(false)), realPeer(t, 22, nil, compress(false))}
	joinAll(t, peers)
	for _, p := range peers[:2] { // one tag change from each side
		if err := p.SetTags(Tags{Datacenter: "dc-" + p.Name()}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "both peers' tags reach every peer", func() bool {
		for _, p := range peers {
			for _, m := range p.Members() {
				if (m.Name == peers[0].Name() || m.Name == peers[1].Name()) && m.Tags.Datacenter != "dc-"+m.Name {
					return false
				}
			}
		}
		return true
	})
	peers[0].Map("jobs").Put("web", []byte("spec"))
	waitEntry(t, peers, "jobs", "web")
	if err := peers[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both others see the stopped peer failed", func() bool {
		return statusOf(peers[0], peers[2].Name()) == StatusFailed && statusOf(peers[1], peers[2].Name()) == StatusFailed
	})
}
