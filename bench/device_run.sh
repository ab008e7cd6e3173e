#!/usr/bin/env bash
# One call on the GPU machine: build the runtime alone (no LLVM/MLIR there),
# run the unit tests (the CUDA ones compare against the CPU reference), then
# the benchmarks. GoogleTest comes from .gtest/ (Debian's source, carried).
# usage: bench/device_run.sh [tests|bench|models|gpu-models|block-perf|attention|epilogue-gemm|sanitize|all]
#   models: run the .so files compiled on the CI-like machine and carried in
#   .device-carry/ with qforge-run built here, comparing with the outputs
#   computed there (expected: identical).
#   gpu-models: the cpu- and cuda-target builds of bench/prepare_gpu_models.sh,
#   the cuda ones checked against the cpu ones.
set -uo pipefail
what="${1:-all}"
root=$(cd "$(dirname "$0")/.." && pwd)
out="${OUT:-$root/.device-out}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv | tee "$out/gpu.txt"
cmake -S "$root" -B /tmp/qf-build -G Ninja -DQFORGE_BUILD_COMPILER=OFF \
  -DQFORGE_GTEST_SOURCE_DIR="$root/.gtest" -DQFORGE_CUDA_ARCHITECTURES=90 \
  > "$out/cmake.log" 2>&1 || { tail -30 "$out/cmake.log"; exit 1; }
