//===- attention_test.cpp - qforge_rt_attention ---------------------------===//
//
// The CPU reference against a double-precision softmax attention written
// out here, its argument checks, and the CUDA flash-attention kernel against
// the CPU reference on fresh random data (within the type's rounding: the
// kernel rounds the probabilities to the input type), over every head dim
// it takes, ragged sequence lengths, and heads read and written in place
// inside [seq, heads * head_dim] tensors. CUDA tests skip without a device.
//
//===----------------------------------------------------------------------===//

#include "numerics.h"
#include "test_util.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

using namespace qforge::test;

namespace {

/// A [batch, rows, dim] view into `data` (elements), as the runtime takes.
struct View {
  int64_t batchStride, rowStride;
};

/// The two layouts a model gives the runtime: contiguous [batch, rows, dim],
/// and heads inside [rows, batch * dim] (batch = heads).
View layout(bool headsInPlace, int64_t batch, int64_t rows, int64_t dim) {
  return headsInPlace ? View{dim, batch * dim} : View{rows * dim, dim};
}

/// Values of `type` stored as raw bytes, with their float values kept.
struct Tensor {
  qforge_dtype type;
  std::vector<uint8_t> bytes;
  std::vector<float> values; // after rounding to `type`

  Tensor(qforge_dtype type, const std::vector<float> &v)
      : type(type), bytes(encode(v, type)) {
    for (size_t i = 0; i < v.size(); ++i)
      values.push_back(at(i));
  }
  float at(size_t i) const { return decodeAt(bytes.data(), i, type); }
};

struct Problem {
  int64_t batch, seqQ, seqKV, dim;
  bool headsInPlace;
  float scale;
  bool causal = false; // query i sees keys 0..i
};

/// out[b, i, :] in double, reading the views the runtime reads.
std::vector<double> referenceAttention(const Problem &p, const Tensor &q,
                                       const Tensor &k, const Tensor &v) {
  View qv = layout(p.headsInPlace, p.batch, p.seqQ, p.dim);
  View kv = layout(p.headsInPlace, p.batch, p.seqKV, p.dim);
  std::vector<double> out(size_t(p.batch * p.seqQ * p.dim));
  std::vector<double> s(size_t(p.seqKV));
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t i = 0; i < p.seqQ; ++i) {
      double max = -INFINITY, sum = 0;
      int64_t keys = p.causal ? std::min(p.seqKV, i + 1) : p.seqKV;
      s.assign(size_t(keys), 0.0);
      for (int64_t j = 0; j < keys; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < p.dim; ++c)
          dot +=
              double(
                  q.values[size_t(b * qv.batchStride + i * qv.rowStride + c)]) *
              k.values[size_t(b * kv.batchStride + j * kv.rowStride + c)];
        s[size_t(j)] = dot * p.scale;
        max = std::max(max, s[size_t(j)]);
      }
      for (double &x : s) {
        x = std::exp(x - max);
        sum += x;
      }
      for (int64_t c = 0; c < p.dim; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < keys; ++j)
          acc += s[size_t(j)] *
                 v.values[size_t(b * kv.batchStride + j * kv.rowStride + c)];
        out[size_t((b * p.seqQ + i) * p.dim + c)] = acc / sum;
      }
    }
  return out;
}

qforge_attention_desc describe(const Problem &p, qforge_dtype type,
                               const void *q, const void *k, const void *v,
                               void *out) {
  View qv = layout(p.headsInPlace, p.batch, p.seqQ, p.dim);
  View kv = layout(p.headsInPlace, p.batch, p.seqKV, p.dim);
  qforge_attention_desc d{};
  d.batch = p.batch;
  d.seq_q = p.seqQ;
  d.seq_kv = p.seqKV;
  d.head_dim = p.dim;
  d.dtype = type;
  d.scale = p.scale;
  d.causal = p.causal;
  d.q = q;
  d.q_batch_stride = qv.batchStride;
  d.q_row_stride = qv.rowStride;
  d.k = k;
  d.k_batch_stride = kv.batchStride;
  d.k_row_stride = kv.rowStride;
  d.v = v;
  d.v_batch_stride = kv.batchStride;
  d.v_row_stride = kv.rowStride;
  d.out = out;
  d.out_batch_stride = qv.batchStride;
  d.out_row_stride = qv.rowStride;
  return d;
}

