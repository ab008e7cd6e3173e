#!/usr/bin/env bash
# On the CI-like machine (has LLVM/MLIR, no GPU): compiles the models that
# bench/device_run.sh gpu-models runs on the GPU machine, each twice: for
# the cpu target (the reference, run there with --device cpu) and for the
# cuda target (tensors on the device, every op on the GPU). Writes them,
# their inputs and .device-carry/gpu-models.txt into .device-carry/.
#   bench/prepare_gpu_models.sh [BLOCK_SEQ BLOCK_HIDDEN BLOCK_HEADS]
#   [PERF_DIR=dir WEIGHTS=gauss|signs CAUSAL=1 BUILDS="f16 ..." XZ_LEVEL=6 XZ_MIN_BYTES=N] \
#   bench/prepare_gpu_models.sh perf [SEQ HIDDEN HEADS]
# perf: only the cuda-target builds of one big block (f16; int8 static
# calibrated here on one sample, also with the attention matmuls left f16;
# int8 dynamic; all with f16 float parts; f32 at hidden <= 512, int8 with
# the attention matmuls too at hidden <= 768) into .device-carry/perf/ (or
# PERF_DIR), for bench/device_run.sh block-perf (the carry is limited to
# 64 MiB: libraries over 48 MB are xz-compressed; at hidden 4096 use
# WEIGHTS=signs, whose libraries compress ~10x, and one or two BUILDS).
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
  weights=${WEIGHTS:-gauss} # signs: +-1/sqrt(fan_in) weights, for wide blocks
  causal=${CAUSAL:-} # 1: a decoder block (causal mask on the scores)
  mask=(); [[ -n "$causal" ]] && mask=(--causal)
  perf="${PERF_DIR:-$carry/perf}" # PERF_DIR: another ignored folder to carry
  w="$work/perf-$seq-$hidden"
  rm -rf "$perf" && mkdir -p "$perf" "$w"
  python3 "$root/examples/transformer/make_block.py" "$w/block.mlir" "$w/x.npy" \
    --seq "$seq" --hidden "$hidden" --heads "$heads" --weights "$weights" "${mask[@]}" \
    --calibration-dir "$w/cal" --samples 1
  echo "$seq $hidden $heads $weights ${causal:+causal}" >"$perf/block.txt"
  # The input travels unless it would crowd out the models (device_run.sh
  # regenerates a missing one from the seed).
  if (( seq * hidden <= 2048 * 1024 )); then cp "$w/x.npy" "$perf/x.npy"; fi
  # BUILDS: which ones; by default what fits in the carry (64 MiB) at
  # hidden <= 1024: f32 at hidden <= 512, all matmuls int8 at <= 768.
  builds=${BUILDS:-"f16 int8_dynamic int8_static_proj"}
  if [[ -z "${BUILDS:-}" ]] && (( hidden <= 512 )); then builds="$builds f32"; fi
  if [[ -z "${BUILDS:-}" ]] && (( hidden <= 768 )); then builds="$builds int8_static"; fi
  compile() { # mlir name [qforge-compile options]
    "$bin/qforge-compile" "$1" -o "$perf/$2.cuda.so" --target cuda "${@:3}"
  }
  for b in $builds; do
    case $b in
      f32) compile "$w/block.mlir" f32 ;;
      # f16 float parts (qforge-compile --float-precision f16; f32 in/out).
      f16) compile "$w/block.mlir" f16 --float-precision f16 ;;
      # int8 builds: the fused attention in int8 too (qforge-compile's
      # --attention-precision=auto on a quantized model); _fattn keeps it
      # in f16 (the session-4 int8 builds).
      int8_dynamic | int8_dynamic_fattn)
        "$bin/qforge-opt" "$w/block.mlir" --qforge-ptq="mode=dynamic" -o "$w/dyn.mlir"
        attention=auto
        [[ $b == int8_dynamic_fattn ]] && attention=float
        compile "$w/dyn.mlir" "$b" --float-precision f16 --attention-precision=$attention ;;
      int8_static | int8_static_proj)
        [[ -f "$w/calib.json" ]] || calibrate "$w/block.mlir" "$w/cal" "$w/calib.json"
        # _proj: projections and MLP in int8, the attention matmuls
        # (activation x activation) left in f16, as the dynamic mode does.
        exclude=""
        [[ $b == int8_static_proj ]] && exclude=" exclude=batch_matmul"
        "$bin/qforge-opt" "$w/block.mlir" --qforge-ptq="calibration=$w/calib.json$exclude" \
          -o "$w/$b.mlir"
        compile "$w/$b.mlir" "$b" --float-precision f16 ;;
      *) echo "unknown build $b" >&2; exit 1 ;;
    esac
  done
  # Libraries over 48 MB travel xz-compressed (signs weights compress ~10x);
  # device_run.sh block-perf unpacks them.
  # XZ_MIN_BYTES=0 compresses every library (signs weights at hidden 1024,
  # to carry them beside another block's models).
  for so in "$perf"/*.so; do
    if (( $(stat -c %s "$so") > ${XZ_MIN_BYTES:-48000000} )); then xz -T2 "-${XZ_LEVEL:-6}" "$so"; fi
  done
  du -sh "$perf"
  exit 0
fi
seq=${1:-128}
hidden=${2:-256}
heads=${3:-4}
mkdir -p "$carry" "$work"
list="$carry/gpu-models.txt"
: >"$list"

compile_pair() { # name mlir input [min-SQNR [qforge-compile options...]]
  "$bin/qforge-compile" "$2" -o "$carry/$1.cpu.so" "${@:5}"
  "$bin/qforge-compile" "$2" -o "$carry/$1.cuda.so" --target cuda "${@:5}"
  echo "$1 $(basename "$3") ${4:-}" >>"$list"
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
# f16 / bf16 float parts: the cuda build runs its attention as one
# flash-attention call (f32 scores, probabilities rounded once), the cpu
# build unfused in f16 / bf16: compared with a bar of 45 / 30 dB instead
# of 60.
compile_pair block_f16 "$work/block.mlir" "$carry/block_x.npy" 45 --float-precision f16
compile_pair block_bf16 "$work/block.mlir" "$carry/block_x.npy" 30 --float-precision bf16
# int8 dynamic with f16 float parts: the cuda build's attention is int8
# (qforge-compile --attention-precision=auto), the cpu build's the f16
# chain: 7-bit Q, K, V and P against f16, a bar of 30 dB.
compile_pair block_dyn_f16 "$work/block_dyn.mlir" "$carry/block_x.npy" 30 --float-precision f16
# A decoder block (causal mask): the cuda build's attention is one causal
# flash-attention call.
python3 "$root/examples/transformer/make_block.py" "$work/block_causal.mlir" "$work/block_causal_x.npy" \
  --seq "$seq" --hidden "$hidden" --heads "$heads" --causal
compile_pair block_causal_f16 "$work/block_causal.mlir" "$carry/block_x.npy" 45 --float-precision f16
compile_pair block_causal_f32 "$work/block_causal.mlir" "$carry/block_x.npy" # unfused: f32
echo "== linalg.softmax (qforge-decompose-aggregates)"
python3 "$root/test/integration/cpu/Inputs/npy.py" write "$carry/softmax_x.npy" f32 1x2x4 0 1.0986123 0 0 5 5 5 5
compile_pair softmax "$root/test/integration/cpu/Inputs/softmax.mlir" "$carry/softmax_x.npy"
du -sh "$carry"
