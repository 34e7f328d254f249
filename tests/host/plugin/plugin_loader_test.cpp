// Loading real .so files: the examples, and fixtures that misbehave on purpose.
#include <doctest/doctest.h>

#include "plugin/module_table.hpp"
#include "plugin/plugin_loader.hpp"
#include "plugin/plugin_watcher.hpp"
#include "temp_dir.hpp"

using namespace mesh::host;

namespace {
const std::filesystem::path examples = MESH_EXAMPLE_PLUGIN_DIR;
const std::filesystem::path fixtures = MESH_FIXTURE_PLUGIN_DIR;

std::string refusal(const std::string& file) {
  auto r = load_plugin(fixtures / file);
  REQUIRE_FALSE(r);
  return r.error();
}
}  // namespace

TEST_CASE("the example plugins load and declare their modules and capabilities") {
  std::map<std::string, std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(examples)) {
    auto plugin = load_plugin(entry.path());
    const std::string why = entry.path().string() + ": " + (plugin ? "" : plugin.error());
    REQUIRE_MESSAGE(plugin.has_value(), why);
    CHECK((*plugin)->abi_version == MESH_ABI_VERSION);
    for (const auto& m : (*plugin)->modules) found[m.name] = m.capability;
  }
  CHECK(found["Counter"] == "counter");
  CHECK(found["GameActor"] == "game");
  CHECK(found["ChatActor"] == "chat");
  CHECK(found["PaymentActor"] == "payment");
  CHECK(found["Echo"] == "bench");
}

TEST_CASE("a plugin with another ABI major is refused before its init is called") {
  // The fixture's init would crash if called.
  const std::string minor = std::to_string(MESH_ABI_VERSION_MINOR);
  CHECK(refusal("libfixture_wrong_abi.so") ==
        "plugin ABI 99." + minor + " is incompatible with host ABI 1." + minor +
            " (major must match, minor must be <= " + minor + ")");
}

TEST_CASE("a plugin built for a newer minor ABI is refused") {
  CHECK(refusal("libfixture_newer_minor.so")
            .find("plugin ABI 1." + std::to_string(MESH_ABI_VERSION_MINOR + 1) +
                  " is incompatible") == 0);
}

TEST_CASE("a shared library without the entry point is refused") {
  CHECK(refusal("libfixture_missing_entry.so").find("missing entry point mesh_plugin_abi_version") ==
        0);
}

TEST_CASE("an init that returns nothing is refused") {
  CHECK(refusal("libfixture_init_throws.so") == "mesh_plugin_init returned no plugin description");
}

TEST_CASE("a file that is not a shared library is refused") {
  CHECK(refusal("not_a_plugin.so").find("not a loadable shared library") == 0);
  auto missing = load_plugin(fixtures / "no_such_file.so");
  CHECK_FALSE(missing);
}

TEST_CASE("a module name that is already loaded refuses the whole second plugin") {
  module_table table(std::nullopt);
  auto probe = load_plugin(fixtures / "libfixture_probe.so");
  REQUIRE(probe);
  REQUIRE(table.add(*probe));
  auto dup = load_plugin(fixtures / "libfixture_duplicate.so");
  REQUIRE(dup);
  auto added = table.add(*dup);
  REQUIRE_FALSE(added);
  CHECK(added.error() == "module Probe is already provided by libfixture_probe.so");
  CHECK(table.modules().size() == 1);
}

TEST_CASE("the module table resolves capability and module, and tracks what is served") {
  module_table table(std::vector<std::string>{"counter"});
  auto counter = load_plugin(examples / "libmesh_counter.so");
  REQUIRE(counter);
  REQUIRE(table.add(*counter));
  CHECK(table.resolve("counter", "Counter"));
  CHECK(table.resolve("game", "Counter").error().code == mesh::wire::error_code::unknown_capability);
  CHECK(table.resolve("counter", "Nope").error().code == mesh::wire::error_code::unknown_module);
  CHECK(table.served() == std::vector<std::string>{"counter"});
  // resolve() remembers the module it found last: a request for another name or capability
  // must still get its own answer.
  auto echo = load_plugin(examples / "libmesh_echo.so");
  REQUIRE(echo);
  REQUIRE(table.add(*echo));
  table.register_capabilities({"bench"});
  for (int i = 0; i < 2; ++i) {
    auto c = table.resolve("counter", "Counter");
    REQUIRE(c);
    CHECK((*c)->name == "Counter");
    CHECK(table.resolve("bench", "Counter").error().code ==
          mesh::wire::error_code::capability_mismatch);
    auto e = table.resolve("bench", "Echo");
    REQUIRE(e);
    CHECK((*e)->name == "Echo");
    CHECK(table.resolve("bench", "Echo").value() == *e);
  }
  module_table narrow(std::vector<std::string>{"chat"});
  REQUIRE(narrow.add(*counter));
  CHECK(narrow.resolve("counter", "Counter").error().code ==
        mesh::wire::error_code::capability_not_served);
  narrow.register_capabilities({"counter"});
  CHECK(narrow.resolve("counter", "Counter"));
}

TEST_CASE("the watcher loads a plugin once it is complete and reports refusals once") {
  mesh::test::temp_dir dir;
  std::vector<plugin_event> events;
  plugin_watcher watcher(dir.path(), [&](plugin_event e) { events.push_back(std::move(e)); });
  watcher.scan_once();
  CHECK(events.empty());
  mesh::test::install_plugin(examples / "libmesh_counter.so", dir.path());
  mesh::test::install_plugin(fixtures / "not_a_plugin.so", dir.path());
  std::filesystem::copy_file(fixtures / "not_a_plugin.so", dir / "README.txt");
  watcher.scan_once();
  REQUIRE(events.size() == 2);
  watcher.scan_once();
  CHECK(events.size() == 2);  // each file version is tried once
  int loaded = 0;
  for (auto& e : events) loaded += e.plugin ? 1 : 0;
  CHECK(loaded == 1);
}
