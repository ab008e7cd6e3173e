#!/usr/bin/env python3
"""Writes a transformer block (pre-layernorm, GPT style) as MLIR, and an input.

  make_block.py OUT.mlir INPUT.npy [--seq S] [--hidden H] [--heads N]
                [--ffn F] [--seed SEED] [--calibration-dir DIR --samples K]
                [--dtype f16] [--weights signs] [--causal] [--input-only]

y = r + W2 gelu(W1 ln2(r) + b1) + b2,  r = x + Wo attn(ln1(x)) + bo,
attn = softmax(Q K^T / sqrt(d)) V over N heads, Q/K/V = W{q,k,v} ln1(x) + b.
Everything is linalg on tensors as torch-mlir emits it: nn.Linear weights
[out, in] behind linalg.transpose, heads split with tensor.expand_shape and
linalg.transpose, attention as linalg.batch_matmul, softmax and layernorm
as reductions, GELU in its erf form. Weights are N(0, 1/fan_in) from a
fixed seed; no numpy needed.
"""
import argparse
import math
import os
import random
import struct

ID2 = "affine_map<(i, j) -> (i, j)>"


def write_npy(path, shape, values):
    dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % dims
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%df" % len(values), *values))


class Block:
    def __init__(self, s, h, n, f, rng):
        self.s, self.h, self.n, self.f, self.d = s, h, n, f, h // n
        self.rng = rng
        self.lines = []
        self.params = []  # (shape, row-major values) of every constant
        self.text = True  # False: draw the weights, write no MLIR
        self.signs = False  # True: weight matrices are +-1/sqrt(fan_in)
        self.causal = False  # True: a causal mask is added to the scores
        self.count = 0

    def name(self, stem):
        self.count += 1
        return "%%%s%d" % (stem, self.count)

    def emit(self, text):
        self.lines.append("  " + text)

    def t(self, *dims):
        return "tensor<%sxf32>" % "x".join(str(d) for d in dims)

    def signs_const(self, shape, scale):
        """A [n, k] weight of +-scale with random signs (one generator bit
        each), written as a hex literal: fast to draw and parse at any width,
        and a library holding it compresses ~16x (bench/prepare_gpu_models.sh
        perf at hidden 4096). Recorded in self.params as raw f32 bytes."""
        count = shape[0] * shape[1]
        bits = self.rng.getrandbits(count).to_bytes((count + 7) // 8, "little")
        plus, minus = struct.pack("<f", scale), struct.pack("<f", -scale)
        table = [b"".join(plus if (b >> j) & 1 else minus for j in range(8))
                 for b in range(256)]
        data = b"".join(map(table.__getitem__, bits))[:4 * count]
        self.params.append((list(shape), data))
        v = self.name("c")
        if self.text:
            self.emit('%s = arith.constant dense<"0x%s"> : %s'
                      % (v, data.hex().upper(), self.t(*shape)))
        return v

    def const(self, shape, scale, mean=0.0):
        """A constant of N(mean, scale) values drawn row-major; recorded in
        self.params (bench/block_torch.py rebuilds the block from them)."""
        count = 1
        for d in shape:
            count *= d
        if self.signs and len(shape) == 2:
            return self.signs_const(shape, scale)
        values = [mean + self.rng.gauss(0, scale) for _ in range(count)]
        self.params.append((list(shape), values))
        v = self.name("c")
        if not self.text:
            return v
        text = ["%.6e" % x for x in values]

        def nest(dims, offset):
            if len(dims) == 1:
                return "[" + ", ".join(text[offset:offset + dims[0]]) + "]"
            inner = 1
            for d in dims[1:]:
                inner *= d
            return "[" + ", ".join(nest(dims[1:], offset + i * inner)
                                   for i in range(dims[0])) + "]"
        self.emit("%s = arith.constant dense<%s> : %s" % (v, nest(shape, 0), self.t(*shape)))
        return v

    def empty(self, *shape):
        v = self.name("e")
        self.emit("%s = tensor.empty() : %s" % (v, self.t(*shape)))
        return v

    def zeros(self, *shape):
        e = self.empty(*shape)
        v = self.name("z")
        self.emit("%s = linalg.fill ins(%%zero : f32) outs(%s : %s) -> %s"
                  % (v, e, self.t(*shape), self.t(*shape)))
        return v

    def linear(self, x, k, n, act=None):
        """nn.Linear: x[S,k] @ W^T + b, W stored [n, k]; optional GELU."""
        s = self.s
        w = self.const([n, k], 1.0 / math.sqrt(k))
        b = self.const([n], 0.02)
        et = self.empty(k, n)
        wt = self.name("wt")
        self.emit("%s = linalg.transpose ins(%s : %s) outs(%s : %s) permutation = [1, 0]"
                  % (wt, w, self.t(n, k), et, self.t(k, n)))
        z = self.zeros(s, n)
        m = self.name("mm")
        self.emit("%s = linalg.matmul ins(%s, %s : %s, %s) outs(%s : %s) -> %s"
                  % (m, x, wt, self.t(s, k), self.t(k, n), z, self.t(s, n), self.t(s, n)))
        e = self.empty(s, n)
        y = self.name("lin")
        body = ["%s = arith.addf %%v, %%bias : f32" % "%a"]
        out = "%a"
        if act == "gelu":
            body += ["%g0 = arith.mulf %a, %rsqrt2 : f32", "%g1 = math.erf %g0 : f32",
                     "%g2 = arith.addf %g1, %one : f32", "%g3 = arith.mulf %a, %g2 : f32",
                     "%g4 = arith.mulf %g3, %half : f32"]
            out = "%g4"
        self.emit("%s = linalg.generic {indexing_maps = [%s, affine_map<(i, j) -> (j)>, %s], "
                  "iterator_types = [\"parallel\", \"parallel\"]} ins(%s, %s : %s, %s) outs(%s : %s) {"
                  % (y, ID2, ID2, m, b, self.t(s, n), self.t(n), e, self.t(s, n)))
        self.emit("^bb0(%v: f32, %bias: f32, %o: f32):")
        for line in body:
            self.emit("  " + line)
        self.emit("  linalg.yield %s : f32" % out)
        self.emit("} -> %s" % self.t(s, n))
        return y

    def row_reduce(self, x, cols, body, init):
        """[S, cols] -> [S]: acc = body(x, acc) over each row."""
        s = self.s
        e = self.name("re")
        self.emit("%s = tensor.empty() : tensor<%dxf32>" % (e, s))
        f = self.name("rf")
        self.emit("%s = linalg.fill ins(%s : f32) outs(%s : tensor<%dxf32>) -> tensor<%dxf32>"
                  % (f, init, e, s, s))
        r = self.name("red")
        self.emit("%s = linalg.generic {indexing_maps = [%s, affine_map<(i, j) -> (i)>], "
                  "iterator_types = [\"parallel\", \"reduction\"]} ins(%s : %s) outs(%s : tensor<%dxf32>) {"
                  % (r, ID2, x, self.t(s, cols), f, s))
        self.emit("^bb0(%x: f32, %acc: f32):")
        for line in body:
            self.emit("  " + line)
        self.emit("} -> tensor<%dxf32>" % s)
        return r

    def layernorm(self, x):
        s, h = self.s, self.h
        g = self.const([h], 0.05, 1.0)
        b = self.const([h], 0.02)
        total = self.row_reduce(x, h, ["%r = arith.addf %x, %acc : f32", "linalg.yield %r : f32"], "%zero")
        e = self.empty(s, h)
        c = self.name("cen")
        self.emit("%s = linalg.generic {indexing_maps = [%s, affine_map<(i, j) -> (i)>, %s], "
                  "iterator_types = [\"parallel\", \"parallel\"]} ins(%s, %s : %s, tensor<%dxf32>) outs(%s : %s) {"
                  % (c, ID2, ID2, x, total, self.t(s, h), s, e, self.t(s, h)))
        self.emit("^bb0(%v: f32, %t: f32, %o: f32):")
        self.emit("  %m = arith.divf %t, %hidden : f32")
        self.emit("  %r = arith.subf %v, %m : f32")
        self.emit("  linalg.yield %r : f32")
        self.emit("} -> %s" % self.t(s, h))
        sq = self.row_reduce(c, h, ["%q = arith.mulf %x, %x : f32", "%r = arith.addf %q, %acc : f32",
                                    "linalg.yield %r : f32"], "%zero")
        y = self.name("ln")
        e2 = self.empty(s, h)
        self.emit("%s = linalg.generic {indexing_maps = [%s, affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (j)>, "
                  "affine_map<(i, j) -> (j)>, %s], iterator_types = [\"parallel\", \"parallel\"]} "
                  "ins(%s, %s, %s, %s : %s, tensor<%dxf32>, tensor<%dxf32>, tensor<%dxf32>) outs(%s : %s) {"
                  % (y, ID2, ID2, c, sq, g, b, self.t(s, h), s, h, h, e2, self.t(s, h)))
        self.emit("^bb0(%v: f32, %ss: f32, %gamma: f32, %beta: f32, %o: f32):")
        self.emit("  %var = arith.divf %ss, %hidden : f32")
        self.emit("  %ve = arith.addf %var, %eps : f32")
        self.emit("  %rs = math.rsqrt %ve : f32")
        self.emit("  %n = arith.mulf %v, %rs : f32")
        self.emit("  %sc = arith.mulf %n, %gamma : f32")
        self.emit("  %r = arith.addf %sc, %beta : f32")
        self.emit("  linalg.yield %r : f32")
        self.emit("} -> %s" % self.t(s, h))
        return y

    def add(self, a, b):
        s, h = self.s, self.h
        e = self.empty(s, h)
        y = self.name("res")
        self.emit("%s = linalg.generic {indexing_maps = [%s, %s, %s], iterator_types = [\"parallel\", \"parallel\"]} "
                  "ins(%s, %s : %s, %s) outs(%s : %s) {" % (y, ID2, ID2, ID2, a, b, self.t(s, h), self.t(s, h), e, self.t(s, h)))
        self.emit("^bb0(%p: f32, %q: f32, %o: f32):")
        self.emit("  %r = arith.addf %p, %q : f32")
        self.emit("  linalg.yield %r : f32")
        self.emit("} -> %s" % self.t(s, h))
        return y

    def heads(self, x, perm, out_shape):
        s, n, d = self.s, self.n, self.d
        r = self.name("split")
        self.emit("%s = tensor.expand_shape %s [[0], [1, 2]] output_shape [%d, %d, %d] : %s into %s"
                  % (r, x, s, n, d, self.t(s, self.h), self.t(s, n, d)))
        e = self.empty(*out_shape)
        y = self.name("hd")
        self.emit("%s = linalg.transpose ins(%s : %s) outs(%s : %s) permutation = [%s]"
                  % (y, r, self.t(s, n, d), e, self.t(*out_shape), ", ".join(map(str, perm))))
        return y

    def causal_mask(self, scores):
        """scores + mask[i, j], mask 0 where j <= i and -inf above (as a
        decoder's causal mask is added; no generator draws)."""
        s, n = self.s, self.n
        m = self.name("mask")
        if self.text:
            rows = ["[" + ", ".join("0.0" if j <= i else "0xFF800000" for j in range(s)) + "]"
                    for i in range(s)]
            self.emit("%s = arith.constant dense<[%s]> : tensor<%dx%dxf32>"
                      % (m, ", ".join(rows), s, s))
        e = self.empty(n, s, s)
        y = self.name("masked")
        self.emit("%s = linalg.generic {indexing_maps = [affine_map<(b, i, j) -> (b, i, j)>, "
                  "affine_map<(b, i, j) -> (i, j)>, affine_map<(b, i, j) -> (b, i, j)>], "
                  "iterator_types = [\"parallel\", \"parallel\", \"parallel\"]} "
                  "ins(%s, %s : %s, tensor<%dx%dxf32>) outs(%s : %s) {"
                  % (y, scores, m, self.t(n, s, s), s, s, e, self.t(n, s, s)))
        self.emit("^bb0(%x: f32, %mk: f32, %o: f32):")
        self.emit("  %r = arith.addf %x, %mk : f32")
        self.emit("  linalg.yield %r : f32")
        self.emit("} -> %s" % self.t(n, s, s))
        return y

    def attention(self, q, k, v):
        s, n, d = self.s, self.n, self.d
        qh = self.heads(q, [1, 0, 2], (n, s, d))
        kt = self.heads(k, [1, 2, 0], (n, d, s))
        vh = self.heads(v, [1, 0, 2], (n, s, d))
        z = self.name("sz")
        e = self.empty(n, s, s)
        self.emit("%s = linalg.fill ins(%%zero : f32) outs(%s : %s) -> %s" % (z, e, self.t(n, s, s), self.t(n, s, s)))
        sc = self.name("scores")
        self.emit("%s = linalg.batch_matmul ins(%s, %s : %s, %s) outs(%s : %s) -> %s"
                  % (sc, qh, kt, self.t(n, s, d), self.t(n, d, s), z, self.t(n, s, s), self.t(n, s, s)))
        id3 = "affine_map<(b, i, j) -> (b, i, j)>"
        row = "affine_map<(b, i, j) -> (b, i)>"
        if self.causal:
            sc = self.causal_mask(sc)
        # row max
        me = self.name("me")
        self.emit("%s = tensor.empty() : tensor<%dx%dxf32>" % (me, n, s))
        mf = self.name("mf")
        self.emit("%s = linalg.fill ins(%%ninf : f32) outs(%s : tensor<%dx%dxf32>) -> tensor<%dx%dxf32>" % (mf, me, n, s, n, s))
        mx = self.name("max")
        self.emit("%s = linalg.generic {indexing_maps = [%s, %s], iterator_types = [\"parallel\", \"parallel\", \"reduction\"]} "
                  "ins(%s : %s) outs(%s : tensor<%dx%dxf32>) {" % (mx, id3, row, sc, self.t(n, s, s), mf, n, s))
        self.emit("^bb0(%x: f32, %acc: f32):")
        self.emit("  %r = arith.maximumf %x, %acc : f32")
        self.emit("  linalg.yield %r : f32")
        self.emit("} -> tensor<%dx%dxf32>" % (n, s))
        # exp((x - max) * scale)
        ee = self.empty(n, s, s)
        ex = self.name("exp")
        self.emit("%s = linalg.generic {indexing_maps = [%s, %s, %s], iterator_types = [\"parallel\", \"parallel\", \"parallel\"]} "
                  "ins(%s, %s : %s, tensor<%dx%dxf32>) outs(%s : %s) {" % (ex, id3, row, id3, sc, mx, self.t(n, s, s), n, s, ee, self.t(n, s, s)))
        self.emit("^bb0(%x: f32, %m: f32, %o: f32):")
        self.emit("  %t = arith.subf %x, %m : f32")
        self.emit("  %u = arith.mulf %t, %scale : f32")
        self.emit("  %r = math.exp %u : f32")
        self.emit("  linalg.yield %r : f32")
        self.emit("} -> %s" % self.t(n, s, s))
        # row sum
        se = self.name("se")
        self.emit("%s = tensor.empty() : tensor<%dx%dxf32>" % (se, n, s))
        sf = self.name("sf")
        self.emit("%s = linalg.fill ins(%%zero : f32) outs(%s : tensor<%dx%dxf32>) -> tensor<%dx%dxf32>" % (sf, se, n, s, n, s))
        sm = self.name("sum")
        self.emit("%s = linalg.generic {indexing_maps = [%s, %s], iterator_types = [\"parallel\", \"parallel\", \"reduction\"]} "
                  "ins(%s : %s) outs(%s : tensor<%dx%dxf32>) {" % (sm, id3, row, ex, self.t(n, s, s), sf, n, s))
        self.emit("^bb0(%x: f32, %acc: f32):")
        self.emit("  %r = arith.addf %x, %acc : f32")
        self.emit("  linalg.yield %r : f32")
        self.emit("} -> tensor<%dx%dxf32>" % (n, s))
        pe = self.empty(n, s, s)
        p = self.name("probs")
        self.emit("%s = linalg.generic {indexing_maps = [%s, %s, %s], iterator_types = [\"parallel\", \"parallel\", \"parallel\"]} "
                  "ins(%s, %s : %s, tensor<%dx%dxf32>) outs(%s : %s) {" % (p, id3, row, id3, ex, sm, self.t(n, s, s), n, s, pe, self.t(n, s, s)))
        self.emit("^bb0(%x: f32, %t: f32, %o: f32):")
        self.emit("  %r = arith.divf %x, %t : f32")
        self.emit("  linalg.yield %r : f32")
        self.emit("} -> %s" % self.t(n, s, s))
        cz = self.name("cz")
        ce = self.empty(n, s, d)
        self.emit("%s = linalg.fill ins(%%zero : f32) outs(%s : %s) -> %s" % (cz, ce, self.t(n, s, d), self.t(n, s, d)))
        ctx = self.name("ctx")
        self.emit("%s = linalg.batch_matmul ins(%s, %s : %s, %s) outs(%s : %s) -> %s"
                  % (ctx, p, vh, self.t(n, s, s), self.t(n, s, d), cz, self.t(n, s, d), self.t(n, s, d)))
        te = self.empty(s, n, d)
        t = self.name("merge")
        self.emit("%s = linalg.transpose ins(%s : %s) outs(%s : %s) permutation = [1, 0, 2]"
                  % (t, ctx, self.t(n, s, d), te, self.t(s, n, d)))
        c = self.name("ctx2d")
        self.emit("%s = tensor.collapse_shape %s [[0], [1, 2]] : %s into %s" % (c, t, self.t(s, n, d), self.t(s, self.h)))
        return c


def build(seq, hidden, heads, ffn, rng, text=True, signs=False, causal=False):
    """The block's ops in order (weights drawn from rng as they come):
    ln1, q, k, v, attention, o, residual, ln2, up (GELU), down, residual.
    signs: weight matrices of +-1/sqrt(fan_in) (see Block.signs_const)."""
    b = Block(seq, hidden, heads, ffn, rng)
    b.text = text
    b.signs = signs
    b.causal = causal
    h = hidden
    x = "%input"
    ln1 = b.layernorm(x)
    q = b.linear(ln1, h, h)
    k = b.linear(ln1, h, h)
    v = b.linear(ln1, h, h)
    attn = b.attention(q, k, v)
    o = b.linear(attn, h, h)
    r1 = b.add(x, o)
    ln2 = b.layernorm(r1)
    up = b.linear(ln2, h, ffn, act="gelu")
    down = b.linear(up, ffn, h)
    b.out = b.add(r1, down)
    return b


def as_f16(text, s, h):
    """The block in f16: every f32 type becomes f16 (constants round to f16;
    -inf spelled for f16), the function turns private @block_f16, and a
    public @block keeps the f32 interface with conversions around it."""
    body = text.replace("f32", "f16").replace("0xFF800000", "0xFC00")
    body = body.replace("func.func @block(", "func.func private @block_f16(", 1)
    t32, t16 = "tensor<%dx%dxf32>" % (s, h), "tensor<%dx%dxf16>" % (s, h)
    ident = "affine_map<(i, j) -> (i, j)>"

    def convert(src, src_t, dst_t, op, a, b):
        return ["  %%e_%s = tensor.empty() : %s" % (op, dst_t),
                "  %%c_%s = linalg.generic {indexing_maps = [%s, %s], iterator_types = [\"parallel\", \"parallel\"]} "
                "ins(%s : %s) outs(%%e_%s : %s) {" % (op, ident, ident, src, src_t, op, dst_t),
                "  ^bb0(%%v: %s, %%o: %s):" % (a, b),
                "    %%r = arith.%s %%v : %s to %s" % (op, a, b),
                "    linalg.yield %r : " + b,
                "  } -> " + dst_t]
    wrapper = (["func.func @block(%%x: %s) -> %s {" % (t32, t32)] +
               convert("%x", t32, t16, "truncf", "f32", "f16") +
               ["  %%y = func.call @block_f16(%%c_truncf) : (%s) -> %s" % (t16, t16)] +
               convert("%y", t16, t32, "extf", "f16", "f32") +
               ["  return %%c_extf : %s" % t32, "}", ""])
    return body + "\n" + "\n".join(wrapper)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mlir")
    p.add_argument("input")
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=0, help="default 4 x hidden")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--dtype", choices=["f32", "f16"], default="f32",
                   help="f16: the block computes in f16 (weights rounded to "
                        "f16), between f32 input/output conversions")
    p.add_argument("--weights", choices=["gauss", "signs"], default="gauss",
                   help="signs: weight matrices of +-1/sqrt(fan_in) with random "
                        "signs, as hex literals (wide blocks: fast to write and "
                        "parse, and their libraries compress); f32 only")
    p.add_argument("--causal", action="store_true",
                   help="add a causal mask (0 / -inf constant) to the attention "
                        "scores before the softmax, as a decoder does")
    p.add_argument("--input-only", action="store_true",
                   help="draw the weights (to advance the generator) but write "
                        "only INPUT.npy, the same as a full run writes; MLIR "
                        "is not written (regenerates a big input where it is "
                        "needed instead of shipping it)")
    p.add_argument("--calibration-dir")
    p.add_argument("--samples", type=int, default=8)
    a = p.parse_args()
    f = a.ffn or 4 * a.hidden
    if a.hidden % a.heads:
        p.error("--hidden must be a multiple of --heads")
    if a.weights == "signs" and a.dtype != "f32":
        p.error("--weights signs writes f32 constants (use qforge-compile "
                "--float-precision f16 for an f16 block)")
    signs = a.weights == "signs"
    rng = random.Random(a.seed)
    if a.input_only:
        build(a.seq, a.hidden, a.heads, f, rng, text=False, signs=signs)
        write_npy(a.input, [a.seq, a.hidden],
                  [rng.gauss(0, 1) for _ in range(a.seq * a.hidden)])
        return
    b = build(a.seq, a.hidden, a.heads, f, rng, signs=signs, causal=a.causal)
    s, h = a.seq, a.hidden
    out = b.out
    header = [
        "// Generated by examples/transformer/make_block.py: seq %d, hidden %d, heads %d, ffn %d, seed %d, weights %s."
        % (s, h, a.heads, f, a.seed, a.weights),
        "func.func @block(%%input: tensor<%dx%dxf32>) -> tensor<%dx%dxf32> {" % (s, h, s, h),
        "  %zero = arith.constant 0.0 : f32",
        "  %one = arith.constant 1.0 : f32",
        "  %half = arith.constant 0.5 : f32",
        "  %rsqrt2 = arith.constant 0.70710678118654752 : f32",
        "  %ninf = arith.constant 0xFF800000 : f32",
        "  %%hidden = arith.constant %d.0 : f32" % h,
        "  %eps = arith.constant 1.0e-5 : f32",
        "  %%scale = arith.constant %.9e : f32" % (1.0 / math.sqrt(h // a.heads)),
    ]
    text = "\n".join(header + b.lines + ["  return %s : tensor<%dx%dxf32>" % (out, s, h), "}", ""])
    if a.dtype == "f16":
        text = as_f16(text, s, h)
    with open(a.mlir, "w") as fh:
        fh.write(text)
    write_npy(a.input, [s, h], [rng.gauss(0, 1) for _ in range(s * h)])
    if a.calibration_dir:
        os.makedirs(a.calibration_dir, exist_ok=True)
        for i in range(a.samples):
            write_npy(os.path.join(a.calibration_dir, "%04d.npy" % i), [s, h],
                      [rng.gauss(0, 1) for _ in range(s * h)])


if __name__ == "__main__":
    main()
