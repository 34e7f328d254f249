// The actor runtime: the directory of live actors and the workers that run their handlers.
//
// Threading model (Seastar-like ownership, CAF-like scheduling):
// - One dispatcher thread owns the directory (module -> id -> activation). Only it creates,
//   looks up and retires activations, and only it pushes into mailboxes.
// - Each activation has a mailbox. An activation with mail is on the shared run queue at most
//   once; a worker that pops it runs its handlers one after another, so one actor's handlers
//   never overlap, while different actors run in parallel on `workers` threads.
// - Results go back through a completion sink: complete_on_worker() from a worker (usually onto
//   a queue the dispatcher drains), complete_inline() from the dispatcher's own run_inline().
#pragma once

#include <mesh/plugin_abi.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "runtime/actor_directory.hpp"
#include "runtime/string_hash.hpp"
#include "runtime/task_queue.hpp"
#include "runtime/timer_table.hpp"
#include <mesh/wire/envelope.hpp>

namespace mesh::host {

using clock = std::chrono::steady_clock;

struct activation;

/// One actor module as the runtime sees it. Owned by the dispatcher; never destroyed while the
/// runtime lives (a module is never unloaded while anything of it may be alive).
struct actor_module {
  const mesh_module* abi = nullptr;
  std::string name;
  std::string capability;
  std::string plugin_file;
  /// Keeps the plugin library loaded for as long as this module exists.
  std::shared_ptr<const void> library;
  /// Whether this host currently serves the module's capability (dispatcher-owned).
  bool served = true;
  /// The plugin declared MESH_MODULE_NONBLOCKING: the dispatcher may run its handlers itself.
  bool nonblocking = false;
  /// A handler of this nonblocking module took too long: run it on the workers from now on.
  /// Set by whichever thread ran that handler, read by the dispatcher (relaxed).
  std::atomic<bool> demoted{false};
  /// Slow handlers of this nonblocking module run by the dispatcher (dispatcher-owned).
  uint32_t slow_handlers = 0;
  /// Live actors by id (dispatcher-owned).
  actor_directory actors;
  /// Actors of this module with an instance (created and not yet destroyed); written by the
  /// workers, read by anyone (relaxed).
  std::atomic<int64_t> instances{0};
};

/// What happened to a task, reported once to the completion sink.
struct outcome {
  bool ok = false;
  wire::error_code code = wire::error_code::internal;
  std::string_view message;  ///< valid during complete() only
  wire::bytes_view reply;    ///< one msgpack object; valid during complete() only
  uint64_t activation = 0;   ///< the activation that served it (0 if none)
};

/// A unit of work for one actor. The submitter allocates it (usually as part of a larger
/// object holding the request frame), fills the public fields, and gets it back, exactly once,
/// through the completion sink; the views must stay valid until then.
struct task {
  wire::op kind = wire::op::call;  ///< call or cast
  /// An actor_message (a reply to the actor's own call, a timer firing): owned by the runtime,
  /// handed to mesh_module.on_message, never given to the completion sink.
  bool message = false;
  /// Hops in `chain` (see wire::request::chain): the actors whose calls led to this request.
  uint8_t chain_len = 0;
  wire::bytes_view payload;
  wire::bytes_view init_arg;
  wire::bytes_view chain;
  clock::time_point deadline = clock::time_point::max();

  // Set by the runtime.
  activation* actor = nullptr;
  task* next = nullptr;
};

/// A message for an actor's on_message handler (ABI 1.2). Allocated by the runtime and freed
/// once handled (or dropped: its activation is gone, or was re-created since).
struct actor_message : task {
  actor_message(mesh_message_kind type, bool success, uint64_t handle_of, uint64_t tag_of,
                uint64_t activation_no) noexcept
      : what(type), ok(success), handle(handle_of), tag(tag_of), for_activation(activation_no) {
    message = true;
  }
  mesh_message_kind what = MESH_MESSAGE_REPLY;
  bool ok = false;
  wire::error_code code = wire::error_code::none;
  uint64_t handle = 0;
  uint64_t tag = 0;
  uint64_t for_activation = 0;  ///< delivered only to this activation
  std::string body;             ///< reply: the reply object, or the error message
};

/// A new actor_message, from this thread's pool when it has one (its body's capacity
/// kept), and back to it once handled.
actor_message* new_actor_message(mesh_message_kind type, bool success, uint64_t handle,
                                 uint64_t tag, uint64_t activation_no);
void recycle_actor_message(actor_message* m) noexcept;

/// An actor's own call, cast or request to be deactivated, made through the host services
/// during a turn and handed, after the turn, to the actor_router. Owns its bytes; names its
/// caller by key (module, id, activation number), never by pointer, since the caller may be
/// gone by the time the reply comes back.
struct actor_request {
  enum class what : uint8_t { call, cast, deactivate };
  what kind = what::call;
  bool want_reply = false;  ///< a call, or a cast with MESH_HOST_CAST_ACK
  uint8_t chain_len = 0;    ///< hops in chain(), the caller's own included
  uint32_t timeout_ms = wire::default_timeout_ms;
  uint64_t handle = 0;
  uint64_t tag = 0;
  /// Not none: refused before it was sent (chain_too_long); `refusal` says why.
  wire::error_code refused = wire::error_code::none;
  std::string refusal;
  actor_module* caller = nullptr;
  uint64_t caller_activation = 0;
  /// caller id | capability | module | id | payload | chain (MessagePack strings).
  std::string bytes;
  uint32_t caller_id_size = 0, capability_size = 0, module_size = 0, id_size = 0,
           payload_size = 0;

