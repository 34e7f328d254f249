// The request server: the host's ROUTER socket and the dispatcher thread that owns it.
//
// Where a request goes: a frame arrives on the ROUTER socket -> decode_request -> route():
// in a cluster the routing table names the owner of the key's shard among the hosts with the
// capability. The owner (or a single host) resolves (capability, module) in the module table and
// runtime::submit puts the request in the actor's mailbox -> a worker runs the handler and
// encodes the reply -> the completion queue brings it back here -> the ROUTER socket sends it.
// Any other owner: the frame is forwarded unchanged over a DEALER to that host, whose reply is
// relayed unchanged to the client. A host that gets a forwarded request for a key it does not own
// in its own view answers "wrong owner" and the forwarding host routes again, within the
// request's deadline. A call whose deadline passes first is answered with a timeout here.
#pragma once

#include <mesh/discovery/membership_service.hpp>

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "cluster/routing_table.hpp"
#include <mesh/placement/placement.hpp>
#include "plugin/module_table.hpp"
#include "plugin/plugin_watcher.hpp"
#include "runtime/runtime.hpp"
#include "runtime/task_queue.hpp"
#include "server/host_config.hpp"
#include "server/once_table.hpp"
#include "server/slot_table.hpp"
#include "server/host_stats.hpp"
#include <mesh/wire/envelope.hpp>

namespace mesh::host {

/// How the server talks to the membership thread.
struct cluster_hooks {
  /// This host's served capabilities changed (a plugin, register_capabilities).
  std::function<void(std::vector<std::string>)> set_capabilities;
  /// The host is stopping: announce that it leaves.
  std::function<void()> leave;
  /// After leave(): how long to keep routing so peers learn of the departure first.
  std::chrono::milliseconds leave_grace{300};
  /// A turn of the server loop longer than this means the process was paused (SIGSTOP, a frozen
  /// VM) long enough for its peers to declare it dead and take its keys over: it then retires
  /// every actor and answers actor requests `overloaded` (not run) for this long again, while
  /// it refutes its death and the peers hand its keys back. 0: never checked.
  std::chrono::milliseconds pause_limit{0};
};

class server final : public completion_sink {
 public:
  /// Binds the socket (throws zmq::error_t with a clear message if it cannot).
  server(host_config config, zmq::context_t& context);
  ~server() override;

  /// The endpoint actually bound (with the real port when `*` was asked for).
  const std::string& endpoint() const noexcept { return endpoint_; }
  const std::string& name() const noexcept { return config_.name; }

  /// Before run(): route by membership (a cluster) with `strategy`.
  void enable_cluster(std::unique_ptr<placement::placement_strategy> strategy, cluster_hooks hooks);
  /// Thread-safe: a new membership view (applied by the dispatcher on its next turn).
  void post_membership(std::shared_ptr<const discovery::membership_snapshot> snapshot);

  /// Thread-safe: hands a loaded or refused plugin to the dispatcher thread, which adds it (or
  /// logs the refusal) on its next turn.
  void post_plugin(plugin_event event);

  /// Dispatcher thread: applies the plugins posted so far (main calls it once before run() so
  /// that the plugins present at start-up are served from the first request on).
  void apply_pending_plugins();

  /// The capabilities this host serves now.
  std::vector<std::string> served_capabilities() const { return modules_.served(); }

  /// Serves until stop() is called, then stops taking requests, lets in-flight ones finish
  /// (up to the drain timeout) and deactivates every actor.
  void run();

  /// Async-signal-safe: asks run() to finish.
  void stop() noexcept;

  /// Before run(): publish a stats snapshot every 250 ms for other threads (the metrics
  /// endpoint) to read with published_stats().
  /// Call on the dispatcher thread (it publishes the first snapshot at once).
  void enable_stats_publishing() {
    publish_stats_ = true;
    publish_stats();
  }
  /// Thread-safe: the last published snapshot (empty counters before the first one).
  stats_snapshot published_stats() const;

 private:
  struct inbound;
  struct peer_link {
    zmq::socket_t socket;
    std::string endpoint;
  };
  struct forward {
    std::unique_ptr<inbound> in;
    std::string target;
    uint64_t target_incarnation = 0;  ///< the run of `target` it was sent to
    uint32_t attempts = 0;     ///< how often a host answered wrong_owner
    uint32_t unreachable = 0;  ///< consecutive sends that found the target not connected
    bool refused = false;      ///< the target answered wrong_owner
    std::string hint;
  };
  struct timer_entry {
    clock::time_point deadline;
    uint64_t seq;
    uint32_t slot;  ///< a call's slot in calls_, or slot_table::none for a forward
  };

  void complete(task* t, const outcome& result) noexcept override;

