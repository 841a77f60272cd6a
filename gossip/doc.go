// Package gossip is how peers know each other: membership and failure detection
// (hashicorp/serf on hashicorp/memberlist), typed node tags, a peer-to-peer RPC for
// anything larger than a UDP packet, and replicated state (a last-writer-wins map and
// single-writer tables) kept converged by notices and anti-entropy.
//
// It imports no package of ours and knows nothing of jobs or containers: it carries
// opaque values. It does not decide anything about placement.
//
// # Lifecycle
//
//	cfg := gossip.DefaultNodeConfig()       // or DefaultLANConfig / DefaultLocalConfig
//	cfg.NodeName, cfg.SnapshotPath, cfg.SecretKey = ...
//	p, err := gossip.New(cfg)               // serf + RPC listener + background loops
//	n, err := p.Join(seeds)                 // or p.RetryJoin(ctx, seeds, interval)
//	go p.Run(ctx)                           // optional: blocks until ctx ends or shutdown
//	p.Leave()                               // graceful: others see "left"; then shuts down
//	p.Shutdown()                            // immediate: others will see "failed"
//
// New starts every goroutine the Peer needs (event pump, tag coalescing,
// anti-entropy, notice pulls, callbacks); Shutdown (or Leave) stops them all. Both
// are idempotent.
//
// # Membership
//
// Members() returns every member with its Tags decoded. SetTags is coalesced to at
// most one broadcast per Config.TagInterval (last value wins); SetTagsNow skips the
// wait. Tags are encoded compactly (one-letter keys, base-36 numbers); Validate's
// field limits keep the worst case at 411 of serf's 512 bytes. Events() delivers
// membership changes (join, leave, failed, update, reap) to one consumer through an
// unbounded queue, so memberlist's receive loop never waits for the consumer.
// Config.JoinSyncDelay after joining (or rejoining from the snapshot) a peer does
// one more full membership exchange with a random member other than its seeds, so
// it does not keep its seed's holes until memberlist's periodic push-pull.
//
// # RPC
//
// Handle(method, handler) and Call(ctx, node, method, req, resp): msgpack frames
// with a 4-byte length, at most Config.RPCMaxMessage (16 MiB), over pooled TCP
// connections to the address in the member's RPCAddr tag. A handshake carries a
// protocol version (a mismatch fails with ErrProtocolVersion). With a SecretKey, the
// handshake is a mutual HMAC-SHA256 challenge over the keyring (any installed key
// is accepted; the client proves the primary key), and every frame is sealed with
// AES-256-GCM under a per-connection session key, so a peer without the key is
// refused (ErrAuth) and the traffic is private.
//
// # Replicated state
//
// Map(name) is a last-writer-wins map (order: Version, then Writer, then a tombstone
// over a live entry). Table(name) holds single-writer tables: each peer writes its
// own rows, everyone else holds read-only copies (a remote write into a peer's own
// table is refused; Forget(owner) drops a copy). A change sends a notice (a serf user
// event well under 512 bytes: name, key, version, writer); receivers pull the value
// from the writer over the RPC. Own table versions also travel in tags. Every
// AntiEntropyInterval each peer exchanges digests (64 hash buckets per map, owner
// versions per table) with one random live peer and repairs both sides, so lost
// notices, partitions and peers that were down converge; a newcomer is synced by a
// few existing peers and syncs once itself after Join. OnChange callbacks run in
// order on one goroutine per peer, never under a gossip lock.
//
// # Testing
//
// MemNetwork is an in-memory network (memberlist.NodeAwareTransport plus the RPC)
// that never blocks a sender, with Kill, Revive, Partition, Heal and seeded packet
// loss, so hundreds of peers run in one process.
package gossip
