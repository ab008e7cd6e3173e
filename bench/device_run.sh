#!/usr/bin/env bash
# One call on the GPU machine: build the runtime alone (no LLVM/MLIR there),
# run the unit tests (the CUDA ones compare against the CPU reference), then
# the benchmarks. GoogleTest comes from .gtest/ (Debian's source, carried).
# usage: bench/device_run.sh [tests|bench|models|all]
#   models: run the .so files compiled on the CI-like machine and carried in
#   .device-carry/ with qforge-run built here, comparing with the outputs
#   computed there (expected: identical).
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
if [[ "$what" == bench || "$what" == all ]]; then
  PYTHONUNBUFFERED=1 python3 "$root/bench/bench_runtime.py" \
    --lib /tmp/qf-build/lib/libqforge_rt.so \
    --candidates /tmp/qf-build/bin/gemm_candidates --out "$out" || status=1
fi
exit $status
