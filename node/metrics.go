package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-sched/shoal/placement"
)

// metrics are the peer's Prometheus series, registered on the Node's own registry
// (never the global one, so several peers can live in one test process).
type metrics struct {
	submitted prometheus.Counter
	placed    prometheus.Counter
	bids      prometheus.Counter
	auctions  prometheus.Counter
	unplaced  prometheus.Counter
	collected prometheus.Counter
	auction   prometheus.Histogram
}

func newMetrics(reg *prometheus.Registry, n *Node) *metrics {
	m := &metrics{
		submitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "shoal_jobs_submitted_total", Help: "Jobs submitted through this peer's API."}),
		placed:    prometheus.NewCounter(prometheus.CounterOpts{Name: "shoal_allocations_accepted_total", Help: "Allocations this peer accepted from awards or placed itself (system jobs)."}),
		bids:      prometheus.NewCounter(prometheus.CounterOpts{Name: "shoal_bids_total", Help: "Bids this peer answered."}),
		auctions:  prometheus.NewCounter(prometheus.CounterOpts{Name: "shoal_auctions_total", Help: "Auctions this peer ran as a job's coordinator."}),
		unplaced:  prometheus.NewCounter(prometheus.CounterOpts{Name: "shoal_slots_unplaced_total", Help: "Slots an auction could not place."}),
		collected: prometheus.NewCounter(prometheus.CounterOpts{Name: "shoal_allocations_collected_total", Help: "Finished allocations this peer forgot (collected, or of a purged job)."}),
		auction: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "shoal_auction_seconds", Help: "Time from asking for bids to the last award answered.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
	}
	reg.MustRegister(m.submitted, m.placed, m.bids, m.auctions, m.unplaced, m.collected, m.auction)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "shoal_local_allocations_running", Help: "Allocations running on this peer."}, func() float64 {
		n.mu.Lock()
		defer n.mu.Unlock()
		c := 0
		for _, la := range n.local {
			if la.rec.ClientStatus == placement.ClientRunning {
				c++
			}
		}
		return float64(c)
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "shoal_local_allocations_terminal", Help: "Terminal allocations this peer still holds (see gc_max_allocs)."}, func() float64 {
		n.mu.Lock()
		defer n.mu.Unlock()
		c := 0
		for _, la := range n.local {
			if la.rec.Terminal() {
				c++
			}
		}
		return float64(c)
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "shoal_members_alive", Help: "Gossip members this peer sees alive."}, func() float64 {
		c := 0
		for _, m := range n.g.Members() {
			if m.Status == "alive" {
				c++
			}
		}
		return float64(c)
	}))
	return m
}
