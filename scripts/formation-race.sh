#!/usr/bin/env bash
# formation-race.sh [BIN [ROUNDS [JOBS]]]: make demo's cluster formation with the window
# in which one peer has not heard of another held open, and how many slots got two
# allocations. Per round, on fresh peers (127.252.0.1-3, data in a temp dir): peer1
# starts and peer3 joins it; then the gossip (UDP) to peer3 is dropped (iptables) while
# peer2 joins peer1, so peer3 has not heard of peer2 (memberlist tells a member of a
# join by gossip; TCP, and with it the peers' RPC, still flows), as in make demo when
# one joiner's first join found nobody listening and was retried 5 s later. JOBS jobs
# of 3 exec slots (default 12) are submitted to peer1 in that window, the drop is
# lifted 2 s later, and every allocation ever created is counted per slot. A job for
# which peer2 ranks first and peer3 above peer1 has two coordinators. ROUNDS defaults
# to 5, BIN to bin/peer. Needs root (iptables, the peers run tasks). Prints one line.
set -u
BIN=$(readlink -f "${1:-bin/peer}")
ROUNDS=${2:-5}
JOBS=${3:-12}
NET=127.252.0
rule=(INPUT -d $NET.3 -p udp --dport 4648 ! -s $NET.3 -j DROP)
ROOT=$(mktemp -d /tmp/shoal-formation-XXXXXX)
pids=()
stop() {
	iptables -D "${rule[@]}" 2>/dev/null
	[ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null
	for p in "${pids[@]}"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	pids=()
	{ grep " $ROOT/" /proc/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m"; done
}
trap 'stop; rm -rf --one-file-system "$ROOT"' EXIT
alive() { curl -s "http://$NET.$1:4646/v1/agent/members" | grep -o '"Status": *"alive"' | wc -l; }
wait_alive() { # peer $1 sees $2 peers alive
	for _ in $(seq 2000); do [ "$(alive "$1")" = "$2" ] && return; sleep 0.005; done
	echo "peer$1 never saw $2 peers alive" >&2
	exit 1
}
start() {
	join=(); [ "$1" != 1 ] && join=(-join $NET.1:4648)
	"$BIN" run -name "peer$1" -data-dir "$dir/p$1" -bind "$NET.$1" "${join[@]}" >"$dir/p$1.log" 2>&1 &
	pids+=($!)
}
slots=0 doubled=0 unaware=0 deferred=0
for round in $(seq "$ROUNDS"); do
	dir="$ROOT/round$round"
	mkdir -p "$dir"
	start 1; wait_alive 1 1
	start 3; wait_alive 1 2; wait_alive 3 2
	iptables -I "${rule[@]}"
	start 2; wait_alive 1 3
	[ "$(alive 3)" = 2 ] && unaware=$((unaware + 1))
	for j in $(seq "$JOBS"); do
		hcl=$(printf 'job "f%d" {\n  group "g" {\n    count = 3\n    task "t" {\n      driver = "exec"\n      kill_timeout = "200ms"\n      config {\n        command = "/bin/sleep"\n        args    = ["3600"]\n      }\n      resources {\n        cpu    = 20\n        memory = 32\n      }\n    }\n  }\n}\n' "$j")
		python3 -c 'import json, sys; print(json.dumps({"JobHCL": sys.argv[1]}))' "$hcl" |
			curl -sf -o /dev/null -X POST --data-binary @- "http://$NET.1:4646/v1/jobs" || echo "submitting f$j failed" >&2
	done
	sleep 2
	iptables -D "${rule[@]}"
	sleep 4
	for j in $(seq "$JOBS"); do
		read -r s d < <(curl -s "http://$NET.1:4646/v1/job/f$j/allocations" | python3 -c '
import collections, json, sys
per_slot = collections.Counter(a["Slot"] for a in json.load(sys.stdin))
print(len(per_slot), sum(1 for n in per_slot.values() if n > 1))')
		slots=$((slots + s)) doubled=$((doubled + d))
	done
	deferred=$((deferred + $(grep -c "placing nothing" "$dir"/p*.log | awk -F: '{n += $2} END {print n}')))
	stop
done
echo "$(basename "$BIN"): $ROUNDS rounds x $JOBS jobs: $slots slots, $doubled with two allocations or more; peer3 had not heard of peer2 when the jobs came in $unaware rounds; $deferred auctions placed nothing, deferring"
