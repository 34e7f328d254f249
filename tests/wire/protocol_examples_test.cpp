// The examples of docs/PROTOCOL.md are what the code computes from the inputs the document
// states: a client author checks their implementation against them.
#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include <mesh/placement/placement.hpp>
#include <mesh/wire/shard.hpp>

namespace {

std::string protocol_md() {
  std::ifstream in(MESH_PROTOCOL_MD);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("the owner example names the host the placement rule gives over the stated hosts") {
  const std::string doc = protocol_md();
  REQUIRE_FALSE(doc.empty());
  // The example's request and reply, and the inputs the section states: game's hosts are node1
  // and node3 (the README's cluster), rendezvous, 4096 shards.
  std::smatch m;
  REQUIRE(std::regex_search(
      doc, m,
      std::regex(R"re("op":"owner", "rid":\d+, "cap":"game", "id":"player_1"\}\s*← \{[^}]*"shard":(\d+), "shards":(\d+), "owner":"(\w+)")re")));
  REQUIRE(doc.find("`game`'s hosts are node1 and node3") != std::string::npos);
  const uint32_t shards = static_cast<uint32_t>(std::stoul(m[2].str()));
  const uint32_t shard = mesh::wire::shard_for("player_1", shards);
  CHECK(std::stoul(m[1].str()) == shard);
  const auto rendezvous = mesh::placement::make_rendezvous();
  const auto table = mesh::placement::build_shard_table(*rendezvous, shards, {"node1", "node3"});
  CHECK(m[3].str() == table.hosts[table.owner_of[shard]]);
}
