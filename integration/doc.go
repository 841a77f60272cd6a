// Package integration runs real peers as processes in network namespaces with real
// containers, and injects real faults (killed hosts, partitions, packet loss) to check
// the cluster's invariants through its public HTTP API.
package integration
