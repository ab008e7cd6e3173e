#!/usr/bin/env python3
"""What horizontal fusion (qforge-fuse-sibling-matmuls) gains a GEMM: the
Q, K and V projections of one [M, K] activation as three [K -> N] GEMMs
against one [K -> 3N] GEMM, each way for the int8 GEMM with its epilogue
(qforge's runtime, f16 out, the route it picks) and for f16 (PyTorch's
F.linear, cuBLAS), timed round robin in one process (median ms of --runs).

usage: python3 bench/sibling_gemms.py --lib build/lib/libqforge_rt.so \\
           --shape 2048 4096 4096 [--shape 2048 1024 1024 ...]
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_runtime import Runtime, dequantizing_gemm, medians_ms  # noqa: E402


def int8_gemm(rt, x, n):
    """A function running qforge_rt_gemm of x [M, K] by a random [n, K]
    weight (bench_runtime.dequantizing_gemm)."""
    desc, keep = dequantizing_gemm(x, n)
    return lambda: (rt.gemm(desc), keep)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lib", required=True)
    parser.add_argument("--shape", type=int, nargs=3, action="append",
                        metavar=("M", "N", "K"), help="M, N of one sibling, K")
    parser.add_argument("--siblings", type=int, default=3)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    rt = Runtime(args.lib)
    s = args.siblings
    print(f"{'M x N x K':>20} {'int8 x' + str(s):>9} {'int8 fused':>10} {'gain':>6}"
          f" {'f16 x' + str(s):>9} {'f16 fused':>10} {'gain':>6}")
    for m, n, k in args.shape or [[2048, 4096, 4096]]:
        x8 = torch.randint(-128, 128, (m, k), dtype=torch.int8, device="cuda")
        apart = [int8_gemm(rt, x8, n) for _ in range(s)]
        fused = int8_gemm(rt, x8, s * n)
        x16 = torch.randn((m, k), dtype=torch.float16, device="cuda")
        w16 = [torch.randn((n, k), dtype=torch.float16, device="cuda") * k ** -0.5
               for _ in range(s)]
        b16 = [torch.randn((n,), dtype=torch.float16, device="cuda") for _ in range(s)]
        wf, bf = torch.cat(w16), torch.cat(b16)
        times = medians_ms([
            lambda i: [f() for f in apart],
            lambda i: fused(),
            lambda i: [F.linear(x16, w, b) for w, b in zip(w16, b16)],
            lambda i: F.linear(x16, wf, bf)], args.runs)
        print(f"{f'{m} x {n} x {k}':>20} {times[0]:9.4f} {times[1]:10.4f}"
              f" {times[0] / times[1]:5.2f}x {times[2]:9.4f} {times[3]:10.4f}"
              f" {times[2] / times[3]:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
