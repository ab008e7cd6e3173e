#!/usr/bin/env bash
# Installs what qforge needs on a fresh Debian 12 machine. Safe to re-run: it
# installs only the packages that are missing and never touches anything else.
#
#   LLVM/MLIR 22 (Debian's packages): headers, libMLIR, mlir-tblgen, lit, FileCheck
#   build tools: cmake, ninja, ccache, a C++17 compiler
#   GoogleTest sources (built by the project itself)
#   numpy and scikit-learn for Debian's /usr/bin/python3: the digits example
#   trains on the dataset that ships inside scikit-learn
#
# The CUDA toolkit is optional: when /usr/local/cuda (or nvcc on PATH) exists the
# CUDA backend is built, otherwise the CPU backend alone.
set -euo pipefail

packages=(
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
  cmake ninja-build ccache g++ python3 googletest
  zlib1g-dev libzstd-dev
  python3-numpy python3-sklearn
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