  std::string_view caller_id() const noexcept { return {bytes.data(), caller_id_size}; }
  std::string_view capability() const noexcept {
    return {bytes.data() + caller_id_size, capability_size};
  }
  std::string_view module() const noexcept {
    return {bytes.data() + caller_id_size + capability_size, module_size};
  }
  wire::bytes_view id() const noexcept { return view(caller_id_size + capability_size + module_size, id_size); }
  wire::bytes_view payload() const noexcept {
    return view(caller_id_size + capability_size + module_size + id_size, payload_size);
  }
  wire::bytes_view chain() const noexcept {
    const size_t at = caller_id_size + capability_size + module_size + id_size + payload_size;
    return view(at, bytes.size() - at);
  }

 private:
  wire::bytes_view view(size_t at, size_t size) const noexcept {
    return {reinterpret_cast<const uint8_t*>(bytes.data()) + at, size};
  }
};

/// Gives an actor_request back to this thread's pool (its buffer's capacity kept for the next
/// one: a request costs no allocation once warm), or frees it when the pool is full.
struct actor_request_recycler {
  void operator()(actor_request* r) const noexcept;
};
using actor_request_ptr = std::unique_ptr<actor_request, actor_request_recycler>;
/// An empty actor_request, from this thread's pool when it has one.
actor_request_ptr new_actor_request();

/// Where actors' own requests go: the server routes them as it routes clients' requests, and
/// answers them through runtime::deliver_reply(). Called on the dispatcher thread only.
class actor_router {
 public:
  virtual ~actor_router() = default;
  virtual void route_from_actor(actor_request_ptr request) = 0;
};

/// Receives finished tasks, each exactly once, through one of two entry points named for the
/// thread that finished it.
class completion_sink {
 public:
  virtual ~completion_sink() = default;
  /// A worker thread finished `t`: called on that worker; must be quick and thread-safe.
  virtual void complete_on_worker(task* t, const outcome& result) noexcept = 0;
  /// The dispatcher finished `t` itself, in run_inline(): called on the dispatcher thread, so
  /// it needs no hand-over. By default the same as complete_on_worker().
  virtual void complete_inline(task* t, const outcome& result) noexcept {
    complete_on_worker(t, result);
  }
};

/// An actor's slot in the directory: its mailbox and, while activated, the plugin's instance.
/// Created and destroyed only by the runtime, in one allocation with the id's characters.
struct activation {
  actor_module* module = nullptr;
  std::string_view id;       ///< the directory key; valid as long as the slot exists
  void* instance = nullptr;  ///< worker-owned (only the worker running the slot touches it)
  /// Activation number of `instance`; 0 while there is none (not created yet, or discarded
  /// after a crash). Written by the worker, readable by the dispatcher (relaxed).
  std::atomic<uint64_t> number{0};
  std::atomic<int64_t> last_active{0};  ///< steady-clock ns of the last handled task
  // Mailbox, guarded by `lock`.
  spin_lock lock;
  bool scheduled = false;  ///< on the run queue, running, or being retired
  bool retiring = false;
  /// What an actor that uses the host services needs beyond the basics (its deferred calls,
  /// its timers); allocated on first use, by the thread running it.
  struct actor_extras* extras = nullptr;
  mesh_deactivation_reason retire_reason = MESH_DEACTIVATE_IDLE;
  task* head = nullptr;
  task* tail = nullptr;
};

/// Counters; read with relaxed loads (approximate while running).
struct runtime_stats {
  std::atomic<uint64_t> activations{0};
  std::atomic<uint64_t> activation_failures{0};
  std::atomic<uint64_t> deactivations_idle{0};
  std::atomic<uint64_t> deactivations_crash{0};
  std::atomic<uint64_t> deactivations_shutdown{0};
  std::atomic<uint64_t> deactivations_rebalance{0};
  std::atomic<uint64_t> actor_calls{0};        ///< calls actors made (host services)
  std::atomic<uint64_t> actor_casts{0};        ///< casts actors made
  std::atomic<uint64_t> deferred_replies{0};   ///< calls answered later (defer_reply)
  std::atomic<uint64_t> timer_firings{0};      ///< timer firings delivered
  std::atomic<uint64_t> messages_dropped{0};   ///< replies/firings whose activation was gone
  std::atomic<uint64_t> services_refused{0};   ///< host-service uses refused (bad use, caps)
};

/// Runtime configuration.
struct runtime_config {
  unsigned workers = 2;
  /// Largest reply a handler may produce.
  size_t max_reply_bytes = 1 << 20;
  /// How long run_inline() may run nonblocking modules' handlers on the dispatcher thread per
  /// call before it hands the rest to the workers; 0 runs every handler on the workers.
  std::chrono::microseconds inline_budget{500};
  /// A nonblocking module whose handler computes for longer than this, or sleeps for longer
  /// than four times this, three times, is demoted to the workers.
  std::chrono::microseconds slow_handler{5000};
  /// The host's name in actor references (mesh_actor_context.host).
  std::string host_name;
  /// Timers one activation may have armed at once.
  uint32_t max_timers_per_actor = 10'000;
  /// Calls one activation may hold unanswered (defer_reply) at once.
  uint32_t max_deferred_per_actor = 10'000;
};

/// The directory plus the worker pool. Methods marked "dispatcher" must be called from one
/// thread (the one that owns the directory).
class runtime {
 public:
  /// Which thread runs a task, and so which entry point of the sink it completes through.
  enum class ran_on : bool { worker, dispatcher };

