// Fuzz target: gossip messages and the member records they carry. Properties: decode_gossip never
// crashes or leaks and refuses with a reason; an accepted message survives encode_gossip and
// decodes to the same message (sender record, sequence number, every member and its status).
#include <string>
#include <tuple>

#include "fuzz_target.hpp"
#include "mesh/discovery/member.hpp"

namespace mesh::fuzz {
namespace {

constexpr const char* k_target = "gossip_message";

auto fields(const discovery::member_record& r) {
  return std::tie(r.name, r.incarnation, r.version, r.endpoint, r.gossip, r.capabilities, r.shards,
                  r.strategy, r.leaving);
}

bool same(const discovery::gossip_message& a, const discovery::gossip_message& b) {
  if (fields(a.from) != fields(b.from) || a.seq != b.seq || a.members.size() != b.members.size())
    return false;
  for (size_t i = 0; i < a.members.size(); ++i) {
    if (fields(a.members[i].record) != fields(b.members[i].record)) return false;
    if (a.members[i].status != b.members[i].status) return false;
  }
  return true;
}

}  // namespace

int gossip_message(const uint8_t* data, size_t size) {
  auto msg = discovery::decode_gossip(data, size);
  if (!msg) {
    MESH_FUZZ_CHECK(k_target, !msg.error().empty());
    return 0;
  }
  // docs/LIMITS.md: at most 256 capabilities in any record, 4096 members.
  MESH_FUZZ_CHECK(k_target, !msg->from.name.empty());
  MESH_FUZZ_CHECK(k_target, msg->from.capabilities.size() <= 256);
  MESH_FUZZ_CHECK(k_target, msg->members.size() <= 4096);
  for (const auto& m : msg->members) {
    MESH_FUZZ_CHECK(k_target, !m.record.name.empty());
    MESH_FUZZ_CHECK(k_target, m.record.capabilities.size() <= 256);
  }
  const std::string out = discovery::encode_gossip(*msg);
  auto again = discovery::decode_gossip(out.data(), out.size());
  if (!again)
    fail(k_target, "encode_gossip produced a message that decode_gossip refuses: " + again.error());
  MESH_FUZZ_CHECK(k_target, same(*again, *msg));
  return 0;
}

}  // namespace mesh::fuzz
