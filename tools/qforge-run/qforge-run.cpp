//===- qforge-run.cpp - run a compiled qforge model -----------------------===//
//
// Loads a library made by qforge-compile, checks the .npy inputs against the
// signature recorded in it, calls the entry function on a runtime context
// and writes, times or compares the outputs. Built with the runtime alone:
// no LLVM or MLIR needed (it runs on the GPU machine).
//
//===----------------------------------------------------------------------===//

#include "npy.h"
#include "qforge_rt.h"

#include <dlfcn.h>

#include <filesystem>
#include <fstream>
#include <map>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace {

const char *kUsage =
    "usage: qforge-run MODEL.so [options]\n"
    "\n"
    "Runs an entry function of a model compiled by qforge-compile.\n"
    "\n"
    "  --entry NAME        entry function (default: the first one)\n"
    "  --device cpu|cuda   runtime backend (default: the model's target;\n"
    "                      QFORGE_DEVICE overrides). A model compiled with\n"
    "                      --target cpu runs on either: on cuda its qforge\n"
    "                      ops run on the GPU with their operands copied in\n"
    "                      and out around each call (reported), its other\n"
    "                      ops on the CPU. A model compiled with --target\n"
    "                      cuda runs on cuda only, every op on the GPU: its\n"
    "                      inputs are copied in and its outputs out, once\n"
    "  --input FILE.npy    an input, in argument order (repeat per input)\n"
    "  --output FILE.npy   where output 0 goes (repeat for more outputs)\n"
    "  --output-dir DIR    write every output as DIR/output<i>.npy\n"
    "  --bench N           run N more times, print latency median/min/max\n"
    "  --compare REF.npy   compare output i with REF (repeat per output):\n"
    "                      max abs error, cosine similarity, SQNR\n"
    "  --min-sqnr DB       with --compare: fail (exit 1) when an output's\n"
    "                      SQNR against its reference is below DB\n"
    "  --info              print the model's signature and exit\n"
    "  --calibrate         calibration run of a model built with\n"
    "                      qforge.observe ops: run it once per sample in\n"
    "                      --data and write the statistics table to -o\n"
    "  --data DIR          calibration samples, in sorted order: for a\n"
    "                      one-input model every *.npy file is a sample; with\n"
    "                      several inputs NNNN.K.npy is input K of sample "
    "NNNN\n"
    "  -o FILE.json        where --calibrate writes the table\n"
    "  --help              this text\n";

int fail(const std::string &message) {
  std::fprintf(stderr, "qforge-run: error: %s\n", message.c_str());
  return 1;
}

struct TensorSpec {
  std::string dtype;
  std::vector<int64_t> dims; // -1: dynamic
};

struct EntrySpec {
  std::string name;
  std::vector<TensorSpec> inputs, outputs;
};

std::string describe(const TensorSpec &spec) {
  std::string text = spec.dtype + "[";
  for (size_t i = 0; i < spec.dims.size(); ++i)
    text += (i ? "x" : "") + (spec.dims[i] < 0 ? std::string("?")
                                               : std::to_string(spec.dims[i]));
  return text + "]";
}

std::string describe(const qforge::npy::Array &array) {
  TensorSpec spec{array.dtype, array.shape};
  return describe(spec);
}

bool parseTensorSpec(const std::string &dtype, const std::string &dims,
                     TensorSpec &spec) {
  spec.dtype = dtype;
  spec.dims.clear();
  if (dims == "scalar")
    return true;
  std::stringstream stream(dims);
  std::string part;
  while (std::getline(stream, part, 'x')) {
    if (part == "?")
      spec.dims.push_back(-1);
    else if (!part.empty() &&
             part.find_first_not_of("0123456789") == std::string::npos)
      spec.dims.push_back(std::stoll(part));
    else
      return false;
  }
  return true;
}