/// Output element (b, i, c) of a view, as float.
float outputAt(const Problem &p, const Tensor &out, int64_t b, int64_t i,
               int64_t c) {
  View ov = layout(p.headsInPlace, p.batch, p.seqQ, p.dim);
  return out.at(size_t(b * ov.batchStride + i * ov.rowStride + c));
}

TEST(AttentionCpu, MatchesDoubleReference) {
  std::mt19937 rng{std::random_device{}()};
  const Problem problems[] = {{2, 5, 7, 8, false, 0.35f},
                              {3, 9, 4, 16, true, 1.0f},
                              {1, 1, 1, 3, false, 0.5f},
                              {2, 6, 6, 8, false, 4.0f}, // peaked softmax
                              // causal, with more queries than keys
                              {2, 9, 6, 8, true, 0.5f, true}};
  for (const Problem &p : problems)
    for (qforge_dtype type : {QFORGE_F32, QFORGE_F16, QFORGE_BF16}) {
      size_t qn = size_t(p.batch * p.seqQ * p.dim),
             kn = size_t(p.batch * p.seqKV * p.dim);
      Tensor q(type, randomFloats(rng, qn, -2, 2));
      Tensor k(type, randomFloats(rng, kn, -2, 2));
      Tensor v(type, randomFloats(rng, kn, -1, 1));
      Tensor out(type, std::vector<float>(qn, NAN));
      Context cpu(QFORGE_BACKEND_CPU);
      qforge_attention_desc d =
          describe(p, type, q.bytes.data(), k.bytes.data(), v.bytes.data(),
                   out.bytes.data());
      QF_ASSERT_OK(qforge_rt_attention(cpu, &d));
      std::vector<double> want = referenceAttention(p, q, k, v);
      // f32 math, then one rounding to the type.
      double tolerance = type == QFORGE_F32   ? 1e-5
                         : type == QFORGE_F16 ? 1e-3
                                              : 8e-3;
      for (int64_t b = 0; b < p.batch; ++b)
        for (int64_t i = 0; i < p.seqQ; ++i)
          for (int64_t c = 0; c < p.dim; ++c)
            ASSERT_NEAR(outputAt(p, out, b, i, c),
                        want[size_t((b * p.seqQ + i) * p.dim + c)], tolerance)
                << "type " << type << " b " << b << " i " << i << " c " << c;
    }
}

TEST(AttentionCpu, RejectsBadDescriptors) {
  Context cpu(QFORGE_BACKEND_CPU);
  std::vector<float> buffer(64, 1.0f);
  Problem p{2, 2, 2, 4, false, 1.0f};
  auto base = [&] {
    return describe(p, QFORGE_F32, buffer.data(), buffer.data(), buffer.data(),
                    buffer.data() + 32);
  };
  qforge_attention_desc d = base();
  d.seq_kv = 0;
  EXPECT_EQ(qforge_rt_attention(cpu, &d), QFORGE_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(qforge_rt_last_error(), "sizes must be >= 1"), nullptr);
  d = base();
  d.scale = NAN;
  EXPECT_EQ(qforge_rt_attention(cpu, &d), QFORGE_ERR_INVALID_ARGUMENT);
  d = base();
  d.causal = 2;
  EXPECT_EQ(qforge_rt_attention(cpu, &d), QFORGE_ERR_INVALID_ARGUMENT);
  d = base();
  d.dtype = QFORGE_I8;
  EXPECT_EQ(qforge_rt_attention(cpu, &d), QFORGE_ERR_INVALID_ARGUMENT);
  d = base();
  d.v = nullptr;
  EXPECT_EQ(qforge_rt_attention(cpu, &d), QFORGE_ERR_INVALID_ARGUMENT);
  // Output rows 2 elements apart with head_dim 4 overlap.
  d = base();
  d.out_row_stride = 2;
  EXPECT_EQ(qforge_rt_attention(cpu, &d), QFORGE_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(qforge_rt_last_error(), "out rows overlap"), nullptr);
  // Batches interleaved with rows (heads in place) do not.
  d = base();
  d.out_batch_stride = 4;
  d.out_row_stride = 8;
  QF_ASSERT_OK(qforge_rt_attention(cpu, &d));
  // ...unless a batch stride falls inside a row.
  d.out_batch_stride = 2;
  EXPECT_EQ(qforge_rt_attention(cpu, &d), QFORGE_ERR_INVALID_ARGUMENT);
}

