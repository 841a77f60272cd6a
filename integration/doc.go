// Package integration runs real peers as processes in network namespaces with real
// containers, and injects real faults (killed hosts, partitions, packet loss) to check
// the cluster's invariants through its public HTTP API.
//
// # The harness
//
// NewCluster(t, n, Options{PeerBin: bin}) makes n hosts on this machine, all as root:
//
//	bridge shb<run> (10.77.<run>.254: the harness itself, reaching every host's API)
//	  ├── veth shv<run>h0 ── eth0 10.77.<run>.1 in netns shoal-<run>-h0, cgroup shoal-it/<run>/h0, `peer run -name h0 ...`
//	  ├── veth shv<run>h1 ── eth0 10.77.<run>.2 in netns shoal-<run>-h1, cgroup shoal-it/<run>/h1, `peer run -name h1 -join ...`
//	  └── ...
//
// Each peer joins its host's cgroup (in every v1 hierarchy, or the v2 tree) before it execs,
// so every container it starts nests below it, and enters only the host's network namespace
// (nsenter --net; `ip netns exec` would remount /sys and hide the cgroup mounts). Its data
// dir and log live under /tmp/shoal-it/<run>/h<i>; logs of a failed test are kept under
// /tmp/shoal-it-logs and their tails printed. PeerCommand is the one place that knows the
// `peer run` flags.
//
// Faults are one call each: KillHost (freeze the host's cgroup tree, SIGKILL everything in
// it, remove the containers' cgroups and the mounts under its data dir: a power loss),
// KillPeer (SIGKILL the peer only: the agent crashed), Freeze/Thaw (SIGSTOP/SIGCONT),
// Stop/Start/Restart (graceful SIGTERM, same data dir), Partition/Heal (nftables drop rules
// inside the namespaces, both directions) and Netem (loss and delay of the packets a host
// sends: tc netem where the kernel has it; otherwise loss by an nftables rule and delay by
// a relay in the test process, see delay_linux.go).
//
// Check reads the cluster only through the API of the live peers (the peer's own client,
// node/api) and the hosts' cgroups, and reports jobs not at their count, doubled slots,
// lost jobs, orphaned container processes and ghost allocations (reported running with no
// process). WaitFor polls a condition and returns how long it took: scenarios measure with
// it and put the durations in a table; tests never assert on speed.
//
// Every resource of a run carries the run id; a run's lock (/run/shoal-it/<run>/owner)
// names its process, and SweepLeftovers, called by every NewCluster, removes whatever a
// dead run left behind. An interrupt (SIGINT, SIGTERM, SIGHUP) removes the live clusters
// before the process exits.
//
// # Running
//
//	go test ./integration/                 short scenarios (make test), about 5 minutes
//	make chaos                             long scenarios and the results table
//
// Environment: SHOAL_CHAOS=1 (long versions), SHOAL_REQUIRE_PEER=1 (fail rather than skip
// when the peer cannot be built or does not answer), SHOAL_PEER_BIN (use this binary),
// SHOAL_CHAOS_TABLE (also write the table there), SHOAL_CHAOS_SEED (replay rolling chaos).
// Without root, or without ip, tc, nft or nsenter, every test skips with the reason.
package integration
