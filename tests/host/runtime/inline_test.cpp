// Nonblocking modules run on the dispatcher thread (runtime::run_inline), with the real Quick
// and Probe fixture plugins: where handlers run, the time budget, demotion of a module that
// breaks its promise, and that plugins built before the flag existed still load.
#include <doctest/doctest.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>

#include "plugin/module_table.hpp"
#include "plugin/plugin_loader.hpp"
#include "runtime/runtime.hpp"

using namespace mesh::host;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::filesystem::path fixture_dir = MESH_FIXTURE_PLUGIN_DIR;

int64_t this_tid() { return static_cast<int64_t>(::syscall(SYS_gettid)); }

struct quick_task : task {
  std::vector<uint8_t> bytes;
  bool ok = false;
  std::string error;
  int64_t handler_tid = 0;   ///< the thread that ran the handler (from the reply)
  int64_t complete_tid = 0;  ///< the thread that called the completion sink
  int64_t calls = 0;         ///< the actor's count of calls, this one included (from the reply)
};

class sink_by_thread : public completion_sink {
 public:
  void complete_on_worker(task* t, const outcome& r) noexcept override {
    auto* q = static_cast<quick_task*>(t);
    q->ok = r.ok;
    if (r.ok) {
      const json reply = json::from_msgpack(r.reply.data, r.reply.data + r.reply.size);
      // Probe replies carry neither; they stay 0.
      if (reply.contains("tid")) q->handler_tid = reply["tid"].get<int64_t>();
      if (reply.contains("calls")) q->calls = reply["calls"].get<int64_t>();
    } else {
      q->error = std::string(r.message);
    }
    q->complete_tid = this_tid();
    std::lock_guard lock(mutex_);
    ++completed_;
    cv_.notify_all();
  }
  bool wait_for(size_t n) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, 10s, [&] { return completed_ >= n; });
  }
  size_t completed() {
    std::lock_guard lock(mutex_);
    return completed_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  size_t completed_ = 0;
};

struct fixture {
  sink_by_thread sink;
  module_table table{std::nullopt};
  std::deque<quick_task> tasks;
  runtime rt;

  explicit fixture(runtime_config config = {2, 1 << 20}) : rt(config, sink) {
    for (const char* file : {"libfixture_quick.so", "libfixture_probe.so"}) {
      auto plugin = load_plugin(fixture_dir / file);
      REQUIRE(plugin);
      REQUIRE(table.add(*plugin));
    }
  }
  actor_module& module(const char* capability, const char* name) {
    auto m = table.resolve(capability, name);
    REQUIRE(m);
    return **m;
  }
  quick_task& submit(actor_module& m, const std::string& id, const json& payload) {
    quick_task& t = tasks.emplace_back();
    t.kind = mesh::wire::op::call;
    t.bytes = json::to_msgpack(payload);
    t.payload = {t.bytes.data(), t.bytes.size()};
    rt.submit(m, id, &t);
    return t;
  }
};

}  // namespace