/// Reads the qforge_model_metadata record (see qforge-compile).
bool parseMetadata(const char *text, std::vector<EntrySpec> &entries,
                   std::string &hash, std::string &target,
                   std::string &attention, std::string &error) {
  target = "cpu"; // records before the target line had none
  attention = "float";
  std::stringstream stream(text);
  std::string line;
  const std::string abi = std::to_string(QFORGE_MODEL_ABI_VERSION);
  if (!std::getline(stream, line) || line != "qforge-model " + abi) {
    if (line.rfind("qforge-model ", 0) == 0)
      error = "the model was compiled for model ABI " + line.substr(13) +
              ", this runtime has ABI " + abi +
              ": recompile it with this qforge-compile";
    else
      error = "unsupported model metadata: '" + line + "'";
    return false;
  }
  while (std::getline(stream, line)) {
    std::stringstream fields(line);
    std::string kind;
    fields >> kind;
    if (kind == "hash") {
      fields >> hash;
    } else if (kind == "target") {
      fields >> target;
      if (target != "cpu" && target != "cuda") {
        error = "unknown model target '" + target + "'";
        return false;
      }
    } else if (kind == "attention") { // the fused attention's products
      std::getline(fields >> std::ws, attention);
    } else if (kind == "func") {
      EntrySpec entry;
      size_t inputs = 0, outputs = 0;
      fields >> entry.name >> inputs >> outputs;
      entries.push_back(entry);
    } else if (kind == "input" || kind == "output") {
      std::string dtype, dims;
      fields >> dtype >> dims;
      TensorSpec spec;
      if (entries.empty() || !parseTensorSpec(dtype, dims, spec)) {
        error = "malformed model metadata line: '" + line + "'";
        return false;
      }
      (kind == "input" ? entries.back().inputs : entries.back().outputs)
          .push_back(spec);
    } else if (!kind.empty()) {
      error = "malformed model metadata line: '" + line + "'";
      return false;
    }
  }
  return true;
}

/// A memref descriptor of rank r: allocated, aligned, offset, sizes[r],
/// strides[r], all 8-byte fields.
std::vector<int64_t> descriptorFor(qforge::npy::Array &array) {
  size_t rank = array.shape.size();
  std::vector<int64_t> d(3 + 2 * rank);
  d[0] = d[1] = int64_t(intptr_t(array.data.data()));
  d[2] = 0;
  int64_t stride = 1;
  for (size_t i = rank; i-- > 0;) {
    d[3 + i] = array.shape[i];
    d[3 + rank + i] = stride;
    stride *= array.shape[i];
  }
  return d;
}

/// Copies a (possibly strided) result descriptor into a dense array.
void readResult(const int64_t *d, size_t rank, const std::string &dtype,
                qforge::npy::Array &out) {
  out.dtype = dtype;
  out.shape.assign(d + 3, d + 3 + rank);
  int64_t width = qforge::npy::elementSize(dtype);
  out.data.resize(size_t(out.numElements() * width));
  const auto *base = reinterpret_cast<const uint8_t *>(intptr_t(d[1]));
  std::vector<int64_t> index(rank, 0);
  for (int64_t n = 0; n < out.numElements(); ++n) {
    int64_t offset = d[2];
    for (size_t i = 0; i < rank; ++i)
      offset += index[i] * d[3 + rank + i];
    std::memcpy(&out.data[size_t(n * width)], base + offset * width,
                size_t(width));
    for (size_t i = rank; i-- > 0;) {
      if (++index[i] < out.shape[i])
        break;
      index[i] = 0;
    }
  }
}

using Entry0 = void (*)(void *);
using Entry1 = void (*)(void *, void *);
using Entry2 = void (*)(void *, void *, void *);
using Entry3 = void (*)(void *, void *, void *, void *);
using Entry4 = void (*)(void *, void *, void *, void *, void *);

bool callEntry(void *symbol, void *result, std::vector<void *> &args) {
  switch (args.size()) {
  case 0:
    reinterpret_cast<Entry0>(symbol)(result);
    return true;
  case 1:
    reinterpret_cast<Entry1>(symbol)(result, args[0]);
    return true;
  case 2:
    reinterpret_cast<Entry2>(symbol)(result, args[0], args[1]);
    return true;
  case 3:
    reinterpret_cast<Entry3>(symbol)(result, args[0], args[1], args[2]);
    return true;
  case 4:
    reinterpret_cast<Entry4>(symbol)(result, args[0], args[1], args[2],
                                     args[3]);
    return true;
  }
  return false;
}

struct Comparison {
  double maxAbsError = 0, cosine = 0, sqnrDb = 0;
};