/// Signal-to-quantization-noise ratio of `got` against `want`, in dB.
double sqnrDb(const std::vector<double> &want, const std::vector<double> &got) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    signal += want[i] * want[i];
    noise += (got[i] - want[i]) * (got[i] - want[i]);
  }
  return 10.0 * std::log10(signal / noise);
}

/// The output tensor of `p` as [b, i, c] doubles.
std::vector<double> outputs(const Problem &p, const Tensor &out) {
  std::vector<double> result;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t i = 0; i < p.seqQ; ++i)
      for (int64_t c = 0; c < p.dim; ++c)
        result.push_back(outputAt(p, out, b, i, c));
  return result;
}

/// Runs `p` on `ctx` in `mode` and returns the output as [b, i, c] doubles.
std::vector<double> runAttention(qforge_context *ctx, const Problem &p,
                                 qforge_dtype type, int32_t mode,
                                 const Tensor &q, const Tensor &k,
                                 const Tensor &v) {
  size_t qn = size_t(p.batch * p.seqQ * p.dim);
  Tensor out(type, std::vector<float>(qn, NAN));
  qforge_attention_desc d = describe(p, type, q.bytes.data(), k.bytes.data(),
                                     v.bytes.data(), out.bytes.data());
  d.mode = mode;
  EXPECT_EQ(qforge_rt_attention(ctx, &d), QFORGE_OK) << qforge_rt_last_error();
  return outputs(p, out);
}

TEST(AttentionCpu, Int8IsCloseToFloatAttention) {
  // Blocks of 64 keys: one, several with a ragged end; odd head dims (the
  // cpu reference takes any); causal; a peaked softmax.
  std::mt19937 rng{std::random_device{}()};
  const Problem problems[] = {{2, 5, 7, 24, false, 0.3f},
                              {2, 70, 150, 32, true, 0.18f},
                              {1, 40, 200, 48, false, 0.6f},
                              {2, 130, 130, 16, false, 0.25f, true}};
  for (const Problem &p : problems)
    for (qforge_dtype type : {QFORGE_F16, QFORGE_BF16}) {
      size_t qn = size_t(p.batch * p.seqQ * p.dim),
             kn = size_t(p.batch * p.seqKV * p.dim);
      Tensor q(type, randomFloats(rng, qn, -2, 2));
      Tensor k(type, randomFloats(rng, kn, -2, 2));
      Tensor v(type, randomFloats(rng, kn, -1, 1));
      Context cpu(QFORGE_BACKEND_CPU);
      std::vector<double> want = referenceAttention(p, q, k, v);
      std::vector<double> exact =
          runAttention(cpu, p, type, QFORGE_ATTENTION_FLOAT, q, k, v);
      std::vector<double> int8 =
          runAttention(cpu, p, type, QFORGE_ATTENTION_INT8, q, k, v);
      // 7-bit operands: about 40 dB on uniform data; the float mode is
      // near-exact, and int8 must be a different computation.
      double int8Db = sqnrDb(want, int8), floatDb = sqnrDb(want, exact);
      EXPECT_GT(int8Db, 32.0) << "dim " << p.dim << " type " << type;
      EXPECT_LT(int8Db, floatDb - 3.0) << "dim " << p.dim << " type " << type;
    }
}