cmake --build /tmp/qf-build -j 16 > "$out/build.log" 2>&1 || { grep -E "error" "$out/build.log" | head -40; exit 1; }
status=0
if [[ "$what" == tests || "$what" == all ]]; then
  /tmp/qf-build/bin/runtime_tests 2>&1 | tee "$out/tests.log" | grep -E "^\[  (FAILED|PASSED|SKIPPED) |tests ran|FAILED TEST" 
  [[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
fi
if [[ "$what" == models || "$what" == all ]] && [[ -d "$root/.device-carry" ]]; then
  c="$root/.device-carry"
  run=/tmp/qf-build/bin/qforge-run
  echo "== compiled models built without a GPU, run here (cpu, then cuda)"
  for device in cpu cuda; do
    $run "$c/mlp_f32.so" --device $device --input "$c/x.npy" --compare "$c/y_f32.npy" || status=1
    $run "$c/mlp_int8.so" --device $device --input "$c/x.npy" --compare "$c/y_int8.npy" || status=1
    $run "$c/models.so" --device $device --entry qdq --input "$c/x_qdq.npy" --compare "$c/y_qdq.npy" || status=1
    $run "$c/models.so" --device $device --entry qlinear --input "$c/x_lin.npy" --compare "$c/y_lin.npy" || status=1
  done
  echo "== calibration on cuda vs the table made on the CPU machine"
  $run "$c/calib.so" --device cuda --calibrate --data "$c/cal" -o "$out/calib_cuda.json" || status=1
  if cmp -s "$out/calib_cuda.json" "$c/calib_cpu.json"; then
    echo "calibration tables: identical"
  else
    echo "calibration tables: DIFFERENT"; status=1
  fi
fi
models="${MODELS:-$root/.device-carry}" # gpu-models: the models' folder
if [[ "$what" == gpu-models ]] && [[ -f "$models/gpu-models.txt" ]]; then
  # Models from bench/prepare_gpu_models.sh: the cpu-target build on
  # --device cpu is the reference; the cuda-target build (tensors on the
  # device, generated kernels) runs on --device cuda and is compared with it.
  c="$models"
  run=/tmp/qf-build/bin/qforge-run
  printf '\n%-14s %12s %10s %10s %12s %12s %s\n' model "max |err|" cosine "SQNR dB" "cpu ms" "cuda ms" "copies/run"
  while read -r name input min_sqnr; do
    cpu_out=$($run "$c/$name.cpu.so" --device cpu --input "$c/$input" \
      --output "$out/$name.ref.npy" --bench 3 2>&1) || { echo "$name cpu: $cpu_out"; status=1; continue; }
    cuda_out=$($run "$c/$name.cuda.so" --device cuda --input "$c/$input" \
      --compare "$out/$name.ref.npy" --bench 50 2>&1) || { echo "$name cuda: $cuda_out"; status=1; continue; }
    read -r err cos sqnr < <(sed -n 's/.*max abs error \([^,]*\), cosine \([^,]*\), SQNR \([^ ]*\) dB.*/\1 \2 \3/p' <<<"$cuda_out")
    cpu_ms=$(sed -n 's/.*median \([0-9.]*\) ms.*/\1/p' <<<"$cpu_out")
    cuda_ms=$(sed -n 's/^on the device[^:]*: median \([0-9.]*\) ms.*/\1/p' <<<"$cuda_out")
    copies=$(sed -n 's/.*memory: \([0-9]*\) host-to-device and \([0-9]*\) device-to-host.*/\1 in, \2 out/p' <<<"$cuda_out")
    printf '%-14s %12s %10s %10s %12s %12s %s\n' "$name" "$err" "$cos" "$sqnr" "$cpu_ms" "$cuda_ms" "$copies"
    # Pass: within 60 dB of the CPU reference by default (float kernels contract FMAs
    # and use libdevice's exp/erf), and one copy in and one out per run.
    # A model whose cuda build computes differently (fused attention: f32
    # scores, rounded once) names its own bar in gpu-models.txt.
    if ! awk -v s="$sqnr" -v m="${min_sqnr:-60}" 'BEGIN { exit !(s == "inf" || s + 0 >= m) }' || [[ "$copies" != "1 in, 1 out" ]]; then
      echo "$name: FAILED (SQNR $sqnr dB, copies $copies)"; status=1
    fi
    echo "$cuda_out" >"$out/$name.cuda.log"
  done <"$c/gpu-models.txt"
fi
if [[ "$what" == sanitize ]]; then
  # compute-sanitizer over the CUDA tests added in session 2 and over
  # cuda-target models (generated kernels, runtime GPU ABI).
  cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  for tool in memcheck racecheck; do
    # (memcheck also over the Hopper GEMM's variants: the staged epilogue's
    # copy-engine stores, every edge case of the bit-exact test.)
    filter='RuntimeCuda.FloatGemm*:Matrix/DegenerateNumerics.Cuda*:AttentionCuda.Int8*'
    [[ $tool == memcheck ]] && filter="$filter:RuntimeCuda.HopperGemm*"
    $cs --tool $tool --error-exitcode 1 /tmp/qf-build/bin/runtime_tests \
      --gtest_filter="$filter" 2>&1 |
      grep -E "ERROR SUMMARY|RACECHECK SUMMARY|PASSED|FAILED" | sed "s/^/$tool tests: /" || status=1
    # (block_dyn_f16: f16 vector accesses, layernorm and quantization in
    # one row kernel.)
    for m in digits_f32 block_f32 block_int8 block_dyn block_dyn_f16; do
      input=$(awk -v m="$m" '$1 == m { print $2 }' "$models/gpu-models.txt")
      $cs --tool $tool --error-exitcode 1 /tmp/qf-build/bin/qforge-run "$models/$m.cuda.so" \
        --input "$models/$input" 2>&1 |
        grep -E "ERROR SUMMARY|RACECHECK SUMMARY|qforge-run:" | sed "s/^/$tool $m: /"
      [[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
    done
  done
fi
perf="${PERF:-$root/.device-carry/perf}" # block-perf: the models' folder
if [[ "$what" == block-perf ]] && [[ -f "$perf/block.txt" ]]; then
  # The big transformer block of bench/prepare_gpu_models.sh perf: qforge's
  # cuda-target builds timed with qforge-run (median of 50, inputs copied in
  # and outputs out each run), PyTorch on the same weights (median of 50,
  # input already on the GPU), accuracy against PyTorch fp32.
  c="$perf"
  run=/tmp/qf-build/bin/qforge-run
  read -r seq hidden heads weights causal <"$c/block.txt"
  weights="${weights:-gauss}"
  mask=(); [[ "$causal" == causal ]] && mask=(--causal)
  x="$c/x.npy"
  if [[ ! -f "$x" ]]; then # too big to carry beside the models: regenerated
    x="/tmp/block_x_${seq}_${hidden}.npy"
    python3 "$root/examples/transformer/make_block.py" /dev/null "$x" \
      --seq "$seq" --hidden "$hidden" --heads "$heads" --weights "$weights" --input-only
  fi
  unpacked=/tmp/qf-perf-unpacked # libraries too big to carry uncompressed
  rm -rf "$unpacked" && mkdir -p "$unpacked"
  for z in "$c"/*.cuda.so.xz; do
    [[ -f "$z" ]] && xz -d -T0 -c "$z" >"$unpacked/$(basename "$z" .xz)"
  done
  compares=()
  printf '\n%-22s %12s %14s %14s %s\n' "qforge (cuda target)" "ms" "device-only ms" "host issue ms" "copies"
  models=$(ls "$c"/*.cuda.so "$unpacked"/*.cuda.so 2>/dev/null)
  # int8 models run twice: int8 GEMMs on the runtime's choice (the Hopper
  # kernel on an H100) and on cuBLASLt + the epilogue pass, for the ratio.
  for m in $models; do
    name=$(basename "$m" .cuda.so)
    gemm_modes=auto; [[ "$name" == int8* ]] && gemm_modes="auto cublaslt"
    for gemm in $gemm_modes; do
      label="$name"; [[ "$gemm" != auto ]] && label="$name ($gemm)"
      o=$(QFORGE_CUDA_INT8_GEMM=$gemm $run "$m" --input "$x" --output "$out/block_$name.$gemm.npy" --bench 50 2>&1) || { echo "$name: $o"; status=1; continue; }
      printf '%-22s %12s %14s %14s %s\n' "qforge $label" "$(sed -n 's/^latency.*median \([0-9.]*\) ms.*/\1/p' <<<"$o")" \
        "$(sed -n 's/^on the device[^:]*: median \([0-9.]*\) ms.*/\1/p' <<<"$o")" \
        "$(sed -n 's/^on the device.*host issue time median \([0-9.]*\) ms.*/\1/p' <<<"$o")" \
        "$(sed -n 's/.*memory: \([0-9]*\) host-to-device and \([0-9]*\) device-to-host.*/\1 in, \2 out/p' <<<"$o")"
      compares+=(--compare "qforge $label=$out/block_$name.$gemm.npy")
    done
    if [[ -f "$out/block_$name.cublaslt.npy" ]]; then
      if cmp -s "$out/block_$name.auto.npy" "$out/block_$name.cublaslt.npy"; then
        echo "$name: outputs identical with either int8 GEMM kernel"
      else
        echo "$name: outputs DIFFER between the int8 GEMM kernels"; status=1
      fi
    fi
  done
  python3 "$root/bench/block_torch.py" --seq "$seq" --hidden "$hidden" --heads "$heads" \
    --weights "$weights" "${mask[@]}" --input "$x" "${compares[@]}" --runs 50 || status=1
  # Where the time goes: QFORGE_PROFILE's per-op device time over 20 runs
  # after the warm-up (the full tables are in $OUT/profile_*.txt).
  for m in $models; do
    name=$(basename "$m" .cuda.so)
    QFORGE_PROFILE=1 $run "$m" --input "$x" --bench 20 >/dev/null 2>"$out/profile_$name.txt"
    echo "== profile $name (20 runs)"; grep -A14 "qforge profile" "$out/profile_$name.txt"
  done
fi
if [[ "$what" == attention ]]; then
  /tmp/qf-build/bin/attention_variants 16 2048 16 8192 | tee "$out/attention_variants.txt" || status=1
  PYTHONUNBUFFERED=1 python3 "$root/bench/bench_runtime.py" \
    --lib /tmp/qf-build/lib/libqforge_rt.so \
    --candidates /tmp/qf-build/bin/gemm_candidates --out "$out" --only attention || status=1
fi
if [[ "$what" == epilogue-gemm ]]; then
  PYTHONUNBUFFERED=1 python3 "$root/bench/bench_runtime.py" \
    --lib /tmp/qf-build/lib/libqforge_rt.so \
    --candidates /tmp/qf-build/bin/gemm_candidates --out "$out" --only epilogue || status=1
fi
if [[ "$what" == bench || "$what" == all ]]; then
  PYTHONUNBUFFERED=1 python3 "$root/bench/bench_runtime.py" \
    --lib /tmp/qf-build/lib/libqforge_rt.so \
    --candidates /tmp/qf-build/bin/gemm_candidates --out "$out" || status=1
fi
exit $status
