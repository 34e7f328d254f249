// The names of an enum's values, indexed by value: the one way Mesh turns an enum into the
// string the wire, the logs and the metrics carry, and a string back into the enum.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace mesh::wire {

/// `names[i]` is the name of the value `E(i)`; E's values are 0..N-1.
template <class E, size_t N>
struct name_table {
  std::array<std::string_view, N> names;

  /// The name of `value`; "unknown" for a value outside the table.
  constexpr std::string_view name(E value) const noexcept {
    const auto i = static_cast<size_t>(value);
    return i < N ? names[i] : std::string_view("unknown");
  }
  /// Whether every value has a name (a short initializer list leaves empty ones); for
  /// static_assert next to each table.
  constexpr bool complete() const noexcept {
    for (const auto n : names)
      if (n.empty()) return false;
    return true;
  }
  /// The value named `name` (exact, case-sensitive); nullopt for a name not in the table.
  constexpr std::optional<E> find(std::string_view name) const noexcept {
    for (size_t i = 0; i < N; ++i)
      if (names[i] == name) return static_cast<E>(i);
    return std::nullopt;
  }
};

}  // namespace mesh::wire
