#!/usr/bin/env bash
# Configures and builds qforge in build/ (incremental: re-running only
# rebuilds what changed). Extra arguments go to CMake's configure step.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${QFORGE_BUILD_DIR:-$root/build}"
jobs="${QFORGE_JOBS:-2}"

if [[ ! -f "$build/build.ninja" ]] || (($# > 0)); then
  cmake -S "$root" -B "$build" -G Ninja "$@"
fi
cmake --build "$build" -j "$jobs"
