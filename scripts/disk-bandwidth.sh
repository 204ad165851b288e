#!/usr/bin/env bash
# Sequential write bandwidth of the disk holding $1 (default: the cargo target dir's disk):
# writes 1 GiB of random data (pre-generated in /dev/shm) with `dd … conv=fdatasync`, N times
# (default 5), and prints each result and the median in MB/s.
set -euo pipefail
dir=${1:-${CARGO_TARGET_DIR:-$HOME/.cache}}
n=${2:-5}
src=/dev/shm/brook-dd-src
[ -f "$src" ] || head -c 1073741824 /dev/urandom > "$src"
results=()
for _ in $(seq "$n"); do
    out=$(dd if="$src" of="$dir/brook-dd-test" bs=1M conv=fdatasync 2>&1 | tail -1)
    rm -f "$dir/brook-dd-test"
    secs=$(echo "$out" | sed -E 's/.* copied, ([0-9.]+) s.*/\1/')
    results+=("$(python3 -c "print(round(1073741824/1e6/$secs))")")
done
printf 'dd MB/s: %s\n' "${results[*]}"
printf '%s\n' "${results[@]}" | sort -n | awk '{a[NR]=$1} END {print "median MB/s:", a[int((NR+1)/2)]}'
