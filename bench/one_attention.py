#!/usr/bin/env python3
"""One int8 attention call (f16 in and out, [heads, seq, head_dim]), run
--runs times on the kernel that QFORGE_CUDA_INT8_ATTENTION names: a target
for profilers (nsys, or ncu --kernel-name regex:int8Attention ...), which
the full benchmark is not. Prints the median time of the whole call (the
quantizing kernels included).

usage: QFORGE_CUDA_INT8_ATTENTION=wgmma python3 bench/one_attention.py \\
           --lib build/lib/libqforge_rt.so --shape 32 8192 128 [--causal]
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_runtime import F16, AttentionDesc, Runtime, medians_ms  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lib", required=True)
    parser.add_argument("--shape", type=int, nargs=3, metavar=("HEADS", "SEQ", "DIM"),
                        default=[32, 8192, 128])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--causal", action="store_true")
    args = parser.parse_args()
    heads, seq, dim = args.shape
    rt = Runtime(args.lib)
    q, k, v = (torch.randn(heads, seq, dim, device="cuda", dtype=torch.float16)
               for _ in range(3))
    out = torch.empty_like(q)
    d = AttentionDesc(heads, seq, seq, dim, F16, dim ** -0.5, int(args.causal), 1,
                      q.data_ptr(), seq * dim, dim, k.data_ptr(), seq * dim, dim,
                      v.data_ptr(), seq * dim, dim, out.data_ptr(), seq * dim, dim)
    (ms,) = medians_ms([lambda i: rt.attention(d)], args.runs, warmup=2)
    flops = 4.0 * heads * seq * seq * dim / (2 if args.causal else 1)
    mode = os.environ.get("QFORGE_CUDA_INT8_ATTENTION", "auto")
    print(f"int8 attention ({mode}) {heads}x{seq}x{dim}{' causal' if args.causal else ''}: "
          f"{ms:.3f} ms, {flops / ms / 1e9:.0f} TOPS")


if __name__ == "__main__":
    main()
