// The errors a host answers with: their codes, wire names and the error value that carries a
// message (docs/PROTOCOL.md, "Error codes").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mesh::wire {

/// Every error a host can answer with, after `none`. The string forms are the wire contract
/// (the wire carries names, never these numbers).
enum class error_code : uint8_t {
  none,                   ///< no error (the zero value: a code nobody set); never sent
  bad_request,            ///< not a well-formed envelope (bad MessagePack, missing field, type)
  unsupported_version,    ///< "v" is not a protocol version this host speaks
  too_large,              ///< the frame exceeds the host's frame limit
  unknown_op,             ///< "op" names no operation
  unknown_capability,     ///< no module on this host declares the capability
  capability_not_served,  ///< modules exist for it but this host does not serve the capability
  unknown_module,         ///< no module of that name is loaded
  capability_mismatch,    ///< the module belongs to another capability
  activation_failed,      ///< the actor's constructor failed
  actor_error,            ///< the handler failed; the activation was discarded
  rejected,               ///< the handler rejected the request; the activation was kept
  bad_reply,              ///< the handler returned bytes that are not one MessagePack object
  timeout,                ///< the call's deadline passed before it completed
  overloaded,             ///< the host's queue limit is reached; retry later
  shutting_down,          ///< the host is stopping
  internal,               ///< a bug in the host; the message says more
  wrong_owner,            ///< (between hosts) the callee does not own the key in its view
  /// An actor's call would make a call chain longer than max_call_chain hops (runaway recursion
  /// between actors); the message names the chain.
  chain_too_long,
};

/// Number of values of `error_code`, `none` included (for tables indexed by code).
inline constexpr size_t error_code_count = static_cast<size_t>(error_code::chain_too_long) + 1;

/// The wire name of `code`, e.g. "unknown_module" ("none" for none).
std::string_view to_string(error_code code) noexcept;
/// Parses a wire name; nullopt for a name this version does not know.
std::optional<error_code> error_code_from_string(std::string_view name) noexcept;

/// An error with its code and a message for people.
struct error {
  error_code code;
  std::string message;
};

}  // namespace mesh::wire
