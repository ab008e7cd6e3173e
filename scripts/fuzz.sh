#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan, coverage on qforge's
# own code) in build-fuzz/ and runs each for a while.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Default: 600 s for each of runtime_abi_fuzzer, calibration_table_fuzzer and
# ir_pipeline_fuzzer. The corpus grows in build-fuzz/corpus/<target>/ (seeded
# from fuzz/corpus/<target>/); a crash leaves its input in
# build-fuzz/crashes/<target>/ - copy it into fuzz/corpus/<target>/ once
# fixed, and the CTest replay keeps it fixed. A summary line per target goes
# to build-fuzz/fuzz-summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(runtime_abi_fuzzer calibration_table_fuzzer ir_pipeline_fuzzer)
fi

clang_cc=${QFORGE_FUZZ_CC:-clang-22}
clang_cxx=${QFORGE_FUZZ_CXX:-clang++-22}
if ! command -v "$clang_cxx" >/dev/null; then
  echo "fuzz: $clang_cxx not found; install clang-22 and libclang-rt-22-dev" >&2
  exit 1
fi

sanitize="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
cmake -S . -B build-fuzz -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER="$clang_cc" -DCMAKE_CXX_COMPILER="$clang_cxx" \
  -DCMAKE_C_FLAGS="$sanitize" -DCMAKE_CXX_FLAGS="$sanitize" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DQFORGE_ENABLE_CUDA=OFF -DQFORGE_BUILD_TESTS=OFF -DQFORGE_BUILD_FUZZERS=ON >/dev/null
cmake --build build-fuzz -j "${QFORGE_JOBS:-2}" --target "${targets[@]}"

summary=build-fuzz/fuzz-summary.txt
for target in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$target
  crashes=build-fuzz/crashes/$target
  mkdir -p "$corpus" "$crashes"
  echo "fuzz: $target for ${seconds}s"
  set +e
  build-fuzz/bin/$target "$corpus" fuzz/corpus/$target \
    -max_total_time="$seconds" -max_len=16384 -timeout=30 -rss_limit_mb=4096 \
    -artifact_prefix="$crashes/" -print_final_stats=1 \
    >"build-fuzz/$target.log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/$target.log" | grep -o '[0-9]*$' || echo '?')
  found=$(find "$crashes" -type f | wc -l)
  line="$(date -u +%F) $target: ${seconds}s, $runs runs, corpus $(ls "$corpus" | wc -l), exit $rc, crash/timeout/oom inputs $found"
  echo "$line" | tee -a "$summary"
done
