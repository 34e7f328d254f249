// Fuzz target: the header frame of requests forwarded between hosts and of their replies.
// Properties: decode_forward_header never crashes or leaks; an accepted header survives
// encode_forward_header (request fields when it names a sender, retry fields when it asks for a
// retry) and decodes to the same header; msgpack-c reads every accepted header as one map.
#include <msgpack.hpp>
#include <string>
#include <tuple>

#include "fuzz_target.hpp"
#include "msgpack_reference.hpp"
#include "cluster/forward_header.hpp"
#include <mesh/wire/envelope.hpp>

namespace mesh::fuzz {
namespace {

constexpr const char* k_target = "forward_header";

/// What encode_forward_header carries: epoch and hops only with a sender, owner only on retry.
auto wire_fields(const host::forward_header& h) {
  const bool request = !h.from.empty();
  return std::make_tuple(h.fseq, h.from, request ? h.epoch : 0, request ? h.hops : 0u, h.retry,
                         h.retry ? h.owner : std::string());
}

}  // namespace

int forward_header(const uint8_t* data, size_t size) {
  auto h = host::decode_forward_header(data, size);
  if (!h) return 0;
  if (!reference_one_map(data, size))
    fail(k_target, "accepted a header msgpack-c cannot read as one map");
  wire::buffer out;
  host::encode_forward_header(out, *h);
  auto again =
      host::decode_forward_header(reinterpret_cast<const uint8_t*>(out.data()), out.size());
  if (!again) fail(k_target, "encode_forward_header produced a header its decoder refuses");
  MESH_FUZZ_CHECK(k_target, wire_fields(*again) == wire_fields(*h));
  return 0;
}

}  // namespace mesh::fuzz
