#!/bin/bash
# Side by side: `brook bench e2e --query window` (2 M bids) on the embedded broker and against a
# fresh `brook server` process reached over TCP (--bootstrap-servers); 3 rounds, interleaved.
# BROOK: the binary (default: the release build); INPUT: the bids file (generated if missing).
set -u
B=${BROOK:-$HOME/.cache/brook-target/release/brook}
IN=${INPUT:-/tmp/brook-e2e/bids-2000000-10000ps.json}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for r in 1 2 3; do
  $B bench e2e --input "$IN" --query window --json 2>/dev/null | sed "s/^/embedded $r /"
  rm -rf "$WORK/srv"
  $B server --data-dir "$WORK/srv" --listen 127.0.0.1:0 --no-http 2>"$WORK/srv.log" &
  PID=$!
  for _ in $(seq 100); do grep -q "kafka listener on" "$WORK/srv.log" && break; sleep 0.1; done
  ADDR=$(grep -o "kafka listener on .*" "$WORK/srv.log" | cut -d' ' -f4)
  $B bench e2e --input "$IN" --query window --json --bootstrap-servers "$ADDR" 2>/dev/null | sed "s/^/remote $r /"
  kill "$PID"; wait "$PID"
done
