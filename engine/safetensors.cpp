// safetensors reading and writing, with nlohmann::json for the header.
#include "engine/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "engine/atomic_file.h"
#include "kernels/error.h"

namespace cyg {

namespace {
const char* dtype_tag(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
  }
  return "?";
}

bool dtype_from_tag(const std::string& tag, DType* t) {
  for (DType d : {DType::F32, DType::BF16, DType::I32, DType::I64, DType::U8})
    if (tag == dtype_tag(d)) {
      *t = d;
      return true;
    }
  return false;
}

// The header may not be larger than this (safetensors' own limit is 100 MB).
constexpr uint64_t kMaxHeader = 100u << 20;
// A whole ResNet-18 checkpoint is 45 MB; 64 GiB is beyond any model this engine trains.
constexpr uintmax_t kMaxFileBytes = uintmax_t(64) << 30;
}  // namespace

void save_safetensors(const std::string& path, const NamedTensorList& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  // Each tensor's bytes are written from where they lie on the host (a device tensor's
  // copy, or a contiguous one's own memory), after the header: no copy of the file is made.
  std::vector<Tensor> hosts;
  hosts.reserve(tensors.size());
  size_t end = 0;
  for (const auto& [name, t] : tensors) {
    CYG_INPUT_CHECK(name != "__metadata__" && !header.contains(name), "safetensors: duplicate or reserved name '", name,
              "'");
    hosts.push_back(t.to(Device::cpu()).contiguous());
    const Tensor& host = hosts.back();
    const size_t begin = end;
    end += host.nbytes();
    header[name] = {{"dtype", dtype_tag(host.dtype())}, {"shape", host.shape()}, {"data_offsets", {begin, end}}};
  }
  std::string json = header.dump();
  while (json.size() % 8 != 0) json.push_back(' ');
  char length[8];
  const uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  std::vector<ByteSpan> pieces = {{length, sizeof length}, {json.data(), json.size()}};
  for (const Tensor& host : hosts) pieces.push_back({host.data_ptr(), host.nbytes()});
  write_file_atomically(path, pieces);
}

namespace {
// The header's length, the file's first 8 bytes (little-endian).
uint64_t header_size_of(const char* bytes) {
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  return n;
}

void check_header_fits(const std::string& path, uint64_t header_size, uintmax_t file_size) {
  CYG_INPUT_CHECK(header_size <= kMaxHeader && 8 + header_size <= file_size, "'", path, "': header of ", header_size,
                  " bytes does not fit a file of ", file_size, " bytes (truncated or not safetensors)");
}

// The whole file, when it is a regular file of a plausible size (not /dev/zero, not a FIFO)
// whose header fits it: the header's length is checked before the rest is read.
std::string read_whole_file(const std::string& path) {
  std::error_code error;
  const bool regular = std::filesystem::is_regular_file(path, error);
  CYG_INPUT_CHECK(std::filesystem::exists(path, error) ? regular : true, "'", path,
                  "' is not a regular file (a safetensors file is expected)");
  const uintmax_t file_size = regular ? std::filesystem::file_size(path, error) : 0;
  CYG_INPUT_CHECK(!regular || error || file_size <= kMaxFileBytes, "'", path, "' is ", file_size,
                  " bytes, more than the ", kMaxFileBytes, " a checkpoint of this engine can be");
  std::ifstream in(path, std::ios::binary);
  CYG_INPUT_CHECK(in.good(), "cannot open '", path, "': ", std::strerror(errno));
  char first[8];
  if (regular && !error && file_size > 0 && in.read(first, 8))
    check_header_fits(path, header_size_of(first), file_size);
  in.clear();
  in.seekg(0);
  std::ostringstream all;
  all << in.rdbuf();
  return all.str();
}

// The JSON header; *data_begin receives where the data starts.
nlohmann::json parse_header(const std::string& path, const std::string& bytes, size_t* data_begin) {
  CYG_INPUT_CHECK(bytes.size() >= 8, "'", path, "' is not a safetensors file: ", bytes.size(),
                  " bytes, shorter than its header size");
  const uint64_t header_size = header_size_of(bytes.data());
  check_header_fits(path, header_size, bytes.size());
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_size));
  } catch (const nlohmann::json::exception& e) {
    CYG_INPUT_CHECK(false, "'", path, "': the header is not valid JSON (", e.what(), ")");
  }
  CYG_INPUT_CHECK(header.is_object(), "'", path, "': the header is not a JSON object");
  *data_begin = 8 + header_size;
  return header;
}

