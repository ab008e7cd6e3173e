#!/usr/bin/env python3
"""The transformer block of examples/transformer/make_block.py in PyTorch,
with the same weights (regenerated from the same seed), for speed and
accuracy against qforge's compiled block on the same GPU.

  block_torch.py --seq S --hidden H --heads N [--ffn F] [--seed SEED] [--weights signs]
                 [--causal]
                 --input X.npy [--compare NAME=OUT.npy ...] [--runs R]

Prints, for PyTorch fp32 / fp16 / bf16 eager (and torch.compile fp16 when it
builds): median latency in ms over R runs (CUDA events, input already on the
GPU), and for each --compare output the SQNR against PyTorch fp32.
"""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples", "transformer"))
import make_block  # noqa: E402


def weights(seq, hidden, heads, ffn, seed, signs=False):
    import random
    b = make_block.build(seq, hidden, heads, ffn, random.Random(seed), text=False,
                         signs=signs)
    # Values come as a list, or (--weights signs) as raw little-endian f32.
    return [(torch.frombuffer(bytearray(v), dtype=torch.float32) if isinstance(v, bytes)
             else torch.tensor(v, dtype=torch.float32)).reshape(shape)
            for shape, v in b.params]


def block(x, p, heads, causal=False):
    (g1, b1, wq, bq, wk, bk, wv, bv, wo, bo, g2, b2, w1, c1, w2, c2) = p
    s, h = x.shape
    d = h // heads
    ln1 = F.layer_norm(x, (h,), g1, b1, eps=1e-5)
    q = (ln1 @ wq.t() + bq).view(s, heads, d).transpose(0, 1)
    k = (ln1 @ wk.t() + bk).view(s, heads, d).permute(1, 2, 0)
    v = (ln1 @ wv.t() + bv).view(s, heads, d).transpose(0, 1)
    scores = q @ k
    if causal:  # make_block.py --causal: 0 / -inf added before the scale
        scores = scores + torch.full((s, s), float("-inf"), device=x.device,
                                     dtype=x.dtype).triu(1)
    probs = torch.softmax(scores * (1.0 / math.sqrt(d)), dim=-1)
    ctx = (probs @ v).transpose(0, 1).reshape(s, h)
    r1 = x + ctx @ wo.t() + bo
    ln2 = F.layer_norm(r1, (h,), g2, b2, eps=1e-5)
    up = F.gelu(ln2 @ w1.t() + c1)
    return r1 + up @ w2.t() + c2


def median_ms(fn, runs):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    times.sort()
    return times[len(times) // 2]


def sqnr(ref, got):
    ref = ref.astype(np.float64)
    noise = ((got.astype(np.float64) - ref) ** 2).sum()
    return float("inf") if noise == 0 else 10 * math.log10((ref ** 2).sum() / noise)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--hidden", type=int, required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--ffn", type=int, default=0)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--weights", choices=["gauss", "signs"], default="gauss",
                    help="as make_block.py --weights")
    ap.add_argument("--causal", action="store_true", help="as make_block.py --causal")
    ap.add_argument("--input", required=True)
    ap.add_argument("--compare", action="append", default=[])
    ap.add_argument("--runs", type=int, default=50)
    a = ap.parse_args()
    ffn = a.ffn or 4 * a.hidden
    params = [t.cuda() for t in weights(a.seq, a.hidden, a.heads, ffn, a.seed,
                                        a.weights == "signs")]
    x = torch.from_numpy(np.load(a.input)).cuda()
    torch.backends.cuda.matmul.allow_tf32 = False
    with torch.no_grad():
        ref = block(x, params, a.heads, a.causal).float().cpu().numpy()
        rows = []
        for name, dtype in [("torch fp32", torch.float32), ("torch fp16", torch.float16),
                            ("torch bf16", torch.bfloat16)]:
            p = [t.to(dtype) for t in params]
            xd = x.to(dtype)
            ms = median_ms(lambda: block(xd, p, a.heads, a.causal), a.runs)
            out = block(xd, p, a.heads, a.causal).float().cpu().numpy()
            rows.append((name, ms, sqnr(ref, out)))
        try:
            p16 = [t.half() for t in params]
            x16 = x.half()
            compiled = torch.compile(lambda xx: block(xx, p16, a.heads, a.causal))
            ms = median_ms(lambda: compiled(x16), a.runs)
            rows.append(("torch.compile fp16", ms, sqnr(ref, compiled(x16).float().cpu().numpy())))
        except Exception as e:  # report, do not fail the run
            print("torch.compile failed:", str(e).splitlines()[0] if str(e) else type(e).__name__)
    for item in a.compare:
        name, path = item.split("=", 1)
        out = np.load(path).reshape(ref.shape)
        rows.append((name, float("nan"), sqnr(ref, out)))
    print("%-22s %12s %12s" % ("block", "ms", "SQNR vs torch fp32"))
    for name, ms, q in rows:
        print("%-22s %12s %12.1f" % (name, "-" if ms != ms else "%.3f" % ms, q))


if __name__ == "__main__":
    main()
