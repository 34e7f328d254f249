// request_table: the client's requests in flight, one slot per request id.
#include <doctest/doctest.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "request_table.hpp"

using mesh::client::request_table;

namespace {

/// A value that remembers how often it was cleared and keeps a string's capacity.
struct value {
  std::string text;
  int clears = 0;
  void clear() {
    text.clear();
    ++clears;
  }
};

}  // namespace

TEST_CASE("ids count up from the start and each finds its own value") {
  request_table<value> t(16);
  uint64_t next = 5;
  auto [a, va] = t.insert(next);
  va.text = "a";
  auto [b, vb] = t.insert(next);
  vb.text = "b";
  CHECK(a == 5);
  CHECK(b == 6);
  CHECK(next == 7);
  REQUIRE(t.find(5) != nullptr);
  CHECK(t.find(5)->text == "a");
  CHECK(t.find(6)->text == "b");
  CHECK(t.size() == 2);
}

TEST_CASE("id 0 is never handed out nor found") {
  request_table<value> t(16);
  uint64_t next = UINT64_MAX;
  CHECK(t.insert(next).first == UINT64_MAX);
  CHECK(t.insert(next).first == 1);  // wrapped past 0
  CHECK(t.find(0) == nullptr);
}

TEST_CASE("a stale id finds nothing, even when its slot holds a newer request") {
  request_table<value> t(16);
  uint64_t next = 1;
  const uint64_t old_id = t.insert(next).first;
  t.erase(old_id);
  CHECK(t.find(old_id) == nullptr);
  // Fill the table round until a newer id lands in the old id's slot.
  uint64_t newer = 0;
  for (int i = 0; i < 16 && newer == 0; ++i) {
    const uint64_t id = t.insert(next).first;
    if ((id & 15) == (old_id & 15)) newer = id;
    else t.erase(id);
  }
  REQUIRE(newer != 0);
  CHECK(t.find(newer) != nullptr);
  CHECK(t.find(old_id) == nullptr);
  CHECK(t.find(old_id + 16 * 1000) == nullptr);  // same slot, never handed out
}

TEST_CASE("an id whose slot is held by a long-waiting request is skipped, not reused") {
  request_table<value> t(16);
  uint64_t next = 1;
  const uint64_t waiting = t.insert(next).first;  // stays in flight
  t.find(waiting)->text = "waiting";
  std::set<uint64_t> seen = {waiting};
  // Many short requests wrap around the slots several times.
  for (int i = 0; i < 100; ++i) {
    const uint64_t id = t.insert(next).first;
    CHECK(seen.insert(id).second);     // never a repeat
    CHECK((id & (t.capacity() - 1)) != (waiting & (t.capacity() - 1)));
    t.erase(id);
  }
  CHECK(t.find(waiting)->text == "waiting");
  CHECK(t.size() == 1);
}

TEST_CASE("the table grows past half full and keeps every request") {
  request_table<value> t(16);
  uint64_t next = 1000;
  std::vector<uint64_t> ids;
  for (int i = 0; i < 100; ++i) {
    auto [id, v] = t.insert(next);
    v.text = std::to_string(id);
    ids.push_back(id);
  }
  CHECK(t.size() == 100);
  CHECK(t.capacity() >= 200);
  for (const uint64_t id : ids) {
    REQUIRE(t.find(id) != nullptr);
    CHECK(t.find(id)->text == std::to_string(id));
  }
  size_t visited = 0;
  t.for_each([&](uint64_t id, value& v) {
    CHECK(v.text == std::to_string(id));
    ++visited;
  });
  CHECK(visited == 100);
}

TEST_CASE("a table that grew for a burst goes back to its first size once empty") {
  request_table<value> t(16);
  uint64_t next = 1;
  std::vector<uint64_t> ids;
  for (int i = 0; i < 1000; ++i) ids.push_back(t.insert(next).first);
  CHECK(t.capacity() >= 2000);
  for (size_t i = 0; i + 1 < ids.size(); ++i) t.erase(ids[i]);
  CHECK(t.capacity() >= 2000);  // one left: no shrinking under a request
  CHECK(t.find(ids.back()) != nullptr);
  t.erase(ids.back());
  CHECK(t.capacity() == 16);
  CHECK(t.find(ids.back()) == nullptr);
  const uint64_t later = t.insert(next).first;
  CHECK(later == ids.back() + 1);  // ids keep counting up
  CHECK(t.find(later) != nullptr);
}

TEST_CASE("erasing clears the value and a released slot is reused") {
  request_table<value> t(16);
  uint64_t next = 1;
  auto [id, v] = t.insert(next);
  v.text = "some longer text that needs the heap";
  t.erase(id);
  CHECK(t.size() == 0);
  // Go round once: the same slot comes back, cleared.
  for (uint64_t i = 1; i < t.capacity(); ++i) t.erase(t.insert(next).first);
  auto [again, w] = t.insert(next);
  CHECK((again & (t.capacity() - 1)) == (id & (t.capacity() - 1)));
  CHECK(w.text.empty());
  CHECK(w.clears >= 1);
}

TEST_CASE("find_if returns the first matching id, or 0") {
  request_table<value> t(16);
  uint64_t next = 1;
  t.insert(next).second.text = "x";
  const uint64_t y = t.insert(next).first;
  t.find(y)->text = "y";
  CHECK(t.find_if([](uint64_t, const value& v) { return v.text == "y"; }) == y);
  CHECK(t.find_if([](uint64_t, const value& v) { return v.text == "z"; }) == 0);
}
