#!/bin/bash
# Side by side: brook bench e2e (window, 2M bids) on the embedded broker and against a fresh
# brook server process reached over TCP (--bootstrap-servers); 3 rounds, interleaved.
B=${BROOK:-$HOME/.cache/brook-target/release/brook}
IN=/tmp/brook-e2e/bids-2000000-10000ps.json
for r in 1 2 3; do
  $B bench e2e --input $IN --query window --json 2>/dev/null | sed "s/^/embedded $r /"
  rm -rf /tmp/rb/srv; $B server --data-dir /tmp/rb/srv --listen 127.0.0.1:0 --no-http 2>/tmp/rb/srv.log & PID=$!
  for i in $(seq 50); do grep -q "kafka listener on" /tmp/rb/srv.log && break; sleep 0.1; done
  ADDR=$(grep -o "kafka listener on .*" /tmp/rb/srv.log | cut -d' ' -f4)
  $B bench e2e --input $IN --query window --json --bootstrap-servers $ADDR 2>/dev/null | sed "s/^/remote $r /"
  kill $PID; wait $PID
done
