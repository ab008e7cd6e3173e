#!/usr/bin/env bash
# The main job on the shipped example: set-up, build, then
#  1. qforge-opt parses, verifies and round-trips examples/linear/linear_int8.mlir
#     (a linear layer in float, QDQ and fused int8 form);
#  2. the same layer runs in f32 and quantized to int8 through the runtime
#     (CPU, and CUDA when a device is present), with accuracy and latency.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${QFORGE_BUILD_DIR:-$root/build}"

"$root/scripts/setup.sh"
"$root/scripts/build.sh"

echo "== qforge-opt: verify and round-trip examples/linear/linear_int8.mlir"
"$build/bin/qforge-opt" "$root/examples/linear/linear_int8.mlir" > /tmp/qforge-linear.mlir
"$build/bin/qforge-opt" /tmp/qforge-linear.mlir --mlir-print-op-generic | \
  "$build/bin/qforge-opt" > /dev/null
grep -c "qforge\." /tmp/qforge-linear.mlir | xargs echo "   qforge ops:"
echo "== runtime: float vs int8 linear layer"
"$build/bin/linear_demo" "$@"
