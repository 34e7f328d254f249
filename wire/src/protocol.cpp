#include <mesh/wire/protocol.hpp>

#include <mesh/wire/name_table.hpp>

namespace mesh::wire {
namespace {

constexpr name_table<op, op_count> op_names{{"call", "cast", "register_capabilities",
                                             "capabilities", "shard", "ping", "members",
                                             "nodes_for", "owner", "stats", "actors"}};

static_assert(op_names.complete());

}  // namespace

std::string_view to_string(op kind) noexcept { return op_names.name(kind); }

std::optional<op> op_from_string(std::string_view name) noexcept { return op_names.find(name); }

}  // namespace mesh::wire
