#include "mesh/discovery/member.hpp"

#include <algorithm>
#include <array>
#include <mesh/wire/name_table.hpp>
#include <msgpack.hpp>

namespace mesh::discovery {
namespace {

constexpr wire::name_table<member_status, 4> status_names{{"alive", "suspect", "dead", "leaving"}};
static_assert(status_names.complete());
constexpr size_t max_members = 4096;
constexpr size_t max_capabilities = 256;
constexpr size_t max_string = 1024;

template <class Stream>
void put(msgpack::packer<Stream>& pk, std::string_view s) {
  pk.pack_str(static_cast<uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

template <class Stream>
void pack_record(msgpack::packer<Stream>& pk, const member_record& r, const member_status* status) {
  pk.pack_map(status != nullptr ? 10 : 9);
  put(pk, "name");
  put(pk, r.name);
  put(pk, "inc");
  pk.pack_uint64(r.incarnation);
  put(pk, "ver");
  pk.pack_uint64(r.version);
  put(pk, "endpoint");
  put(pk, r.endpoint);
  put(pk, "gossip");
  put(pk, r.gossip);
  put(pk, "caps");
  pk.pack_array(static_cast<uint32_t>(r.capabilities.size()));
  for (const auto& c : r.capabilities) put(pk, c);
  put(pk, "shards");
  pk.pack_uint32(r.shards);
  put(pk, "strategy");
  put(pk, r.strategy);
  put(pk, "leaving");
  pk.pack(r.leaving);
  if (status != nullptr) {
    put(pk, "status");
    put(pk, to_string(*status));
  }
}

struct decode_error {
  std::string what;
};

std::string_view str(const msgpack::object& o, const char* field) {
  if (o.type != msgpack::type::STR) throw decode_error{std::string(field) + " must be a string"};
  return {o.via.str.ptr, o.via.str.size};
}

uint64_t uint(const msgpack::object& o, const char* field) {
  if (o.type != msgpack::type::POSITIVE_INTEGER)
    throw decode_error{std::string(field) + " must be an unsigned integer"};
  return o.via.u64;
}

digest_entry unpack_record(const msgpack::object& o) {
  if (o.type != msgpack::type::MAP) throw decode_error{"a member must be a map"};
  digest_entry e;
  bool have_name = false;
  for (uint32_t i = 0; i < o.via.map.size; ++i) {
    const auto& kv = o.via.map.ptr[i];
    const std::string_view key = str(kv.key, "key");
    const auto& v = kv.val;
    if (key == "name") {
      e.record.name = std::string(str(v, "name"));
      have_name = !e.record.name.empty();
    } else if (key == "inc") {
      e.record.incarnation = uint(v, "inc");
    } else if (key == "ver") {
      e.record.version = uint(v, "ver");
    } else if (key == "endpoint") {
      e.record.endpoint = std::string(str(v, "endpoint"));
    } else if (key == "gossip") {
      e.record.gossip = std::string(str(v, "gossip"));
    } else if (key == "caps") {
      if (v.type != msgpack::type::ARRAY) throw decode_error{"caps must be an array"};
      // Every record, not only the sender's: a digest entry is just as much network input.
      if (v.via.array.size > max_capabilities) throw decode_error{"too many capabilities"};
      for (uint32_t j = 0; j < v.via.array.size; ++j)
        e.record.capabilities.emplace_back(str(v.via.array.ptr[j], "capability"));
      std::sort(e.record.capabilities.begin(), e.record.capabilities.end());
      e.record.capabilities.erase(
          std::unique(e.record.capabilities.begin(), e.record.capabilities.end()),
          e.record.capabilities.end());
    } else if (key == "shards") {
      e.record.shards = static_cast<uint32_t>(std::min<uint64_t>(uint(v, "shards"), UINT32_MAX));
    } else if (key == "strategy") {
      e.record.strategy = std::string(str(v, "strategy"));
    } else if (key == "leaving") {
      if (v.type != msgpack::type::BOOLEAN) throw decode_error{"leaving must be a boolean"};
      e.record.leaving = v.via.boolean;
    } else if (key == "status") {
      auto s = member_status_from_string(str(v, "status"));
      if (!s) throw decode_error{"unknown status"};
      e.status = *s;
    }
  }
  if (!have_name) throw decode_error{"a member needs a name"};
  return e;
}

bool reference_all(msgpack::type::object_type, std::size_t, void*) { return true; }

}  // namespace

bool member_record::has_capability(const std::string& cap) const {
  return std::binary_search(capabilities.begin(), capabilities.end(), cap);
}

std::string_view to_string(member_status s) noexcept { return status_names.name(s); }

std::optional<member_status> member_status_from_string(std::string_view s) noexcept {
  return status_names.find(s);
}

std::string encode_gossip(const gossip_message& msg) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(4);
  put(pk, "v");
  pk.pack_uint32(1);
  put(pk, "from");
  pack_record(pk, msg.from, nullptr);
  put(pk, "seq");
  pk.pack_uint64(msg.seq);
  put(pk, "members");
  pk.pack_array(static_cast<uint32_t>(msg.members.size()));
  for (const auto& e : msg.members) pack_record(pk, e.record, &e.status);
  return std::string(buf.data(), buf.size());
}

tl::expected<gossip_message, std::string> decode_gossip(const void* data, size_t size) {
  if (size == 0) return tl::unexpected(std::string("empty gossip message"));
  const msgpack::unpack_limit limits(std::min(size, max_members), std::min<size_t>(size, 64),
                                     std::min(size, max_string), 0, 0, 6);
  msgpack::zone zone;
  gossip_message msg;
  try {
    std::size_t offset = 0;
    bool referenced = false;
    msgpack::object root = msgpack::unpack(zone, static_cast<const char*>(data), size, offset,
                                           referenced, &reference_all, nullptr, limits);
    if (offset != size) return tl::unexpected(std::string("trailing bytes"));
    if (root.type != msgpack::type::MAP) return tl::unexpected(std::string("not a map"));
    bool have_from = false, have_version = false;
    for (uint32_t i = 0; i < root.via.map.size; ++i) {
      const auto& kv = root.via.map.ptr[i];
      const std::string_view key = str(kv.key, "key");
      if (key == "v") {
        if (uint(kv.val, "v") != 1) return tl::unexpected(std::string("unsupported version"));
        have_version = true;
      } else if (key == "from") {
        msg.from = unpack_record(kv.val).record;
        have_from = true;
      } else if (key == "seq") {
        msg.seq = uint(kv.val, "seq");
      } else if (key == "members") {
        if (kv.val.type != msgpack::type::ARRAY)
          return tl::unexpected(std::string("members must be an array"));
        for (uint32_t j = 0; j < kv.val.via.array.size; ++j)
          msg.members.push_back(unpack_record(kv.val.via.array.ptr[j]));
      }
    }
    if (!have_version) return tl::unexpected(std::string("missing version"));
    if (!have_from) return tl::unexpected(std::string("missing sender record"));
  } catch (const decode_error& e) {
    return tl::unexpected(e.what);
  } catch (const std::exception& e) {
    return tl::unexpected(std::string("not valid MessagePack: ") + e.what());
  }
  return msg;
}

}  // namespace mesh::discovery