TEST(AttentionCpu, Int8CentresKeysWithChannelOffsets) {
  // Keys of real models carry large per-channel offsets shared by every
  // token (the softmax ignores them: they add q . offset to a whole row).
  // Centring K before its per-block scale keeps the int8 error where it
  // is without them; scaled with the offsets in, K's 8 bits would be
  // spent on the offset (19 dB here, against 38 centred).
  std::mt19937 rng{std::random_device{}()};
  Problem p{2, 64, 300, 64, false, 0.125f};
  size_t qn = size_t(p.batch * p.seqQ * p.dim),
         kn = size_t(p.batch * p.seqKV * p.dim);
  std::vector<float> keys = randomFloats(rng, kn, -2, 2);
  for (size_t i = 0; i < kn; ++i)
    if (i % size_t(p.dim) < 4)
      keys[i] += 40.0f;
  Tensor q(QFORGE_F16, randomFloats(rng, qn, -2, 2));
  Tensor k(QFORGE_F16, keys);
  Tensor v(QFORGE_F16, randomFloats(rng, kn, -1, 1));
  Context cpu(QFORGE_BACKEND_CPU);
  std::vector<double> want = referenceAttention(p, q, k, v);
  double db = sqnrDb(
      want, runAttention(cpu, p, QFORGE_F16, QFORGE_ATTENTION_INT8, q, k, v));
  EXPECT_GT(db, 30.0);
  RecordProperty("sqnr_db", std::to_string(db));
}

TEST(AttentionCpu, Int8ArithmeticOfOneKey) {
  // Causal, two keys: row 0 sees key 0 alone, so its output is V's row 0
  // quantized per channel over both keys and dequantized (p8 = 255 / 255).
  Problem p{1, 2, 2, 8, false, 0.5f, true};
  std::vector<float> qv = {0.5f, -1, 2, 0.25f, 1, 1, -1, 0.5f,
                           1,    0,  0, 0,     0, 0, 0,  -2};
  std::vector<float> vv = {0.3f,  -1,   0.7f, 0.125f, 0, 0.9f, -0.2f, 1,
                           -0.6f, 0.5f, 0.7f, -0.5f,  0, 0.1f, -0.9f, 0.25f};
  Tensor q(QFORGE_F32, qv), v(QFORGE_F32, vv);
  Tensor q16(QFORGE_F16, qv), v16(QFORGE_F16, vv);
  Context cpu(QFORGE_BACKEND_CPU);
  std::vector<double> got =
      runAttention(cpu, p, QFORGE_F16, QFORGE_ATTENTION_INT8, q16, q16, v16);
  for (int c = 0; c < 8; ++c) {
    float absMax =
        std::max(std::fabs(vv[size_t(c)]), std::fabs(vv[size_t(8 + c)]));
    float inverse = absMax > 0 ? 127.0f / absMax : 0.0f;
    float want =
        absMax > 0 ? std::nearbyint(vv[size_t(c)] * inverse) * (absMax / 127.0f)
                   : 0.0f;
    EXPECT_NEAR(got[size_t(c)], want, 1e-3) << "channel " << c;
  }
  // Not the exact value where the grid misses it: 0.3 * 127 / 0.6 = 63.5.
  EXPECT_GT(std::fabs(got[0] - 0.3), 1e-3);
}

TEST(AttentionCpu, RejectsBadInt8Descriptors) {
  Context cpu(QFORGE_BACKEND_CPU);
  std::vector<float> buffer(64, 1.0f);
  Problem p{2, 2, 2, 4, false, 1.0f};
  qforge_attention_desc d =
      describe(p, QFORGE_F32, buffer.data(), buffer.data(), buffer.data(),
               buffer.data() + 32);
  d.mode = 2;
  EXPECT_EQ(qforge_rt_attention(cpu, &d), QFORGE_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(qforge_rt_last_error(), "attention mode"), nullptr);
  d.mode = QFORGE_ATTENTION_INT8; // f32 tensors
  EXPECT_EQ(qforge_rt_attention(cpu, &d), QFORGE_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(qforge_rt_last_error(), "f16 or bf16"), nullptr);
}

