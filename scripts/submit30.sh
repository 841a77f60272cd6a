#!/usr/bin/env bash
# submit30.sh [BIN [RUNS]]: time `peer job run` of a count = 30 exec job on three fresh
# peers (127.0.0.1-3, data in a temp dir), as a user would see it, RUNS times (default 5),
# and the CPU the peers and the 30 tasks' processes used. BIN defaults to bin/peer.
# PERF=FILE records the peers and their children with `perf record -g` into FILE.
# LOG_LEVEL=debug runs the peers at that level; KEEP=1 keeps their data dirs and logs.
# IMAGE=REF runs `sleep` from that image under the container driver instead (e.g. the
# busybox OCI layout `go run ./node/testdata/mkimage DIR` builds and names); every run's
# fresh peers pull and unpack it (cold), unless WARM=1: then a system job runs the
# image on every peer first and is purged before the timed submit.
# SUBMIT30_DIR=DIR puts the peers' data dirs under DIR (default /tmp).
# PPROF=DIR writes each peer's Go CPU profile of the submit to DIR/runN-pI.prof
# (the peers run with enable_debug; read with `go tool pprof BIN DIR/*.prof`), and what
# each allocated during it (`go tool pprof -sample_index alloc_space -diff_base
# DIR/runN-pI.allocs0 BIN DIR/runN-pI.allocs`).
# Needs root (the peers run containers). Prints one line per run.
set -u
BIN=$(readlink -f "${1:-bin/peer}")
RUNS=${2:-5}
ROOT=$(mktemp -d ${SUBMIT30_DIR:-/tmp}/shoal-submit30-XXXXXX)
trap 'pkill -TERM -f "$BIN run -+name s30p"; sleep 1; [ -n "${KEEP:-}" ] && echo "kept $ROOT" || rm -rf "$ROOT"' EXIT
driver=exec config='command = "/bin/sleep"'
if [ -n "${IMAGE:-}" ]; then driver=container config="image = \"$IMAGE\"
        command = \"sleep\""; fi
cat >"$ROOT/job.hcl" <<HCL
job "s30" {
  group "g" {
    count = 30
    task "t" {
      driver = "$driver"
      config {
        $config
        args    = ["3600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
HCL
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
tasks() { pgrep -x sleep -P "$(echo $peers | tr ' ' ',')"; } # the peers' tasks (each a child of its peer)
for run in $(seq "$RUNS"); do
	dir="$ROOT/run$run"
	for i in 1 2 3; do
		join=(); [ $i != 1 ] && join=(-join 127.0.0.1:4648)
		mkdir -p "$dir"
		[ -n "${PPROF:-}" ] && { echo 'enable_debug = true' >"$dir/debug.hcl"; join+=(-config "$dir/debug.hcl"); }
		"$BIN" run -name s30p$i -data-dir "$dir/p$i" -bind 127.0.0.$i -log-level "${LOG_LEVEL:-info}" "${join[@]}" >"$dir/p$i.log" 2>&1 &
	done
	for _ in $(seq 100); do
		n=$("$BIN" members -address http://127.0.0.1:4646 2>/dev/null | grep -c alive); [ "$n" = 3 ] && break; sleep 0.1
	done
	peers=$(pgrep -f "$BIN run -+name s30p" | tr '\n' ' ')
	if [ -n "${IMAGE:-}" ] && [ -n "${WARM:-}" ]; then
		sed -e 's/^job "s30" {/job "warm" {\n  type = "system"/' -e '/count = 30/d' "$ROOT/job.hcl" >"$ROOT/warm.hcl"
		"$BIN" job run -address http://127.0.0.1:4646 "$ROOT/warm.hcl" >"$dir/warm.out" 2>&1 || { cat "$dir/warm.out"; exit 1; }
		"$BIN" job stop -purge -address http://127.0.0.1:4646 warm >/dev/null 2>&1
		while tasks >/dev/null; do sleep 0.1; done
	fi
	sleep "${SETTLE:-2}"
	before=0; for p in $peers; do before=$((before + $(cpu "$p"))); done
	if [ -n "${PERF:-}" ]; then perf record -F ${PERF_FREQ:-2000} ${PERF_OPTS:-} -g -o "$PERF" -p "$(echo $peers | tr ' ' ',')" 2>/dev/null & perfpid=$!; sleep 0.3; fi
	if [ -n "${PPROF:-}" ]; then
		mkdir -p "$PPROF"
		profs=()
		for i in 1 2 3; do curl -s -o "$PPROF/run$run-p$i.allocs0" "http://127.0.0.$i:4646/debug/pprof/allocs"; done
		for i in 1 2 3; do curl -s -o "$PPROF/run$run-p$i.prof" "http://127.0.0.$i:4646/debug/pprof/profile?seconds=2" & profs+=($!); done
		sleep 0.2
	fi
	s=$(date +%s.%N)
	"$BIN" job run -address http://127.0.0.1:4646 "$ROOT/job.hcl" >"$dir/run.out" 2>&1
	e=$(date +%s.%N)
	if [ -n "${PERF:-}" ]; then kill -INT $perfpid; wait $perfpid; fi
	if [ -n "${PPROF:-}" ]; then
		wait "${profs[@]}"
		for i in 1 2 3; do curl -s -o "$PPROF/run$run-p$i.allocs" "http://127.0.0.$i:4646/debug/pprof/allocs"; done
	fi
	after=0; for p in $peers; do after=$((after + $(cpu "$p"))); done
	taskcpu=0; n=0
	for p in $(tasks); do taskcpu=$((taskcpu + $(cpu "$p"))); n=$((n + 1)); done
	printf 'run %d: submit -> 30 running %.3f s (job run: %s); CPU: peers %.2f s, %d task processes %.2f s\n' \
		"$run" "$(echo "$e - $s" | bc)" "$(tail -1 "$dir/run.out")" "$(echo "($after - $before) / $tick" | bc -l)" "$n" "$(echo "$taskcpu / $tick" | bc -l)"
	"$BIN" job stop -purge -address http://127.0.0.1:4646 s30 >/dev/null 2>&1
	pkill -TERM -f "$BIN run -+name s30p"
	while pgrep -f "$BIN run -+name s30p" >/dev/null; do sleep 0.2; done
done
