// A transparent string hash, so that maps keyed by std::string are searched with a string_view
// and no allocation. Its own header so that tables outside the runtime (routing, modules) get it
// without the runtime.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace mesh::host {

/// Transparent string hash: use with std::equal_to<> as the map's key comparison.
struct string_hash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

}  // namespace mesh::host
