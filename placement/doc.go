// Package placement holds every decision Shoal makes, as pure functions of their inputs:
// who coordinates a job (rendezvous hashing and epochs), which peers are feasible, how a
// peer bids and how a coordinator awards, and how observed allocations are reconciled with
// the desired jobs.
//
// It imports only jobspec. It does no I/O, starts no goroutine, reads no clock and uses no
// global random source: time and randomness are inputs, and actions are returned as data
// for node to carry out.
package placement
