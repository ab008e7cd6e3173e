#!/usr/bin/env bash
# The main job on the shipped example, from a fresh machine: set-up, build,
# then the compiler flow on examples/mlp (a float MLP with nn.Linear-style
# weights):
#   qforge-opt --qforge-insert-calibration  observers on the activations
#   qforge-compile + qforge-run --calibrate  statistics over 200 samples
#   qforge-opt --qforge-ptq                  quantize-weights, fold-scales,
#                                            fuse-qdq: int8 weights + static
#                                            int8 activations, integer matmuls
#                                            with bias/relu epilogues, one
#                                            model per calibration method
#   qforge-compile, qforge-run               run every model, compare, time
# and the int8 linear layer of examples/linear through the runtime (dynamic
# per-token activations + int8 GEMM with fused epilogue; CPU, and CUDA when a
# GPU is present).
#
# See README.md, "What works today".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${QFORGE_BUILD_DIR:-$root/build}"
bin="$build/bin"
work="${QFORGE_EXAMPLE_DIR:-$build/example}"

"$root/scripts/setup.sh"
"$root/scripts/build.sh"
mkdir -p "$work"

echo "== examples/mlp: generate the float model (x[64,256] -> 512 relu -> 10) and 200 calibration samples"
python3 "$root/examples/mlp/make_mlp.py" "$work/mlp.mlir" "$work/x.npy" \
  --calibration-dir "$work/calibration" --calibration-samples 200
echo "== calibrate: instrument, compile, run over the samples"
"$bin/qforge-opt" "$work/mlp.mlir" --qforge-insert-calibration -o "$work/mlp_calib.mlir"
"$bin/qforge-compile" "$work/mlp_calib.mlir" -o "$work/mlp_calib.so"
"$bin/qforge-run" "$work/mlp_calib.so" --calibrate --data "$work/calibration" -o "$work/calib.json"
echo "== quantize and compile: f32, int8 weights only (QDQ), int8 static (each method, fused)"
"$bin/qforge-compile" "$work/mlp.mlir" -o "$work/mlp_f32.so"
"$bin/qforge-opt" "$work/mlp.mlir" --qforge-quantize-weights -o "$work/mlp_w8.mlir"
"$bin/qforge-compile" "$work/mlp_w8.mlir" -o "$work/mlp_w8.so"
methods=(minmax percentile entropy mse)
for m in "${methods[@]}"; do
  "$bin/qforge-opt" "$work/mlp.mlir" \
    --qforge-ptq="calibration=$work/calib.json method=$m" -o "$work/mlp_int8_$m.mlir"
  "$bin/qforge-compile" "$work/mlp_int8_$m.mlir" -o "$work/mlp_int8_$m.so"
done
"$bin/qforge-opt" "$work/mlp.mlir" --qforge-ptq="mode=dynamic" -o "$work/mlp_int8_dynamic.mlir"
"$bin/qforge-compile" "$work/mlp_int8_dynamic.mlir" -o "$work/mlp_int8_dynamic.so"
echo "== run"
"$bin/qforge-run" "$work/mlp_f32.so" --input "$work/x.npy" --output "$work/y_f32.npy" > /dev/null
median() { sed -n 's/.*median \([0-9.]*\) ms.*/\1/p' <<<"$1"; }
row() { # name, model
  local out err cos sqnr
  out=$("$bin/qforge-run" "$2" --input "$work/x.npy" --bench 20 --compare "$work/y_f32.npy")
  read -r err cos sqnr < <(sed -n 's/.*max abs error \([^,]*\), cosine \([^,]*\), SQNR \([^ ]*\) dB.*/\1 \2 \3/p' <<<"$out")
  printf '%-46s %12s %10s %10s %12s\n' "$1" "$err" "$cos" "$sqnr" "$(median "$out")"
}
printf '\n%-46s %12s %10s %10s %12s\n' "model (cpu), output vs f32" "max |err|" "cosine" "SQNR dB" "latency ms"
row "f32" "$work/mlp_f32.so"
row "int8 weights only (QDQ, float matmuls)" "$work/mlp_w8.so"
for m in "${methods[@]}"; do
  row "int8 static, $m (int8 matmuls)" "$work/mlp_int8_$m.so"
done
row "int8 dynamic, per-token (int8 matmuls)" "$work/mlp_int8_dynamic.so"
echo "(f32 matmuls run as plain loops; the int8 ones in the runtime's GEMM)"

echo
echo "== examples/linear: int8 GEMM with dynamic activations through the runtime"
"$bin/linear_demo" "$@"
