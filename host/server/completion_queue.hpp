// The way back from the runtime to the dispatcher: the runtime's completion sink for requests.
//
// A request the runtime ran comes back through one of two entry points, named for the thread
// that finished it, and lands in one of two lists the dispatcher then takes together:
// - complete_on_worker(): a worker thread ran the handler. The reply is encoded there, on the
//   worker, and the request is pushed onto a batch_queue whose eventfd wakes the dispatcher.
// - complete_inline(): the dispatcher ran the handler itself (runtime::run_inline, for
//   nonblocking modules). The reply is encoded the same way and the request is appended to a
//   plain vector: same thread, no lock, no wake-up.
// take_all() (dispatcher) moves both lists out, workers' first.
#pragma once

#include <string>
#include <vector>

#include "runtime/runtime.hpp"
#include "runtime/task_queue.hpp"
#include "server/inbound.hpp"

namespace mesh::host {

/// Finished requests on their way back to the dispatcher, with their replies encoded.
class completion_queue final : public completion_sink {
 public:
  /// `host_name` (the host's name in actor references) must outlive the queue.
  explicit completion_queue(const std::string& host_name) : host_name_(host_name) {}
  /// Deletes the requests nobody took (call after the runtime has stopped).
  ~completion_queue() override;
  completion_queue(const completion_queue&) = delete;
  completion_queue& operator=(const completion_queue&) = delete;

  /// Worker thread: encodes the reply of `t` (an inbound) and queues it for the dispatcher.
  void complete_on_worker(task* t, const outcome& result) noexcept override;
  /// Dispatcher thread, inside run_inline(): encodes the reply and keeps it for take_all().
  void complete_inline(task* t, const outcome& result) noexcept override;

  /// Dispatcher: moves every finished request into `out` (which the caller has emptied):
  /// those from the workers, then those the dispatcher ran itself.
  void take_all(std::vector<inbound*>& out);

  /// The eventfd that becomes readable when a worker queued a request (or wake() was called).
  int fd() const noexcept { return from_workers_.fd(); }
  /// Async-signal-safe: makes fd() readable (stop() uses it to end the dispatcher's wait).
  void wake() noexcept { from_workers_.wake(); }

 private:
  /// Sets the outcome of `in` and, for a call, encodes its reply envelope into `in->reply`
  /// (left empty if encoding failed: the dispatcher answers with an internal error).
  void encode(inbound& in, const outcome& result) const noexcept;

  const std::string& host_name_;
  batch_queue<inbound*> from_workers_;
  std::vector<inbound*> from_dispatcher_;  ///< dispatcher-owned
};

}  // namespace mesh::host
