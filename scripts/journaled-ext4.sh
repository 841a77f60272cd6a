#!/usr/bin/env bash
# journaled-ext4.sh [DIR [SIZE]]: mount a journaled ext4 filesystem (a sparse loop
# file beside DIR, default /mnt/shoal-ext4, 8G) and print DIR; with -d, unmount it
# and remove the file. Needs root.
#
# Why: this development VM's root filesystem is ext4 without a journal, where every
# inode creation scans the recently deleted inodes of its group (fs/ext4/ialloc.c:
# find_inode_bit checks recently_deleted() only when s_journal is NULL). A benchmark
# that creates and removes container dirs makes that scan grow with its own churn;
# hosts that run schedulers have journaled ext4 or xfs. Benchmarks run on it with
#   TMPDIR=$(scripts/journaled-ext4.sh) go test ... -bench ...
#   SUBMIT30_DIR=$(scripts/journaled-ext4.sh) scripts/submit30.sh ...
set -eu
if [ "${1:-}" = -d ]; then
	dir=${2:-/mnt/shoal-ext4}
	umount "$dir" 2>/dev/null || true
	rm -f "$dir.img"
	rmdir "$dir" 2>/dev/null || true
	exit 0
fi
dir=${1:-/mnt/shoal-ext4}
size=${2:-8G}
if ! mountpoint -q "$dir"; then
	mkdir -p "$dir"
	[ -f "$dir.img" ] || { truncate -s "$size" "$dir.img" && mkfs.ext4 -q -F "$dir.img"; }
	mount -o loop "$dir.img" "$dir"
	chmod 1777 "$dir"
fi
echo "$dir"
