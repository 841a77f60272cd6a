// Package gossip is how peers know each other: membership and failure detection
// (hashicorp/serf on hashicorp/memberlist), typed node tags, a peer-to-peer RPC for
// anything larger than a UDP packet, and replicated state (a last-writer-wins map and
// single-writer tables) kept converged by notices and anti-entropy.
//
// It imports no package of ours and knows nothing of jobs or containers: it carries
// opaque values. It does not decide anything about placement.
package gossip
