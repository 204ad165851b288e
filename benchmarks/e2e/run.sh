#!/usr/bin/env bash
# The end-to-end benchmark of issue 27, in one command: 2 M JSON bids in a file → Brook (file
# source connector → 2-partition topic → SQL query → topic), next to DuckDB (batch) and PyFlink
# (streaming) on the same file, measured side by side in one run; the window query's rows are
# compared with DuckDB's. See benchmarks/e2e/run.py for what is timed.
#
#   benchmarks/e2e/run.sh                       # 3 rounds, window and filter queries
#   benchmarks/e2e/run.sh --runs 5 --skip-flink
#   BROOK=/path/to/brook benchmarks/e2e/run.sh  # use a built binary instead of building one
#   benchmarks/e2e/run.sh --brook old=/tmp/brook-old --brook new=target/release/brook
#
# Installs DuckDB and PyFlink 2.x into a virtualenv (BROOK_BENCH_VENV, default
# ~/.cache/brook-bench-venv) on first use; PyFlink needs Java 11 or 17 on the PATH.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

venv=${BROOK_BENCH_VENV:-$HOME/.cache/brook-bench-venv}
if ! "$venv/bin/python" -c 'import duckdb, pyflink' 2>/dev/null; then
  echo "== installing duckdb and apache-flink into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'duckdb>=1' 'apache-flink>=2,<3'
fi
command -v java >/dev/null || echo "warning: no java on the PATH; PyFlink will not run" >&2

args=("$@")
if [[ " $* " != *" --brook "* ]]; then
  brook=${BROOK:-}
  if [ -z "$brook" ]; then
    echo "== building brook (release)" >&2
    (cd "$root" && cargo build --release --locked -p brook-cli --bin brook)
    target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    brook="$target_dir/release/brook"
  fi
  args+=(--brook "brook=$brook")
fi
exec "$venv/bin/python" "$root/benchmarks/e2e/run.py" "${args[@]}"
