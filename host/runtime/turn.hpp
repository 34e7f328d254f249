// The turn a thread is running: one handler of one activation. Set around each handler by the
// runtime and read by the host services (ABI 1.2), which may be used only from inside the
// actor's own handlers, on the thread running them. Internal to the runtime.
#pragma once

#include <memory>
#include <vector>

#include "runtime/runtime.hpp"

namespace mesh::host {

/// What an activation that uses the host services keeps beyond the basics.
struct actor_extras {
  /// Calls the actor deferred (token, task), answered by reply(); touched only by the thread
  /// running the activation.
  std::vector<std::pair<uint64_t, task*>> deferred;
  uint64_t next_token = 1;
  /// The activation's timers (a list in the timer table) and their count, under its lock.
  uint32_t timer_head = timer_table::none;
  uint32_t timer_count = 0;
};


struct runtime::turn {
  runtime& rt;
  activation* actor;
  task* request;  ///< the call or cast being handled; nullptr for a message or a hook
  ran_on where;
  uint64_t activation_no = 0;
  uint64_t deferred_token = 0;  ///< the handler deferred its call under this token
  /// Requests made in this turn, handed on by flush_turn() once the handler returned: never
  /// from inside the plugin's call into the host.
  std::vector<actor_request_ptr> outbox;
  turn* previous;

  turn(runtime& r, activation* a, task* t, ran_on w)
      : rt(r), actor(a), request(t), where(w), previous(current()) {
    current() = this;
    outbox.swap(spare_outbox());  // this thread's vector: no allocation per turn once warm
  }
  ~turn() {
    current() = previous;
    outbox.clear();
    if (spare_outbox().capacity() < outbox.capacity()) spare_outbox().swap(outbox);
  }
  turn(const turn&) = delete;
  turn& operator=(const turn&) = delete;

  /// Drops what the turn asked for (the constructor failed: nothing of it happened).
  void discard_outbox() noexcept { outbox.clear(); }

  static std::vector<actor_request_ptr>& spare_outbox() noexcept {
    thread_local std::vector<actor_request_ptr> v;
    return v;
  }

  /// This thread's turn, or nullptr outside handlers.
  static turn*& current() noexcept {
    thread_local turn* t = nullptr;
    return t;
  }
};

}  // namespace mesh::host
