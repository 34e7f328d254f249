// The actor table: open addressing with backward-shift deletion. Checked against std::map over
// random inserts and erases, including ids whose hashes collide on purpose.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/actor_directory.hpp"
#include "runtime/runtime.hpp"

using mesh::host::activation;
using mesh::host::actor_directory;

namespace {

struct table_under_test {
  actor_directory dir;
  std::map<std::string, std::unique_ptr<activation>> model;
  std::vector<std::unique_ptr<std::string>> ids;  // activation::id views these
  /// Forces every hash into `buckets` values (0: real hashes), so probe runs get long.
  uint64_t buckets = 0;

  uint64_t hash(std::string_view id) const {
    const uint64_t h = actor_directory::hash_of(id);
    return buckets == 0 ? h : h % buckets;
  }
  void insert(const std::string& id) {
    if (model.count(id) != 0) return;
    ids.push_back(std::make_unique<std::string>(id));
    auto a = std::make_unique<activation>();
    a->id = *ids.back();
    dir.insert(hash(id), a.get());
    model.emplace(id, std::move(a));
  }
  void erase(const std::string& id) {
    auto it = model.find(id);
    if (it == model.end()) return;
    dir.erase(it->second.get(), hash(id));
    model.erase(it);
  }
  void check(const std::vector<std::string>& universe) const {
    REQUIRE(dir.size() == model.size());
    for (const std::string& id : universe) {
      auto it = model.find(id);
      const activation* want = it == model.end() ? nullptr : it->second.get();
      REQUIRE(dir.find(id, hash(id)) == want);
    }
    size_t seen = 0;
    dir.for_each([&](activation*) { ++seen; });
    REQUIRE(seen == model.size());
  }
};

}  // namespace

TEST_CASE("the actor directory finds what was inserted and not what was erased") {
  for (uint64_t buckets : {uint64_t{0}, uint64_t{7}}) {
    INFO("hash buckets " << buckets);
    table_under_test t;
    t.buckets = buckets;
    std::vector<std::string> universe;
    for (int i = 0; i < 3000; ++i) universe.push_back("actor-" + std::to_string(i));
    std::mt19937 rng(42);
    std::uniform_int_distribution<size_t> pick(0, universe.size() - 1);
    for (int step = 0; step < 20000; ++step) {
      const std::string& id = universe[pick(rng)];
      if (rng() % 3 == 0)
        t.erase(id);
      else
        t.insert(id);
      if (step % 2500 == 0) t.check(universe);
    }
    t.check(universe);
    for (const std::string& id : universe) t.erase(id);
    t.check(universe);
    CHECK(t.dir.empty());
  }
}

TEST_CASE("directory hashes spread sequential ids over the low bits") {
  // The table indexes with the low bits: ids that differ only in their last digits must not
  // pile into a few slots.
  std::vector<int> slots(4096, 0);
  for (int i = 0; i < 4096 * 4; ++i)
    ++slots[actor_directory::hash_of("player_" + std::to_string(i)) & 4095];
  int busiest = 0;
  for (int n : slots) busiest = std::max(busiest, n);
  CHECK(busiest < 20);  // Poisson(4): P(>= 20) per slot is about 1e-8
}
