#!/usr/bin/env bash
# make demo: three Shoal peers on this host (127.0.0.1, .2, .3), an exec-driver job and
# a container job from a busybox OCI image built here, then what to try next.
# make demo-stop (scripts/demo.sh stop) stops the peers and removes everything.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=${SHOAL_DEMO_DIR:-/tmp/shoal-demo}
PEER=$PWD/bin/peer
N=3

stop() {
	local any=0
	for i in $(seq 1 $N); do
		pidf=$DEMO/p$i.pid
		[ -f "$pidf" ] || continue
		pid=$(cat "$pidf")
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" && any=1
		fi
	done
	# A peer that gets SIGTERM leaves the cluster and stops its tasks (kill_timeout).
	for _ in $(seq 1 150); do
		alive=0
		for i in $(seq 1 $N); do
			[ -f "$DEMO/p$i.pid" ] && kill -0 "$(cat "$DEMO/p$i.pid")" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for i in $(seq 1 $N); do
		[ -f "$DEMO/p$i.pid" ] && kill -KILL "$(cat "$DEMO/p$i.pid")" 2>/dev/null || true
	done
	# Anything a killed peer left mounted under the demo dir (task overlays).
	if [ -d "$DEMO" ]; then
		{ grep " $DEMO/" /proc/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
		rm -rf --one-file-system "$DEMO"
	fi
	[ $any = 1 ] && echo "Shoal demo stopped; $DEMO removed." || echo "No Shoal demo was running; $DEMO removed."
}

if [ "${1:-}" = stop ]; then
	stop
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "demo: run as root (the peers run containers)" >&2
	exit 1
fi
[ -x "$PEER" ] || { echo "demo: build first (make build)" >&2; exit 1; }
if [ -d "$DEMO" ]; then
	echo "== a previous demo is running: stopping it first"
	stop
fi
mkdir -p "$DEMO"

echo "== building a busybox OCI image from the host's busybox-static"
IMAGE=$(go run ./node/testdata/mkimage "$DEMO/busybox-oci")
echo "   $IMAGE"

echo "== starting $N peers (logs in $DEMO/p*.log)"
for i in $(seq 1 $N); do
	join=()
	[ "$i" != 1 ] && join=(-join 127.0.0.1:4648)
	"$PEER" run -name "peer$i" -data-dir "$DEMO/p$i" -bind "127.0.0.$i" "${join[@]}" >"$DEMO/p$i.log" 2>&1 &
	echo $! >"$DEMO/p$i.pid"
done
export SHOAL_ADDR=http://127.0.0.1:4646
for _ in $(seq 1 100); do
	alive=$("$PEER" members -json 2>/dev/null | grep -c '"Status": "alive"' || true)
	[ "$alive" = $N ] && break
	sleep 0.1
done
if [ "${alive:-0}" != $N ]; then
	echo "demo: the peers did not all see each other; see $DEMO/p*.log" >&2
	exit 1
fi
"$PEER" members

echo
echo "== peer job run examples/sleep-exec.hcl   (exec driver: 3 x /bin/sleep, placed by bids)"
"$PEER" job run examples/sleep-exec.hcl

echo
echo "== peer job run hello-container.hcl        (container driver, image $IMAGE), via peer2"
sed "s#busybox:latest#$IMAGE#" examples/hello-container.hcl >"$DEMO/hello-container.hcl"
"$PEER" job run -address http://127.0.0.2:4646 "$DEMO/hello-container.hcl"

echo
echo "== peer job status   (asked of peer3: any peer answers for the cluster)"
"$PEER" job status -address http://127.0.0.3:4646
echo
"$PEER" job status sleep
echo
echo "== peer node status"
"$PEER" node status

cat <<EOT

The demo cluster is running. Try:
  export SHOAL_ADDR=http://127.0.0.1:4646      # or .2 / .3: every peer answers
  bin/peer job status hello
  bin/peer alloc logs -f <alloc id>            # the container says hello every 5 s
  bin/peer job scale sleep sleepers 6
  bin/peer job run examples/web-bridge.hcl     # bridge mode: each allocation its own IP, 8080 mapped
  bin/peer alloc status <alloc id>             # its host address and IP; curl <host address>/busybox-static/copyright
  kill -9 \$(cat $DEMO/p2.pid)   # its allocations come back on the others
  bin/peer job status sleep
  curl -s localhost:4646/v1/metrics | grep shoal_
Stop it all with: make demo-stop
EOT
