#!/bin/sh
# build-peer.sh OUT TAGS [GO BUILD FLAGS...]: builds the peer binary into OUT, with the
# container init (cmd/shoal-init) attached to its end: one file to install, and containers
# boot the small init instead of the whole peer (exec/containerinit). TAGS ("seccomp" or
# "") go to both builds, which must agree on them; the flags only to the peer's (-race,
# -ldflags). The init is always built stripped and without -race: it runs in every
# container, for the few milliseconds before the task's command replaces it.
set -eu
out=$1
tags=$2
shift 2
cd "$(dirname "$0")/.."
export CGO_ENABLED=1
go build -tags "$tags" "$@" -o "$out" ./cmd/peer
go build -tags "$tags" -ldflags "-s -w" -o "$out.init" ./cmd/shoal-init
"$out.init" attach "$out"
rm -f "$out.init"
