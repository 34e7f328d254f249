// The header frame that precedes a request forwarded from one host to another, and its reply
// (docs/PROTOCOL.md, "Between hosts"). Only hosts read and write it: clients never see it.
#pragma once

#include <mesh/wire/buffer.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace mesh::host {

/// The header frame that precedes a request forwarded between hosts, and its reply.
struct forward_header {
  uint64_t fseq = 0;       ///< the forwarding host's sequence number, echoed in the reply
  std::string from;        ///< name of the forwarding host
  uint64_t epoch = 0;      ///< the forwarding host's membership epoch
  uint32_t hops = 0;       ///< how often this request was routed before
  uint64_t to_incarnation = 0;  ///< (request) the callee incarnation it is meant for; 0: any
  bool retry = false;      ///< (reply) wrong owner: route again
  std::string owner;       ///< (reply, retry) the owner the callee believes in
};
/// Encodes `h`: request fields when it names a sender, retry fields when it asks for one.
void encode_forward_header(wire::buffer& out, const forward_header& h);
/// Decodes a forward header; nullopt when the bytes are not one.
std::optional<forward_header> decode_forward_header(const uint8_t* data, size_t size);

}  // namespace mesh::host
