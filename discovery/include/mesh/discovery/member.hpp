// A host's membership record and the gossip message that carries records between hosts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tl/expected.hpp>
#include <vector>

namespace mesh::discovery {

/// What a host says about itself. Only the host itself changes its record, and every change
/// increases `version`; a restart increases `incarnation`. (incarnation, version) orders records.
struct member_record {
  std::string name;
  uint64_t incarnation = 0;
  uint64_t version = 0;
  std::string endpoint;  ///< request ROUTER endpoint
  std::string gossip;    ///< gossip PUB endpoint
  std::vector<std::string> capabilities;  ///< sorted, unique
  uint32_t shards = 0;
  std::string strategy;
  bool leaving = false;

  /// True when this record is newer than (incarnation, version).
  bool newer_than(uint64_t inc, uint64_t ver) const noexcept {
    return incarnation > inc || (incarnation == inc && version > ver);
  }
  bool has_capability(const std::string& cap) const;
};

/// How one host sees another.
enum class member_status : uint8_t { alive, suspect, dead, leaving };

std::string_view to_string(member_status s) noexcept;
std::optional<member_status> member_status_from_string(std::string_view s) noexcept;

/// One entry of a gossip digest: a record and the sender's opinion of that host.
struct digest_entry {
  member_record record;
  member_status status = member_status::alive;
};

/// What a host publishes every heartbeat: its own record (direct evidence that it is alive)
/// and its view of every other host it knows. Every message is the full state, so a lost
/// message costs nothing but a heartbeat of delay.
struct gossip_message {
  member_record from;
  uint64_t seq = 0;  ///< per-sender counter, to notice gaps
  std::vector<digest_entry> members;
};

/// Encodes a gossip message (MessagePack map; see docs/PROTOCOL.md "Gossip").
std::string encode_gossip(const gossip_message& msg);
/// Decodes with explicit limits; an error string for anything malformed.
tl::expected<gossip_message, std::string> decode_gossip(const void* data, size_t size);

}  // namespace mesh::discovery
