#!/usr/bin/env bash
# Brook's test suite — the one command that passes the tests on a fresh machine:
#   1. installs the system and Python packages the build and the tests need,
#   2. runs every Rust test of the workspace (unit, integration, doc tests) in the release
#      profile (the only profile we build, so dependencies compile once),
#   3. runs every fuzz target (fuzz/) on its seed corpus and random mutations of it, on
#      stable (cli/tests/it/fuzz.rs; the coverage-guided runs need nightly, see RELIABILITY.md),
#   4. runs the client-compatibility suite: kcat, confluent-kafka and kafka-python against a
#      real `brook server` process.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --test

echo "== cargo test (release)"
cargo test --release --workspace --locked --no-fail-fast

echo "== fuzz targets on stable: every seed, then random mutations for BROOK_FUZZ_SECONDS (default 8) each"
cargo test --release --workspace --locked --tests -- --ignored fuzz:: --nocapture --test-threads 1

echo "== client compatibility suite"
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
broker/tests/compat/run.sh "$target_dir/release/brook"

echo "== all tests passed"
