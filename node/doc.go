// Package node is the peer: it composes gossip, placement, exec and its bbolt store into
// the program every host runs, serves the HTTP API, and owns every goroutine it starts.
// It holds no decision logic of its own: placement decides, node carries the actions out.
//
// # API
//
//	cfg := node.DefaultConfig()             // or DevConfig(); LoadConfigFile(path, cfg) for peer.hcl
//	cfg.Name, cfg.DataDir = "web-1", "/var/lib/shoal"
//	n, err := node.New(cfg)                 // opens the store, gossip, the driver, the HTTP listener
//	err = n.Run(ctx)                        // until ctx ends; then leaves the cluster
//
// New and Run are called once; the Node's other methods serve the HTTP API and are safe
// for concurrent use. The JSON shapes of the API and a client live in node/api.
//
// # State and who writes it
//
//   - Jobs: the gossip LWW map "jobs" (key = job id, value = JSON jobEntry). Any peer
//     writes on submit, stop (a new version with Stop set) and scale; purge writes a
//     tombstone. The submitting peer hands the entry to up to two other peers over RPC
//     and waits for one before answering, so an acknowledged job survives its death.
//     Every change is persisted in bbolt and the map is seeded from it at start.
//   - Allocations: the gossip single-writer table "allocs"; each peer writes only its
//     own records (placement.Alloc plus task states), persisted by a batching
//     persister. Every peer reads every table, so any peer answers for the cluster.
//   - Node attributes (beyond the 512-byte serf tags): the table "node", row "info";
//     rows "unplaced/<job>" say why a coordinator could not place slots.
//
// # Coordination
//
// For every job, placement.Coordinator (HRW over alive, eligible peers) names one peer.
// That peer reconciles (placement.Reconcile) on job, member and alloc-table changes and
// every ReconcileInterval, under an epoch higher than any it has seen for the job
// (persisted). Places run an auction: placement.Candidates, "bid" RPCs (the bidder
// answers with placement.MakeBid on its exact state and holds the capacity), then
// placement.Award and "award" RPCs; the winner creates the records itself and starts
// the runners. Bidders and winners first check the coordinator's claim against their
// own member list (placement.OutrankedBy) and defer a coordinator that has not heard
// of a peer ranking above it; one deferring bid and the coordinator places nothing.
// System-job placements name their peer and go straight to an award.
// Stops go as "stop" RPCs to the owner. Owners also stop their allocations of a job
// they see stopped or purged, so a stop never depends on the coordinator being up.
// Lost allocations (owner not alive) are replaced at once; a peer that comes back
// finds its slots doubled and the coordinator stops the losers (placement.Outranks).
//
// # Runners and tasks
//
// One runner per local allocation starts its tasks through exec, restarts them in
// place per the restart block, and reports pending -> running -> complete/failed into
// the record. A failed allocation is rescheduled by its coordinator per the reschedule
// block. Tasks with network ports use the host's network in this version.
//
// A finished allocation keeps its record, task directories (logs) and /alloc dir
// until its owner forgets it (gc.go): at once when its job is purged, else when
// placement.Collect chooses it (terminal for AllocGCThreshold, or beyond GCMaxAllocs
// terminal allocations on the peer, and never one the coordinators still read).
//
// # Shutdown
//
// SIGTERM (ctx cancelled): HTTP stops, gossip Leave (others see "left" at once and
// replace this peer's allocations) while the local tasks are stopped, then the other
// components. SIGKILL: nothing runs; a restarted peer with the same data dir keeps its
// identity, reattaches to its running tasks (exec Recover) and starts nothing twice.
package node
