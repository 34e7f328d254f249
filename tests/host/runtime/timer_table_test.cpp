// The actors' timer table on its own: due order, cancel, rearm after a firing, stale handles,
// the per-activation cap and dropping an activation's timers, and what a timer costs.
#include <doctest/doctest.h>

#include <vector>

#include "runtime/timer_table.hpp"

using namespace mesh::host;
using namespace std::chrono_literals;
using clock_type = timer_table::clock;

namespace {

/// Stands in for an activation: the table only keeps the pointer and the list head.
struct fake_actor {
  uint32_t head = timer_table::none;
  uint32_t count = 0;
  activation* self() { return reinterpret_cast<activation*>(this); }
};

std::vector<uint64_t> handles(const std::vector<timer_firing>& f) {
  std::vector<uint64_t> out;
  for (const auto& x : f) out.push_back(x.handle);
  return out;
}

}  // namespace

TEST_CASE("timers fall due in due order, whatever order they were armed in") {
  timer_table t;
  fake_actor a;
  const auto now = clock_type::now();
  const uint64_t late = t.start(a.self(), 1, a.head, a.count, now + 30ms, 0ms, 3, 100);
  const uint64_t early = t.start(a.self(), 1, a.head, a.count, now + 10ms, 0ms, 1, 100);
  const uint64_t middle = t.start(a.self(), 1, a.head, a.count, now + 20ms, 0ms, 2, 100);
  CHECK(a.count == 3);
  CHECK(t.next_due() == now + 10ms);
  std::vector<timer_firing> due;
  t.take_due(now + 5ms, due);
  CHECK(due.empty());
  t.take_due(now + 25ms, due);
  CHECK(handles(due) == std::vector<uint64_t>{early, middle});
  CHECK(due[0].tag == 1);
  CHECK(due[0].activation_no == 1);
  due.clear();
  t.take_due(now + 1s, due);
  CHECK(handles(due) == std::vector<uint64_t>{late});
  CHECK(t.next_due() == clock_type::time_point::max());
}

TEST_CASE("a cancelled timer never fires; a one-shot is freed when delivered") {
  timer_table t;
  fake_actor a, b;
  const auto now = clock_type::now();
  const uint64_t h1 = t.start(a.self(), 1, a.head, a.count, now, 0ms, 0, 100);
  const uint64_t h2 = t.start(a.self(), 1, a.head, a.count, now, 0ms, 0, 100);
  CHECK_FALSE(t.cancel(b.self(), b.head, b.count, h1));  // not b's timer
  CHECK(t.cancel(a.self(), a.head, a.count, h1));
  CHECK_FALSE(t.cancel(a.self(), a.head, a.count, h1));  // once only
  std::vector<timer_firing> due;
  t.take_due(now + 1ms, due);
  REQUIRE(handles(due) == std::vector<uint64_t>{h2});
  // Cancelled after it fell due, before its turn: not delivered.
  CHECK(t.cancel(a.self(), a.head, a.count, h2));
  bool periodic = true;
  CHECK_FALSE(t.deliver(h2, a.head, a.count, periodic));
  CHECK(a.count == 0);
  CHECK(t.size() == 0);
  // A slot reused by a new timer does not answer to the old handle.
  const uint64_t h3 = t.start(a.self(), 1, a.head, a.count, now, 0ms, 0, 100);
  CHECK(h3 != h1);
  CHECK(h3 != h2);
  CHECK_FALSE(t.cancel(a.self(), a.head, a.count, h1));
  due.clear();
  t.take_due(now + 1ms, due);
  CHECK(t.deliver(h3, a.head, a.count, periodic));
  CHECK_FALSE(periodic);
  CHECK(a.count == 0);
}

TEST_CASE("a periodic timer's next period starts when its firing was handled") {
  timer_table t;
  fake_actor a;
  const auto now = clock_type::now();
  const uint64_t h = t.start(a.self(), 1, a.head, a.count, now + 10ms, 100ms, 0, 100);
  std::vector<timer_firing> due;
  t.take_due(now + 10ms, due);
  REQUIRE(due.size() == 1);
  // While its firing waits for the actor, it is not due again, however late it gets.
  due.clear();
  t.take_due(now + 10s, due);
  CHECK(due.empty());
  bool periodic = false;
  CHECK(t.deliver(h, a.head, a.count, periodic));
  CHECK(periodic);
  t.rearm(h, now + 500ms);  // the handler ended then
  CHECK(t.next_due() == now + 600ms);
  t.take_due(now + 599ms, due);
  CHECK(due.empty());
  t.take_due(now + 600ms, due);
  CHECK(due.size() == 1);
  CHECK(a.count == 1);
}

TEST_CASE("an activation has at most `cap` timers, and all of them go with it") {
  timer_table t;
  fake_actor a, b;
  const auto now = clock_type::now();
  for (int i = 0; i < 5; ++i) CHECK(t.start(a.self(), 1, a.head, a.count, now + 1h, 0ms, 0, 5) != 0);
  CHECK(t.start(a.self(), 1, a.head, a.count, now + 1h, 0ms, 0, 5) == 0);
  CHECK(t.start(b.self(), 2, b.head, b.count, now + 1ms, 0ms, 0, 5) != 0);
  CHECK(t.cancel_all(a.head, a.count) == 5);
  CHECK(a.count == 0);
  CHECK(a.head == timer_table::none);
  std::vector<timer_firing> due;
  t.take_due(now + 2h, due);
  REQUIRE(due.size() == 1);
  CHECK(due[0].actor == b.self());
}

TEST_CASE("many timers in random order come out sorted") {
  timer_table t;
  fake_actor a;
  const auto now = clock_type::now();
  uint64_t x = 88172645463325252ull;
  std::vector<uint64_t> cancelled;
  for (int i = 0; i < 20'000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const uint64_t us = x % 1'000'000;  // the tag is the due time, to check the order
    const uint64_t h = t.start(a.self(), 1, a.head, a.count, now + std::chrono::microseconds(us),
                               0ms, us, 1'000'000);
    if (i % 3 == 0) cancelled.push_back(h);
  }
  for (uint64_t h : cancelled) CHECK(t.cancel(a.self(), a.head, a.count, h));
  std::vector<timer_firing> due;
  t.take_due(now + 2s, due);
  CHECK(due.size() == 20'000 - cancelled.size());
  size_t out_of_order = 0;
  for (size_t i = 1; i < due.size(); ++i) out_of_order += due[i].tag < due[i - 1].tag ? 1 : 0;
  CHECK(out_of_order == 0);
  CHECK(t.next_due() == clock_type::time_point::max());
}
