package gossip

import (
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/serf/serf"
)

// One more full state exchange after joining (Config.JoinSyncDelay).
//
// A joiner learns the cluster from its seed's push-pull, holes included: a member
// whose join (one alive message, passed on by gossip) had not reached the seed yet,
// or never did, stays unknown to the joiner, and by then its alive message has
// usually stopped circulating. memberlist repairs that only by its periodic
// push-pull, which it spaces out with the cluster size: every 2.5 minutes at N=500
// with LAN timings. So JoinSyncDelay after joining, a peer does one more push-pull
// with a random alive member other than its seeds, as serf's snapshot rejoin does
// (memberlist's Join): the peer learns what its seed lacked and gossips it on (news
// is rebroadcast by memberlist, as after any merge), and the partner learns what the
// joiner knows. Cost: one TCP exchange of the member list (~500 entries at N=500)
// per join. It repairs the joiner's own view only: a member that an older peer
// missed is not found by it, unless that peer happens to be the partner.

// kickJoinSync schedules the sync (merged with one already pending). seeds, when
// not nil, are the addresses just joined: the partner is chosen among the others.
func (p *Peer) kickJoinSync(seeds []string) {
	if p.cfg.JoinSyncDelay == 0 {
		return
	}
	if seeds != nil {
		p.joinMu.Lock()
		p.joinSeeds = seeds
		p.joinMu.Unlock()
	}
	select {
	case p.joinKick <- struct{}{}:
	default:
	}
}

// joinSyncLoop waits JoinSyncDelay after each kick, then syncs once. Kicks that
// arrive while it waits are covered by that sync.
func (p *Peer) joinSyncLoop() {
	for {
		select {
		case <-p.stop:
			return
		case <-p.joinKick:
		}
		t := time.NewTimer(p.cfg.JoinSyncDelay)
		select {
		case <-p.stop:
			t.Stop()
			return
		case <-t.C:
		}
		select {
		case <-p.joinKick:
		default:
		}
		p.joinSync()
	}
}

func (p *Peer) joinSync() {
	name, addr, ok := p.joinSyncPartner()
	if !ok || p.stopped() {
		return
	}
	start := time.Now()
	if _, err := p.serf.Memberlist().Join([]string{addr}); err != nil {
		p.log.Info("push-pull after joining failed", "with", name, "err", err)
		return
	}
	p.joinSyncs.Add(1)
	p.log.Debug("push-pull after joining", "with", name, "took", time.Since(start))
}

// joinSyncPartner picks a random alive member other than us, and other than the
// seeds unless they are all there is. Members are sorted first, so the choice
// depends only on the view and Config.Seed.
func (p *Peer) joinSyncPartner() (name, addr string, ok bool) {
	p.joinMu.Lock()
	seeds := p.joinSeeds
	p.joinMu.Unlock()
	var all, others []serf.Member
	for _, m := range p.serf.Members() {
		if m.Name == p.cfg.NodeName || m.Status != serf.StatusAlive {
			continue
		}
		all = append(all, m)
		if !isSeed(m, seeds) {
			others = append(others, m)
		}
	}
	if len(others) == 0 {
		others = all
	}
	if len(others) == 0 {
		return "", "", false
	}
	sort.Slice(others, func(i, j int) bool { return others[i].Name < others[j].Name })
	m := others[p.randIntn(len(others))]
	return m.Name, net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))), true
}

// isSeed reports whether m is at one of the addresses given to Join ("ip:port", or
// "ip" for any port). A seed given by host name is not recognised: it may then be
// chosen again, which costs a push-pull that teaches less.
func isSeed(m serf.Member, seeds []string) bool {
	for _, s := range seeds {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			host, port = s, ""
		}
		if ip := net.ParseIP(host); ip != nil && ip.Equal(m.Addr) && (port == "" || port == strconv.Itoa(int(m.Port))) {
			return true
		}
	}
	return false
}
