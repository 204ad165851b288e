#!/usr/bin/env bash
# Builds Brook (installing the build's system packages if missing) and runs its main job:
# the SQL shell on an embedded broker and streams engine, data in ./brook-data — nothing else
# to start. Extra arguments go to `brook sql` (try --help; e.g. -f script.sql).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --release --locked -p brook-cli --bin brook -- sql "$@"