  void receive_batch();
  void receive_from_peer(peer_link& link);
  void handle(std::unique_ptr<inbound> in);
  void route(std::unique_ptr<inbound> in, const wire::request& req);
  void serve_locally(std::unique_ptr<inbound> in, const wire::request& req);
  void forward_to(std::unique_ptr<inbound> in, const discovery::member_record& owner,
                  uint32_t attempts, uint32_t unreachable = 0);
  void retry_forward(uint64_t fseq);
  void handle_control(inbound& in, const wire::request& req);
  void drain_completions();
  void apply_membership();
  void rebalance();
  void recover_from_pause(clock::duration paused);
  void track_deadline(uint32_t timeout_ms, clock::time_point deadline, uint64_t seq,
                      uint32_t slot = slot_table<inbound>::none);
  std::optional<clock::time_point> next_deadline() const;
  void expire_calls(clock::time_point now);
  void run_due_retries(clock::time_point now);
  void apply_plugin(plugin_event& event);
  void announce_capabilities();
  peer_link& peer(const discovery::member_record& owner);
  void rebuild_poll_items();
  void send_error(inbound& in, wire::error_code code, std::string_view message,
                  std::string_view owner = {});
  /// Sends `body` to the request's sender and counts the request under `outcome`.
  void send_reply(const inbound& in, zmq::message_t&& body, size_t outcome, bool retry = false,
                  std::string_view owner = {});
  /// Counts a call served by the local runtime in the latency histogram.
  void record_latency(const inbound& in, clock::time_point now);
  /// Dispatcher: the counters and gauges as of now.
  stats_snapshot take_snapshot() const;
  void publish_stats();
  void count_member_changes(const discovery::membership_snapshot& snapshot);
  /// Packs the `actors` reply into buffer_; returns the outcome (ok, or bad_request for a bad cursor).
  size_t pack_actors(const inbound& in, const wire::request& req);

  host_config config_;
  zmq::context_t& context_;
  zmq::socket_t socket_;
  std::string endpoint_;
  module_table modules_;
  batch_queue<inbound*> completions_;
  batch_queue<plugin_event> plugin_events_;
  batch_queue<std::shared_ptr<const discovery::membership_snapshot>> membership_updates_;
  std::unique_ptr<runtime> runtime_;
  std::atomic<bool> stopping_{false};
  bool draining_ = false;

  // Cluster (dispatcher-owned).
  bool clustered_ = false;
  std::unique_ptr<placement::placement_strategy> strategy_;
  cluster_hooks hooks_;
  std::shared_ptr<const discovery::membership_snapshot> snapshot_;
  uint64_t incarnation_ = 0;  ///< this run's, from the view (0: not clustered yet)
  std::unique_ptr<routing_table> routes_;
  std::map<std::string, peer_link> peers_;
  std::unordered_map<uint64_t, forward> forwards_;
  std::deque<std::pair<clock::time_point, uint64_t>> retries_;
  bool rebalance_pending_ = false;
  /// When this turn of the server loop returned from its poll (epoch before the first turn).
  /// Requests received in the turn count their deadline (and their latency) from it, which
  /// saves a clock read per request; the next turn compares its own wake-up with it to notice
  /// a pause (cluster_hooks::pause_limit).
  clock::time_point turn_start_{};
  clock::time_point paused_until_{};    ///< actor requests are refused until then
  std::vector<zmq::pollitem_t> poll_items_;
  std::vector<peer_link*> poll_peers_;
  bool poll_items_dirty_ = true;

  // Dispatcher-owned.
  wire::buffer buffer_;
  uint64_t next_seq_ = 1;
  size_t inflight_ = 0;
  slot_table<inbound> calls_;  ///< calls the runtime runs, until answered (or timed out)
  /// Requests sent with "once", kept a minute after they finish (at most 65,536 of them).
  /// Deletes an inbound where it is a complete type (server.cpp).
  struct inbound_deleter {
    void operator()(inbound* in) const noexcept;
  };
  once_table<std::unique_ptr<inbound, inbound_deleter>> once_{65'536, std::chrono::seconds(60)};
  std::map<uint32_t, std::deque<timer_entry>> timers_;  // timeout_ms -> calls in deadline order
  std::vector<inbound*> completed_;
  std::vector<inbound*> inline_done_;  ///< completed by handlers the dispatcher ran itself
  std::vector<plugin_event> events_;
  host_counters stats_;
  clock::time_point started_ = clock::now();
  std::map<std::string, discovery::member_status> member_status_;  ///< last seen, peers only

  bool publish_stats_ = false;
  mutable std::mutex published_mutex_;
  stats_snapshot published_;  ///< guarded by published_mutex_
};

}  // namespace mesh::host
