// Fuzz target: request envelopes. Properties, for every input and both the host's default limits
// and tight ones (so that short inputs reach every limit):
//  - decode_request never crashes, leaks or reads outside the frame;
//  - every view of an accepted request points into the frame it was decoded from;
//  - an accepted request survives encode_request and decodes to the same request (the fields
//    encode_request carries for that op);
//  - msgpack-c reads an accepted envelope as one map, and wire::is_single_object (the host's
//    allocation-free walker) gives msgpack-c's answer for every input and depth.
#include <msgpack.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "fuzz_target.hpp"
#include "msgpack_reference.hpp"
#include <mesh/wire/envelope.hpp>
#include <mesh/wire/object_walk.hpp>
#include "wire_limits.hpp"

namespace mesh::fuzz {
namespace {

constexpr const char* k_target = "request_envelope";

bool inside(std::string_view v, const uint8_t* data, size_t size) {
  if (v.empty()) return true;
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());
  return p >= data && p + v.size() <= data + size;
}

/// The `actors` op's cursor, empty in a tree whose wire protocol has no `actors` op yet.
template <class Request>
std::string_view after_of(const Request& r) {
  if constexpr (requires { r.after; }) return r.after.as_string();
  return {};
}

/// What encode_request carries for the request's op; two requests that agree on it are equal on
/// the wire. (A template only so that the `actors` fields compile away where they do not exist.)
template <class Request>
auto wire_fields(const Request& r) {
  using wire::op;
  std::string cap, mod, id, payload, init, after;
  uint32_t timeout = 0, limit = 0;
  std::vector<std::string> caps;
  const bool actor_op = r.kind == op::call || r.kind == op::cast;
  if (actor_op || r.kind == op::nodes_for || r.kind == op::owner) cap = r.capability;
  if (actor_op) {
    mod = r.module;
    payload = r.payload.as_string();
    init = r.init_arg.as_string();
  }
  if (actor_op || r.kind == op::shard || r.kind == op::owner) id = r.id.as_string();
  if (r.kind == op::call) timeout = r.timeout_ms;
  if constexpr (requires { r.limit; r.after; }) {
    if (r.kind == decltype(r.kind)::actors) {
      mod = r.module;
      limit = r.limit;
      after = r.after.as_string();
    }
  }
  if (r.kind == op::register_capabilities) caps.assign(r.capabilities.begin(), r.capabilities.end());
  // The call chain (host services): its hops' bytes and count, for actor ops.
  std::string chain;
  uint32_t chain_len = 0;
  if constexpr (requires { r.chain; r.chain_len; }) {
    if (actor_op) {
      chain = r.chain.as_string();
      chain_len = r.chain_len;
    }
  }
  return std::make_tuple(r.kind, r.rid, cap, mod, id, payload, init, timeout, caps, limit, after,
                         chain, chain_len);
}

void check(const uint8_t* data, size_t size, const wire::decode_limits& limits) {
  auto req = wire::decode_request(data, size, limits);
  if (!req) {
    MESH_FUZZ_CHECK(k_target, !req.error().message.empty());
    return;
  }
  MESH_FUZZ_CHECK(k_target, inside(req->capability, data, size));
  MESH_FUZZ_CHECK(k_target, inside(req->module, data, size));
  MESH_FUZZ_CHECK(k_target, inside(req->id.as_string(), data, size));
  MESH_FUZZ_CHECK(k_target, inside(req->payload.as_string(), data, size));
  MESH_FUZZ_CHECK(k_target, inside(req->init_arg.as_string(), data, size));
  MESH_FUZZ_CHECK(k_target, inside(after_of(*req), data, size));
  MESH_FUZZ_CHECK(k_target, inside(req->chain.as_string(), data, size));
  MESH_FUZZ_CHECK(k_target, req->chain_len <= wire::max_call_chain);
  for (auto c : req->capabilities) MESH_FUZZ_CHECK(k_target, inside(c, data, size));
  MESH_FUZZ_CHECK(k_target, req->timeout_ms >= 1 && req->timeout_ms <= wire::max_timeout_ms);
  if (!reference_one_map(data, size))
    fail(k_target, "accepted an envelope msgpack-c cannot read as one map");


  wire::buffer out;
  wire::encode_request(out, *req);
  const auto* bytes = reinterpret_cast<const uint8_t*>(out.data());
  auto again = wire::decode_request(bytes, out.size(), limits);
  if (!again)
    fail(k_target, "encode_request produced an envelope that decode_request refuses: " +
                       again.error().message);
  MESH_FUZZ_CHECK(k_target, wire_fields(*again) == wire_fields(*req));
}

}  // namespace

int request_envelope(const uint8_t* data, size_t size) {
  for (const auto& limits : wire_limits_to_try()) check(data, size, limits);
  for (size_t depth : {size_t{1}, size_t{3}, size_t{64}})
    MESH_FUZZ_CHECK(k_target, wire::is_single_object(data, size, depth) ==
                                  reference_single_object(data, size, depth));
  return 0;
}

}  // namespace mesh::fuzz
