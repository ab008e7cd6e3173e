#!/usr/bin/env python3
"""One int8 GEMM with the dequantizing epilogue (f16 out), run --runs times
on the kernel that QFORGE_CUDA_INT8_GEMM names: a target for profilers
(ncu --kernel-name regex:int8Gemm ...), which the full benchmark is not.

usage: QFORGE_CUDA_INT8_GEMM=hopper256 python3 bench/one_gemm.py \\
           --lib build/lib/libqforge_rt.so --shape 8192 4096 4096
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_runtime import Runtime, dequantizing_gemm, medians_ms  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lib", required=True)
    parser.add_argument("--shape", type=int, nargs=3, metavar=("M", "N", "K"),
                        default=[8192, 4096, 4096])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--gelu", action="store_true", help="GELU in the epilogue")
    args = parser.parse_args()
    m, n, k = args.shape
    rt = Runtime(args.lib)
    x = torch.randint(-128, 128, (m, k), dtype=torch.int8, device="cuda")
    desc, _keep = dequantizing_gemm(x, n, activation=2 if args.gelu else 0)
    (ms,) = medians_ms([lambda i: rt.gemm(desc)], args.runs, warmup=2)
    mode = os.environ.get("QFORGE_CUDA_INT8_GEMM", "auto")
    act = " gelu" if args.gelu else ""
    print(f"{mode} {m}x{n}x{k}{act}: {ms:.3f} ms, {2 * m * n * k / ms / 1e9:.0f} TOPS")


if __name__ == "__main__":
    main()
