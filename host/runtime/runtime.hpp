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
#include <unordered_map>
#include <vector>

#include "runtime/actor_directory.hpp"
#include "runtime/string_hash.hpp"
#include "runtime/task_queue.hpp"
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
  wire::bytes_view payload;
  wire::bytes_view init_arg;
  clock::time_point deadline = clock::time_point::max();

  // Set by the runtime.
  activation* actor = nullptr;
  task* next = nullptr;
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
};

/// The directory plus the worker pool. Methods marked "dispatcher" must be called from one
/// thread (the one that owns the directory).
class runtime {
 public:
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
  /// this thread for the tasks run here. Returns how many tasks ran.
  size_t run_inline();

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

 private:
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
  /// Puts `a` (scheduled, mailbox not empty) on the workers' run queue.
  void hand_to_workers(activation* a) { ready_.push(a); }
  /// Which thread runs a task, and so which entry point of the sink it completes through.
  enum class ran_on : bool { worker, dispatcher };
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
  size_t live_ = 0;
  runtime_stats stats_;
  std::atomic<uint64_t> next_activation_{1};
  std::atomic<size_t> retiring_{0};
};

}  // namespace mesh::host
