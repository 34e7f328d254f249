// Tasks and their payloads are allocated before the clock starts, so the figures are the
// runtime's (and the plugin's), not the bench's.
#include "runtime_load.hpp"

#include <poll.h>

#include <cstdlib>
#include <stdexcept>

#include "helper_process.hpp"

namespace mesh::bench {

using host::clock;

const std::filesystem::path& example_plugin_dir() {
  static const std::filesystem::path dir(MESH_EXAMPLE_PLUGIN_DIR);
  return dir;
}

std::shared_ptr<host::loaded_plugin> load_example_plugin(const std::string& file) {
  const auto path = example_plugin_dir() / file;
  auto plugin = host::load_plugin(path);
  if (!plugin) throw std::runtime_error(path.string() + ": " + plugin.error());
  return *plugin;
}

void queue_sink::complete_on_worker(host::task* t, const host::outcome& result) noexcept {
  if (!result.ok) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    try {
      std::lock_guard lock(mutex_);
      if (first_failure_.empty())
        first_failure_ =
            std::string(wire::to_string(result.code)) + ": " + std::string(result.message);
    } catch (...) {
    }
  }
  done_.push(t);
}

std::string queue_sink::first_failure() {
  std::lock_guard lock(mutex_);
  return first_failure_;
}

runtime_load::runtime_load(const std::vector<std::shared_ptr<host::loaded_plugin>>& plugins,
                           const bench_options& options)
    : options_(options), runtime_(host::runtime_config{options.workers, 1 << 20}, sink_) {
  for (const auto& p : plugins)
    if (auto added = table_.add(p); !added) throw std::runtime_error(added.error());
}

runtime_load::~runtime_load() { runtime_.shutdown(); }

host::actor_module& runtime_load::module(std::string_view capability, std::string_view name) {
  auto m = table_.resolve(capability, name);
  if (!m) throw std::runtime_error(m.error().message);
  return **m;
}

run_result runtime_load::pipeline(std::span<const runtime_target> targets,
                                  std::span<const std::string> ids, size_t inflight,
                                  uint64_t count, clock::duration limit) {
  if (targets.empty() || ids.empty() || count == 0) return {};
  std::vector<host::task> pool(std::min<uint64_t>(inflight, count));
  for (host::task& t : pool) t.kind = wire::op::call;
  done_.clear();
  done_.reserve(pool.size());
  uint64_t submitted = 0, completed = 0;
  const size_t n = ids.size(), k = targets.size();
  auto submit = [&](host::task* t) {
    const size_t i = submitted++ % n;
    const runtime_target& target = targets[i % k];
    t->payload = target.payload;
    runtime_.submit(*target.module, ids[i], t);
  };
  const double cpu_start = cpu_seconds();
  const auto start = clock::now();
  const auto stop_at = start + limit;
  bool stopping = false;
  for (host::task& t : pool) submit(&t);
  while (completed < submitted) {
    wait_for_completions();
    done_.clear();
    sink_.done().take_all(done_);
    completed += done_.size();
    if (!stopping && clock::now() >= stop_at) stopping = true;
    for (host::task* t : done_) {
      if (stopping || submitted >= count) break;
      submit(t);
    }
  }
  run_result r{completed, std::chrono::duration<double>(clock::now() - start).count(),
               cpu_seconds() - cpu_start};
  check_failures();
  return r;
}

run_result runtime_load::pipeline(host::actor_module& m, std::span<const std::string> ids,
                                  wire::bytes_view payload, size_t inflight, uint64_t count,
                                  clock::duration limit) {
  const runtime_target target{&m, payload};
  return pipeline(std::span<const runtime_target>(&target, 1), ids, inflight, count, limit);
}

std::vector<int64_t> runtime_load::sequential(host::actor_module& m,
                                              std::span<const std::string> ids,
                                              wire::bytes_view payload, uint64_t count,
                                              clock::duration limit) {
  std::vector<int64_t> samples;
  samples.reserve(count);
  host::task t;
  t.kind = wire::op::call;
  t.payload = payload;
  done_.clear();
  done_.reserve(1);
  const auto stop_at = clock::now() + limit;
  for (uint64_t i = 0; i < count; ++i) {
    const auto sent = clock::now();
    if (sent >= stop_at) break;
    runtime_.submit(m, ids[i % ids.size()], &t);
    for (done_.clear(); done_.empty();) {
      wait_for_completions();
      sink_.done().take_all(done_);
    }
    samples.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - sent).count());
  }
  check_failures();
  return samples;
}

void runtime_load::wait_for_completions() {
  // As the server does after each batch: nonblocking actors run here, the rest on the workers.
  runtime_.run_inline();
  pollfd p{sink_.done().fd(), POLLIN, 0};
  const int rc = ::poll(&p, 1, static_cast<int>(options_.stall_limit.count()));
  if (rc == 0) {
    // Tasks are still inside the runtime: it cannot be shut down, and unwinding would wait for
    // them forever. Stop the children this bench started, report and leave.
    progress("local", "FAILED: no call completed for " +
                          std::to_string(options_.stall_limit.count()) + " ms");
    child_process::kill_all_started();
    std::_Exit(1);
  }
}

void runtime_load::check_failures() {
  if (sink_.failures() != 0)
    throw std::runtime_error(std::to_string(sink_.failures()) +
                             " calls failed; the first: " + sink_.first_failure());
}

std::vector<std::string> make_ids(const std::string& prefix, uint64_t count) {
  std::vector<std::string> ids;
  ids.reserve(count);
  for (uint64_t i = 0; i < count; ++i) ids.push_back(prefix + std::to_string(i));
  return ids;
}

}  // namespace mesh::bench