// One tensor's entry, checked against the data section [data, data + data_size);
// *range receives the bytes it takes there.
Tensor read_entry(const std::string& path, const std::string& name, const nlohmann::json& entry, const char* data,
                  size_t data_size, std::pair<size_t, size_t>* range) {
  DType dtype;
  const std::string tag = entry.at("dtype").get<std::string>();
  CYG_INPUT_CHECK(dtype_from_tag(tag, &dtype), "'", path, "': tensor '", name, "' has dtype ", tag,
                  ", expected F32, BF16, I32, I64 or U8");
  // Whole numbers only: the JSON library would truncate 0.5 to 0 silently.
  for (const char* field : {"shape", "data_offsets"}) {
    const nlohmann::json& list = entry.at(field);
    CYG_INPUT_CHECK(list.is_array(), "'", path, "': tensor '", name, "' has a ", field, " that is not a list");
    for (const nlohmann::json& v : list)
      CYG_INPUT_CHECK(v.is_number_unsigned(), "'", path, "': tensor '", name, "' has ", field, " ", list.dump(),
                      ": expected whole numbers of 0 or more");
  }
  const Shape shape = entry.at("shape").get<Shape>();
  const auto offsets = entry.at("data_offsets").get<std::vector<size_t>>();
  CYG_INPUT_CHECK(offsets.size() == 2 && offsets[0] <= offsets[1] && offsets[1] <= data_size, "'", path,
                  "': tensor '", name, "' has data offsets outside the ", data_size, " data bytes (truncated file?)");
  for (int64_t s : shape) CYG_INPUT_CHECK(s >= 0, "'", path, "': tensor '", name, "' has a negative size");
  // Checked before the product: the offsets bound the bytes a shape may need.
  double elements = 1;
  for (int64_t s : shape) elements *= static_cast<double>(s);
  CYG_INPUT_CHECK(elements * static_cast<double>(dtype_size(dtype)) <= static_cast<double>(data_size), "'", path,
                  "': tensor '", name, "' of shape ", shape_str(shape), " needs more bytes than the file's ",
                  data_size);
  const size_t expected = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  CYG_INPUT_CHECK(offsets[1] - offsets[0] == expected, "'", path, "': tensor '", name, "' of shape ",
                  shape_str(shape), " needs ", expected, " bytes, its offsets give ", offsets[1] - offsets[0]);
  Tensor t = Tensor::empty(shape, dtype);
  if (expected) std::memcpy(t.data_ptr(), data + offsets[0], expected);
  *range = {offsets[0], offsets[1]};
  return t;
}
}  // namespace

SafetensorsContent load_safetensors(const std::string& path) {
  const std::string bytes = read_whole_file(path);
  size_t data_begin = 0;
  const nlohmann::json header = parse_header(path, bytes, &data_begin);
  const size_t data_size = bytes.size() - data_begin;

  SafetensorsContent out;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& entry = it.value();
    if (name == "__metadata__") {
      CYG_INPUT_CHECK(entry.is_object(), "'", path, "': __metadata__ is not an object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        CYG_INPUT_CHECK(m.value().is_string(), "'", path, "': metadata '", m.key(), "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    try {
      std::pair<size_t, size_t> range;
      out.tensors.emplace_back(name, read_entry(path, name, entry, bytes.data() + data_begin, data_size, &range));
      ranges.push_back(range);
    } catch (const nlohmann::json::exception& e) {
      CYG_INPUT_CHECK(false, "'", path, "': tensor '", name, "' has a malformed entry (", e.what(), ")");
    }
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    CYG_INPUT_CHECK(ranges[i].first >= ranges[i - 1].second, "'", path, "': tensors overlap in the data");
  // safetensors keeps names sorted in the header; keep the data order, which is the writer's.
  std::sort(out.tensors.begin(), out.tensors.end(), [&](const auto& a, const auto& b) {
    const auto& ea = header.at(a.first).at("data_offsets");
    const auto& eb = header.at(b.first).at("data_offsets");
    return ea[0].template get<size_t>() < eb[0].template get<size_t>();
  });
  return out;
}

}  // namespace cyg
