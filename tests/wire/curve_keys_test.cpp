// CURVE key files (mesh_curve, docs/SECURITY.md): the authorized keys format. Key files written
// by the real meshctl keygen are tested with keyed hosts, in tests/cluster/security_test.cpp.
#include <mesh/security/curve_keys.hpp>

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

namespace {

namespace sec = mesh::security;

}  // namespace

TEST_CASE("authorized keys skip comments and blank lines and name the line of a bad key") {
  const std::string a(40, 'a'), hash_key = "#" + std::string(39, 'b');
  const auto keys = sec::parse_authorized_keys(
      "# clients of the game cluster\n\n  " + a + "  ann\n" + hash_key + "\n#short comment\n",
      "keys");
  REQUIRE(keys.size() == 2);
  CHECK(keys[0].public_key == a);
  CHECK(keys[0].name == "ann");
  CHECK(keys[1].public_key == hash_key);  // '#' is a Z85 letter: a whole key is no comment
  CHECK(keys[1].name.empty());
  CHECK_THROWS_WITH_AS(sec::parse_authorized_keys(a + "\nnot-a-key bob\n", "keys"),
                       doctest::Contains("keys:2"), std::runtime_error);
  CHECK_THROWS_AS(sec::parse_authorized_keys(std::string(39, 'a'), "keys"), std::runtime_error);
}