class AttentionCuda : public CpuAndCuda {
protected:
  /// Runs `p` in int8 on the GPU, its output buffer first filled with
  /// `fill` (an element the kernel misses keeps it), and returns the
  /// output as [b, i, c] doubles (empty after a failed call).
  /// `on` is another CUDA context (a kernel choice) instead of gpu.
  std::vector<double> runInt8OnGpu(const Problem &p, qforge_dtype type,
                                   const Tensor &q, const Tensor &k,
                                   const Tensor &v, float fill,
                                   qforge_context *on = nullptr) {
    Tensor got(type,
               std::vector<float>(size_t(p.batch * p.seqQ * p.dim), fill));
    void *out = upload(got.bytes);
    qforge_attention_desc d = describe(p, type, upload(q.bytes),
                                       upload(k.bytes), upload(v.bytes), out);
    d.mode = QFORGE_ATTENTION_INT8;
    // The copy back on the context that ran the kernel (its stream).
    qforge_context *ctx = on ? on : gpu;
    if (qforge_rt_attention(ctx, &d) != QFORGE_OK ||
        qforge_rt_copy_to_host(ctx, got.bytes.data(), out,
                               int64_t(got.bytes.size())) != QFORGE_OK) {
      ADD_FAILURE() << qforge_rt_last_error();
      return {};
    }
    return outputs(p, got);
  }
};

/// `check(type, problem, q, k, v)` for each shape at every head dim the
/// CUDA kernels take, f16 and bf16, on fresh Q, K in [-2, 2] and V in
/// [-1, 1]; a NAN scale stands for 1/sqrt(head_dim).
template <typename Check>
void forEachProblem(std::mt19937 &rng, const std::vector<Problem> &shapes,
                    Check check) {
  for (qforge_dtype type : {QFORGE_F16, QFORGE_BF16})
    for (int64_t dim : {32, 64, 128})
      for (Problem p : shapes) {
        p.dim = dim;
        if (std::isnan(p.scale))
          p.scale = float(1.0 / std::sqrt(double(dim)));
        size_t qn = size_t(p.batch * p.seqQ * p.dim),
               kn = size_t(p.batch * p.seqKV * p.dim);
        Tensor q(type, randomFloats(rng, qn, -2, 2));
        Tensor k(type, randomFloats(rng, kn, -2, 2));
        Tensor v(type, randomFloats(rng, kn, -1, 1));
        check(type, p, q, k, v);
      }
}

/// Inputs with a NaN in Q row 5, an Inf in K row 150 (the second block of
/// 128 keys) and a NaN in V (key 10, channel 3), causal over 200 keys:
/// the int8 path must not hide them. Non-finite exactly where the float
/// softmax would put them per block: row 5, every row that sees the
/// second block (>= 128), and channel 3.
struct NonFiniteCase {
  Problem p{1, 200, 200, 32, false, 0.25f, true};
  std::mt19937 rng{7};
  Tensor make(float poison, size_t at) {
    std::vector<float> x = randomFloats(rng, size_t(p.seqQ * p.dim), -1, 1);
    x[at] = poison;
    return Tensor(QFORGE_F16, x);
  }
  Tensor q = make(NAN, 5 * 32 + 7), k = make(INFINITY, 150 * 32 + 1),
         v = make(NAN, 10 * 32 + 3);
  static bool expectNonFinite(int64_t i, int64_t c) {
    return i == 5 || i >= 128 || c == 3;
  }
};

TEST(AttentionCpu, Int8KeepsNonFiniteInputs) {
  NonFiniteCase t;
  Context cpu(QFORGE_BACKEND_CPU);
  std::vector<double> out =
      runAttention(cpu, t.p, QFORGE_F16, QFORGE_ATTENTION_INT8, t.q, t.k, t.v);
  for (int64_t i = 0; i < t.p.seqQ; ++i)
    for (int64_t c = 0; c < t.p.dim; ++c)
      ASSERT_EQ(!std::isfinite(out[size_t(i * t.p.dim + c)]),
                NonFiniteCase::expectNonFinite(i, c))
          << "row " << i << " channel " << c;
}

TEST_F(AttentionCuda, Int8KeepsNonFiniteInputs) {
  for (int64_t dim : {32, 64, 128}) {
    NonFiniteCase t;
    t.p.dim = dim;
    auto make = [&](float poison, size_t at) {
      std::vector<float> x = randomFloats(t.rng, size_t(t.p.seqQ * dim), -1, 1);
      x[at] = poison;
      return Tensor(QFORGE_F16, x);
    };
    Tensor q = make(NAN, size_t(5 * dim + 7)),
           k = make(INFINITY, size_t(150 * dim + 1)),
           v = make(NAN, size_t(10 * dim + 3));
    std::vector<double> got = runInt8OnGpu(t.p, QFORGE_F16, q, k, v, 0.0f);
    ASSERT_EQ(got.size(), size_t(t.p.seqQ * dim));
    for (int64_t i = 0; i < t.p.seqQ; ++i)
      for (int64_t c = 0; c < dim; ++c)
        ASSERT_EQ(!std::isfinite(got[size_t(i * dim + c)]),
                  NonFiniteCase::expectNonFinite(i, c))
            << "dim " << dim << " row " << i << " channel " << c;
  }
}