bool asDoubles(const qforge::npy::Array &a, std::vector<double> &out) {
  out.resize(size_t(a.numElements()));
  for (size_t i = 0; i < out.size(); ++i) {
    if (a.dtype == "f32")
      out[i] = reinterpret_cast<const float *>(a.data.data())[i];
    else if (a.dtype == "i8")
      out[i] = reinterpret_cast<const int8_t *>(a.data.data())[i];
    else if (a.dtype == "i32")
      out[i] = reinterpret_cast<const int32_t *>(a.data.data())[i];
    else if (a.dtype == "i64")
      out[i] = double(reinterpret_cast<const int64_t *>(a.data.data())[i]);
    else
      return false;
  }
  return true;
}

Comparison compare(const std::vector<double> &got,
                   const std::vector<double> &ref) {
  Comparison c;
  double dot = 0, gotNorm = 0, refNorm = 0, noise = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double e = got[i] - ref[i];
    c.maxAbsError = std::max(c.maxAbsError, std::fabs(e));
    dot += got[i] * ref[i];
    gotNorm += got[i] * got[i];
    refNorm += ref[i] * ref[i];
    noise += e * e;
  }
  c.cosine = gotNorm > 0 && refNorm > 0 ? dot / std::sqrt(gotNorm * refNorm)
                                        : (gotNorm == refNorm ? 1.0 : 0.0);
  c.sqnrDb = noise > 0 ? 10.0 * std::log10(refNorm / noise) : INFINITY;
  return c;
}

struct Options {
  // device "" = the model's own target (cpu, or cuda for --target cuda).
  std::string model, entry, device, outputDir, dataDir, tablePath;
  bool calibrate = false;
  std::vector<std::string> inputs, outputs, compares;
  int bench = 0;
  bool info = false;
  double minSqnr = -INFINITY; // --min-sqnr: below it, --compare fails
};

bool parseArgs(int argc, char **argv, Options &o, std::string &error) {
  // Options taking one value, and options that may repeat.
  const std::pair<const char *, std::string *> single[] = {
      {"--entry", &o.entry},
      {"--device", &o.device},
      {"--output-dir", &o.outputDir},
      {"--data", &o.dataDir},
      {"-o", &o.tablePath}};
  const std::pair<const char *, std::vector<std::string> *> repeated[] = {
      {"--input", &o.inputs},
      {"--output", &o.outputs},
      {"--compare", &o.compares}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](std::string &out) {
      if (i + 1 >= argc) {
        error = arg + " needs a value";
        return false;
      }
      out = argv[++i];
      return true;
    };
    auto isSingle =
        std::find_if(std::begin(single), std::end(single),
                     [&](const auto &entry) { return arg == entry.first; });
    auto isRepeated =
        std::find_if(std::begin(repeated), std::end(repeated),
                     [&](const auto &entry) { return arg == entry.first; });
    std::string v;
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (isSingle != std::end(single)) {
      if (!value(*isSingle->second))
        return false;
    } else if (isRepeated != std::end(repeated)) {
      if (!value(v))
        return false;
      isRepeated->second->push_back(v);
    } else if (arg == "--bench") {
      if (!value(v))
        return false;
      o.bench = std::atoi(v.c_str());
      if (o.bench < 1) {
        error = "--bench needs a positive count, got '" + v + "'";
        return false;
      }
    } else if (arg == "--min-sqnr") {
      if (!value(v))
        return false;
      char *end = nullptr;
      o.minSqnr = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !std::isfinite(o.minSqnr)) {
        error = "--min-sqnr needs a number of dB, got '" + v + "'";
        return false;
      }
    } else if (arg == "--info") {
      o.info = true;
    } else if (arg == "--calibrate") {
      o.calibrate = true;
    } else if (!arg.empty() && arg[0] == '-') {
      error = "unknown option " + arg + " (see --help)";
      return false;
    } else if (o.model.empty()) {
      o.model = arg;
    } else {
      error = "unexpected argument " + arg;
      return false;
    }
  }
  if (o.model.empty()) {
    error = "no model given (see --help)";
    return false;
  }
  if (o.calibrate && (o.dataDir.empty() || o.tablePath.empty())) {
    error = "--calibrate needs --data DIR and -o FILE.json";
    return false;
  }
  if (!o.device.empty() && o.device != "cpu" && o.device != "cuda") {
    error = "--device must be cpu or cuda, got '" + o.device + "'";
    return false;
  }

  return true;
}

