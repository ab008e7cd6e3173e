#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing,
# builds, then runs every test through CTest (lit suite + unit tests).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${QFORGE_BUILD_DIR:-$root/build}"

"$root/scripts/setup.sh"
"$root/scripts/build.sh"
cd "$build"
ctest --output-on-failure -j "${QFORGE_JOBS:-2}"