TEST_F(AttentionCuda, Int8CentresKeysLikeTheCpu) {
  // K with large per-channel offsets (see the cpu test): the kernel's
  // centring (channel sums in another order) matches the reference.
  for (int64_t dim : {32, 64, 128}) {
    Problem p{2, 100, 700, dim, true, 0.125f, true};
    size_t qn = size_t(p.batch * p.seqQ * p.dim),
           kn = size_t(p.batch * p.seqKV * p.dim);
    std::vector<float> keys = randomFloats(rng, kn, -2, 2);
    for (size_t i = 0; i < kn; ++i)
      if (i % size_t(dim) < 4)
        keys[i] -= 40.0f;
    Tensor q(QFORGE_F16, randomFloats(rng, qn, -2, 2));
    Tensor k(QFORGE_F16, keys);
    Tensor v(QFORGE_F16, randomFloats(rng, kn, -1, 1));
    std::vector<double> want = referenceAttention(p, q, k, v);
    std::vector<double> cpuInt8 =
        runAttention(cpu, p, QFORGE_F16, QFORGE_ATTENTION_INT8, q, k, v);
    std::vector<double> gpuInt8 = runInt8OnGpu(p, QFORGE_F16, q, k, v, NAN);
    ASSERT_EQ(gpuInt8.size(), qn);
    EXPECT_GT(sqnrDb(cpuInt8, gpuInt8), 50.0) << "dim " << dim;
    EXPECT_GT(sqnrDb(want, gpuInt8), 30.0) << "dim " << dim;
  }
}

TEST_F(AttentionCuda, Int8MatchesCpuReference) {
  // The int8 kernel against the cpu reference of the same arithmetic:
  // ragged lengths (partial key blocks, partial query blocks, one query),
  // a peaked softmax, negative and zero scales, causal, heads in place.
  const std::vector<Problem> shapes = {
      {3, 77, 150, 0, false, NAN},       {4, 130, 64, 0, true, NAN},
      {2, 1, 5, 0, false, NAN},          {2, 64, 200, 0, true, 2.0f},
      {2, 40, 70, 0, false, -0.7f},      {1, 16, 100, 0, false, 0.0f},
      {3, 300, 300, 0, true, NAN, true}, {2, 200, 130, 0, false, NAN, true}};
  forEachProblem(
      rng, shapes,
      [&](qforge_dtype type, const Problem &p, const Tensor &q, const Tensor &k,
          const Tensor &v) {
        size_t qn = size_t(p.batch * p.seqQ * p.dim);
        std::vector<double> want =
            runAttention(cpu, p, type, QFORGE_ATTENTION_INT8, q, k, v);
        std::vector<double> gpuOut = runInt8OnGpu(p, type, q, k, v, NAN);
        ASSERT_EQ(gpuOut.size(), qn);
        // Both round the output once; exp2 (approximate on the GPU, and
        // the exponent formed differently) can move a u8 term by one step,
        // 1/255 of its block's largest: with a peaked softmax (scale -0.7,
        // a row sum near 255) that moves an output in [-1, 1] by up to
        // 2/255 per step. The SQNR below holds the bulk much tighter.
        float tolerance = type == QFORGE_F16 ? 2e-2f : 3e-2f;
        for (size_t i = 0; i < qn; ++i)
          ASSERT_NEAR(want[i], gpuOut[i], tolerance)
              << "type " << type << " dim " << p.dim << " batch " << p.batch
              << " seq " << p.seqQ << "x" << p.seqKV << " at " << i;
        EXPECT_GT(sqnrDb(want, gpuOut), type == QFORGE_F16 ? 50.0 : 35.0)
            << "dim " << p.dim << " seq " << p.seqQ << "x" << p.seqKV;
      });
}

