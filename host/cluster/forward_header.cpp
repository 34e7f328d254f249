#include "cluster/forward_header.hpp"

#include <mesh/wire/envelope.hpp>
#include <mesh/wire/msgpack_reader.hpp>
#include <mesh/wire/object_walk.hpp>

#include <algorithm>

namespace mesh::host {

using namespace mesh::wire;  // the packers and the reader of the protocol library

void encode_forward_header(buffer& out, const forward_header& h) {
  msgpack::packer<buffer> pk(out);
  const bool request = !h.from.empty();
  const bool addressed = request && h.to_incarnation != 0;
  pk.pack_map(2 + (request ? 3 : 0) + (addressed ? 1 : 0) + (h.retry ? 2 : 0));
  pack_key(out, "v");
  pk.pack_uint32(protocol_version);
  pack_key(out, "fwd");
  pk.pack_uint64(h.fseq);
  if (request) {
    pack_key(out, "from");
    pack_str(out, h.from);
    pack_key(out, "epoch");
    pk.pack_uint64(h.epoch);
    pack_key(out, "hops");
    pk.pack_uint32(h.hops);
    if (addressed) {
      pack_key(out, "inc");
      pk.pack_uint64(h.to_incarnation);
    }
  }
  if (h.retry) {
    pack_key(out, "retry");
    pk.pack_true();
    pack_key(out, "owner");
    pack_str(out, h.owner);
  }
}

std::optional<forward_header> decode_forward_header(const uint8_t* data, size_t size) {
  // Read on every forwarded request and reply: no zone, no object tree. Each value is walked
  // whole under the default limits, then its header is read again where it started.
  using kind = msgpack_reader::kind;
  const decode_limits limits;
  forward_header h;
  bool have_fwd = false;
  const bool read = for_each_entry(
      data, size, limits.max_map, limits.max_string, inside_envelope(limits),
      [&](std::string_view key, const msgpack_reader::item& v) {
        if (key == "fwd" && v.type == kind::uint) {
          h.fseq = v.uint;
          have_fwd = true;
        } else if (key == "from" && v.type == kind::str) {
          h.from = std::string(as_string(v));
        } else if (key == "epoch" && v.type == kind::uint) {
          h.epoch = v.uint;
        } else if (key == "hops" && v.type == kind::uint) {
          h.hops = static_cast<uint32_t>(std::min<uint64_t>(v.uint, UINT32_MAX));
        } else if (key == "inc" && v.type == kind::uint) {
          h.to_incarnation = v.uint;
        } else if (key == "retry" && v.type == kind::boolean) {
          h.retry = v.boolean;
        } else if (key == "owner" && v.type == kind::str) {
          h.owner = std::string(as_string(v));
        }
        return true;
      });
  if (!read || !have_fwd) return std::nullopt;
  return h;
}

}  // namespace mesh::host