TEST_SUITE("inline") {
  TEST_CASE("a nonblocking module's handlers run on the dispatcher thread, inside run_inline") {
    runtime_config config{2, 1 << 20};
    config.inline_budget = 10s;  // all 20 fit even under a sanitizer on a loaded machine
    fixture f(config);
    actor_module& quick = f.module("quick", "Quick");
    CHECK(quick.nonblocking);
    for (int i = 0; i < 20; ++i) f.submit(quick, "a" + std::to_string(i % 4), {{"op", "where"}});
    CHECK(f.sink.completed() == 0);  // nothing runs before run_inline
    CHECK(f.rt.run_inline() == 20);
    REQUIRE(f.sink.completed() == 20);  // done when it returns: no hand-over to another thread
    for (const auto& t : f.tasks) {
      CHECK(t.ok);
      CHECK(t.handler_tid == this_tid());
      CHECK(t.complete_tid == this_tid());
    }
    CHECK(f.rt.run_inline() == 0);
  }

  TEST_CASE("a module that does not declare itself nonblocking always runs on the workers") {
    fixture f;
    actor_module& probe = f.module("probe", "Probe");
    CHECK_FALSE(probe.nonblocking);
    f.submit(probe, "p", {{"op", "info"}});
    CHECK(f.rt.run_inline() == 0);
    REQUIRE(f.sink.wait_for(1));
    CHECK(f.tasks.front().ok);
    CHECK(f.tasks.front().complete_tid != this_tid());
  }

  TEST_CASE("run_inline stops at its time budget and hands the rest to the workers") {
    runtime_config config{2, 1 << 20};
    config.inline_budget = 2ms;
    fixture f(config);
    actor_module& quick = f.module("quick", "Quick");
    // 20 actors with 1 ms of work each: about 2 run here, the rest on the workers.
    for (int i = 0; i < 20; ++i) f.submit(quick, "s" + std::to_string(i), {{"op", "spin"}, {"us", 1000}});
    const size_t here = f.rt.run_inline();
    CHECK(here >= 1);
    CHECK(here < 20);
    REQUIRE(f.sink.wait_for(20));
    size_t on_dispatcher = 0;
    for (const auto& t : f.tasks) {
      CHECK(t.ok);
      on_dispatcher += t.handler_tid == this_tid() ? 1 : 0;
    }
    CHECK(on_dispatcher == here);
    CHECK_FALSE(quick.demoted.load());  // 1 ms handlers are within the promise
  }

  TEST_CASE("one actor's long mailbox is cut at the budget and its order is kept") {
    runtime_config config{2, 1 << 20};
    config.inline_budget = 2ms;
    fixture f(config);
    actor_module& quick = f.module("quick", "Quick");
    for (int i = 0; i < 10; ++i) f.submit(quick, "one", {{"op", "spin"}, {"us", 500}});
    const size_t here = f.rt.run_inline();
    CHECK(here < 10);
    REQUIRE(f.sink.wait_for(10));
    // In submission order: the actor counted them 1..10, and every one run here came before
    // every one a worker ran.
    bool seen_worker = false;
    int64_t expected = 0;
    for (const auto& t : f.tasks) {
      CHECK(t.ok);
      CHECK(t.calls == ++expected);
      if (t.handler_tid != this_tid()) {
        seen_worker = true;
      } else {
        CHECK_FALSE(seen_worker);
      }
    }
    CHECK(seen_worker);
  }

  TEST_CASE("a nonblocking module that computes for too long is demoted to the workers") {
    runtime_config config{2, 1 << 20};
    config.slow_handler = 2ms;
    fixture f(config);
    actor_module& quick = f.module("quick", "Quick");
    for (int round = 0; round < 3; ++round) {
      CHECK_FALSE(quick.demoted.load());
      f.submit(quick, "slow", {{"op", "spin"}, {"us", 20000}});  // even preempted, > 2 ms CPU
      CHECK(f.rt.run_inline() == 1);
    }
    CHECK(quick.demoted.load());
    quick_task& after = f.submit(quick, "slow", {{"op", "where"}});
    CHECK(f.rt.run_inline() == 0);
    REQUIRE(f.sink.wait_for(4));
    CHECK(after.ok);
    CHECK(after.handler_tid != this_tid());
  }

  TEST_CASE("with an inline budget of 0 every handler runs on the workers") {
    runtime_config config{2, 1 << 20};
    config.inline_budget = 0us;
    fixture f(config);
    actor_module& quick = f.module("quick", "Quick");
    f.submit(quick, "x", {{"op", "where"}});
    CHECK(f.rt.run_inline() == 0);
    REQUIRE(f.sink.wait_for(1));
    CHECK(f.tasks.front().handler_tid != this_tid());
  }

  TEST_CASE("a plugin built against ABI 1.0 (a module struct without flags) still loads") {
    auto plugin = load_plugin(fixture_dir / "libfixture_abi10.so");
    REQUIRE(plugin);
    module_table table{std::nullopt};
    REQUIRE(table.add(*plugin));
    auto m = table.resolve("old", "Old");
    REQUIRE(m);
    CHECK_FALSE((*m)->nonblocking);
    sink_by_thread sink;
    runtime rt({1, 1 << 20}, sink);
    quick_task t;
    t.kind = mesh::wire::op::call;
    t.bytes = json::to_msgpack(json::object());
    t.payload = {t.bytes.data(), t.bytes.size()};
    rt.submit(**m, "o", &t);
    CHECK(rt.run_inline() == 0);
    REQUIRE(sink.wait_for(1));
    CHECK(t.ok);
  }
}
