#!/usr/bin/env bash
# On the CI-like machine (has LLVM/MLIR, no GPU): compiles the models that
# bench/device_run.sh gpu-models runs on the GPU machine, each twice: for
# the cpu target (the reference, run there with --device cpu) and for the
# cuda target (tensors on the device, every op on the GPU). Writes them,
# their inputs and .device-carry/gpu-models.txt into .device-carry/.
#   bench/prepare_gpu_models.sh [BLOCK_SEQ BLOCK_HIDDEN BLOCK_HEADS]
#   bench/prepare_gpu_models.sh perf [SEQ HIDDEN HEADS]
# perf: only the cuda-target builds of one big block (f16; int8 static
# calibrated here on one sample, also with the attention matmuls left f16;
# int8 dynamic; all with f16 float parts; f32 at hidden <= 512, int8 with
# the attention matmuls too at hidden <= 768) into .device-carry/perf/,
# for bench/device_run.sh block-perf (the carry is limited to 64 MiB).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/build/bin"
carry="$root/.device-carry"
work="$root/build/gpu-models"
# calibrate MODEL.mlir DATA_DIR TABLE.json: instrument, compile, run over
# the samples (float matmuls in the runtime's GEMM, on this CPU).
calibrate() {
  local base="${3%.json}"
  "$bin/qforge-opt" "$1" --qforge-insert-calibration -o "$base.mlir"
  "$bin/qforge-compile" "$base.mlir" -o "$base.so"
  "$bin/qforge-run" "$base.so" --calibrate --data "$2" -o "$3" 2>/dev/null
}

if [[ "${1:-}" == perf ]]; then
  seq=${2:-2048}
  hidden=${3:-768}
  heads=${4:-12}
  perf="${PERF_DIR:-$carry/perf}" # PERF_DIR: another ignored folder to carry
  w="$work/perf-$seq-$hidden"
  rm -rf "$perf" && mkdir -p "$perf" "$w"
  python3 "$root/examples/transformer/make_block.py" "$w/block.mlir" "$perf/x.npy" \
    --seq "$seq" --hidden "$hidden" --heads "$heads" --calibration-dir "$w/cal" --samples 1
  echo "$seq $hidden $heads" >"$perf/block.txt"
  # f32 only where it fits in the carry (64 MiB) beside the others.
  if (( hidden <= 512 )); then
    "$bin/qforge-compile" "$w/block.mlir" -o "$perf/f32.cuda.so" --target cuda
  fi
  # The same block with its float parts in f16 (qforge-compile
  # --float-precision f16; f32 input/output).
  "$bin/qforge-compile" "$w/block.mlir" -o "$perf/f16.cuda.so" --target cuda \
    --float-precision f16
  "$bin/qforge-opt" "$w/block.mlir" --qforge-ptq="mode=dynamic" -o "$w/dyn.mlir"
  "$bin/qforge-compile" "$w/dyn.mlir" -o "$perf/int8_dynamic.cuda.so" --target cuda \
    --float-precision f16
  calibrate "$w/block.mlir" "$w/cal" "$w/calib.json"
  if (( hidden <= 768 )); then # all matmuls int8: only where it fits the carry
    "$bin/qforge-opt" "$w/block.mlir" --qforge-ptq="calibration=$w/calib.json" -o "$w/int8.mlir"
    "$bin/qforge-compile" "$w/int8.mlir" -o "$perf/int8_static.cuda.so" --target cuda \
      --float-precision f16
  fi
  # Projections and MLP in int8, the attention matmuls (activation x
  # activation) left in f16, as the dynamic mode does.
  "$bin/qforge-opt" "$w/block.mlir" \
    --qforge-ptq="calibration=$w/calib.json exclude=batch_matmul" -o "$w/int8_proj.mlir"
  "$bin/qforge-compile" "$w/int8_proj.mlir" -o "$perf/int8_static_proj.cuda.so" --target cuda \
    --float-precision f16
  du -sh "$perf"
  exit 0
fi
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
calibrate "$work/digits/digits.mlir" "$work/digits/calibration" "$work/digits_calib.json"
"$bin/qforge-opt" "$work/digits/digits.mlir" --qforge-ptq="calibration=$work/digits_calib.json" \
  -o "$work/digits_int8.mlir"
"$bin/qforge-opt" "$work/digits/digits.mlir" --qforge-ptq="mode=dynamic" -o "$work/digits_dyn.mlir"
compile_pair digits_f32 "$work/digits/digits.mlir" "$carry/digits_x.npy"
compile_pair digits_int8 "$work/digits_int8.mlir" "$carry/digits_x.npy"
compile_pair digits_dyn "$work/digits_dyn.mlir" "$carry/digits_x.npy"
"$bin/qforge-opt" "$work/digits/digits.mlir" \
  --qforge-ptq="calibration=$work/digits_calib.json symmetric=false" -o "$work/digits_asym.mlir"
compile_pair digits_asym "$work/digits_asym.mlir" "$carry/digits_x.npy"

echo "== a convolution (im2col on the int8 GEMM)"
python3 "$root/test/integration/cpu/Inputs/make_conv.py" "$work/conv.mlir" "$carry/conv_x.npy" "$work/conv_cal"
calibrate "$work/conv.mlir" "$work/conv_cal" "$work/conv_calib.json"
"$bin/qforge-opt" "$work/conv.mlir" --qforge-ptq="calibration=$work/conv_calib.json" -o "$work/conv_int8.mlir"
compile_pair conv_f32 "$work/conv.mlir" "$carry/conv_x.npy"
compile_pair conv_int8 "$work/conv_int8.mlir" "$carry/conv_x.npy"

echo "== transformer block (examples/transformer): seq $seq, hidden $hidden, heads $heads"
python3 "$root/examples/transformer/make_block.py" "$work/block.mlir" "$carry/block_x.npy" \
  --seq "$seq" --hidden "$hidden" --heads "$heads" --calibration-dir "$work/block_cal"
calibrate "$work/block.mlir" "$work/block_cal" "$work/block_calib.json"
"$bin/qforge-opt" "$work/block.mlir" --qforge-ptq="calibration=$work/block_calib.json" \
  -o "$work/block_int8.mlir"
"$bin/qforge-opt" "$work/block.mlir" --qforge-ptq="mode=dynamic" -o "$work/block_dyn.mlir"
compile_pair block_f32 "$work/block.mlir" "$carry/block_x.npy"
compile_pair block_int8 "$work/block_int8.mlir" "$carry/block_x.npy"
compile_pair block_dyn "$work/block_dyn.mlir" "$carry/block_x.npy"
# f16 float parts: the cuda build runs its attention as one flash-attention
# call (f32 scores, probabilities rounded once), the cpu build unfused in
# f16: compared with a bar of 45 dB instead of 60.
"$bin/qforge-compile" "$work/block.mlir" -o "$carry/block_f16.cpu.so" --float-precision f16
"$bin/qforge-compile" "$work/block.mlir" -o "$carry/block_f16.cuda.so" --target cuda --float-precision f16
echo "block_f16 block_x.npy 45" >>"$list"
du -sh "$carry"
