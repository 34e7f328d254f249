// Hand-over queues between the dispatcher thread and the workers.
#pragma once

#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
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
  void take_all(std::vector<T>& out) {
    uint64_t ignored;
    [[maybe_unused]] auto n = ::read(fd_, &ignored, sizeof ignored);
    std::lock_guard lock(mutex_);
    out.swap(items_);
  }

  /// Makes fd() readable without adding an item (used by signal handlers: async-signal-safe).
  void wake() noexcept {
    const uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
  }

  int fd() const noexcept { return fd_; }

 private:
  std::mutex mutex_;
  std::vector<T> items_;
  int fd_;
};

/// Many producers, many consumers that block: the workers' run queue.
template <class T>
class run_queue {
 public:
  void push(T item) {
    bool wake;
    {
      std::lock_guard lock(mutex_);
      items_.push_back(item);
      wake = sleepers_ > 0;
    }
    if (wake) ready_.notify_one();
  }

  /// Blocks until an item is available or close() was called and the queue is empty (false).
  bool pop(T& out) {
    std::unique_lock lock(mutex_);
    while (items_.empty()) {
      if (closed_) return false;
      ++sleepers_;
      ready_.wait(lock);
      --sleepers_;
    }
    out = items_.front();
    items_.pop_front();
    return true;
  }

  /// Lets every blocked pop return once the queue is drained.
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<T> items_;
  int sleepers_ = 0;
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