TEST_F(AttentionCuda, Int8AttentionKernelChoiceIsChecked) {
  std::string error;
  EXPECT_EQ(cudaContextWithEnv("QFORGE_CUDA_INT8_ATTENTION", "fast", error),
            nullptr);
  EXPECT_NE(error.find("expected auto, mma or wgmma"), std::string::npos)
      << error;
  error.clear();
  Context mma, wgmma;
  mma.ctx = cudaContextWithEnv("QFORGE_CUDA_INT8_ATTENTION", "mma", error);
  EXPECT_NE(mma.ctx, nullptr) << error;
  wgmma.ctx = cudaContextWithEnv("QFORGE_CUDA_INT8_ATTENTION", "wgmma", error);
  if (deviceIsHopper())
    EXPECT_NE(wgmma.ctx, nullptr) << error;
  else
    EXPECT_NE(error.find("needs an sm_90 GPU"), std::string::npos) << error;
}

TEST_F(AttentionCuda, Int8HopperKernelMatchesMmaBitForBit) {
  // The wgmma kernel (attention_sm90.cu) against the mma.sync kernel on the
  // same quantized operands: the integer products are exact and the
  // softmax is the same instructions in the same order, so every output
  // bit must agree. Ragged query and key blocks, several key blocks per
  // query block, causal, heads in place, peaked / negative / zero scales.
  std::string error;
  Context mma, wgmma;
  wgmma.ctx = cudaContextWithEnv("QFORGE_CUDA_INT8_ATTENTION", "wgmma", error);
  if (!wgmma.ctx)
    GTEST_SKIP() << error;
  mma.ctx = cudaContextWithEnv("QFORGE_CUDA_INT8_ATTENTION", "mma", error);
  ASSERT_NE(mma.ctx, nullptr) << error;
  const std::vector<Problem> shapes = {
      {3, 77, 150, 128, false, NAN},       {4, 130, 64, 128, true, NAN},
      {2, 1, 5, 128, false, NAN},          {2, 300, 1000, 128, false, 2.0f},
      {2, 40, 700, 128, true, -0.7f},      {1, 16, 100, 128, false, 0.0f},
      {2, 517, 517, 128, true, NAN, true}, {1, 1000, 2100, 128, false, NAN},
      {2, 256, 384, 128, false, NAN, true}};
  for (qforge_dtype type : {QFORGE_F16, QFORGE_BF16})
    for (int64_t dim : {64, 128})
      for (Problem p : shapes) {
        p.dim = dim; // the head dims the Hopper kernel takes
        if (std::isnan(p.scale))
          p.scale = float(1.0 / std::sqrt(double(p.dim)));
        size_t qn = size_t(p.batch * p.seqQ * p.dim),
               kn = size_t(p.batch * p.seqKV * p.dim);
        Tensor q(type, randomFloats(rng, qn, -2, 2));
        Tensor k(type, randomFloats(rng, kn, -2, 2));
        Tensor v(type, randomFloats(rng, kn, -1, 1));
        std::vector<double> want = runInt8OnGpu(p, type, q, k, v, NAN, mma);
        std::vector<double> got = runInt8OnGpu(p, type, q, k, v, NAN, wgmma);
        ASSERT_EQ(got.size(), qn);
        ASSERT_EQ(want.size(), qn);
        for (size_t i = 0; i < qn; ++i)
          ASSERT_TRUE(want[i] == got[i] ||
                      (std::isnan(want[i]) && std::isnan(got[i])))
              << "type " << type << " dim " << p.dim << " seq " << p.seqQ << "x"
              << p.seqKV << " causal " << p.causal << " at " << i << ": mma "
              << want[i] << ", wgmma " << got[i];
      }
}

