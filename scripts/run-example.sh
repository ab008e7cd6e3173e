#!/usr/bin/env bash
# The main job, from a fresh machine: set-up, build, then post-training
# quantization of a real classifier (examples/digits: an MLP trained on the
# handwritten digits that ship inside scikit-learn) and one table of float
# vs int8 static (each calibration method) vs int8 dynamic: top-1 accuracy
# on the 500 held-out images, agreement with the float model's top-1, SQNR
# of the logits, latency (median of 20 runs of the whole test batch).
#
#   train_digits.py                          trains (numpy, fixed seeds) and
#                                            writes the float model as MLIR
#   qforge-opt --qforge-insert-calibration   observers on the activations
#   qforge-compile + qforge-run --calibrate  statistics over training images
#   qforge-opt --qforge-ptq                  int8 weights and activations,
#                                            integer matmuls, fused epilogues
#   qforge-compile, qforge-run               run every model, time it
#
# The same model given as TOSA goes through qforge-opt's upstream
# tosa-to-linalg pipeline first (last rows). Rows run on the CPU, and again
# on CUDA when a GPU is present. Environment: QFORGE_BUILD_DIR,
# QFORGE_EXAMPLE_DIR (work directory), QFORGE_BENCH_RUNS (default 20).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${QFORGE_BUILD_DIR:-$root/build}"
bin="$build/bin"
work="${QFORGE_EXAMPLE_DIR:-$build/example}"
runs="${QFORGE_BENCH_RUNS:-20}"
python=/usr/bin/python3 # Debian's, with python3-numpy and python3-sklearn

"$root/scripts/setup.sh"
"$root/scripts/build.sh"
mkdir -p "$work"
cd "$work"

echo "== examples/digits: train the float MLP 64-256-128-10 on 1297 images"
"$python" "$root/examples/digits/train_digits.py" .
echo "== calibrate: instrument, compile, run over 512 training images"
"$bin/qforge-opt" digits.mlir --qforge-insert-calibration -o digits_calib.mlir
"$bin/qforge-compile" digits_calib.mlir -o digits_calib.so
"$bin/qforge-run" ./digits_calib.so --calibrate --data calibration -o calib.json
echo "== quantize and compile: f32, int8 static (each method), int8 dynamic"
"$bin/qforge-compile" digits.mlir -o digits_f32.so
methods=(minmax percentile entropy mse)
for m in "${methods[@]}"; do
  "$bin/qforge-opt" digits.mlir --qforge-ptq="calibration=calib.json method=$m" \
    -o "digits_int8_$m.mlir"
  "$bin/qforge-compile" "digits_int8_$m.mlir" -o "digits_int8_$m.so"
done
"$bin/qforge-opt" digits.mlir --qforge-ptq="calibration=calib.json symmetric=false" \
  -o digits_int8_asymmetric.mlir
"$bin/qforge-compile" digits_int8_asymmetric.mlir -o digits_int8_asymmetric.so
"$bin/qforge-opt" digits.mlir --qforge-ptq="mode=dynamic" -o digits_int8_dynamic.mlir
"$bin/qforge-compile" digits_int8_dynamic.mlir -o digits_int8_dynamic.so

echo "== the TOSA path: tosa-to-linalg in qforge-opt, calibrate, quantize"
"$bin/qforge-opt" digits_tosa.mlir --tosa-to-linalg-pipeline --tosa-to-arith \
  -o digits_tosa_linalg.mlir
"$bin/qforge-opt" digits_tosa_linalg.mlir --qforge-insert-calibration -o tosa_calib.mlir
"$bin/qforge-compile" tosa_calib.mlir -o tosa_calib.so
"$bin/qforge-run" ./tosa_calib.so --calibrate --data calibration_tosa -o tosa_calib.json
"$bin/qforge-compile" digits_tosa_linalg.mlir -o tosa_f32.so
"$bin/qforge-opt" digits_tosa_linalg.mlir --qforge-ptq="calibration=tosa_calib.json" \
  -o tosa_int8.mlir
"$bin/qforge-compile" tosa_int8.mlir -o tosa_int8.so

devices=(cpu)
if [[ -e /dev/nvidiactl ]] && "$bin/qforge-run" --help | grep -q cuda; then
  devices+=(cuda)
fi
evaluate=("$python" "$root/examples/digits/evaluate.py")
# row NAME MODEL INPUT DEVICE REFERENCE
row() {
  local name=$1 model=$2 input=$3 device=$4 reference=$5 out latency
  out=$("$bin/qforge-run" "./$model" --device "$device" --input "$input" \
    --output "logits_${model%.so}_$device.npy" --bench "$runs")
  latency=$(sed -n 's/.*median \([0-9.]*\) ms.*/\1/p' <<<"$out")
  "${evaluate[@]}" row "$name" "logits_${model%.so}_$device.npy" "$latency" \
    --labels test_labels.npy --reference "$reference"
}
echo
echo "digits: 500 held-out test images, batch of 500; agreement and SQNR against"
echo "the float model on the same device; latency = median of $runs runs"
"${evaluate[@]}" header
for device in "${devices[@]}"; do
  "$bin/qforge-run" ./digits_f32.so --device "$device" --input test_x.npy \
    --output "ref_$device.npy" >/dev/null
  row "[$device] float32" digits_f32.so test_x.npy "$device" "ref_$device.npy"
  for m in "${methods[@]}"; do
    row "[$device] int8 static, $m" "digits_int8_$m.so" test_x.npy "$device" "ref_$device.npy"
  done
  row "[$device] int8 static, minmax asymmetric" digits_int8_asymmetric.so test_x.npy "$device" "ref_$device.npy"
  row "[$device] int8 dynamic (per-token)" digits_int8_dynamic.so test_x.npy "$device" "ref_$device.npy"
  "$bin/qforge-run" ./tosa_f32.so --device "$device" --input test_x_tosa.npy \
    --output "ref_tosa_$device.npy" >/dev/null
  row "[$device] TOSA float32" tosa_f32.so test_x_tosa.npy "$device" "ref_tosa_$device.npy"
  row "[$device] TOSA int8 static, minmax" tosa_int8.so test_x_tosa.npy "$device" "ref_tosa_$device.npy"
done
echo "(on the cpu, float matmuls run in the runtime's reference float GEMM, a plain"
echo " C++ loop, and int8 ones in its int8 GEMM: no claim against a tuned f32 BLAS)"
