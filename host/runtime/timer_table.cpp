#include "runtime/timer_table.hpp"

namespace mesh::host {
namespace {

int64_t to_ns(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

uint64_t timer_table::start(activation* a, uint64_t activation_no, uint32_t& head, uint32_t& count,
                            clock::time_point due, std::chrono::milliseconds period, uint64_t tag,
                            uint32_t cap) {
  std::lock_guard lock(mutex_);
  if (count >= cap) return 0;
  uint32_t index;
  if (free_ != none) {
    index = free_;
    free_ = slots_[index].next;
  } else {
    index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  slot& s = slots_[index];
  s.due_ns = to_ns(due);
  s.tag = tag;
  s.actor = a;
  s.activation_no = activation_no;
  s.period_ms = static_cast<uint32_t>(period.count());
  ++s.generation;  // odd: allocated
  s.prev = none;
  s.next = head;
  if (head != none) slots_[head].prev = index;
  head = index;
  ++count;
  ++allocated_;
  heap_push(index);
  return handle_of(index, s.generation);
}

timer_table::slot* timer_table::find(uint64_t handle) noexcept {
  const auto index = static_cast<uint32_t>(handle);
  const auto generation = static_cast<uint32_t>(handle >> 32);
  if (index >= slots_.size()) return nullptr;
  slot& s = slots_[index];
  if (s.generation != generation || (generation & 1) == 0) return nullptr;
  return &s;
}

void timer_table::release(uint32_t index, uint32_t& head, uint32_t& count) noexcept {
  slot& s = slots_[index];
  if (s.heap_pos != none) heap_remove(s.heap_pos);
  if (s.prev != none) slots_[s.prev].next = s.next;
  if (s.next != none) slots_[s.next].prev = s.prev;
  if (head == index) head = s.next;
  ++s.generation;  // even: free; stale handles no longer match
  s.actor = nullptr;
  s.next = free_;
  s.prev = none;
  free_ = index;
  --count;
  --allocated_;
}

bool timer_table::cancel(activation* a, uint32_t& head, uint32_t& count, uint64_t handle) {
  std::lock_guard lock(mutex_);
  slot* s = find(handle);
  if (s == nullptr || s->actor != a) return false;
  release(static_cast<uint32_t>(handle), head, count);
  return true;
}

size_t timer_table::cancel_all(uint32_t& head, uint32_t& count) {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  while (head != none) {
    release(head, head, count);
    ++n;
  }
  return n;
}

void timer_table::take_due(clock::time_point now, std::vector<timer_firing>& out, size_t limit) {
  const int64_t now_ns = to_ns(now);
  std::lock_guard lock(mutex_);
  for (size_t n = 0; n < limit && !heap_.empty() && slots_[heap_[0]].due_ns <= now_ns; ++n) {
    const uint32_t index = heap_[0];
    heap_remove(0);
    const slot& s = slots_[index];
    out.push_back(timer_firing{s.actor, s.activation_no, handle_of(index, s.generation), s.tag});
  }
}

bool timer_table::deliver(uint64_t handle, uint32_t& head, uint32_t& count, bool& periodic) {
  std::lock_guard lock(mutex_);
  slot* s = find(handle);
  if (s == nullptr) return false;  // cancelled (or its actor's timers were dropped)
  periodic = s->period_ms != 0;
  if (!periodic) release(static_cast<uint32_t>(handle), head, count);
  return true;
}

void timer_table::rearm(uint64_t handle, clock::time_point now) {
  std::lock_guard lock(mutex_);
  slot* s = find(handle);
  if (s == nullptr || s->heap_pos != none) return;
  s->due_ns = to_ns(now) + int64_t{s->period_ms} * 1'000'000;
  heap_push(static_cast<uint32_t>(handle));
}

timer_table::clock::time_point timer_table::next_due() {
  std::lock_guard lock(mutex_);
  if (heap_.empty()) return clock::time_point::max();
  return clock::time_point(std::chrono::nanoseconds(slots_[heap_[0]].due_ns));
}

size_t timer_table::size() {
  std::lock_guard lock(mutex_);
  return allocated_;
}

void timer_table::heap_push(uint32_t index) {
  slots_[index].heap_pos = static_cast<uint32_t>(heap_.size());
  heap_.push_back(index);
  sift_up(slots_[index].heap_pos);
}

void timer_table::heap_remove(uint32_t pos) {
  const uint32_t removed = heap_[pos];
  const uint32_t last = heap_.back();
  heap_.pop_back();
  slots_[removed].heap_pos = none;
  if (pos == heap_.size()) return;  // it was the last one
  heap_[pos] = last;
  slots_[last].heap_pos = pos;
  sift_up(pos);
  sift_down(slots_[last].heap_pos);
}

void timer_table::sift_up(uint32_t pos) {
  const uint32_t item = heap_[pos];
  while (pos > 0) {
    const uint32_t parent = (pos - 1) / 2;
    if (!earlier(item, heap_[parent])) break;
    heap_[pos] = heap_[parent];
    slots_[heap_[pos]].heap_pos = pos;
    pos = parent;
  }
  heap_[pos] = item;
  slots_[item].heap_pos = pos;
}

void timer_table::sift_down(uint32_t pos) {
  const uint32_t item = heap_[pos];
  const auto n = static_cast<uint32_t>(heap_.size());
  for (;;) {
    uint32_t child = 2 * pos + 1;
    if (child >= n) break;
    if (child + 1 < n && earlier(heap_[child + 1], heap_[child])) ++child;
    if (!earlier(heap_[child], item)) break;
    heap_[pos] = heap_[child];
    slots_[heap_[pos]].heap_pos = pos;
    pos = child;
  }
  heap_[pos] = item;
  slots_[item].heap_pos = pos;
}

}  // namespace mesh::host
