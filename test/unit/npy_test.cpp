//===- npy_test.cpp - the .npy reader and writer of qforge-run ------------===//

#include "npy.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

using namespace qforge;

namespace {

std::vector<uint8_t> header(const std::string &dict, size_t dataBytes) {
  std::vector<uint8_t> bytes = {
      0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, uint8_t(dict.size()), 0};
  bytes.insert(bytes.end(), dict.begin(), dict.end());
  bytes.resize(bytes.size() + dataBytes, 0);
  return bytes;
}

TEST(Npy, WriteThenReadRoundTrips) {
  npy::Array a;
  a.dtype = "f32";
  a.shape = {2, 3};
  float values[6] = {1, -2, 3.5f, 0, 1e-3f, 7};
  a.data.assign(reinterpret_cast<uint8_t *>(values),
                reinterpret_cast<uint8_t *>(values) + sizeof values);
  std::string path = ::testing::TempDir() + "/roundtrip.npy";
  std::string error;
  ASSERT_TRUE(npy::write(path, a, error)) << error;
  npy::Array b;
  ASSERT_TRUE(npy::read(path, b, error)) << error;
  EXPECT_EQ(b.dtype, "f32");
  EXPECT_EQ(b.shape, a.shape);
  EXPECT_EQ(b.data, a.data);
  // One-dimensional and scalar shapes too.
  a.shape = {6};
  ASSERT_TRUE(npy::write(path, a, error)) << error;
  ASSERT_TRUE(npy::read(path, b, error)) << error;
  EXPECT_EQ(b.shape, std::vector<int64_t>{6});
  std::remove(path.c_str());
}

TEST(Npy, ParsesNumpysOwnHeader) {
  // As numpy writes it (padded, trailing comma).
  auto bytes =
      header("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }"
             "          \n",
             8);
  npy::Array a;
  std::string error;
  ASSERT_TRUE(npy::parse(bytes, a, error)) << error;
  EXPECT_EQ(a.dtype, "i32");
  EXPECT_EQ(a.shape, std::vector<int64_t>{2});
}

TEST(Npy, RejectsMalformedFiles) {
  npy::Array a;
  std::string error;
  EXPECT_FALSE(npy::parse({1, 2, 3}, a, error));
  EXPECT_NE(error.find("bad magic"), std::string::npos);
  auto fortran =
      header("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }\n", 4);
  EXPECT_FALSE(npy::parse(fortran, a, error));
  EXPECT_NE(error.find("Fortran"), std::string::npos);
  auto complex =
      header("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }\n", 8);
  EXPECT_FALSE(npy::parse(complex, a, error));
  EXPECT_NE(error.find("unsupported .npy dtype '<c8'"), std::string::npos);
  auto truncated =
      header("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n", 8);
  EXPECT_FALSE(npy::parse(truncated, a, error));
  EXPECT_NE(error.find("promises 16"), std::string::npos);
  auto badShape =
      header("{'descr': '<f4', 'fortran_order': False, 'shape': (x,), }\n", 0);
  EXPECT_FALSE(npy::parse(badShape, a, error));
  EXPECT_NE(error.find("malformed .npy shape"), std::string::npos);
}

} // namespace
