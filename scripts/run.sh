#!/usr/bin/env bash
# Builds Brook (installing the build's system packages if missing) and runs its main job:
# the Brook server (broker with the Kafka protocol on 127.0.0.1:9092), data in ./brook-data.
# Extra arguments go to `brook server` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --release --locked -p brook-cli --bin brook -- server "$@"
