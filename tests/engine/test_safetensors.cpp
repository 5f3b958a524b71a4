// safetensors: round trips of every dtype with metadata, the exact byte layout of a
// tiny file, and one clear error for each kind of broken file.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <new>
#include <sstream>

#include "engine/safetensors.h"
#include "kernels/error.h"
#include "tests/error_of.h"
#include "tests/scratch_dir.h"

namespace {

using cyg::Tensor;

std::string temp_path(const std::string& name) {
  static const cyg::test::ScratchDir scratch("safetensors");
  return (scratch.path() / name).string();
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

std::string error_of(const std::string& path) {
  return cyg::test::error_of([&] { cyg::load_safetensors(path); });
}

TEST(Safetensors, RoundTripEveryDtype) {
  const std::string path = temp_path("round.safetensors");
  cyg::NamedTensorList in = {{"w", Tensor::uniform({2, 3}, -1, 1, 1)},
                             {"count", Tensor::full({}, 12345678901, cyg::DType::I64)},
                             {"labels", Tensor::full({4}, -3, cyg::DType::I32)},
                             {"bytes", Tensor::full({5}, 200, cyg::DType::U8)},
                             {"half", Tensor::full({2}, 1.5, cyg::DType::BF16)},
                             {"empty", Tensor::zeros({0, 3})}};
  cyg::save_safetensors(path, in, {{"format", "pt"}});
  const cyg::SafetensorsContent out = cyg::load_safetensors(path);
  ASSERT_EQ(out.tensors.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out.tensors[i].first, in[i].first);
    EXPECT_EQ(out.tensors[i].second.dtype(), in[i].second.dtype());
    EXPECT_EQ(out.tensors[i].second.shape(), in[i].second.shape());
    EXPECT_EQ(out.tensors[i].second.to_vector(), in[i].second.to_vector());
  }
  EXPECT_EQ(out.tensors[1].second.data<int64_t>()[0], 12345678901);
  EXPECT_EQ(out.metadata.at("format"), "pt");
  std::remove(path.c_str());
}

TEST(Safetensors, ByteLayoutOfATinyFile) {
  const std::string path = temp_path("tiny.safetensors");
  cyg::save_safetensors(path, {{"a", Tensor::from_vector({1.0f}, {1})}});
  const std::string bytes = read_bytes(path);
  const std::string json = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  const size_t padded = (json.size() + 7) / 8 * 8;
  ASSERT_EQ(bytes.size(), 8 + padded + 4);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), padded);
  EXPECT_EQ(bytes.substr(8, json.size()), json);
  EXPECT_EQ(bytes.substr(8 + padded), std::string("\x00\x00\x80\x3f", 4));  // 1.0f, little-endian
  std::remove(path.c_str());
}

