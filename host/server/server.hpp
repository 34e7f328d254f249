// The request server: the host's ROUTER socket and the dispatcher thread that owns it.
//
// Where a request goes: a frame arrives on the ROUTER socket -> decode_request -> the module
// table resolves (capability, module) -> runtime::submit puts it in the actor's mailbox -> a
// worker runs the handler and encodes the reply -> the completion queue brings it back to this
// thread -> the ROUTER socket sends it. A call whose deadline passes first is answered with a
// timeout here and its late result is dropped.
#pragma once

#include <atomic>
#include <memory>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "plugin/module_table.hpp"
#include "plugin/plugin_watcher.hpp"
#include "runtime/runtime.hpp"
#include "runtime/task_queue.hpp"
#include "server/host_config.hpp"
#include "wire/wire.hpp"

namespace mesh::host {

/// Counters of the server (dispatcher-owned, read after run()).
struct server_stats {
  uint64_t requests = 0;
  uint64_t errors = 0;
  uint64_t timeouts = 0;
  uint64_t decode_errors = 0;
  uint64_t dropped_replies = 0;
  uint64_t plugins_loaded = 0;
  uint64_t plugins_refused = 0;
};

class server final : public completion_sink {
 public:
  /// Binds the socket (throws zmq::error_t with a clear message if it cannot).
  server(host_config config, zmq::context_t& context);
  ~server() override;

  /// The endpoint actually bound (with the real port when `*` was asked for).
  const std::string& endpoint() const noexcept { return endpoint_; }
  const std::string& name() const noexcept { return config_.name; }

  /// Thread-safe: hands a loaded or refused plugin to the dispatcher thread, which adds it (or
  /// logs the refusal) on its next turn.
  void post_plugin(plugin_event event);

  /// Dispatcher thread: applies the plugins posted so far (main calls it once before run() so
  /// that the plugins present at start-up are served from the first request on).
  void apply_pending_plugins();

  /// Serves until stop() is called, then stops taking requests, lets in-flight ones finish
  /// (up to the drain timeout) and deactivates every actor.
  void run();

  /// Async-signal-safe: asks run() to finish.
  void stop() noexcept;

  const server_stats& stats() const noexcept { return stats_; }
  const runtime_stats& actor_stats() const noexcept { return runtime_->stats(); }

 private:
  struct inbound;

  void complete(task* t, const outcome& result) noexcept override;

  void receive_batch();
  void handle(std::unique_ptr<inbound> in);
  void handle_control(inbound& in, const wire::request& req);
  void drain_completions();
  void track_deadline(uint32_t timeout_ms, clock::time_point deadline, uint64_t seq);
  std::optional<clock::time_point> next_deadline() const;
  void expire_calls(clock::time_point now);
  void apply_plugin(plugin_event& event);
  void send_error(inbound& in, wire::error_code code, std::string_view message);
  void send_frames(const zmq::message_t& routing_id, bool delimiter, zmq::message_t&& body);

  host_config config_;
  zmq::socket_t socket_;
  std::string endpoint_;
  module_table modules_;
  batch_queue<inbound*> completions_;
  batch_queue<plugin_event> plugin_events_;
  std::unique_ptr<runtime> runtime_;
  std::atomic<bool> stopping_{false};
  bool draining_ = false;

  // Dispatcher-owned.
  msgpack::zone zone_;
  wire::buffer buffer_;
  uint64_t next_seq_ = 1;
  size_t inflight_ = 0;
  std::unordered_map<uint64_t, inbound*> pending_calls_;
  struct timer_entry {
    clock::time_point deadline;
    uint64_t seq;
  };
  std::map<uint32_t, std::deque<timer_entry>> timers_;  // timeout_ms -> calls in deadline order
  std::vector<inbound*> completed_;
  std::vector<plugin_event> events_;
  server_stats stats_;
};

}  // namespace mesh::host
