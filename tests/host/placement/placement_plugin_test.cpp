// Placement in the host: strategies made by name, and placement plugins loaded from real .so
// files (the fixtures, some misbehaving on purpose). The strategies themselves: tests/wire/.
#include "placement/placement_plugin.hpp"

#include <dlfcn.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

using namespace mesh::host;
using namespace mesh::placement;

namespace {

const std::filesystem::path fixtures = MESH_PLACEMENT_FIXTURE_DIR;
constexpr uint32_t shards = 4096;

std::string fixture(const std::string& name) {
  return (fixtures / ("libfixture_placement_" + name + ".so")).string();
}

std::string refusal(const std::string& spec) {
  auto r = make_placement(spec);
  REQUIRE_FALSE(r);
  return r.error();
}

}  // namespace

TEST_CASE("make_placement builds rendezvous and modulo by name") {
  auto r = make_placement("rendezvous");
  REQUIRE(r);
  CHECK((*r)->name() == "rendezvous");
  auto m = make_placement("modulo");
  REQUIRE(m);
  CHECK((*m)->name() == "modulo");
}

TEST_CASE("a placement plugin is loaded and decides the owners") {
  auto plugin = make_placement(fixture("first"));
  REQUIRE_MESSAGE(plugin.has_value(), (plugin ? "" : plugin.error()));
  CHECK((*plugin)->name() == "plugin:first");
  // The library stays loaded while the strategy lives.
  void* handle = ::dlopen(fixture("first").c_str(), RTLD_NOW | RTLD_NOLOAD);
  CHECK(handle != nullptr);
  if (handle != nullptr) ::dlclose(handle);
  const shard_table t = build_shard_table(**plugin, shards, {"zeta", "alpha", "mu"});
  REQUIRE(t.owner_of.size() == shards);
  CHECK(std::all_of(t.owner_of.begin(), t.owner_of.end(), [](uint16_t i) { return i == 0; }));
  CHECK(t.hosts[0] == "alpha");
}

TEST_CASE("a placement plugin with another ABI major is refused naming both versions") {
  // The fixture's other entry points abort if called.
  const std::string why = refusal(fixture("wrong_abi"));
  CHECK(why.find(fixture("wrong_abi")) != std::string::npos);
  CHECK(why.find("placement ABI 99.0") != std::string::npos);
  CHECK(why.find("host placement ABI 1.0") != std::string::npos);
}

TEST_CASE("a placement plugin that answers an index out of range is refused at load") {
  const std::string why = refusal(fixture("out_of_range"));
  CHECK(why.find("returned owner index 1 for shard 0 of 64 among 1 hosts") != std::string::npos);
}

TEST_CASE("a placement plugin that answers differently for the same view is refused at load") {
  CHECK(refusal(fixture("unstable")).find("not deterministic") != std::string::npos);
}

TEST_CASE("a placement plugin without an owner function is refused") {
  CHECK(refusal(fixture("missing_owner")).find("missing entry point mesh_placement_owner") !=
        std::string::npos);
}

TEST_CASE("a file named .so that is not a shared library is refused") {
  const std::string path = (fixtures / "not_a_plugin.so").string();
  const std::string why = refusal(path);
  CHECK(why.find(path) != std::string::npos);
  CHECK(why.find("not a loadable shared library") != std::string::npos);
  CHECK(refusal((fixtures / "no_such_plugin.so").string()).find("not a loadable") !=
        std::string::npos);
}

TEST_CASE("a placement that is neither a known name nor a .so path is refused") {
  const std::vector<std::string> specs = {
      "",           "consistent",
      "Rendezvous", "placement.txt",
      ".so",        (fixtures / "not_a_plugin.so.txt").string()};
  for (const auto& spec : specs) {
    CAPTURE(spec);
    const std::string why = refusal(spec);
    CHECK(why.find("unknown placement \"" + spec + "\"") != std::string::npos);
    CHECK(why.find("expected rendezvous, modulo or a path") != std::string::npos);
  }
}
