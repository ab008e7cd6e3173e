#!/usr/bin/env bash
# On the CI-like machine (has LLVM/MLIR, no GPU): compiles the models that
# bench/device_run.sh gpu-models runs on the GPU machine, each twice: for
# the cpu target (the reference, run there with --device cpu) and for the
# cuda target (tensors on the device, every op on the GPU). Writes them,
# their inputs and .device-carry/gpu-models.txt into .device-carry/.
#   bench/prepare_gpu_models.sh [BLOCK_SEQ BLOCK_HIDDEN BLOCK_HEADS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/build/bin"
carry="$root/.device-carry"
work="$root/build/gpu-models"
seq=${1:-128}
hidden=${2:-256}
heads=${3:-4}
mkdir -p "$carry" "$work"
list="$carry/gpu-models.txt"
: >"$list"

compile_pair() { # name mlir input
  "$bin/qforge-compile" "$2" -o "$carry/$1.cpu.so"
  "$bin/qforge-compile" "$2" -o "$carry/$1.cuda.so" --target cuda
  echo "$1 $(basename "$3")" >>"$list"
}

echo "== digits (examples/digits)"
/usr/bin/python3 "$root/examples/digits/train_digits.py" "$work/digits" >/dev/null
cp "$work/digits/test_x.npy" "$carry/digits_x.npy"
"$bin/qforge-opt" "$work/digits/digits.mlir" --qforge-insert-calibration -o "$work/digits_calib.mlir"
"$bin/qforge-compile" "$work/digits_calib.mlir" -o "$work/digits_calib.so"
"$bin/qforge-run" "$work/digits_calib.so" --calibrate --data "$work/digits/calibration" \
  -o "$work/digits_calib.json" 2>/dev/null
"$bin/qforge-opt" "$work/digits/digits.mlir" --qforge-ptq="calibration=$work/digits_calib.json" \
  -o "$work/digits_int8.mlir"
"$bin/qforge-opt" "$work/digits/digits.mlir" --qforge-ptq="mode=dynamic" -o "$work/digits_dyn.mlir"
compile_pair digits_f32 "$work/digits/digits.mlir" "$carry/digits_x.npy"
compile_pair digits_int8 "$work/digits_int8.mlir" "$carry/digits_x.npy"
compile_pair digits_dyn "$work/digits_dyn.mlir" "$carry/digits_x.npy"

echo "== transformer block (examples/transformer): seq $seq, hidden $hidden, heads $heads"
python3 "$root/examples/transformer/make_block.py" "$work/block.mlir" "$carry/block_x.npy" \
  --seq "$seq" --hidden "$hidden" --heads "$heads" --calibration-dir "$work/block_cal"
"$bin/qforge-opt" "$work/block.mlir" --qforge-insert-calibration -o "$work/block_calib.mlir"
"$bin/qforge-compile" "$work/block_calib.mlir" -o "$work/block_calib.so"
"$bin/qforge-run" "$work/block_calib.so" --calibrate --data "$work/block_cal" \
  -o "$work/block_calib.json" 2>/dev/null
"$bin/qforge-opt" "$work/block.mlir" --qforge-ptq="calibration=$work/block_calib.json" \
  -o "$work/block_int8.mlir"
"$bin/qforge-opt" "$work/block.mlir" --qforge-ptq="mode=dynamic" -o "$work/block_dyn.mlir"
compile_pair block_f32 "$work/block.mlir" "$carry/block_x.npy"
compile_pair block_int8 "$work/block_int8.mlir" "$carry/block_x.npy"
compile_pair block_dyn "$work/block_dyn.mlir" "$carry/block_x.npy"
du -sh "$carry"
