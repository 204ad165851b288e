#!/usr/bin/env bash
# Installs what building and testing Brook needs on a fresh Debian/Ubuntu machine:
#   - clang + libclang (RocksDB's Rust bindings are generated with bindgen), a C/C++ toolchain,
#     cmake and make (librdkafka, RocksDB),
#   - with --test: kcat, tmux, Node.js/npm and the Python and Node Kafka clients used by the
#     compatibility suites (kafkajs from the npm registry, pinned in broker/tests/compat/package.json).
# Safe to run repeatedly; installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

pkgs=()
command -v clang >/dev/null 2>&1 || pkgs+=(clang)
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || pkgs+=(libclang-dev)
command -v g++ >/dev/null 2>&1 || pkgs+=(g++)
command -v make >/dev/null 2>&1 || pkgs+=(make)
command -v cmake >/dev/null 2>&1 || pkgs+=(cmake)
command -v pkg-config >/dev/null 2>&1 || pkgs+=(pkg-config)
if [ "$want_test" = 1 ]; then
    command -v kcat >/dev/null 2>&1 || pkgs+=(kcat)
    command -v tmux >/dev/null 2>&1 || pkgs+=(tmux)
    command -v python3 >/dev/null 2>&1 || pkgs+=(python3 python3-pip)
    command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
    command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi

if [ ${#pkgs[@]} -gt 0 ]; then
    echo "installing system packages: ${pkgs[*]}"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

if [ "$want_test" = 1 ]; then
    python3 -m pip install -q --disable-pip-version-check -r broker/tests/compat/requirements.txt
    if [ ! -d broker/tests/compat/node_modules/kafkajs ]; then
        (cd broker/tests/compat && npm ci --no-audit --no-fund --silent)
    fi
fi
