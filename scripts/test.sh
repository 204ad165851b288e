#!/usr/bin/env bash
# Brook's test suite — the one command that passes the tests on a fresh machine:
#   1. installs the system and Python packages the build and the tests need,
#   2. runs every Rust test of the workspace (unit, integration, doc tests) in the release
#      profile (the only profile we build, so dependencies compile once),
#   3. runs the client-compatibility suite: kcat, confluent-kafka and kafka-python against a
#      real `brook server` process.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --test

echo "== cargo test (release)"
cargo test --release --workspace --locked --no-fail-fast

echo "== client compatibility suite"
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
broker/tests/compat/run.sh "$target_dir/release/brook"

echo "== all tests passed"
