// once_table: requests sent with "once" run once; repeats wait for, or get, the same reply.
#include <doctest/doctest.h>

#include <string>

#include "server/once_table.hpp"

using mesh::host::once_table;
using namespace std::chrono_literals;

TEST_CASE("a repeat while the original runs waits; a later one gets the stored reply") {
  once_table<std::string> t(100, 10s);
  const auto now = std::chrono::steady_clock::now();
  CHECK(t.admit(7, 42) == nullptr);  // first: run it
  auto* running = t.admit(7, 42);
  REQUIRE(running != nullptr);
  CHECK_FALSE(running->done);
  running->waiters.push_back("second caller");
  CHECK(t.admit(7, 43) == nullptr);  // same rid, another actor: a different request
  CHECK(t.admit(8, 42) == nullptr);  // another rid, same actor: a different request

  auto waiters = t.finish(7, 42, "reply-bytes", now);
  REQUIRE(waiters.size() == 1);
  CHECK(waiters[0] == "second caller");
  auto* done = t.admit(7, 42);
  REQUIRE(done != nullptr);
  CHECK(done->done);
  CHECK(done->reply == "reply-bytes");
  CHECK(t.finish(7, 42, "again", now).empty());  // finishing twice changes nothing
  CHECK(t.admit(7, 42)->reply == "reply-bytes");
  CHECK(t.finish(99, 1, "never admitted", now).empty());
}

TEST_CASE("finished entries expire after the keep time and beyond the capacity") {
  once_table<int> t(2, 1s);
  const auto now = std::chrono::steady_clock::now();
  for (uint64_t rid = 1; rid <= 3; ++rid) {
    CHECK(t.admit(rid, 0) == nullptr);
    t.finish(rid, 0, "r", now);
  }
  CHECK(t.size() == 2);               // rid 1 went first
  CHECK(t.admit(1, 0) == nullptr);    // so it is new again
  t.expire(now + 2s);
  CHECK(t.size() == 1);               // only the running rid 1 is left
  CHECK(t.admit(2, 0) == nullptr);
}
