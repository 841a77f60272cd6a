// Package exec runs one task as one container, directly with runc's libcontainer: it
// prepares root filesystems from OCI images (or the host's, for the exec driver), starts,
// signals, stops, waits for and destroys containers, reads their stats and logs, and
// reattaches to running containers after the peer restarts.
//
// It imports no package of ours and knows nothing of jobs, allocations or the cluster.
package exec
