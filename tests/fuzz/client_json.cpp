// Fuzz target: meshctl's conversion of replies and payloads from MessagePack to JSON. Properties:
// json_from_msgpack never crashes or leaks and refuses with a reason; an accepted value dumps
// as JSON, and converting it back to MessagePack and to JSON again gives the same document.
#include <msgpack.hpp>
#include <msgpack/v2/null_visitor.hpp>
#include <string>

#include "fuzz_target.hpp"
#include <mesh/client.hpp>

namespace mesh::fuzz {
namespace {

constexpr const char* k_target = "client_json";

/// Finds a map key that is itself an array or a map.
struct container_key_visitor : msgpack::v2::null_visitor {
  size_t in_key = 0;
  bool found = false;
  bool start_map_key() {
    ++in_key;
    return true;
  }
  bool end_map_key() {
    --in_key;
    return true;
  }
  bool start_array(uint32_t) { return !(found = found || in_key > 0); }
  bool start_map(uint32_t) { return !(found = found || in_key > 0); }
};

bool has_container_key(const uint8_t* data, size_t size) {
  container_key_visitor v;
  size_t offset = 0;
  try {
    msgpack::v2::parse(reinterpret_cast<const char*>(data), size, offset, v);
  } catch (...) {
  }
  return v.found;
}

std::string dump(const client::json& j) {
  return j.dump(-1, ' ', false, client::json::error_handler_t::replace);
}

}  // namespace

int client_json(const uint8_t* data, size_t size) {
  // Map keys that are arrays or maps are refused (they once made the output grow exponentially
  // with the nesting; reproducers in tests/fuzz/crashes/client_json/).
  auto j = client::json_from_msgpack(data, size);
  if (has_container_key(data, size) && j) fail("client_json", "a container map key was accepted");
  if (!j) {
    MESH_FUZZ_CHECK(k_target, !j.error().message.empty());
    return 0;
  }
  const std::string first = dump(*j);
  const auto packed = client::json_to_msgpack(*j);
  auto again = client::json_from_msgpack(packed.data(), packed.size());
  if (!again)
    fail(k_target, "json_from_msgpack refuses the MessagePack of its own output: " +
                       again.error().message);
  MESH_FUZZ_CHECK(k_target, dump(*again) == first);
  return 0;
}

}  // namespace mesh::fuzz
