//===- npy.cpp - NumPy .npy files -----------------------------------------===//

#include "npy.h"

#include <cstring>
#include <fstream>
#include <iterator>

using namespace qforge::npy;

namespace {

struct DTypeName {
  const char *descr;
  const char *name;
};
const DTypeName kDTypes[] = {{"<f4", "f32"}, {"<f2", "f16"}, {"|i1", "i8"},
                             {"<i1", "i8"},  {"<i4", "i32"}, {"<i8", "i64"}};

/// The value of `key` in the header dict, as written (quotes stripped).
bool findValue(const std::string &header, const std::string &key,
               std::string &value) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos)
    return false;
  size_t colon = header.find(':', at);
  if (colon == std::string::npos)
    return false;
  size_t begin = header.find_first_not_of(" ", colon + 1);
  if (begin == std::string::npos)
    return false;
  size_t end;
  if (header[begin] == '(') {
    end = header.find(')', begin);
    if (end == std::string::npos)
      return false;
    value = header.substr(begin + 1, end - begin - 1);
  } else if (header[begin] == '\'') {
    end = header.find('\'', begin + 1);
    if (end == std::string::npos)
      return false;
    value = header.substr(begin + 1, end - begin - 1);
  } else {
    end = header.find_first_of(",}", begin);
    value = header.substr(begin, end - begin);
  }
  return true;
}

bool parseShape(const std::string &text, std::vector<int64_t> &shape) {
  shape.clear();
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == ','))
      ++i;
    if (i == text.size())
      break;
    if (text[i] < '0' || text[i] > '9')
      return false;
    int64_t value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      value = value * 10 + (text[i] - '0');
      if (value > (int64_t(1) << 40))
        return false;
      ++i;
    }
    shape.push_back(value);
  }
  return true;
}

} // namespace

int64_t Array::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

int64_t qforge::npy::elementSize(const std::string &dtype) {
  if (dtype == "f32" || dtype == "i32")
    return 4;
  if (dtype == "f16")
    return 2;
  if (dtype == "i8")
    return 1;
  if (dtype == "i64")
    return 8;
  return 0;
}

bool qforge::npy::parse(const std::vector<uint8_t> &bytes, Array &out,
                        std::string &error) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) {
    error = "not a .npy file (bad magic)";
    return false;
  }
  int major = bytes[6];
  size_t headerLength, headerStart;
  if (major == 1) {
    headerLength = size_t(bytes[8]) | size_t(bytes[9]) << 8;
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) {
      error = "truncated .npy header";
      return false;
    }
    headerLength = size_t(bytes[8]) | size_t(bytes[9]) << 8 |
                   size_t(bytes[10]) << 16 | size_t(bytes[11]) << 24;
    headerStart = 12;
  } else {
    error = "unsupported .npy format version " + std::to_string(major);
    return false;
  }
  if (headerStart + headerLength > bytes.size()) {
    error = "truncated .npy header";
    return false;
  }
  std::string header(bytes.begin() + long(headerStart),
                     bytes.begin() + long(headerStart + headerLength));
  std::string descr, fortran, shapeText;
  if (!findValue(header, "descr", descr) ||
      !findValue(header, "fortran_order", fortran) ||
      !findValue(header, "shape", shapeText)) {
    error = "malformed .npy header: " + header;
    return false;
  }
  if (fortran.find("False") == std::string::npos) {
    error = "Fortran-order arrays are not supported; save a C-order array";
    return false;
  }
  out.dtype.clear();
  for (const DTypeName &d : kDTypes)
    if (descr == d.descr)
      out.dtype = d.name;
  if (out.dtype.empty()) {
    error = "unsupported .npy dtype '" + descr +
            "' (supported: <f4, <f2, |i1, <i4, <i8)";
    return false;
  }
  if (!parseShape(shapeText, out.shape)) {
    error = "malformed .npy shape (" + shapeText + ")";
    return false;
  }
  size_t dataBytes = size_t(out.numElements() * elementSize(out.dtype));
  size_t dataStart = headerStart + headerLength;
  if (bytes.size() - dataStart != dataBytes) {
    error = "the .npy data holds " + std::to_string(bytes.size() - dataStart) +
            " bytes, its header promises " + std::to_string(dataBytes);
    return false;
  }
  out.data.assign(bytes.begin() + long(dataStart), bytes.end());
  return true;
}

bool qforge::npy::read(const std::string &path, Array &out,
                       std::string &error) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    error = "cannot open " + path;
    return false;
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)),
                             std::istreambuf_iterator<char>());
  if (!parse(bytes, out, error)) {
    error = path + ": " + error;
    return false;
  }
  return true;
}

bool qforge::npy::write(const std::string &path, const Array &array,
                        std::string &error) {
  const char *descr = nullptr;
  for (const DTypeName &d : kDTypes)
    if (array.dtype == d.name && !descr)
      descr = d.descr;
  if (!descr) {
    error = "cannot write dtype " + array.dtype + " to .npy";
    return false;
  }
  std::string shape;
  for (int64_t d : array.shape)
    shape += std::to_string(d) + ", ";
  if (array.shape.size() > 1)
    shape.erase(shape.size() - 2); // "(2, 3)"; a 1-d shape keeps "(4, )"
  else if (array.shape.size() == 1)
    shape.erase(shape.size() - 1); // "(4,)"
  std::string header = "{'descr': '" + std::string(descr) +
                       "', 'fortran_order': False, 'shape': (" + shape + "), }";
  // Pad with spaces so that the data starts at a multiple of 64 bytes.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream file(path, std::ios::binary);
  if (!file) {
    error = "cannot write " + path;
    return false;
  }
  uint16_t length = uint16_t(header.size());
  char prefix[10] = {
      '\x93',           'N', 'U', 'M', 'P', 'Y', 1, 0, char(length & 0xff),
      char(length >> 8)};
  file.write(prefix, 10);
  file.write(header.data(), std::streamsize(header.size()));
  file.write(reinterpret_cast<const char *>(array.data.data()),
             std::streamsize(array.data.size()));
  if (!file) {
    error = "writing " + path + " failed";
    return false;
  }
  return true;
}
