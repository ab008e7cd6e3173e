#!/usr/bin/env python3
"""GPU benchmarks of the qforge runtime against peers measured in the same run.

Every figure is the median of --iters timed iterations (CUDA events on one
stream, after warm-up) on random data, with inputs rotated so that repeated
iterations do not just measure the L2 cache. The runtime is driven through its
C API (ctypes) on PyTorch's current stream, so both sides are timed alike.

  1. int8 GEMM (i32 out): qforge vs torch._int_mm, and vs the best cuBLASLt
     heuristic candidate (gemm_candidates binary, same run).
  2. quantized linear: per-token dynamic quant + int8 GEMM + fused dequant
     epilogue (per-token x per-channel scales, bias, f16 out) vs fp16
     F.linear (cuBLAS).
  3. per-token quant kernel vs a device-to-device copy (effective bandwidth).
  4. fused attention (qforge_rt_attention, f16) vs PyTorch's
     scaled_dot_product_attention.

usage: bench_runtime.py --lib build/lib/libqforge_rt.so
                        --candidates build/bin/gemm_candidates [--out DIR]
"""

import argparse
import ctypes
import datetime
import json
import os
import statistics
import subprocess
import sys

import torch
import torch.nn.functional as F

F32, F16, BF16, I8, I32 = 0, 1, 2, 3, 4
PER_TENSOR, PER_TOKEN = 0, 1


class GemmDesc(ctypes.Structure):
    _fields_ = [
        ("batch", ctypes.c_int64), ("m", ctypes.c_int64), ("n", ctypes.c_int64),
        ("k", ctypes.c_int64), ("rhs_transposed", ctypes.c_int32),
        ("rhs_shared", ctypes.c_int32), ("lhs", ctypes.c_void_p),
        ("rhs", ctypes.c_void_p), ("lhs_scale", ctypes.c_void_p),
        ("lhs_scale_count", ctypes.c_int64), ("rhs_scale", ctypes.c_void_p),
        ("rhs_scale_count", ctypes.c_int64), ("bias", ctypes.c_void_p),
        ("bias_dtype", ctypes.c_int32), ("activation", ctypes.c_int32),
        ("out_dtype", ctypes.c_int32), ("out_scale", ctypes.c_float),
        ("out_zero_point", ctypes.c_int32), ("out_qmin", ctypes.c_int32),
        ("out_qmax", ctypes.c_int32), ("out", ctypes.c_void_p),
    ]


class AttentionDesc(ctypes.Structure):
    _fields_ = [
        ("batch", ctypes.c_int64), ("seq_q", ctypes.c_int64), ("seq_kv", ctypes.c_int64),
        ("head_dim", ctypes.c_int64), ("dtype", ctypes.c_int32), ("scale", ctypes.c_float),
        ("causal", ctypes.c_int32), ("mode", ctypes.c_int32),
        ("q", ctypes.c_void_p), ("q_batch_stride", ctypes.c_int64), ("q_row_stride", ctypes.c_int64),
        ("k", ctypes.c_void_p), ("k_batch_stride", ctypes.c_int64), ("k_row_stride", ctypes.c_int64),
        ("v", ctypes.c_void_p), ("v_batch_stride", ctypes.c_int64), ("v_row_stride", ctypes.c_int64),
        ("out", ctypes.c_void_p), ("out_batch_stride", ctypes.c_int64),
        ("out_row_stride", ctypes.c_int64),
    ]


class Runtime:
    def __init__(self, path, env=None):
        """env: variables set while the context is created (the CUDA backend
        reads its kernel choices, QFORGE_CUDA_*, then)."""
        self.lib = ctypes.CDLL(path)
        self.lib.qforge_rt_last_error.restype = ctypes.c_char_p
        self.ctx = ctypes.c_void_p()
        stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        saved = {name: os.environ.get(name) for name in env or {}}
        os.environ.update(env or {})
        try:
            self.check(self.lib.qforge_rt_create_on_stream(stream, ctypes.byref(self.ctx)))
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def check(self, status):
        if status != 0:
            raise RuntimeError(self.lib.qforge_rt_last_error().decode())

    def gemm(self, desc):
        self.check(self.lib.qforge_rt_gemm(self.ctx, ctypes.byref(desc)))

    def attention(self, desc):
        self.check(self.lib.qforge_rt_attention(self.ctx, ctypes.byref(desc)))

    def dynamic_quantize(self, x, q, scales, activation=0):
        """Per-token quantization of f16 x; activation 0 none, 1 relu, 2 gelu
        (applied first, qforge_rt_dynamic_quantize_act)."""
        rows, cols = x.shape
        self.check(self.lib.qforge_rt_dynamic_quantize_act(
            self.ctx, ctypes.c_int(F16), ctypes.c_void_p(x.data_ptr()),
            ctypes.c_int64(rows), ctypes.c_int64(cols), ctypes.c_int(PER_TOKEN),
            ctypes.c_int(activation), ctypes.c_void_p(q.data_ptr()),
            ctypes.c_void_p(scales.data_ptr())))


