// Request field checks shared by the example actors: each names the field it refuses, so a
// caller learns what to fix from the `rejected` message alone.
#pragma once

#include <cstddef>
#include <mesh/sdk.hpp>
#include <string>
#include <string_view>

namespace mesh::examples {

/// The string in `v`, which must be 1..`max_bytes` bytes; throws `rejected` naming `name`.
inline std::string_view bounded_string(const sdk::value& v, const char* name, size_t max_bytes) {
  if (!v.is_string())
    throw sdk::rejected(std::string("\"") + name + "\" must be a string of 1.." +
                        std::to_string(max_bytes) + " bytes");
  const std::string_view s = v.as_string();
  if (s.empty() || s.size() > max_bytes)
    throw sdk::rejected(std::string("\"") + name + "\" must be a string of 1.." +
                        std::to_string(max_bytes) + " bytes");
  return s;
}

}  // namespace mesh::examples
