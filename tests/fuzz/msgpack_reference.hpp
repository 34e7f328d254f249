// msgpack-c's answers to "is this exactly one MessagePack object within max_depth nesting" and
// "is this one map": the reference that the host's allocation-free reader (wire::is_single_object,
// decode_request, decode_forward_header) is checked against, in the wire tests and fuzz targets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <msgpack.hpp>
#include <msgpack/v2/null_visitor.hpp>

namespace mesh::fuzz {

struct depth_limit : msgpack::v2::null_visitor {
  size_t depth = 0, max_depth;
  explicit depth_limit(size_t max) : max_depth(max) {}
  bool start_array(uint32_t) { return ++depth <= max_depth; }
  bool end_array() { return --depth, true; }
  bool start_map(uint32_t) { return ++depth <= max_depth; }
  bool end_map() { return --depth, true; }
};

inline bool reference_single_object(const uint8_t* data, size_t size, size_t max_depth) {
  if (size == 0) return false;
  depth_limit v(max_depth);
  size_t offset = 0;
  try {
    if (!msgpack::v2::parse(reinterpret_cast<const char*>(data), size, offset, v)) return false;
  } catch (...) {
    return false;
  }
  return offset == size;
}

/// Whether msgpack-c reads `data` as exactly one map: what every envelope the host's reader
/// accepts must be.
inline bool reference_one_map(const uint8_t* data, size_t size) {
  size_t offset = 0;
  try {
    msgpack::object_handle oh = msgpack::unpack(reinterpret_cast<const char*>(data), size, offset);
    return offset == size && oh.get().type == msgpack::type::MAP;
  } catch (...) {
    return false;
  }
}

}  // namespace mesh::fuzz