def dequantizing_gemm(x, n, activation=0):
    """A qforge_rt_gemm descriptor for x [M, K] (int8, on the GPU) by a
    random int8 [n, K] weight with random per-row and per-column scales and
    an f32 bias, f16 out; returns (desc, the tensors it points into)."""
    m, k = x.shape
    w = torch.randint(-128, 128, (n, k), dtype=torch.int8, device="cuda")
    x_scale = torch.rand((m,), device="cuda") * 1e-2 + 1e-4
    w_scale = torch.rand((n,), device="cuda") * 1e-2 + 1e-4
    bias = torch.randn((n,), device="cuda")
    out = torch.empty((m, n), dtype=torch.float16, device="cuda")
    desc = GemmDesc(batch=1, m=m, n=n, k=k, rhs_transposed=1, lhs=x.data_ptr(),
                    rhs=w.data_ptr(), lhs_scale=x_scale.data_ptr(), lhs_scale_count=m,
                    rhs_scale=w_scale.data_ptr(), rhs_scale_count=n, bias=bias.data_ptr(),
                    bias_dtype=F32, activation=activation, out_dtype=F16,
                    out=out.data_ptr())
    return desc, (w, x_scale, w_scale, bias, out)


def medians_ms(fns, iters, warmup=10):
    """Median time of each function, timed round robin (one call of each in
    turn) so that clock or thermal drift during the run hits all alike."""
    for _ in range(warmup):
        for fn in fns:
            fn(0)
    stream = torch.cuda.current_stream()
    samples = [[] for _ in fns]
    for i in range(iters):
        for fn, out in zip(fns, samples):
            start = torch.cuda.Event(enable_timing=True)
            stop = torch.cuda.Event(enable_timing=True)
            start.record(stream)
            fn(i)
            stop.record(stream)
            stop.synchronize()
            out.append(start.elapsed_time(stop))
    return [statistics.median(s) for s in samples]


