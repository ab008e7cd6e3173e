#!/usr/bin/env bash
# The main job on the shipped example, from a fresh machine: set-up, build,
# then the compiler flow on examples/mlp (a float MLP with nn.Linear-style
# weights):
#   qforge-opt --qforge-quantize-weights   per-channel int8 weights (QDQ)
#   qforge-compile                          float and int8 models -> .so
#   qforge-run                              run both, compare, time
# and the int8 linear layer of examples/linear through the runtime (dynamic
# per-token activations + int8 GEMM with fused epilogue; CPU, and CUDA when a
# GPU is present).
#
# Calibration (static activation scales) and q/dq fusion into integer
# matmuls are not built yet: the int8 model runs its matmuls in float on
# dequantized int8 weights. See README.md, "What works today".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${QFORGE_BUILD_DIR:-$root/build}"
bin="$build/bin"
work="${QFORGE_EXAMPLE_DIR:-$build/example}"

"$root/scripts/setup.sh"
"$root/scripts/build.sh"
mkdir -p "$work"

echo "== examples/mlp: generate the float model (x[64,256] -> 512 relu -> 10)"
python3 "$root/examples/mlp/make_mlp.py" "$work/mlp.mlir" "$work/x.npy"
echo "== quantize the weights (per-channel int8) and compile both models"
"$bin/qforge-opt" "$work/mlp.mlir" --qforge-quantize-weights -o "$work/mlp_int8.mlir"
"$bin/qforge-compile" "$work/mlp.mlir" -o "$work/mlp_f32.so"
"$bin/qforge-compile" "$work/mlp_int8.mlir" -o "$work/mlp_int8.so"
echo "== run"
f32=$("$bin/qforge-run" "$work/mlp_f32.so" --input "$work/x.npy" \
        --output "$work/y_f32.npy" --bench 20)
int8=$("$bin/qforge-run" "$work/mlp_int8.so" --input "$work/x.npy" \
        --output "$work/y_int8.npy" --bench 20 --compare "$work/y_f32.npy")
median() { sed -n 's/.*median \([0-9.]*\) ms.*/\1/p' <<<"$1"; }
printf '\n%-34s %12s %10s %10s %12s\n' "model (cpu)" "max |err|" "cosine" "SQNR dB" "latency ms"
printf '%-34s %12s %10s %10s %12s\n' "f32" "-" "-" "-" "$(median "$f32")"
read -r err cos sqnr < <(sed -n 's/.*max abs error \([^,]*\), cosine \([^,]*\), SQNR \([^ ]*\) dB.*/\1 \2 \3/p' <<<"$int8")
printf '%-34s %12s %10s %10s %12s\n' "int8 weights, per-channel (QDQ)" "$err" "$cos" "$sqnr" "$(median "$int8")"

echo
echo "== examples/linear: int8 GEMM with dynamic activations through the runtime"
"$bin/linear_demo" "$@"
