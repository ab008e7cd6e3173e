//===- npy.h - NumPy .npy files, read and written --------------*- C++ -*-===//
//
// The tensors qforge-run takes and produces. Plain C++ (qforge-run has no
// LLVM dependency). Versions 1-3 of the format, little-endian C-order data
// of dtypes f32 ('<f4'), f16 ('<f2'), i8 ('|i1'), i32 ('<i4'), i64 ('<i8').
//
//===----------------------------------------------------------------------===//

#ifndef QFORGE_TOOLS_NPY_H
#define QFORGE_TOOLS_NPY_H

#include <cstdint>
#include <string>
#include <vector>

namespace qforge::npy {

struct Array {
  std::string dtype;          // "f32", "f16", "i8", "i32", "i64"
  std::vector<int64_t> shape; // empty for a scalar
  std::vector<uint8_t> data;  // row-major

  int64_t numElements() const;
};

/// Bytes per element of a dtype name, 0 if unknown.
int64_t elementSize(const std::string &dtype);

/// Reads `path`; on failure returns false with a message in `error`.
bool read(const std::string &path, Array &out, std::string &error);
/// Writes `array` to `path` (format version 1).
bool write(const std::string &path, const Array &array, std::string &error);

/// Parses an in-memory .npy image (what read() does after loading the file).
bool parse(const std::vector<uint8_t> &bytes, Array &out, std::string &error);

} // namespace qforge::npy

#endif // QFORGE_TOOLS_NPY_H