TEST_F(AttentionCuda, MatchesCpuWithinRounding) {
  // Ragged lengths (a partial last key tile, a partial query block, fewer
  // keys than one tile), one query row, a peaked softmax (scale 2) whose
  // running max changes from tile to tile, a negative scale (the kernel
  // negates the scores) and scale 0 (a plain mean of the values). NAN:
  // 1/sqrt(head_dim).
  const std::vector<Problem> shapes = {
      {3, 77, 150, 0, false, NAN},
      {4, 130, 64, 0, true, NAN},
      {2, 1, 5, 0, false, NAN},
      {2, 64, 200, 0, true, 2.0f},
      {2, 40, 70, 0, false, -0.7f},
      {1, 16, 100, 0, false, 0.0f},
      // causal: several query blocks and key tiles on and off the
      // diagonal, ragged ends, fewer keys than queries
      {3, 300, 300, 0, true, NAN, true},
      {2, 200, 130, 0, false, NAN, true},
      {1, 70, 260, 0, false, -0.3f, true}};
  forEachProblem(rng, shapes,
                 [&](qforge_dtype type, const Problem &p, const Tensor &q,
                     const Tensor &k, const Tensor &v) {
                   size_t qn = size_t(p.batch * p.seqQ * p.dim);
                   Tensor want(type, std::vector<float>(qn, 0.0f));
                   qforge_attention_desc d =
                       describe(p, type, q.bytes.data(), k.bytes.data(),
                                v.bytes.data(), want.bytes.data());
                   QF_ASSERT_OK(qforge_rt_attention(cpu, &d));
                   // Poisoned output: an element the kernel misses cannot
                   // match.
                   Tensor got(type, std::vector<float>(qn, NAN));
                   void *out = upload(got.bytes);
                   d = describe(p, type, upload(q.bytes), upload(k.bytes),
                                upload(v.bytes), out);
                   QF_ASSERT_OK(qforge_rt_attention(gpu, &d));
                   ASSERT_EQ(qforge_rt_copy_to_host(gpu, got.bytes.data(), out,
                                                    int64_t(got.bytes.size())),
                             QFORGE_OK);
                   // Outputs lie in [-1, 1]; both sides round the result once,
                   // the GPU also rounds the probabilities to the type.
                   float tolerance = type == QFORGE_F16 ? 4e-3f : 3e-2f;
                   double worst = 0;
                   for (size_t i = 0; i < qn; ++i) {
                     float a = want.at(i), b = got.at(i);
                     ASSERT_NEAR(a, b, tolerance)
                         << "type " << type << " dim " << p.dim << " batch "
                         << p.batch << " seq " << p.seqQ << "x" << p.seqKV
                         << " at " << i;
                     worst = std::max(worst, double(std::fabs(a - b)));
                   }
                   RecordProperty("worst", std::to_string(worst));
                 });
}

TEST_F(AttentionCuda, RejectsWhatTheKernelCannotTake) {
  std::vector<uint8_t> bytes(4096, 0);
  void *buffer = upload(bytes);
  char *base = static_cast<char *>(buffer);
  Problem p{1, 4, 4, 64, false, 1.0f};
  qforge_attention_desc d =
      describe(p, QFORGE_F32, base, base, base, base + 2048);
  EXPECT_EQ(qforge_rt_attention(gpu, &d), QFORGE_ERR_UNSUPPORTED);
  EXPECT_NE(std::strstr(qforge_rt_last_error(), "f16 or bf16"), nullptr);
  p.dim = 48;
  d = describe(p, QFORGE_F16, base, base, base, base + 2048);
  EXPECT_EQ(qforge_rt_attention(gpu, &d), QFORGE_ERR_UNSUPPORTED);
  EXPECT_NE(std::strstr(qforge_rt_last_error(), "head_dim 32, 64 or 128"),
            nullptr);
  p.dim = 64;
  d = describe(p, QFORGE_F16, base + 2, base, base, base + 2048);
  EXPECT_EQ(qforge_rt_attention(gpu, &d), QFORGE_ERR_UNSUPPORTED);
  EXPECT_NE(std::strstr(qforge_rt_last_error(), "16-byte aligned"), nullptr);
  d = describe(p, QFORGE_F16, base, base, base, base + 2048);
  d.k_row_stride = 68;
  EXPECT_EQ(qforge_rt_attention(gpu, &d), QFORGE_ERR_UNSUPPORTED);
  EXPECT_NE(std::strstr(qforge_rt_last_error(), "multiples of 8"), nullptr);
}

} // namespace