def rotation(bytes_per_set, budget=256 << 20, most=8):
    """How many input sets to rotate through so they outgrow the L2 cache."""
    return max(1, min(most, budget // max(1, bytes_per_set)))


def bench_int8_gemm(rt, shapes, iters, log):
    rows = []
    for m, n, k in shapes:
        sets = rotation(m * k + n * k)
        xs = [torch.randint(-128, 128, (m, k), dtype=torch.int8, device="cuda") for _ in range(sets)]
        ws = [torch.randint(-128, 128, (n, k), dtype=torch.int8, device="cuda") for _ in range(sets)]
        out = torch.empty((m, n), dtype=torch.int32, device="cuda")
        descs = []
        for x, w in zip(xs, ws):
            d = GemmDesc(batch=1, m=m, n=n, k=k, rhs_transposed=1, lhs=x.data_ptr(),
                         rhs=w.data_ptr(), out_dtype=I32, out=out.data_ptr())
            descs.append(d)
        rt.gemm(descs[0])
        torch.cuda.synchronize()
        ref = torch._int_mm(xs[0], ws[0].t())
        exact = bool(torch.equal(out, ref))
        ours, peer = medians_ms([lambda i: rt.gemm(descs[i % sets]),
                                 lambda i: torch._int_mm(xs[i % sets], ws[i % sets].t())],
                                iters)
        tops = 2 * m * n * k / (ours * 1e-3) / 1e12
        row = dict(m=m, n=n, k=k, qforge_ms=ours, int_mm_ms=peer,
                   speedup_vs_int_mm=peer / ours, qforge_tops=tops, exact=exact)
        rows.append(row)
        log(f"int8 gemm {m}x{n}x{k}: qforge {ours:.3f} ms ({tops:.0f} TOPS), "
            f"torch._int_mm {peer:.3f} ms, x{peer / ours:.2f}, exact={exact}")
    return rows


def bench_linear(rt, ms, nks, iters, log):
    rows = []
    for nk in nks:
        n = k = nk
        w16 = (torch.randn((n, k), device="cuda") * 0.02).half()
        bias16 = (torch.randn((n,), device="cuda") * 0.1).half()
        w_scale = (w16.float().abs().amax(dim=1) / 127.0).clamp_min(1e-8)
        wq = torch.round(w16.float() / w_scale[:, None]).clamp(-127, 127).to(torch.int8)
        bias32 = bias16.float()
        for m in ms:
            sets = rotation(m * k * 2)
            xs = [torch.randn((m, k), device="cuda").half() for _ in range(sets)]
            q = torch.empty((m, k), dtype=torch.int8, device="cuda")
            scales = torch.empty((m,), dtype=torch.float32, device="cuda")
            out = torch.empty((m, n), dtype=torch.float16, device="cuda")
            desc = GemmDesc(batch=1, m=m, n=n, k=k, rhs_transposed=1, lhs=q.data_ptr(),
                            rhs=wq.data_ptr(), lhs_scale=scales.data_ptr(), lhs_scale_count=m,
                            rhs_scale=w_scale.data_ptr(), rhs_scale_count=n,
                            bias=bias32.data_ptr(), bias_dtype=F32, out_dtype=F16,
                            out=out.data_ptr())

            def ours_fn(i):
                rt.dynamic_quantize(xs[i % sets], q, scales)
                rt.gemm(desc)

            ours_fn(0)
            torch.cuda.synchronize()
            ref = F.linear(xs[0].float(), w16.float(), bias16.float())
            rel = ((out.float() - ref).norm() / ref.norm()).item()
            ours, peer = medians_ms([ours_fn,
                                     lambda i: F.linear(xs[i % sets], w16, bias16)], iters)
            row = dict(m=m, n=n, k=k, qforge_ms=ours, fp16_ms=peer,
                       speedup_vs_fp16=peer / ours, rel_error=rel)
            rows.append(row)
            log(f"linear m={m} n=k={nk}: qforge {ours:.4f} ms, fp16 {peer:.4f} ms, "
                f"x{peer / ours:.2f}, rel.err {rel:.2e}")
    return rows


def bench_quant_vs_copy(rt, shapes, iters, log):
    """Per-token quantization (f16 in) against a device-to-device copy of
    its input, plain and with GELU applied first (what the MLP's up
    projection hands over when its GELU moves into the quantization)."""
    rows = []
    for rows_, cols in shapes:
        sets = rotation(rows_ * cols * 2)
        xs = [torch.randn((rows_, cols), device="cuda").half() for _ in range(sets)]
        q = torch.empty((rows_, cols), dtype=torch.int8, device="cuda")
        scales = torch.empty((rows_,), dtype=torch.float32, device="cuda")
        dst = torch.empty_like(xs[0])
        ours, gelu, copy = medians_ms(
            [lambda i: rt.dynamic_quantize(xs[i % sets], q, scales),
             lambda i: rt.dynamic_quantize(xs[i % sets], q, scales, activation=2),
             lambda i: dst.copy_(xs[i % sets])], iters)
        n = rows_ * cols
        ours_gbs = (n * 2 + n + rows_ * 4) / (ours * 1e-3) / 1e9
        copy_gbs = (n * 2 * 2) / (copy * 1e-3) / 1e9
        row = dict(rows=rows_, cols=cols, quant_ms=ours, gelu_quant_ms=gelu, copy_ms=copy,
                   quant_gbs=ours_gbs, copy_gbs=copy_gbs, fraction_of_copy=ours_gbs / copy_gbs)
        rows.append(row)
        log(f"per-token quant {rows_}x{cols}: {ours:.4f} ms ({ours_gbs:.0f} GB/s), "
            f"with GELU {gelu:.4f} ms, copy {copy:.4f} ms ({copy_gbs:.0f} GB/s), "
            f"{100 * ours_gbs / copy_gbs:.0f}% of copy")
    return rows


def bench_attention(rt, shapes, iters, log, lib):
    """qforge_rt_attention (flash attention, f16 and int8 modes) vs PyTorch's
    scaled_dot_product_attention (its fastest backend for the shape) on the
    same [heads, seq, head_dim] tensors, without and with the causal mask;
    accuracy of both vs fp32 math. int8 runs twice: the default kernel
    (wgmma on Hopper at head dim 128) and the mma.sync one ("int8m")."""
    rt_mma = Runtime(lib, {"QFORGE_CUDA_INT8_ATTENTION": "mma"})
    rows = []
    for heads, seq, dim in shapes:
        q, k, v = (torch.randn(heads, seq, dim, device="cuda", dtype=torch.float16)
                   for _ in range(3))
        out = torch.empty_like(q)
        scale = dim ** -0.5
        for causal, mode, name in ((False, 0, "f16"), (False, 1, "int8"), (False, 1, "int8m"),
                                   (True, 0, "f16"), (True, 1, "int8"), (True, 1, "int8m")):
            runtime = rt_mma if name == "int8m" else rt
            d = AttentionDesc(heads, seq, seq, dim, F16, scale, int(causal), mode,
                              q.data_ptr(), seq * dim, dim, k.data_ptr(), seq * dim, dim,
                              v.data_ptr(), seq * dim, dim, out.data_ptr(), seq * dim, dim)

            def sdpa():
                return F.scaled_dot_product_attention(q[None], k[None], v[None],
                                                      is_causal=causal)
            ours_ms, torch_ms = medians_ms([lambda i: runtime.attention(d),
                                            lambda i: sdpa()], iters)
            runtime.attention(d)
            scores = (q.float() @ k.float().transpose(1, 2)) * scale
            if causal:
                scores = scores.masked_fill(
                    torch.ones(seq, seq, device="cuda", dtype=torch.bool).triu(1),
                    float("-inf"))
            ref = torch.softmax(scores, -1) @ v.float()
            theirs = sdpa()[0].float()
            err = lambda t: ((t - ref).norm() / ref.norm()).item()
            flops = 4.0 * heads * seq * seq * dim / (2 if causal else 1)
            row = {"heads": heads, "seq": seq, "head_dim": dim, "causal": causal,
                   "mode": name,
                   "qforge_ms": ours_ms, "torch_sdpa_ms": torch_ms,
                   "qforge_tflops": flops / ours_ms / 1e9,
                   "ratio_vs_sdpa": torch_ms / ours_ms, "qforge_rel_err": err(out.float()),
                   "sdpa_rel_err": err(theirs)}
            log(f"  attention {row['mode']} {heads}x{seq}x{dim}{' causal' if causal else ''}: "
                f"qforge {ours_ms:.3f} ms ({row['qforge_tflops']:.0f} TFLOPS), "
                f"torch sdpa {torch_ms:.3f} ms, speed vs sdpa {row['ratio_vs_sdpa']:.2f}x, "
                f"rel.err {row['qforge_rel_err']:.1e} (sdpa {row['sdpa_rel_err']:.1e})")
            rows.append(row)
    return rows


def run_candidates(binary, shapes, iters, log):
    args = [binary, str(iters)] + [f"{m},{n},{k}" for m, n, k in shapes]
    result = subprocess.run(args, capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    for r in rows:
        r["ratio_vs_best"] = r["best_candidate_ms"] / r["qforge_ms"]
        log(f"cuBLASLt candidates {r['m']}x{r['n']}x{r['k']}: best of {r['candidates']} "
            f"{r['best_candidate_ms']:.3f} ms, qforge {r['qforge_ms']:.3f} ms, "
            f"ratio {r['ratio_vs_best']:.3f}")
    return rows


def runtime_with_gemm_kernels(path, mode):
    """A context whose int8 GEMMs run on `mode` (QFORGE_CUDA_INT8_GEMM,
    after a '-' QFORGE_CUDA_INT8_GEMM_GRID, after a '/'
    QFORGE_CUDA_INT8_GEMM_STORE: read when the context is created); None
    where the mode cannot run."""
    mode, _, store = mode.partition("/")
    route, _, grid = mode.partition("-")
    env = {"QFORGE_CUDA_INT8_GEMM": route,
           "QFORGE_CUDA_INT8_GEMM_GRID": grid or "persistent",
           "QFORGE_CUDA_INT8_GEMM_STORE": store or "auto"}
    os.environ.update(env)
    try:
        return Runtime(path)
    except RuntimeError:
        return None
    finally:
        for name in env:
            del os.environ[name]


def bench_epilogue_gemm(path, shapes, iters, log):
    """int8 GEMM + dequantizing epilogue (f16 out, per-row and per-column
    scales, f32 bias) as the quantized block calls it: cuBLASLt's i32 GEMM
    plus the epilogue pass vs the Hopper kernel with the epilogue fused
    (both block widths, clusters of two, and the automatic choice), against cuBLAS fp16
    (F.linear, then F.gelu where the GEMM has GELU) and torch._int_mm (i32
    out, no epilogue) on the same shape. The Hopper kernel runs
    persistent (the default) and with one block per output block
    ("-tiles"); the 128 x 256 blocks store their outputs staged (the
    default when forced) and directly ("/direct")."""
    modes = ["cublaslt", "hopper128", "hopper256", "hopper256/direct", "hopper256x2",
             "hopper256x2/direct", "hopper128-tiles", "hopper256-tiles", "hopper256x2-tiles",
             "auto"]
    rts = {mode: runtime_with_gemm_kernels(path, mode) for mode in modes}
    modes = [mode for mode in modes if rts[mode] is not None]
    rows = []
    for m, n, k, gelu in shapes:
        sets = rotation(m * k + n * k)
        xs = [torch.randint(-128, 128, (m, k), dtype=torch.int8, device="cuda") for _ in range(sets)]
        ws = [torch.randint(-128, 128, (n, k), dtype=torch.int8, device="cuda") for _ in range(sets)]
        x16 = [torch.randn((m, k), device="cuda").half() for _ in range(min(sets, 2))]
        w16 = [torch.randn((n, k), device="cuda").half() * 0.02 for _ in range(min(sets, 2))]
        b16 = torch.randn((n,), device="cuda").half()
        x_scale = torch.rand((m,), device="cuda") * 1e-2 + 1e-4
        w_scale = torch.rand((n,), device="cuda") * 1e-2 + 1e-4
        bias = torch.randn((n,), device="cuda")
        outs = {mode: torch.empty((m, n), dtype=torch.float16, device="cuda") for mode in modes}

        def desc(i, out):
            return GemmDesc(batch=1, m=m, n=n, k=k, rhs_transposed=1, lhs=xs[i].data_ptr(),
                            rhs=ws[i].data_ptr(), lhs_scale=x_scale.data_ptr(),
                            lhs_scale_count=m, rhs_scale=w_scale.data_ptr(),
                            rhs_scale_count=n, bias=bias.data_ptr(), bias_dtype=F32,
                            activation=2 if gelu else 0, out_dtype=F16, out=out.data_ptr())
        descs = {mode: [desc(i, outs[mode]) for i in range(sets)] for mode in modes}
        for mode in modes:
            rts[mode].gemm(descs[mode][0])
        torch.cuda.synchronize()
        exact = all(torch.equal(outs[mode], outs["cublaslt"]) for mode in modes)
        fns = [(lambda mode: lambda i: rts[mode].gemm(descs[mode][i % sets]))(mode)
               for mode in modes]
        fns.append(lambda i: torch._int_mm(xs[i % sets], ws[i % sets].t()))
        if gelu:
            fns.append(lambda i: F.gelu(F.linear(x16[i % len(x16)], w16[i % len(w16)], b16)))
        else:
            fns.append(lambda i: F.linear(x16[i % len(x16)], w16[i % len(w16)], b16))
        times = medians_ms(fns, iters)
        row = dict(m=m, n=n, k=k, gelu=gelu, exact=exact, int_mm_ms=times[-2], fp16_ms=times[-1])
        for mode, t in zip(modes, times):
            row[f"{mode}_ms"] = t
        rows.append(row)
        tops = 2 * m * n * k / (row["auto_ms"] * 1e-3) / 1e12 if "auto_ms" in row else 0
        log(f"epilogue gemm {m}x{n}x{k}{' gelu' if gelu else ''}: " +
            ", ".join(f"{mode} {row[mode + '_ms']:.3f}" for mode in modes) +
            f" ms ({tops:.0f} TOPS auto); _int_mm {times[-2]:.3f}, fp16 {times[-1]:.3f} ms;"
            f" identical to cuBLASLt: {exact}")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lib", required=True)
    parser.add_argument("--candidates", required=True)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    parser.add_argument("--only", choices=["gemm", "epilogue", "linear", "quant", "attention"],
                        help="run one benchmark group (for profiling)")
    args = parser.parse_args()

    def log(line):
        print(line, file=sys.stderr, flush=True)

    torch.manual_seed(0)
    rt = Runtime(args.lib)
    gemm_shapes = [(8192, 8192, 8192), (4096, 14336, 4096), (4096, 4096, 4096)]
    results = {
        "date": datetime.date.today().isoformat(),
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "iters": args.iters,
    }
    if args.only in (None, "gemm"):
        log("== 1. int8 GEMM")
        results["int8_gemm"] = bench_int8_gemm(rt, gemm_shapes, args.iters, log)
        results["candidates"] = run_candidates(args.candidates, gemm_shapes, args.iters, log)
    if args.only in (None, "epilogue"):
        log("== 1b. int8 GEMM with the epilogue (f16 out): cuBLASLt + pass vs Hopper kernel")
        # The block's GEMMs (QKV, output, MLP up with GELU, MLP down) at
        # hidden 4096 and 1024; the MLP up also without GELU.
        block_shapes = [(m, n, k, gelu) for m in (2048, 8192)
                        for n, k, gelu in ((12288, 4096, False), (4096, 4096, False),
                                           (16384, 4096, True), (16384, 4096, False),
                                           (4096, 16384, False), (3072, 1024, False),
                                           (1024, 1024, False), (4096, 1024, True),
                                           (1024, 4096, False))]
        results["epilogue_gemm"] = bench_epilogue_gemm(args.lib, block_shapes, args.iters, log)
    if args.only in (None, "linear"):
        log("== 2. quantized linear vs fp16")
        results["linear"] = bench_linear(rt, [1, 16, 128, 1024, 4096, 8192], [4096, 8192],
                                         args.iters, log)
    if args.only in (None, "quant"):
        log("== 3. per-token quantization vs copy")
        results["quant"] = bench_quant_vs_copy(rt, [(16, 4096), (4096, 4096), (8192, 8192),
                                                    (2048, 16384), (8192, 16384)],
                                               args.iters, log)
    if args.only in (None, "attention"):
        log("== 4. attention (f16) vs PyTorch scaled_dot_product_attention")
        results["attention"] = bench_attention(
            rt, [(16, 2048, 64), (16, 8192, 64), (32, 2048, 128), (32, 8192, 128)],
            args.iters, log, args.lib)
    if args.only:
        return
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(results, f, indent=1)

    print(f"\n{results['device']}  {results['date']}  median of {args.iters}")
    print("int8 GEMM (i32 out)       qforge ms  TOPS  x _int_mm  x best-cuBLASLt")
    for g, c in zip(results["int8_gemm"], results["candidates"]):
        print(f"  {g['m']:>5}x{g['n']:>5}x{g['k']:>5}   {g['qforge_ms']:9.3f} {g['qforge_tops']:5.0f}"
              f"  {g['speedup_vs_int_mm']:8.2f}  {c['ratio_vs_best']:8.3f}")
    print("int8 GEMM + epilogue, f16 out   cuBLASLt+pass  hopper  auto ms  x cuBLASLt  x fp16  same")
    for r in results["epilogue_gemm"]:
        best = min([v for key, v in r.items() if key.startswith("hopper")] or [1e9])
        auto = r.get("auto_ms", r["cublaslt_ms"])
        print(f"  {r['m']:>5}x{r['n']:>5}x{r['k']:>5}{' gelu' if r['gelu'] else '     '}"
              f"  {r['cublaslt_ms']:13.3f} {best:7.3f}"
              f" {auto:8.3f}  {r['cublaslt_ms'] / auto:9.2f}  {r['fp16_ms'] / auto:6.2f}  {r['exact']}")
    print("quantized linear, f16 out  M     N=K   qforge ms  fp16 ms  speedup  rel.err")
    for r in results["linear"]:
        print(f"  {r['m']:>24} {r['n']:>5} {r['qforge_ms']:10.4f} {r['fp16_ms']:8.4f}"
              f"  {r['speedup_vs_fp16']:6.2f}  {r['rel_error']:.1e}")
    print("attention (f16 in/out)     H x S x D         qforge ms  TFLOPS  sdpa ms  x sdpa  rel.err")
    for r in results["attention"]:
        print(f"  {r['mode']:>5} {r['heads']:>6}x{r['seq']}x{r['head_dim']:<4}"
              f"{' causal' if r['causal'] else '       '}"
              f" {r['qforge_ms']:9.3f} "
              f"{r['qforge_tflops']:7.0f} {r['torch_sdpa_ms']:8.3f}  {r['ratio_vs_sdpa']:6.2f}"
              f"  {r['qforge_rel_err']:.1e}")
    print("per-token quant            shape        GB/s   copy GB/s  fraction")
    for r in results["quant"]:
        print(f"  {r['rows']:>18}x{r['cols']:<6} {r['quant_gbs']:8.0f} {r['copy_gbs']:9.0f}"
              f"  {r['fraction_of_copy']:7.2f}")


if __name__ == "__main__":
    main()
