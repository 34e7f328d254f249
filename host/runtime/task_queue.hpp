// Hand-over queues between the dispatcher thread and the workers.
#pragma once

#include <sched.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace mesh::host {

/// Many producers, one consumer that takes everything at once. The consumer waits on `fd()`
/// (an eventfd, pollable with zmq_poll); producers only write to it when the queue goes from
/// empty to non-empty, so a busy consumer costs them one uncontended lock and no syscall.
template <class T>
class batch_queue {
 public:
  batch_queue() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) throw std::runtime_error("eventfd failed");
  }
  ~batch_queue() { ::close(fd_); }
  batch_queue(const batch_queue&) = delete;
  batch_queue& operator=(const batch_queue&) = delete;

  /// Adds one item; wakes the consumer if it may be asleep.
  void push(T item) {
    bool was_empty;
    {
      std::lock_guard lock(mutex_);
      was_empty = items_.empty();
      items_.push_back(std::move(item));
    }
    if (was_empty) wake();
  }

  /// Moves every queued item into `out` (which the caller has emptied) and clears the wake-up.
  /// Reads the eventfd only when a wake-up was written since the last read: the consumer calls
  /// this every turn of its loop, mostly with nothing written.
  void take_all(std::vector<T>& out) {
    if (signaled_.exchange(false, std::memory_order_acq_rel)) {
      uint64_t ignored;
      [[maybe_unused]] auto n = ::read(fd_, &ignored, sizeof ignored);
    }
    std::lock_guard lock(mutex_);
    out.swap(items_);
  }

  /// Makes fd() readable without adding an item (used by signal handlers: async-signal-safe).
  /// The flag is set after the write, so a take_all() that misses it leaves the fd readable and
  /// the next one (the consumer's poll returns at once) clears it.
  void wake() noexcept {
    const uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
    signaled_.store(true, std::memory_order_release);
  }

  int fd() const noexcept { return fd_; }

 private:
  std::mutex mutex_;
  std::vector<T> items_;
  int fd_;
  std::atomic<bool> signaled_{false};  ///< lock-free: wake() runs in signal handlers
};

/// Where one thread sleeps until another wakes it: a futex word, so a wake-up is one syscall on
/// each side and never spins. A wake() before the wait() is not lost.
class parking_spot {
 public:
  void wait() noexcept {
    while (state_.exchange(0, std::memory_order_acquire) == 0)
      ::syscall(SYS_futex, &state_, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
  }
  void wake() noexcept {
    state_.store(1, std::memory_order_release);
    ::syscall(SYS_futex, &state_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }

 private:
  std::atomic<uint32_t> state_{0};
};

/// Many producers, many consumers that block: the workers' run queue.
///
/// Wake-ups are the expensive part (a futex syscall on each side), so a push wakes a sleeping
/// consumer only when no consumer is already on its way to the queue ("searching": woken but
/// not yet popped). A consumer that pops while more items wait wakes the next sleeper itself, so
/// a burst of pushes costs the producer one wake-up and the consumers pass it along. Consumers
/// busy running an item do not count as searching: a push never waits behind a slow item while
/// another consumer sleeps.
template <class T>
class run_queue {
 public:
  /// Adds one item; wakes a sleeping consumer if none is searching.
  void push(T item) {
    parking_spot* wake = nullptr;
    {
      std::lock_guard lock(mutex_);
      items_.push_back(item);
      if (searching_ == 0) wake = unpark_locked();
    }
    if (wake != nullptr) wake->wake();
  }

  /// Blocks until an item is available or close() was called and the queue is empty (false).
  bool pop(T& out) {
    std::unique_lock lock(mutex_);
    bool searching = false;  // whether this consumer was woken and counts in searching_
    while (items_.empty()) {
      if (searching) --searching_;
      if (closed_) return false;
      std::unique_ptr<parking_spot> parked = spare_parking_locked();
      sleepers_.push_back(parked.get());
      lock.unlock();
      parked->wait();  // woken after unpark_locked, which also counted us in searching_
      lock.lock();
      spare_.push_back(std::move(parked));
      searching = true;
    }
    out = items_.front();
    items_.pop_front();
    parking_spot* wake = nullptr;
    if (searching) {
      --searching_;
      if (!items_.empty() && searching_ == 0) wake = unpark_locked();  // pass the wake-up on
    }
    lock.unlock();
    if (wake != nullptr) wake->wake();
    return true;
  }

  /// Items waiting now (takes the lock: for reports, not for the hot path).
  size_t size() {
    std::lock_guard lock(mutex_);
    return items_.size();
  }

  /// Lets every blocked pop return once the queue is drained.
  void close() {
    std::vector<parking_spot*> wake;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      while (auto* s = unpark_locked()) wake.push_back(s);
    }
    for (auto* s : wake) s->wake();
  }

 private:
  /// Takes one sleeper off the list and counts it as searching; the caller releases it after
  /// unlocking. nullptr if nobody sleeps.
  parking_spot* unpark_locked() {
    if (sleepers_.empty()) return nullptr;
    parking_spot* s = sleepers_.back();
    sleepers_.pop_back();
    ++searching_;
    return s;
  }

  /// A semaphore to park on. They are never freed while the queue lives, so a release that is
  /// still returning when its sleeper has already moved on touches live memory.
  std::unique_ptr<parking_spot> spare_parking_locked() {
    if (spare_.empty()) return std::make_unique<parking_spot>();
    auto s = std::move(spare_.back());
    spare_.pop_back();
    return s;
  }

  std::mutex mutex_;
  std::deque<T> items_;
  std::vector<parking_spot*> sleepers_;  // parked consumers, most recent last
  std::vector<std::unique_ptr<parking_spot>> spare_;
  int searching_ = 0;
  bool closed_ = false;
};

/// A one-byte lock for very short critical sections (an actor's mailbox).
class spin_lock {
 public:
  void lock() noexcept {
    for (int spins = 0; flag_.exchange(true, std::memory_order_acquire);) {
      // The holder may have been preempted (2 cores, more threads): yield rather than burn.
      while (flag_.load(std::memory_order_relaxed)) {
        if (++spins < 64) __builtin_ia32_pause();
        else sched_yield();
      }
    }
  }
  void unlock() noexcept { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};

}  // namespace mesh::host
