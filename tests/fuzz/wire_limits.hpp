// The decode limits the wire fuzz targets try every input with.
#pragma once

#include <array>

#include <mesh/wire/envelope.hpp>

namespace mesh::fuzz {

/// The host's defaults, and tight limits that short inputs can reach and cross (so libFuzzer
/// explores the limit checks without needing 64 KiB inputs). 12 map entries: every key a request
/// envelope can carry.
inline std::array<wire::decode_limits, 2> wire_limits_to_try() {
  wire::decode_limits tight;
  tight.max_string = 16;
  tight.max_array = 4;
  tight.max_map = 12;
  tight.max_depth = 3;
  return {wire::decode_limits{}, tight};
}

}  // namespace mesh::fuzz
