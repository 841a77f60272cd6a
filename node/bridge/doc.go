// Package bridge gives allocations in bridge network mode their own network
// namespace on the host's bridge, through CNI (libcni and the reference plugins),
// as Nomad's bridge mode does.
//
// It owns, per allocation: a network namespace bind-mounted on a file (which every
// task of the allocation joins), the CNI attachment (veth on the bridge, an address
// from host-local, masquerade and firewall rules, portmap's host-port DNAT) and
// libcni's cache of it. It does not own the bridge itself, which the bridge plugin
// creates on first use and which stays, as Nomad's does; nor does it choose ports
// (node does) or run tasks (exec does).
package bridge
