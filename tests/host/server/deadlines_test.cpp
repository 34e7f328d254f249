// The deadlines of accepted requests, in memory: order, expiry, answered entries, sequence numbers.
#include <doctest/doctest.h>

#include <set>
#include <utility>
#include <vector>

#include "server/deadlines.hpp"

using namespace mesh::host;
using namespace std::chrono_literals;

namespace {
const deadlines::clock::time_point t0 = deadlines::clock::now();
}

TEST_SUITE("deadlines") {
  TEST_CASE("sequence numbers start at one and never repeat") {
    deadlines d;
    std::set<uint64_t> seen;
    for (int i = 0; i < 1000; ++i) CHECK(seen.insert(d.next_seq()).second);
    CHECK(*seen.begin() == 1);
  }

  TEST_CASE("without requests there is no next deadline") {
    deadlines d;
    CHECK_FALSE(d.next().has_value());
  }

  TEST_CASE("the next deadline is the earliest across every timeout") {
    deadlines d;
    d.track(1000, t0 + 1000ms, d.next_seq());
    d.track(50, t0 + 50ms, d.next_seq());
    d.track(200, t0 + 20ms, d.next_seq());  // accepted earlier with a longer timeout
    REQUIRE(d.next().has_value());
    CHECK(*d.next() == t0 + 20ms);
  }

  TEST_CASE("due requests expire in deadline order with their timeout; later ones wait") {
    deadlines d;
    for (int i = 0; i < 3; ++i) d.track(100, t0 + std::chrono::milliseconds(100 + i), d.next_seq(), 7);
    std::vector<std::pair<uint64_t, uint32_t>> expired;
    auto none_answered = [](const deadline_entry&) { return false; };
    auto collect = [&](const deadline_entry& e, uint32_t ms) {
      CHECK(e.slot == 7);
      expired.emplace_back(e.seq, ms);
    };
    d.expire(t0 + 101ms, none_answered, collect);
    CHECK(expired == std::vector<std::pair<uint64_t, uint32_t>>{{1, 100}, {2, 100}});
    REQUIRE(d.next().has_value());
    CHECK(*d.next() == t0 + 102ms);
    d.expire(t0 + 1s, none_answered, collect);
    CHECK(expired.size() == 3);
    CHECK_FALSE(d.next().has_value());
  }

  TEST_CASE("answered requests are dropped without waiting for their deadline") {
    deadlines d;
    const uint64_t a = d.next_seq(), b = d.next_seq();
    d.track(100, t0 + 100ms, a);
    d.track(100, t0 + 200ms, b);
    int expired = 0;
    d.expire(t0, [&](const deadline_entry& e) { return e.seq == a; },
             [&](const deadline_entry&, uint32_t) { ++expired; });
    CHECK(expired == 0);
    REQUIRE(d.next().has_value());
    CHECK(*d.next() == t0 + 200ms);  // a is gone, b waits
    CHECK(d.next().value() != t0 + 100ms);
  }

  TEST_CASE("a forward is tracked without a call slot") {
    deadlines d;
    d.track(10, t0, d.next_seq());
    uint32_t slot = 0;
    d.expire(t0, [](const deadline_entry&) { return false; },
             [&](const deadline_entry& e, uint32_t) { slot = e.slot; });
    CHECK(slot == deadlines::no_slot);
  }

  TEST_CASE("beyond the largest number of queues a longer timeout shares the last queue") {
    deadlines d;
    for (uint32_t ms = 1; ms <= deadlines::max_queues; ++ms) d.track(ms, t0 + 1h, d.next_seq());
    const uint64_t extra = d.next_seq();
    d.track(100'000, t0, extra);  // due now, but queued behind the last queue's entry
    std::vector<uint32_t> timeouts;
    d.expire(t0, [](const deadline_entry&) { return false; },
             [&](const deadline_entry&, uint32_t ms) { timeouts.push_back(ms); });
    CHECK(timeouts.empty());  // behind an entry due in an hour: a little late, as documented
    d.expire(t0 + 2h, [](const deadline_entry&) { return false; },
             [&](const deadline_entry& e, uint32_t ms) {
               if (e.seq == extra) timeouts.push_back(ms);
             });
    CHECK(timeouts == std::vector<uint32_t>{deadlines::max_queues});
  }
}
