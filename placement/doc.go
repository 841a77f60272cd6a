// Package placement holds every decision Shoal makes, as pure functions of their inputs:
// who coordinates a job, which peers can take it, how a peer bids and how a coordinator
// awards, and how observed allocations are reconciled with the desired job.
//
// It imports only jobspec. It does no I/O, starts no goroutine, reads no clock and uses
// no global random source: time (now) and randomness (a seed) are inputs, and actions
// are returned as data for node to carry out. Same inputs, same outputs, whatever the
// order of the slices passed in; so any decision can be replayed from a log.
//
// # The decision flow
//
// Every peer runs the same loop for every job; only the job's coordinator acts.
//
//	member list ──► Coordinator(job, nodes) ── is it me? ──no──► (wait; refuse stale epochs)
//	                        │ yes: epoch = tracker.Next(job)
//	                        ▼
//	job + allocs ──► Reconcile(ReconcileInput) ──► Result
//	 + nodes + now          │    Stop ─────────► owners stop them
//	                        │    MarkLost ─────► recorded against the dead owner
//	                        │    Place (NodeID) ► system job: that peer places its own
//	                        │    NextEval ─────► reconcile again then
//	                        ▼    Place (auction), once NotBefore has passed
//	          Candidates(job, group, missing, nodes, d, seed)     advertised view
//	                        │  d x missing peers: best fits + random (power of d)
//	                        ▼
//	          NewBidRequest ──RPC──► each candidate: MakeBid(req, LocalState, now)
//	                        │        exact free capacity, ports, distinct_hosts;
//	                        │        scores per extra slot; holds a Reservation
//	                        ▼
//	          Award(req, bids + Refusals(req, rejected), seed)
//	                        │  greedy by score, spread and distinct_property applied,
//	                        │  never beyond a bid's MaxSlots
//	                        ├──► SlotAward ──RPC──► winner creates the Alloc (it owns it)
//	                        └──► Unplaced{Slot, Reason} ──► retry, widening d
//
// # Rules that every peer must apply identically
//
// Coordinator: rendezvous hashing (HRW) of the job ID over the alive and eligible peers,
// with FNV-1a 64 and the splitmix64 finaliser (hrw). Ranked gives the succession.
// The hash is part of the protocol: a test pins it.
//
// Epochs: a coordinator acts under EpochTracker.Next(job), which is above every epoch
// it has seen for the job (observe the Epoch of every Alloc too). Peers pass every
// request and award through EpochTracker.Accept and drop those below the highest seen.
//
// A coordinator's claim: two coordinators of one job can share an epoch when one of them
// has not heard of the other, as when a cluster forms and a peer has not yet learnt of
// the last one to join: both see no epoch above 0 and act under 1, and epochs cannot
// fence them. So a coordinator sends with its requests and awards the peers above it
// that it passed over (PassedOver: it sees them dead or ineligible), and every bidder and
// winner first checks the claim against its own view (OutrankedBy): if it knows a live,
// eligible peer that ranks above the coordinator and was not passed over, it refuses,
// naming that peer (Bid.DeferTo), before it observes the epoch. One such bid makes Award
// award nothing of the request (Deferred): the peer the coordinator has not heard of
// places the job. A peer the coordinator passed over is not held against it: that is a
// successor taking over after a failure, under a higher epoch, and it is not slowed by a
// bidder that has not yet seen the failure. What this cannot catch: a coordinator none of
// whose candidates knows the peer above it; the doubled-slot rule still settles that.
//
// Doubled slots: when two live allocations fill one slot (a partition healed, or two
// coordinators raced under equal epochs), the survivor is the one with the higher
// (Epoch, JobVersion, CreateTime, ID), in that order (Outranks): the latest
// coordinator's decision wins. Reconcile stops the others only once the survivor is
// running, so the slot is never empty while this happens, and never stops both.
//
// Lost marks: MarkLost is a coordinator's note about an allocation whose owner it
// cannot reach. node applies the mark (ClientStatus lost) to the records it passes to
// Reconcile only while the owner is dead in its view; once the owner is back, the
// owner's own record speaks, and the doubled-slot rule settles the slot.
//
// # Feasibility, scoring, bidding
//
// Feasibility is a chain of stages (status, datacenter, constraints, capacity, ports,
// distinct_hosts; see feasible.go), each rejection a Rejection whose Reason is shared by
// every peer failing the same way, so Explain can say "3 peers lack free memory,
// 2 peers fail constraint ${node.class} = gpu". A constraint on a missing attribute fails
// and names it (except is_not_set); an invalid one rejects every peer, with the error.
//
// Scores follow Nomad, for comparability (score.go): bin-pack (ScoreFitBinPack / 18),
// job anti-affinity, affinity, a penalty on peers where the group recently failed, and
// spread; the final score is the mean of the scorers that applied. A bidder computes the
// node-local ones for each further slot it could take (Bid.PerSlot), so the coordinator
// sees how the peer fills and can pack or spread; spread and distinct_property need the
// whole job, so Award applies them while assigning, from BidRequest.PropertyCounts.
//
// A bid's MaxSlots comes from the bidder's exact free capacity (totals, minus the
// allocations still holding resources, even those stopping, minus other auctions'
// unexpired reservations), is one at most with a
// static port or distinct_hosts, and Bid.Limit says what capped it. The bidder stores
// Bid.Reservation and drops it on award or when it expires (ActiveReservations).
//
// # Reconciliation
//
// Reconcile handles service jobs (Count slots, each with exactly one live allocation),
// batch jobs (a slot whose allocation completed on its own, at the current spec, is
// done and never replaced) and system jobs (one per alive peer that passes status,
// datacenter and constraints; Index is 0 and the slot is the peer; failures are not
// rescheduled until the job changes). An ineligible peer keeps what it runs and takes
// nothing new; draining moves allocations away. It stops allocations
// above Count (highest index first), of removed groups, and of stopped or purged jobs;
// replaces lost ones at once; reschedules failed ones per the reschedule policy
// (attempts within interval, constant/exponential/fibonacci delay up to max_delay;
// Placement.NotBefore and Result.NextEval); moves allocations off draining peers by
// placing first and stopping once the replacement runs; and rolls out a new job version
// under the update block: at most max_parallel replacements in flight, where a
// replacement is in flight until it has run for min_healthy_time (a slot emptied for a
// replacement not placed yet is in flight too), and none while no live peer could take
// the new version even empty (Stack.CheckEmpty); the coordinator stops an old
// allocation only once its replacement is awarded (Replaced), bidders counting its room
// free (BidRequest.Replacing, FreeingReplaced); the rollout pauses
// (Result.Blocked) when a new allocation fails or misses healthy_deadline, leaving the old
// version serving until a newer job version is submitted; it fails the same way when
// no new allocation turns healthy within progress_deadline of ReconcileInput.Since or
// of the last one that did; and, with auto_revert, a failure sets
// Result.Revert so that node resubmits the last Stable version. With update.canary = N
// a rollout first places N canaries (Placement.Canary), each beside a slot's old
// allocation, and replaces nothing until ReconcileInput.Promoted (a user's `peer job
// promote`) or, with auto_promote, until every canary is healthy; Result.Deploying says
// where it stands. A version replaces an
// allocation only when GroupHash (the group minus count, update, reschedule, spread and
// affinity) changed, so scaling replaces nothing. Restarting a task in place is not
// placement's: the peer that runs it does that, per the restart block, and reports the
// allocation failed only once restarts are used up.
//
// Slots that will not be placed say why in Result.Blocked; groups that place nothing
// (count 0) say so in Result.Notes; Award says why a slot is Unplaced.
//
// # Not yet
//
// A version change never updates an allocation in place (it replaces it, or leaves
// it alone).
//
// # API
//
//	Stable(job *jobspec.Job, allocs []Alloc, now time.Time) bool
//	Coordinator(jobID string, nodes []Node) (nodeID string, ok bool)
//	Ranked(jobID string, nodes []Node) []string
//	PassedOver(jobID, coordinator string, nodes []Node) []string
//	OutrankedBy(jobID, coordinator string, passedOver []string, nodes []Node) (nodeID string, ok bool)
//	Seed(jobID string, round uint64) int64
//	(*EpochTracker).Next / Accept / Observe / Highest / Forget (jobID [, Epoch])
//	Candidates(job *jobspec.Job, group string, missing int, nodes []Node, d int, seed int64) ([]Node, []Rejection)
//	NewBidRequest(job *jobspec.Job, group string, slots []int, allocs []Alloc, nodes []Node, now time.Time) BidRequest
//	MakeBid(req BidRequest, local LocalState, now time.Time) Bid
//	Refusals(req BidRequest, rejected []Rejection) []Bid
//	Award(req BidRequest, bids []Bid, seed int64) ([]SlotAward, []Unplaced)
//	Deferred(req BidRequest, bids []Bid) (to, by string, ok bool)
//	Reconcile(in ReconcileInput) Result
//	ActiveReservations(rs []Reservation, now time.Time) []Reservation
//	FreeResources(n Node, allocs []Alloc) Usage; Used(allocs []Alloc) Usage
//	NewAlloc(job *jobspec.Job, p Placement, id, nodeID string, epoch Epoch, now time.Time) Alloc
//	Outranks(a, b *Alloc) bool; GroupHash(g *jobspec.Group) string
//	PropertyCounts(job, group, allocs, nodes) map[string]map[string]int
//	NewStack(job, group) *Stack; (*Stack).CheckNode / CheckFit / CheckLocal; Explain([]Rejection) string
//
// # Concurrency
//
// Every function is pure and safe to call from any goroutine. Stack is immutable after
// NewStack. EpochTracker is a plain value that its owner must not share unsynchronised.
package placement
