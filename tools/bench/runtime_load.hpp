// Load on the actor runtime in-process: the bench thread is the dispatcher (the only thread
// calling submit, run_inline and shutdown), finished tasks come back through a batch_queue it
// drains, as in the server, and are resubmitted at once so that a fixed number stay in flight.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench_options.hpp"
#include "bench_report.hpp"
#include "plugin/module_table.hpp"
#include "plugin/plugin_loader.hpp"
#include "runtime/runtime.hpp"
#include "runtime/task_queue.hpp"

namespace mesh::bench {

/// The example plugin directory of the build (MESH_EXAMPLE_PLUGIN_DIR).
const std::filesystem::path& example_plugin_dir();

/// Loads `file` from the example plugin directory; throws with the loader's reason.
std::shared_ptr<host::loaded_plugin> load_example_plugin(const std::string& file);

/// Hands every finished task to the bench thread through a batch_queue; keeps the first failure.
class queue_sink final : public host::completion_sink {
 public:
  void complete_on_worker(host::task* t, const host::outcome& result) noexcept override;

  host::batch_queue<host::task*>& done() noexcept { return done_; }
  uint64_t failures() const noexcept { return failures_.load(std::memory_order_relaxed); }
  std::string first_failure();

 private:
  host::batch_queue<host::task*> done_;
  std::atomic<uint64_t> failures_{0};
  std::mutex mutex_;
  std::string first_failure_;
};

/// What one call of a pipelined phase goes to: a module and the payload it gets. The payload
/// must outlive every run that uses it.
struct runtime_target {
  host::actor_module* module = nullptr;
  wire::bytes_view payload;
};

/// One phase's host: a fresh module table and runtime over loaded plugins, driven from this
/// thread.
class runtime_load {
 public:
  runtime_load(const std::vector<std::shared_ptr<host::loaded_plugin>>& plugins,
               const bench_options& options);
  ~runtime_load();
  runtime_load(const runtime_load&) = delete;
  runtime_load& operator=(const runtime_load&) = delete;

  /// The module serving (capability, name); throws when there is none.
  host::actor_module& module(std::string_view capability, std::string_view name);

  /// Calls ids[i % ids.size()] for i = 0, 1, ..., each on targets[(i % ids.size()) %
  /// targets.size()] (so an id always goes to the same module), keeping `inflight` calls
  /// outstanding until `count` calls completed or `limit` passed (then the calls in flight are
  /// finished and counted). CPU is this whole process's: dispatcher and workers.
  run_result pipeline(std::span<const runtime_target> targets, std::span<const std::string> ids,
                      size_t inflight, uint64_t count, host::clock::duration limit);
  /// The same with one module and one payload.
  run_result pipeline(host::actor_module& m, std::span<const std::string> ids,
                      wire::bytes_view payload, size_t inflight, uint64_t count,
                      host::clock::duration limit);

  /// Calls ids[i % ids.size()] one at a time; returns each call's round trip in ns.
  std::vector<int64_t> sequential(host::actor_module& m, std::span<const std::string> ids,
                                  wire::bytes_view payload, uint64_t count,
                                  host::clock::duration limit);

  host::runtime& runtime() noexcept { return runtime_; }

 private:
  void wait_for_completions();
  void check_failures();

  const bench_options& options_;
  queue_sink sink_;
  host::module_table table_{std::nullopt};
  std::vector<host::task*> done_;
  host::runtime runtime_;  // last: joined before the sink and the table go away
};

/// `count` ids "prefix0", "prefix1", ...
std::vector<std::string> make_ids(const std::string& prefix, uint64_t count);

}  // namespace mesh::bench