  runtime(runtime_config config, completion_sink& sink);
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// Dispatcher: queues `t` for actor `id` of `module`, creating the slot on first use (the
  /// instance itself is created lazily by the thread that runs its first task, with that task's
  /// init_arg). An idle actor of a nonblocking module waits for run_inline(); any other goes to
  /// the workers' run queue.
  void submit(actor_module& module, std::string_view id, task* t);

  /// Dispatcher: runs the nonblocking actors submit() kept for this thread, here and now, for at
  /// most the inline budget; what is left goes to the workers. The completion sink is called on
  /// this thread for the tasks run here. Returns how many tasks ran. `same_turn`: the caller
  /// ran it already since it last slept (see run_inline's CPU-time sample).
  size_t run_inline(bool same_turn = false);

  /// Dispatcher: deactivates actors idle for longer than `idle` (hook reason idle); returns how
  /// many were retired. Busy actors are skipped.
  size_t retire_idle(clock::duration idle);

  /// What retire_if did.
  struct retired_count {
    size_t deactivated = 0;  ///< actors with an instance: their deactivation hook runs
    size_t empty = 0;        ///< slots without one (a crash discarded it): dropped, no hook
    size_t busy = 0;         ///< matched but still had work: call again later for those
  };
  /// (module, id) of an actor.
  using actor_key = std::pair<const actor_module*, std::string>;
  /// Dispatcher: retires the actors for which `lost(module, id)` holds (their keys moved to
  /// another host) with hook reason `reason`; `busy_keys`, if given, gets the keys of those
  /// that still had work.
  retired_count retire_if(const std::function<bool(const actor_module&, std::string_view)>& lost,
                          mesh_deactivation_reason reason,
                          std::vector<actor_key>* busy_keys = nullptr);

  /// Dispatcher: deactivates every actor (hook reason shutdown), waits for the workers to finish
  /// them, and stops the workers. Call after all submitted tasks completed.
  void shutdown();

  /// Dispatcher: number of actor slots in the directory.
  size_t live_actors() const noexcept { return live_; }

  /// Any thread: actors waiting on the run queue for a worker (takes the queue's lock).
  size_t run_queue_length() { return ready_.size(); }

  const runtime_stats& stats() const noexcept { return stats_; }

  // ---- Host services (ABI 1.2): actors' own calls, replies to them, timers -----------------

  /// Before the first submit: where actors' own requests go. Without one, they are refused.
  void set_router(actor_router* router) noexcept { router_ = router; }
  /// Dispatcher: routes the requests actors made on the workers. Returns how many.
  size_t run_outbound();
  /// Readable when workers queued requests for run_outbound (or a timer became due earlier).
  int outbound_fd() const noexcept { return outbound_.fd(); }
  /// Dispatcher: the outcome of `request` (an actor's call or acknowledged cast) goes to its
  /// caller's mailbox as a message, unless that activation is gone (then counted, dropped).
  /// `body`: the reply object (ok) or the error message.
  void deliver_reply(const actor_request& request, bool ok, wire::error_code code,
                     std::string_view body);
  /// Dispatcher: puts the timers due at `now` in their actors' mailboxes.
  void run_timers(clock::time_point now);
  /// When the next timer is due (time_point::max() when none is armed).
  clock::time_point next_timer() { return timers_.next_due(); }
  /// Timers armed (or firing) now.
  size_t timers_armed() { return timers_.size(); }
  /// Dispatcher: submit() kept nonblocking actors for run_inline(): do not sleep.
  bool inline_pending() const noexcept { return !inline_.empty(); }