// Each tensor's bytes are written from where they lie, one piece after the header: a
// permuted view's contiguous copy, an empty tensor and a device tensor's host copy follow
// each other exactly, on the CPU and from the emulated device.
void expect_several_tensors_in_order(const cyg::Device& device) {
  const std::string path = temp_path("several-" + device.str() + ".safetensors");
  const Tensor m = Tensor::from_vector({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, {2, 3}).to(device);
  const Tensor view = m.permute({1, 0});  // [[1, 4], [2, 5], [3, 6]], not contiguous
  ASSERT_FALSE(view.is_contiguous());
  cyg::save_safetensors(path, {{"t", view},
                               {"e", Tensor::zeros({0, 2}).to(device)},
                               {"u", Tensor::full({3}, 7, cyg::DType::U8).to(device)}});
  const std::string bytes = read_bytes(path);
  const std::string json = R"({"t":{"dtype":"F32","shape":[3,2],"data_offsets":[0,24]},)"
                           R"("e":{"dtype":"F32","shape":[0,2],"data_offsets":[24,24]},)"
                           R"("u":{"dtype":"U8","shape":[3],"data_offsets":[24,27]}})";
  const size_t padded = (json.size() + 7) / 8 * 8;
  ASSERT_EQ(bytes.size(), 8 + padded + 27);
  EXPECT_EQ(bytes.substr(8, json.size()), json);
  EXPECT_EQ(bytes.substr(8 + json.size(), padded - json.size()), std::string(padded - json.size(), ' '));
  std::string data;
  for (float v : {1.0f, 4.0f, 2.0f, 5.0f, 3.0f, 6.0f}) data.append(reinterpret_cast<const char*>(&v), sizeof v);
  data += std::string(3, '\x07');
  EXPECT_EQ(bytes.substr(8 + padded), data);
  std::remove(path.c_str());
}

TEST(Safetensors, ByteLayoutOfSeveralTensorsInOrder) { expect_several_tensors_in_order(cyg::Device::cpu()); }
TEST(Safetensors, ByteLayoutOfSeveralTensorsFromTheEmulatedDevice) {
  expect_several_tensors_in_order(cyg::Device::emu());
}

TEST(Safetensors, BrokenFilesGetOneClearError) {
  const std::string path = temp_path("broken.safetensors");
  EXPECT_NE(error_of(temp_path("does_not_exist")).find("cannot open"), std::string::npos);

  cyg::save_safetensors(path, {{"w", Tensor::ones({16})}});
  const std::string good = read_bytes(path);
  write_bytes(path, good.substr(0, good.size() - 10));
  EXPECT_NE(error_of(path).find("outside the"), std::string::npos) << error_of(path);
  write_bytes(path, good.substr(0, 5));
  EXPECT_NE(error_of(path).find("not a safetensors file"), std::string::npos) << error_of(path);
  std::string bad_json = good;
  bad_json[9] = '[';
  write_bytes(path, bad_json);
  EXPECT_NE(error_of(path).find("not valid JSON"), std::string::npos) << error_of(path);
  std::string bad_dtype = good;
  bad_dtype.replace(bad_dtype.find("F32"), 3, "F64");
  write_bytes(path, bad_dtype);
  EXPECT_NE(error_of(path).find("dtype F64"), std::string::npos) << error_of(path);
  EXPECT_NE(error_of(path).find(path), std::string::npos) << "the error names the file";
  std::remove(path.c_str());
}

// A file with the header `json` (padded to 8 bytes) and `data` after it.
std::string with_header(const std::string& json, const std::string& data) {
  std::string header = json;
  header += std::string((8 - header.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return bytes + header + data;
}

// What a fuzzer found accepted: fractional offsets and sizes (which the JSON reader would
// truncate), a shape whose product overflows, and a device that never ends.
TEST(Safetensors, FractionsOverflowsAndEndlessFilesAreRefused) {
  const std::string path = temp_path("odd.safetensors");
  const std::string data(64, '\0');
  write_bytes(path, with_header(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0.5,16.5]}})", data));
  EXPECT_NE(error_of(path).find("data_offsets [0.5,16.5]: expected whole numbers"), std::string::npos) << error_of(path);
  write_bytes(path, with_header(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,10]}})", data));
  EXPECT_NE(error_of(path).find("shape [2.5]: expected whole numbers"), std::string::npos) << error_of(path);
  write_bytes(path, with_header(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}})",
                                data));
  EXPECT_NE(error_of(path).find("needs more bytes than the file's"), std::string::npos) << error_of(path);
  write_bytes(path, with_header(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data));
  EXPECT_EQ(error_of(path), "(no error)") << "the same file with whole numbers loads";
  EXPECT_NE(error_of("/dev/zero").find("'/dev/zero' is not a regular file"), std::string::npos)
      << error_of("/dev/zero");
  std::remove(path.c_str());
}

// A header that cannot fit its file is refused from the first 8 bytes, before the rest
// is read: here a 4 GiB file (sparse, so no disk) under an address-space limit 1 GiB
// above what the process maps, where reading it whole would end in std::bad_alloc.
TEST(Safetensors, AHeaderThatCannotFitIsRefusedBeforeTheFileIsRead) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's shadow memory alone is larger than any address-space limit";
#endif
  const std::string path = temp_path("huge.safetensors");
  write_bytes(path, std::string("\0\0\0\0\0\1\0\0", 8));  // a header of 2^40 bytes
  std::filesystem::resize_file(path, uintmax_t(4) << 30);
  long pages = 0;
  std::ifstream("/proc/self/statm") >> pages;
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_AS, &old), 0);
  rlimit tight = old;
  tight.rlim_cur = static_cast<rlim_t>(pages) * static_cast<rlim_t>(sysconf(_SC_PAGESIZE)) + (rlim_t(1) << 30);
  if (old.rlim_max != RLIM_INFINITY && tight.rlim_cur > old.rlim_max)
    GTEST_SKIP() << "the hard address-space limit is below what this test needs";
  ASSERT_EQ(setrlimit(RLIMIT_AS, &tight), 0);
  std::string error;
  try {
    error = error_of(path);
  } catch (const std::bad_alloc&) {
    error = "std::bad_alloc: the file was read whole";
  }
  setrlimit(RLIMIT_AS, &old);
  std::remove(path.c_str());
  EXPECT_EQ(error, "'" + path + "': header of 1099511627776 bytes does not fit a file of 4294967296 bytes "
                   "(truncated or not safetensors)");
}

TEST(Safetensors, UnwritablePathIsAnErrorAndLeavesNothing) {
  EXPECT_THROW(cyg::save_safetensors("/nonexistent-dir/x.safetensors", {{"a", Tensor::ones({1})}}), cyg::Error);
}

}  // namespace
