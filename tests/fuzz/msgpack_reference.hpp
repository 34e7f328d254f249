// msgpack-c's answer to "is this exactly one MessagePack object within max_depth nesting": the
// reference that the host's allocation-free walker (wire::is_single_object) is checked against,
// in the wire tests and the request_envelope fuzz target.
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

}  // namespace mesh::fuzz
