#include <mesh/wire/error_code.hpp>

#include <mesh/wire/name_table.hpp>

namespace mesh::wire {
namespace {

constexpr name_table<error_code, error_code_count> error_names{
    {"none", "bad_request", "unsupported_version", "too_large", "unknown_op",
     "unknown_capability", "capability_not_served", "unknown_module", "capability_mismatch",
     "activation_failed", "actor_error", "rejected", "bad_reply", "timeout", "overloaded",
     "shutting_down", "internal", "wrong_owner", "chain_too_long"}};

static_assert(error_names.complete());

}  // namespace

std::string_view to_string(error_code code) noexcept { return error_names.name(code); }

std::optional<error_code> error_code_from_string(std::string_view name) noexcept {
  return error_names.find(name);
}

}  // namespace mesh::wire
