package gossip

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/hashicorp/memberlist"
)

// TestJoinSyncFillsTheSeedsHoles: a peer joins through a seed that never heard of
// one member (its join broadcast was lost). With periodic push-pull an hour away,
// only the push-pull after joining can tell the newcomer about that member.
func TestJoinSyncFillsTheSeedsHoles(t *testing.T) {
	// Only the newcomer syncs after joining: any other peer's sync could tell the
	// seed about the missed member before the newcomer joins. Probes wait longer
	// for their ack than the lossy moment below lasts, so nobody is suspected
	// there (a refutation would rebroadcast the missed member).
	c := newCluster(t, 2, func(cfg *Config) {
		cfg.PushPullInterval, cfg.JoinSyncDelay = time.Hour, 0
		cfg.ProbeInterval, cfg.ProbeTimeout = time.Second, 500*time.Millisecond
	})
	seed, other := c.peers[0], c.peers[1]

	// "missed" joins through n001 while every UDP packet is lost: n001 learns it
	// from the join's push-pull (TCP), n000 only by gossip, which does not arrive.
	c.net.SetLoss(1)
	missed := c.start("missed", 3, "")
	c.peers = append(c.peers, missed)
	if _, err := missed.Join([]string{other.LocalAddr()}); err != nil {
		t.Fatal(err)
	}
	// Until the alive broadcasts have used up their retransmissions into the void.
	eventually(t, "broadcasts queued at n001 and missed are sent", func() bool {
		return mlQueued(other.serf.Memberlist()) == 0 && mlQueued(missed.serf.Memberlist()) == 0
	})
	c.net.SetLoss(0)
	if st := statusOf(seed, missed.Name()); st != StatusNone {
		t.Fatalf("setup: the seed holds %q as %s, want it never to have heard of it", missed.Name(), st)
	}

	cfg := c.config("newcomer", 4, "")
	cfg.JoinSyncDelay = DefaultLocalConfig().JoinSyncDelay
	newcomer, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.peers = append(c.peers, newcomer)
	if _, err := newcomer.Join([]string{seed.LocalAddr()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the newcomer sees the member its seed never heard of", func() bool {
		return statusOf(newcomer, missed.Name()) == StatusAlive
	})
}

// TestJoinSyncAfterSnapshotRejoin: a restarted peer that serf rejoins from its
// snapshot, with no call to Join, syncs once more too.
func TestJoinSyncAfterSnapshotRejoin(t *testing.T) {
	c := newCluster(t, 2, nil)
	snap := filepath.Join(t.TempDir(), "serf.snapshot")
	p := c.start("phoenix", 3, snap)
	c.peers = append(c.peers, p)
	if _, err := p.Join([]string{c.peers[0].LocalAddr()}); err != nil {
		t.Fatal(err)
	}
	c.waitAlive(3)
	if err := p.Shutdown(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the stopped peer is seen failed", func() bool { return statusOf(c.peers[0], "phoenix") == StatusFailed })

	p2 := c.start("phoenix", 4, snap)
	c.peers[2] = p2
	c.waitAlive(3)
	eventually(t, "the restarted peer's push-pull after rejoining", func() bool { return p2.joinSyncs.Load() == 1 })
}

// mlQueued is how many broadcasts ml has queued (memberlist keeps its queue
// private; read by reflection, test code only).
func mlQueued(ml *memberlist.Memberlist) int {
	f := reflect.ValueOf(ml).Elem().FieldByName("broadcasts")
	return (*memberlist.TransmitLimitedQueue)(unsafe.Pointer(f.Pointer())).NumQueued()
}
