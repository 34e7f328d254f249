// Replays every committed input of every fuzz target (tests/fuzz/corpus/<target>/ and
// tests/fuzz/crashes/<target>/) through the target's function: whatever libFuzzer ever found
// stays a unit test that runs in every build, with any compiler, sanitized or not.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_target.hpp"

namespace fs = std::filesystem;

namespace {

using target_fn = int (*)(const uint8_t*, size_t);

std::vector<fs::path> inputs_of(const std::string& target) {
  std::vector<fs::path> files;
  for (const char* kind : {"corpus", "crashes"}) {
    const fs::path dir = fs::path(MESH_FUZZ_SOURCE_DIR) / kind / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (entry.is_regular_file() && !name.empty() && name[0] != '.' && name != "README.md")
        files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<uint8_t> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Runs every input of `target` through `fn`; returns how many there were.
size_t replay(const std::string& target, target_fn fn) {
  const auto files = inputs_of(target);
  for (const auto& file : files) {
    const auto bytes = read_file(file);
    INFO("input: " << file.string() << " (" << bytes.size() << " bytes)");
    try {
      CHECK(fn(bytes.data(), bytes.size()) == 0);
    } catch (const mesh::fuzz::property_violation& e) {
      FAIL_CHECK(e.what());
    } catch (const std::exception& e) {
      FAIL_CHECK("the target threw: " << e.what());
    }
  }
  return files.size();
}

}  // namespace

TEST_SUITE("fuzz replay") {
  TEST_CASE("every committed request envelope input decodes without a crash and round-trips") {
    CHECK(replay("request_envelope", mesh::fuzz::request_envelope) > 0);
  }
  TEST_CASE("every committed reply envelope input decodes without a crash and round-trips") {
    CHECK(replay("reply_envelope", mesh::fuzz::reply_envelope) > 0);
  }
  TEST_CASE("every committed forward header input decodes without a crash and round-trips") {
    CHECK(replay("forward_header", mesh::fuzz::forward_header) > 0);
  }
  TEST_CASE("every committed gossip message input decodes without a crash and round-trips") {
    CHECK(replay("gossip_message", mesh::fuzz::gossip_message) > 0);
  }
  TEST_CASE("every committed discovery beacon input decodes without a crash and round-trips") {
    CHECK(replay("discovery_beacon", mesh::fuzz::discovery_beacon) > 0);
  }
  TEST_CASE("every committed client JSON input converts without a crash and round-trips") {
    CHECK(replay("client_json", mesh::fuzz::client_json) > 0);
  }
}
