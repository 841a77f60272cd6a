#!/usr/bin/env bash
# make demo: shows Shoal's main job on this host. Grows with the peer.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = stop ]; then
	echo "nothing to stop yet"
	exit 0
fi
echo "== peer version"
bin/peer version
echo "== validating every example job"
bin/peer job validate examples/*.hcl
echo "== examples/web.hcl after variables and defaults"
bin/peer job inspect examples/web.hcl