/// Frees a result buffer the model allocated, unless it is an input's or a
/// constant's (MLIR marks global memrefs with 0xdeadbeef as allocated).
void releaseResult(const int64_t *d,
                   const std::vector<qforge::npy::Array> &inputs) {
  void *allocated = reinterpret_cast<void *>(intptr_t(d[0]));
  if (!allocated || allocated == reinterpret_cast<void *>(0xdeadbeef))
    return;
  for (const auto &input : inputs)
    if (allocated == input.data.data())
      return;
  std::free(allocated);
}

/// Reads the inputs and checks count, dtype and shape against the signature.
bool loadInputs(const std::vector<std::string> &paths, const EntrySpec &entry,
                std::vector<qforge::npy::Array> &inputs, std::string &error) {
  if (paths.size() != entry.inputs.size()) {
    error = entry.name + " takes " + std::to_string(entry.inputs.size()) +
            " input(s), " + std::to_string(paths.size()) + " given";
    return false;
  }
  inputs.assign(paths.size(), {});
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!qforge::npy::read(paths[i], inputs[i], error))
      return false;
    const TensorSpec &spec = entry.inputs[i];
    bool matches = inputs[i].dtype == spec.dtype &&
                   inputs[i].shape.size() == spec.dims.size();
    for (size_t d = 0; matches && d < spec.dims.size(); ++d)
      matches = spec.dims[d] < 0 || spec.dims[d] == inputs[i].shape[d];
    if (!matches) {
      error = "input " + std::to_string(i) + " (" + paths[i] + ") is " +
              describe(inputs[i]) + ", the model expects " + describe(spec);
      return false;
    }
  }
  return true;
}

/// Device copies of a device-resident model's inputs (--target cuda), freed
/// with the context's allocator.
struct DeviceInputs {
  qforge_context *ctx = nullptr;
  std::vector<void *> buffers;
  ~DeviceInputs() {
    for (void *p : buffers)
      qforge_rt_free(ctx, p);
  }
};

/// A device-resident result (contiguous, as the model allocates it) copied
/// to the host, then freed.
bool readDeviceResult(qforge_context *ctx, const int64_t *d, size_t rank,
                      const std::string &dtype, qforge::npy::Array *out) {
  int64_t elements = 1, stride = 1;
  bool contiguous = true;
  for (size_t i = rank; i-- > 0;) {
    contiguous = contiguous && (d[3 + i] == 1 || d[3 + rank + i] == stride);
    stride *= d[3 + i];
    elements *= d[3 + i];
  }
  int64_t width = qforge::npy::elementSize(dtype);
  bool ok = contiguous;
  if (ok && out) {
    out->dtype = dtype;
    out->shape.assign(d + 3, d + 3 + rank);
    out->data.resize(size_t(elements * width));
    const auto *base = reinterpret_cast<const uint8_t *>(intptr_t(d[1]));
    ok = elements == 0 ||
         qforge_rt_copy_to_host(ctx, out->data.data(), base + d[2] * width,
                                elements * width) == QFORGE_OK;
  }
  void *allocated = reinterpret_cast<void *>(intptr_t(d[0]));
  if (allocated && allocated != reinterpret_cast<void *>(0xdeadbeef))
    qforge_rt_free(ctx, allocated);
  return ok;
}

