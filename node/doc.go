// Package node is the peer: it composes gossip, placement, exec and its bbolt store into
// the program every host runs, serves the HTTP API, and owns every goroutine it starts.
//
// It holds no decision logic of its own: placement decides, node carries the actions out.
package node
