#!/usr/bin/env bash
# Client-compatibility suite: real Kafka clients against a real `brook server` process.
#
#   broker/tests/compat/run.sh /path/to/brook
#
# Starts `brook server --listen 127.0.0.1:0` on a temporary data directory (reading the bound
# address from its stderr), runs each client check, restarts the server once (the consumer
# group must resume from its committed offsets), stops it, and prints `N passed, M failed`.
# Exits non-zero if any check failed. Needs: kcat (Debian package), the Python packages in
# requirements.txt and kafkajs (`npm install` in this directory); scripts/setup.sh --test
# installs them, this script installs nothing itself.
#
# Transactions: confluent-kafka and kafkajs transactional producers (txn_check.py,
# kafkajs_txn_check.js); a kill -9 crash test of the broker under a transactional producer
# (txn_crash_check.py, TXN_CRASH_ROUNDS rounds, default 20); and exactly-once
# consume-transform-produce with the client killed and restarted (txn_copy_check.py,
# TXN_COPY_RECORDS records, default 200000, TXN_COPY_KILLS kills, default 3).
#
# Durability: a kill -9 crash test of the broker under an acks=all confluent-kafka producer
# (broker_crash_check.py, BROKER_CRASH_ROUNDS rounds, default 5; RELIABILITY.md records a
# 50-round run): no acknowledged record lost, the server restarts every time. A disk-full
# fault test (disk_full_check.py) on a small tmpfs mounted for it; it needs root to mount and
# is reported as skipped otherwise. A load test (load_check.py): LOAD_IDLE idle connections
# (default 500) next to LOAD_PRODUCERS producers (default 20) under max.connections;
# RELIABILITY.md records the 2,000 + 200 run.
set -u

BROOK=${1:?usage: run.sh BROOK_BINARY}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/brook-compat.XXXXXX")
DATA="$WORK/data"
NAME="r$$"
PASSED=0
FAILED=0
PID=""
BOOTSTRAP=""

start_server() {
    local log="$WORK/server-$(date +%s%N).log"
    "$BROOK" server --data-dir "$DATA" --listen 127.0.0.1:0 --default-partitions 4 2>"$log" &
    PID=$!
    for _ in $(seq 1 300); do
        BOOTSTRAP=$(sed -n 's/^kafka listener on \(.*\)$/\1/p' "$log" | head -n1)
        [ -n "$BOOTSTRAP" ] && { echo "server pid $PID on $BOOTSTRAP"; return 0; }
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "the server did not start:"; cat "$log"
    return 1
}

stop_server() {
    [ -z "$PID" ] && return 0
    kill -TERM "$PID" 2>/dev/null
    if ! wait "$PID"; then echo "server exited non-zero on SIGTERM"; PID=""; return 1; fi
    PID=""
}

cleanup() {
    [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

check() {
    local name=$1; shift
    local out="$WORK/$name.log"
    local started=$SECONDS
    if (cd "$HERE" && timeout 300 "$@") >"$out" 2>&1; then
        PASSED=$((PASSED + 1))
        echo "ok     $name ($((SECONDS - started)) s): $(tail -n1 "$out")"
    else
        FAILED=$((FAILED + 1))
        echo "FAILED $name ($((SECONDS - started)) s):"
        sed 's/^/    /' "$out" | tail -n 40
    fi
}

PY=${PYTHON:-python3}
GROUP_DIR="$WORK/group"
mkdir -p "$GROUP_DIR"

if start_server; then
    check kcat "$PY" kcat_check.py "$BOOTSTRAP" "$NAME"
    check confluent-kafka-codecs "$PY" confluent_check.py codecs "$BOOTSTRAP" "$NAME"
    check confluent-kafka-group "$PY" confluent_check.py group-phase1 "$BOOTSTRAP" "$NAME" "$GROUP_DIR"
    check kafka-python "$PY" kafka_python_check.py "$BOOTSTRAP" "$NAME"
    check confluent-kafka-transactions "$PY" txn_check.py "$BOOTSTRAP" "$NAME"
    check kafkajs-transactions node kafkajs_txn_check.js "$BOOTSTRAP" "$NAME"
    check txn-consume-transform-produce "$PY" txn_copy_check.py "$BOOTSTRAP" "$NAME" \
        "${TXN_COPY_RECORDS:-200000}" "${TXN_COPY_KILLS:-3}"
    if stop_server && start_server; then
        check confluent-kafka-group-restart "$PY" confluent_check.py group-phase2 "$BOOTSTRAP" "$NAME" "$GROUP_DIR"
    else
        FAILED=$((FAILED + 1)); echo "FAILED server restart"
    fi
    stop_server || FAILED=$((FAILED + 1))
    check txn-broker-kill-9 "$PY" txn_crash_check.py "$BROOK" "$WORK/crash" "${TXN_CRASH_ROUNDS:-20}"
    check broker-kill-9-acks-all "$PY" broker_crash_check.py "$BROOK" "$WORK/broker-crash" "${BROKER_CRASH_ROUNDS:-5}"
    check load-idle-connections "$PY" load_check.py "$BROOK" "$WORK/load" \
        "${LOAD_IDLE:-500}" "${LOAD_PRODUCERS:-20}" "${LOAD_COUNT:-400000}"
    mkdir -p "$WORK/probe-mnt"
    if mount -t tmpfs -o size=1m tmpfs "$WORK/probe-mnt" 2>/dev/null; then
        umount "$WORK/probe-mnt"
        check disk-full "$PY" disk_full_check.py "$BROOK" "$WORK/disk-full"
    else
        echo "SKIPPED disk-full: mounting a small tmpfs needs root (not counted as passed)"
    fi
else
    FAILED=$((FAILED + 1))
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
