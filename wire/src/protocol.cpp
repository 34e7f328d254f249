#include <mesh/wire/protocol.hpp>

#include <array>

namespace mesh::wire {
namespace {

constexpr std::array<std::string_view, op_count> op_names = {
    "call", "cast", "register_capabilities", "capabilities", "shard", "ping",
    "members", "nodes_for", "owner", "stats", "actors"};

}  // namespace

std::string_view to_string(op kind) noexcept { return op_names[static_cast<size_t>(kind)]; }

std::optional<op> op_from_string(std::string_view name) noexcept {
  for (size_t i = 0; i < op_names.size(); ++i)
    if (op_names[i] == name) return static_cast<op>(i);
  return std::nullopt;
}

}  // namespace mesh::wire
