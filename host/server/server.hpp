// The request server: the host's ROUTER socket and the dispatcher thread that owns it.
//
// Where a request goes: a frame arrives on the ROUTER socket -> receive_batch -> handle():
// decode_request; a control op goes to control_ops (one handler per op) and its reply is sent at
// once. An actor op goes to route(): in a cluster, the routing table of the cluster_view names
// the owner of the key's shard among the hosts with the capability.
// - This host owns it (or there is no cluster): serve_locally() resolves (capability, module) in
//   the module table, notes the call's deadline in `deadlines` and its slot in the call table,
//   and runtime::submit puts the request in the actor's mailbox. A handler runs on a worker, or
//   on this thread inside runtime::run_inline() for a nonblocking module; either way the reply
//   is encoded where it ran and the completion_queue brings the request back:
//   complete_on_worker() queues it and wakes this thread, complete_inline() just appends it.
//   drain_completions() takes both and send_reply() writes the reply to the ROUTER socket.
// - Another host owns it: the forwarder sends the frame unchanged over its DEALER link to that
//   host and relays the reply unchanged (receive_replies -> send_reply). A host that gets a
//   forwarded request for a key it does not own in its own view answers "wrong owner" and the
//   forwarder routes it again (run_due_retries), within the request's deadline; what it cannot
//   send on (or now owns here) it hands back to the server to answer or serve.
// A request whose deadline passes first is answered with a timeout by expire_calls().
//
// Who owns what: everything here, and the cluster_view, forwarder, control_ops and deadlines it
// holds, belongs to the dispatcher thread (the one in run()). Other threads touch only the
// batch queues (post_membership, post_plugin, the completion queue's worker side), stop(), and
// published_stats() (behind its mutex). Workers touch an inbound's task fields, `reply` and
// `outcome` only while the runtime owns it.
#pragma once

#include <mesh/discovery/membership_service.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "cluster/cluster_view.hpp"
#include "cluster/forwarder.hpp"
#include <mesh/placement/placement.hpp>
#include "plugin/module_table.hpp"
#include "plugin/plugin_watcher.hpp"
#include "runtime/runtime.hpp"
#include "runtime/task_queue.hpp"
#include "server/completion_queue.hpp"
#include "server/control_ops.hpp"
#include "server/deadlines.hpp"
#include "server/host_config.hpp"
#include "server/inbound.hpp"
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
  /// This run's incarnation (the membership record's), known before the first view: a request
  /// addressed to an earlier run is refused from the first turn on. 0: learnt from the view.
  uint64_t incarnation = 0;
};

/// The host's request server: the socket loop, routing and reply sending.
class server final : private actor_router {
 public:
  /// Binds the socket (throws zmq::error_t with a clear message if it cannot).
  server(host_config config, zmq::context_t& context);
  ~server();

  /// The endpoint actually bound (with the real port when `*` was asked for).
  const std::string& endpoint() const noexcept { return endpoint_; }
  /// The host's name in actor references (the configured one, or "<hostname>:<port>").
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
  /// An actor's own call or cast (host services): routed like a client's request; the answer
  /// goes back to the actor's mailbox (answer_actor).
  void route_from_actor(actor_request_ptr request) override;
  /// Answers the actor that made `in` (if it wants an answer).
  void answer_actor(const inbound& in, bool ok, wire::error_code code, std::string_view body);
  void receive_batch();
  void handle(std::unique_ptr<inbound> in);
  void route(std::unique_ptr<inbound> in, const wire::request& req);
  void serve_locally(std::unique_ptr<inbound> in, const wire::request& req);
  /// Sends the replies the forwarder relayed and answers (or serves) what it handed back.
  void finish_forwards();
  void drain_completions();
  void apply_membership();
  void expire_calls(clock::time_point now);
  void apply_plugin(plugin_event& event);
  void announce_capabilities();
  void rebuild_poll_items();
  /// Requests accepted and not yet answered: run here, or forwarded.
  size_t inflight() const noexcept { return inflight_ + forwarder_.in_flight(); }
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

  host_config config_;
  zmq::context_t& context_;
  zmq::socket_t socket_;
  std::string endpoint_;
  host_counters stats_;
  module_table modules_;
  /// Where the runtime gives requests back (declared before runtime_, which it outlives).
  completion_queue completions_{config_.name};
  batch_queue<plugin_event> plugin_events_;
  batch_queue<std::shared_ptr<const discovery::membership_snapshot>> membership_updates_;
  std::unique_ptr<runtime> runtime_;
  std::atomic<bool> stopping_{false};
  bool draining_ = false;
  /// The loop has ended: whatever is still queued on the request socket is refused.
  bool closing_ = false;

  // Dispatcher-owned.
  deadlines deadlines_;  ///< of calls and forwards; also hands out their sequence numbers
  cluster_view cluster_{config_, stats_};
  cluster_hooks hooks_;
  forwarder forwarder_{context_, config_, endpoint_, deadlines_, stats_};
  control_ops control_;
  /// When this turn of the server loop returned from its poll (epoch before the first turn).
  /// Requests received in the turn count their deadline (and their latency) from it, which
  /// saves a clock read per request; the next turn compares its own wake-up with it to notice
  /// a pause (cluster_hooks::pause_limit).
  clock::time_point turn_start_{};
  std::vector<zmq::pollitem_t> poll_items_;
  wire::buffer buffer_;
  wire::buffer actor_frame_;  ///< where actors' requests bound for another host are encoded
  /// The next rid of an actor's request: a random 64-bit start, so that the rid is unique across
  /// hosts, as "once" needs (the owner remembers requests by rid and actor).
  uint64_t next_actor_rid_;
  size_t inflight_ = 0;  ///< requests the runtime runs (calls and casts), until completed
  slot_table<inbound> calls_;  ///< calls the runtime runs, until answered (or timed out)
  /// Requests sent with "once", kept a minute after they finish (at most 65,536 of them).
  once_table<std::unique_ptr<inbound, inbound_deleter>> once_{65'536, std::chrono::seconds(60)};
  std::vector<inbound*> completed_;
  std::vector<relayed_reply> relayed_;     ///< from the forwarder, this turn
  std::vector<returned_request> returned_;  ///< from the forwarder, this turn
  std::vector<plugin_event> events_;
  clock::time_point started_ = clock::now();

  bool publish_stats_ = false;
  mutable std::mutex published_mutex_;
  stats_snapshot published_;  ///< guarded by published_mutex_
};

}  // namespace mesh::host