/// One call of the entry function on `inputs`; results are copied out (when
/// `outputs` is given) and their buffers released. `deviceCtx`: the model
/// was compiled for cuda; its inputs go to device memory first and its
/// results come back from there.
/// `resident`: device copies of the inputs made once by the caller (the
/// device-only timing of --bench), used instead of copying them per run.
bool runEntry(void *symbol, const EntrySpec &entry,
              std::vector<qforge::npy::Array> &inputs,
              std::vector<qforge::npy::Array> *outputs,
              qforge_context *deviceCtx = nullptr,
              const std::vector<void *> *resident = nullptr,
              double *issueMs = nullptr) {
  auto start = std::chrono::steady_clock::now();
  std::vector<std::vector<int64_t>> descriptors;
  std::vector<void *> args;
  DeviceInputs device{deviceCtx, {}};
  for (auto &input : inputs) {
    descriptors.push_back(descriptorFor(input));
    if (!deviceCtx)
      continue;
    if (resident) {
      void *buffer = (*resident)[descriptors.size() - 1];
      descriptors.back()[0] = descriptors.back()[1] = int64_t(intptr_t(buffer));
      continue;
    }
    void *buffer = nullptr;
    int64_t bytes = int64_t(input.data.size());
    if (qforge_rt_alloc(deviceCtx, bytes, &buffer) != QFORGE_OK ||
        qforge_rt_copy_to_device(deviceCtx, buffer, input.data.data(), bytes) !=
            QFORGE_OK)
      return false;
    device.buffers.push_back(buffer);
    descriptors.back()[0] = descriptors.back()[1] = int64_t(intptr_t(buffer));
  }
  for (auto &d : descriptors)
    args.push_back(d.data());
  // Results: one descriptor, or a struct of them, laid out back to back.
  std::vector<size_t> offsets;
  size_t words = 0;
  for (const TensorSpec &spec : entry.outputs) {
    offsets.push_back(words);
    words += 3 + 2 * spec.dims.size();
  }
  std::vector<int64_t> results(std::max<size_t>(words, 1));
  callEntry(symbol, results.data(), args);
  if (issueMs) // before the results are released (a release synchronizes)
    *issueMs = std::chrono::duration<double, std::milli>(
                   std::chrono::steady_clock::now() - start)
                   .count();
  bool ok = qforge_rt_model_status() == QFORGE_OK;
  if (outputs)
    outputs->assign(entry.outputs.size(), {});
  if (deviceCtx) {
    for (size_t i = 0; i < entry.outputs.size(); ++i)
      ok =
          readDeviceResult(deviceCtx, &results[offsets[i]],
                           entry.outputs[i].dims.size(), entry.outputs[i].dtype,
                           ok && outputs ? &(*outputs)[i] : nullptr) &&
          ok;
    return ok;
  }
  for (size_t i = 0; i < entry.outputs.size(); ++i) {
    if (ok && outputs)
      readResult(&results[offsets[i]], entry.outputs[i].dims.size(),
                 entry.outputs[i].dtype, (*outputs)[i]);
    releaseResult(&results[offsets[i]], inputs);
  }
  return ok;
}

/// The samples of --data: for one input every *.npy file in sorted order;
/// for several, NNNN.K.npy grouped by NNNN.
bool listSamples(const std::string &dir, size_t numInputs,
                 std::vector<std::vector<std::string>> &samples,
                 std::string &error) {
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto &item : std::filesystem::directory_iterator(dir, ec))
    if (item.is_regular_file() && item.path().extension() == ".npy")
      files.push_back(item.path().string());
  if (ec) {
    error = "cannot read the data directory " + dir + ": " + ec.message();
    return false;
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    error = "the data directory " + dir + " holds no .npy file";
    return false;
  }
  if (numInputs == 1) {
    for (const std::string &f : files)
      samples.push_back({f});
    return true;
  }
  std::map<std::string, std::vector<std::string>> groups;
  for (const std::string &f : files) {
    std::string stem = std::filesystem::path(f).stem().string(); // NNNN.K
    size_t dot = stem.rfind('.');
    size_t k = 0;
    if (dot == std::string::npos ||
        stem.find_first_not_of("0123456789", dot + 1) != std::string::npos ||
        (k = std::stoul(stem.substr(dot + 1))) >= numInputs) {
      error = f + " is not named NNNN.K.npy with K < " +
              std::to_string(numInputs) + " (the model has " +
              std::to_string(numInputs) + " inputs)";
      return false;
    }
    auto &group = groups[stem.substr(0, dot)];
    group.resize(numInputs);
    group[k] = f;
  }
  for (auto &[sample, group] : groups) {
    for (size_t k = 0; k < numInputs; ++k)
      if (group[k].empty()) {
        error = "sample " + sample + " has no input " + std::to_string(k) +
                " (" + sample + "." + std::to_string(k) + ".npy)";
        return false;
      }
    samples.push_back(group);
  }
  return true;
}

