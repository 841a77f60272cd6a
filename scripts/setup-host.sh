#!/usr/bin/env bash
# Installs, on a Debian/Ubuntu host as root, what building, testing and the demo need.
# Idempotent: packages already present are left alone.
set -euo pipefail

pkgs=(
	gcc make git              # cgo for libcontainer
	libseccomp-dev pkg-config # seccomp profiles in containers
	busybox-static            # the test image and the demo image are built from it
	runc crun                 # benchmark baselines
	iproute2 iptables nftables # network namespaces, partitions, netem for integration tests
	containernetworking-plugins
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
	echo "setup-host: Go 1.26 is needed (https://go.dev/dl); install it in /usr/local/go" >&2
	exit 1
fi
