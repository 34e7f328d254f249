#include <mesh/wire/error_code.hpp>

#include <array>

namespace mesh::wire {
namespace {

constexpr std::array<std::string_view, error_code_count> error_names = {
    "bad_request",     "unsupported_version", "too_large",       "unknown_op",
    "unknown_capability", "capability_not_served", "unknown_module", "capability_mismatch",
    "activation_failed", "actor_error",       "rejected",        "bad_reply",
    "timeout",         "overloaded",          "shutting_down",   "internal",
    "wrong_owner"};
static_assert(static_cast<size_t>(error_code::wrong_owner) + 1 == error_code_count);

}  // namespace

std::string_view to_string(error_code code) noexcept {
  return error_names[static_cast<size_t>(code)];
}

std::optional<error_code> error_code_from_string(std::string_view name) noexcept {
  for (size_t i = 0; i < error_names.size(); ++i)
    if (error_names[i] == name) return static_cast<error_code>(i);
  return std::nullopt;
}

}  // namespace mesh::wire