std::string jsonString(const std::string &text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
      out += buffer;
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string jsonNumber(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.9g", v); // round-trips a float
  return buffer;
}

/// A context on `device`, made the thread's current one (what compiled
/// models run on); null with the runtime's error set on failure.
qforge_context *createCurrentContext(const std::string &device) {
  qforge_context *ctx = nullptr;
  if (qforge_rt_create(device == "cuda" ? QFORGE_BACKEND_CUDA
                                        : QFORGE_BACKEND_CPU,
                       &ctx) != QFORGE_OK)
    return nullptr;
  qforge_rt_set_current(ctx);
  return ctx;
}

/// --calibrate: runs every sample, then writes the statistics table.
int calibrate(const Options &o, void *symbol, const EntrySpec &entry,
              const std::string &hash, bool deviceResident) {
  std::string error;
  std::vector<std::vector<std::string>> samples;
  if (!listSamples(o.dataDir, entry.inputs.size(), samples, error))
    return fail(error);
  qforge_context *ctx = createCurrentContext(o.device);
  if (!ctx)
    return fail(qforge_rt_last_error());
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < samples.size(); ++i) {
    std::vector<qforge::npy::Array> inputs;
    if (!loadInputs(samples[i], entry, inputs, error))
      return fail("sample " + std::to_string(i) + ": " + error);
    if (!runEntry(symbol, entry, inputs, nullptr,
                  deviceResident ? ctx : nullptr))
      return fail("sample " + std::to_string(i) +
                  ": the model failed: " + qforge_rt_last_error());
    if (i + 1 == samples.size() || (i + 1) % 100 == 0)
      std::fprintf(stderr, "calibrating: %zu/%zu samples\n", i + 1,
                   samples.size());
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  int64_t entries = qforge_rt_calibration_size(ctx);
  if (entries == 0)
    return fail("the model recorded no statistics: it has no qforge.observe "
                "(run qforge-insert-calibration before qforge-compile)");
  std::ofstream table(o.tablePath);
  if (!table)
    return fail("cannot write " + o.tablePath);
  table << "{\n  \"format\": \"qforge-calibration\",\n  \"version\": 1,\n"
        << "  \"model_hash\": " << jsonString(hash) << ",\n"
        << "  \"samples\": " << samples.size() << ",\n  \"observers\": {";
  int64_t nanTotal = 0, infTotal = 0;
  for (int64_t e = 0; e < entries; ++e) {
    const char *id = nullptr;
    qforge_observer_stats st{};
    if (qforge_rt_calibration_entry(ctx, e, &id, &st) != QFORGE_OK)
      return fail(qforge_rt_last_error());
    nanTotal += st.nan_count;
    infTotal += st.inf_count;
    table << (e ? ",\n    " : "\n    ") << jsonString(id)
          << ": {\"min\": " << jsonNumber(st.min)
          << ", \"max\": " << jsonNumber(st.max) << ", \"count\": " << st.count
          << ", \"nan_count\": " << st.nan_count
          << ", \"inf_count\": " << st.inf_count
          << ",\n      \"histogram\": {\"range\": " << jsonNumber(st.range)
          << ", \"bins\": [";
    for (int32_t b = 0; b < st.num_bins; ++b)
      table << (b ? "," : "") << st.histogram[b];
    table << "]}}";
  }
  table << "\n  }\n}\n";
  if (!table)
    return fail("writing " + o.tablePath + " failed");
  std::fprintf(
      stderr, "calibration: %zu samples, %lld observers in %.2f s -> %s\n",
      samples.size(), (long long)entries, seconds, o.tablePath.c_str());
  if (nanTotal || infTotal)
    std::fprintf(stderr,
                 "qforge-run: warning: %lld NaN and %lld Inf activation "
                 "values were left out of the statistics\n",
                 (long long)nanTotal, (long long)infTotal);
  qforge_rt_destroy(ctx);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  std::string error;
  if (!parseArgs(argc, argv, o, error))
    return fail(error);

  // dlopen searches the library path for a bare file name; a user means
  // the file in the current directory, as with every other path argument.
  std::string modelPath =
      o.model.find('/') == std::string::npos ? "./" + o.model : o.model;
  void *library = dlopen(modelPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library)
    return fail(std::string("cannot load the model: ") + dlerror());
  auto *metadata =
      static_cast<const char *>(dlsym(library, "qforge_model_metadata"));
  if (!metadata)
    return fail(o.model +
                " has no qforge_model_metadata: not built by qforge-compile");
  std::vector<EntrySpec> entries;
  std::string hash, target, attention;
  if (!parseMetadata(metadata, entries, hash, target, attention, error))
    return fail(error);
  if (o.device.empty())
    o.device = target;
  if (target == "cuda" && o.device != "cuda")
    return fail(o.model + " was compiled for the cuda target (its tensors "
                          "live in GPU memory): run it with --device cuda, "
                          "or compile it with --target cpu");
  bool deviceResident = target == "cuda";
  if (entries.empty())
    return fail(o.model + " records no entry function");
  const EntrySpec *entry = &entries[0];
  if (!o.entry.empty()) {
    entry = nullptr;
    for (const EntrySpec &e : entries)
      if (e.name == o.entry)
        entry = &e;
    if (!entry)
      return fail("no entry function '" + o.entry + "' in " + o.model);
  }
  if (o.info) {
    std::printf("target %s\n", target.c_str());
    if (target == "cuda")
      std::printf("attention %s\n", attention.c_str());
    for (const EntrySpec &e : entries) {
      std::printf("func %s\n", e.name.c_str());
      for (const TensorSpec &s : e.inputs)
        std::printf("  input  %s\n", describe(s).c_str());
      for (const TensorSpec &s : e.outputs)
        std::printf("  output %s\n", describe(s).c_str());
    }
    return 0;
  }
  void *symbol = dlsym(library, ("_mlir_ciface_" + entry->name).c_str());
  if (!symbol)
    return fail("the entry function " + entry->name + " has no C interface");

  if (entry->inputs.size() > 4)
    return fail(
        "entry functions with more than 4 inputs are not supported yet");
  if (o.calibrate)
    return calibrate(o, symbol, *entry, hash, deviceResident);
  std::vector<qforge::npy::Array> inputs;
  if (!loadInputs(o.inputs, *entry, inputs, error))
    return fail(error);

  qforge_context *ctx = createCurrentContext(o.device);
  if (!ctx)
    return fail(qforge_rt_last_error());

  qforge_context *deviceCtx = deviceResident ? ctx : nullptr;
  std::vector<qforge::npy::Array> outputs;
  if (!runEntry(symbol, *entry, inputs, &outputs, deviceCtx))
    return fail(std::string("the model failed: ") + qforge_rt_last_error());
  // Copies of one run after the first (which also uploads the constants).
  int64_t runToDevice = 0, runToHost = 0;
  if (deviceResident) {
    int64_t beforeIn = 0, beforeOut = 0, afterIn = 0, afterOut = 0;
    qforge_rt_transfer_count(ctx, &beforeIn, &beforeOut);
    std::vector<qforge::npy::Array> again; // a full run: outputs come back
    if (!runEntry(symbol, *entry, inputs, &again, deviceCtx))
      return fail(std::string("the model failed: ") + qforge_rt_last_error());
    qforge_rt_transfer_count(ctx, &afterIn, &afterOut);
    runToDevice = afterIn - beforeIn;
    runToHost = afterOut - beforeOut;
  }

  if (o.bench > 0) {
    std::vector<double> ms;
    for (int r = 0; r < o.bench; ++r) {
      auto start = std::chrono::steady_clock::now();
      bool ok = runEntry(symbol, *entry, inputs, nullptr, deviceCtx);
      qforge_rt_synchronize(ctx);
      ms.push_back(std::chrono::duration<double, std::milli>(
                       std::chrono::steady_clock::now() - start)
                       .count());
      if (!ok)
        return fail(std::string("the model failed: ") + qforge_rt_last_error());
    }
    std::sort(ms.begin(), ms.end());
    std::printf(
        "latency over %d runs: median %.3f ms, min %.3f ms, max %.3f ms\n",
        o.bench, ms[ms.size() / 2], ms.front(), ms.back());
    if (deviceResident) {
      // The model alone: inputs already on the device, outputs left there.
      DeviceInputs resident{ctx, {}};
      for (auto &input : inputs) {
        void *buffer = nullptr;
        int64_t bytes = int64_t(input.data.size());
        if (qforge_rt_alloc(ctx, bytes, &buffer) != QFORGE_OK ||
            qforge_rt_copy_to_device(ctx, buffer, input.data.data(), bytes) !=
                QFORGE_OK)
          return fail(qforge_rt_last_error());
        resident.buffers.push_back(buffer);
      }
      // QFORGE_PROFILE's table then covers these runs only (no warm-up).
      qforge_rt_profile_reset(ctx);
      std::vector<double> deviceMs, enqueueMs;
      for (int r = 0; r < o.bench; ++r) {
        qforge_rt_synchronize(ctx);
        auto start = std::chrono::steady_clock::now();
        // Host time to issue the run (until the model returns): when it
        // nears the device time, the GPU waits on the host between launches.
        double issued = 0;
        bool ok = runEntry(symbol, *entry, inputs, nullptr, deviceCtx,
                           &resident.buffers, &issued);
        enqueueMs.push_back(issued);
        qforge_rt_synchronize(ctx);
        deviceMs.push_back(std::chrono::duration<double, std::milli>(
                               std::chrono::steady_clock::now() - start)
                               .count());
        if (!ok)
          return fail(std::string("the model failed: ") +
                      qforge_rt_last_error());
      }
      std::sort(deviceMs.begin(), deviceMs.end());
      std::sort(enqueueMs.begin(), enqueueMs.end());
      std::printf("on the device (inputs resident, outputs not copied): "
                  "median %.3f ms, min %.3f ms; host issue time median "
                  "%.3f ms\n",
                  deviceMs[deviceMs.size() / 2], deviceMs.front(),
                  enqueueMs[enqueueMs.size() / 2]);
    }
  }

  for (size_t i = 0; i < outputs.size(); ++i) {
    std::string path;
    if (i < o.outputs.size())
      path = o.outputs[i];
    else if (!o.outputDir.empty())
      path = o.outputDir + "/output" + std::to_string(i) + ".npy";
    if (!path.empty() && !qforge::npy::write(path, outputs[i], error))
      return fail(error);
  }

  for (size_t i = 0; i < o.compares.size() && i < outputs.size(); ++i) {
    qforge::npy::Array reference;
    if (!qforge::npy::read(o.compares[i], reference, error))
      return fail(error);
    if (reference.shape != outputs[i].shape)
      return fail("reference " + o.compares[i] + " is " + describe(reference) +
                  ", output " + std::to_string(i) + " is " +
                  describe(outputs[i]));
    std::vector<double> got, ref;
    if (!asDoubles(outputs[i], got) || !asDoubles(reference, ref))
      return fail("--compare supports f32, i8, i32 and i64 tensors");
    Comparison c = compare(got, ref);
    std::printf(
        "output %zu vs %s: max abs error %.6g, cosine %.6f, SQNR %.2f dB\n", i,
        o.compares[i].c_str(), c.maxAbsError, c.cosine, c.sqnrDb);
    if (o.minSqnr > -INFINITY && !(c.sqnrDb >= o.minSqnr))
      return fail("output " + std::to_string(i) + ": SQNR " +
                  std::to_string(c.sqnrDb) + " dB is below --min-sqnr " +
                  std::to_string(o.minSqnr));
  }
  if (deviceResident) {
    std::fprintf(stderr,
                 "qforge-run: note: the model ran on the GPU with its tensors "
                 "in device memory: %lld host-to-device and %lld "
                 "device-to-host copies per run (its inputs and outputs)\n",
                 (long long)runToDevice, (long long)runToHost);
  } else if (qforge_rt_backend(ctx) == QFORGE_BACKEND_CUDA) {
    int64_t toDevice = 0, toHost = 0;
    qforge_rt_transfer_count(ctx, &toDevice, &toHost);
    std::fprintf(stderr,
                 "qforge-run: note: on cuda the model's qforge ops ran on the "
                 "GPU and its other ops on the CPU, with %lld host-to-device "
                 "and %lld device-to-host copies\n",
                 (long long)toDevice, (long long)toHost);
  }
  qforge_rt_destroy(ctx);
  return 0;
}