 private:
  friend struct host_services_impl;
  /// The turn a thread is running: set around each handler, read by the host services.
  struct turn;
  /// Hands the requests made during turn `t` to the router (dispatcher) or the queue.
  void flush_turn(turn& t);
  /// A handler failed: destroys the instance (no hook) and settles what it left.
  void discard_instance(activation* a, ran_on where, std::string_view why);
  /// Removes deferred call `token` of `a` and returns it (nullptr if it is not deferred).
  task* take_deferred(activation* a, uint64_t token) noexcept;
  static const mesh_host_services host_services_table;
  void run_message(activation* a, actor_message* m, ran_on where);
  /// The activation's instance is gone (crash or retirement): its deferred calls are answered
  /// with `code` and `message`, its timers cancelled.
  void settle_extras(activation* a, wire::error_code code, std::string_view message, ran_on where);
  /// Dispatcher: retires the actors that asked for it, once their mailbox is empty.
  void retire_requested();

  void worker_loop();
  void run_slot(activation* a);
  /// run_slot on the dispatcher: stops at `until` and demotes a module whose handler was slow.
  /// `now` is the clock when it starts, and on return when its last handler ended.
  size_t run_slot_inline(activation* a, clock::time_point until, clock::time_point& now);
  /// This thread's CPU time and voluntary context switches so far.
  struct usage {
    int64_t cpu_us = 0;
    long voluntary_switches = 0;
  };
  static usage thread_usage() noexcept;
  /// After a handler that ran from `started` to `ended` took longer than slow_handler on the
  /// clock: did it use that much CPU, or sleep for long (rather than lose the CPU to others)?
  bool handler_was_slow(clock::time_point started, clock::time_point ended) const noexcept;
  /// Dispatcher: puts `t` in `a`'s mailbox and schedules `a` if it was idle.
  void enqueue(activation* a, task* t);
  /// Puts `a` (scheduled, mailbox not empty) on the workers' run queue.
  void hand_to_workers(activation* a) { ready_.push(a); }
  /// Runs one request; `now` (read by the caller) checks its deadline and marks the actor active.
  void run_task(activation* a, task* t, clock::time_point now, ran_on where);
  /// Hands `t` to the sink's entry point for `where`.
  void finish(task* t, const outcome& result, ran_on where) noexcept {
    if (where == ran_on::dispatcher) {
      sink_.complete_inline(t, result);
    } else {
      sink_.complete_on_worker(t, result);
    }
  }
  void finish_retire(activation* a);
  /// Retires `a` unless it has work (or was active after `idle_before_ns`, when not 0);
  /// `had_instance`, if given, says whether it held an instance (whose hook then runs).
  bool try_retire(actor_module& module, activation* a, mesh_deactivation_reason reason,
                  int64_t idle_before_ns, bool* had_instance = nullptr);

  runtime_config config_;
  completion_sink& sink_;
  run_queue<activation*> ready_;
  std::vector<std::thread> workers_;
  std::vector<actor_module*> modules_seen_;  // dispatcher: modules that have slots
  std::vector<activation*> inline_;          // dispatcher: scheduled, waiting for run_inline
  usage batch_usage_;                        // dispatcher: thread_usage() when run_inline began
  clock::time_point batch_start_{};          // dispatcher: when run_inline began
  clock::time_point usage_at_{};             // dispatcher: when batch_usage_ was read
  bool usage_valid_ = false;
  size_t live_ = 0;
  runtime_stats stats_;
  std::atomic<uint64_t> next_activation_{1};
  std::atomic<size_t> retiring_{0};
  std::atomic<uint64_t> next_handle_{1};  ///< of actors' calls and casts
  actor_router* router_ = nullptr;
  batch_queue<actor_request*> outbound_;  ///< from the workers' turns
  std::vector<actor_request*> outbound_batch_;  ///< dispatcher: scratch for run_outbound
  timer_table timers_;
  std::vector<timer_firing> firings_;  ///< dispatcher: scratch for run_timers
  /// Dispatcher: actors that asked to be deactivated (module, id, activation).
  std::vector<std::tuple<actor_module*, std::string, uint64_t>> retire_requests_;
};

}  // namespace mesh::host
