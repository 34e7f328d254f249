// The actor runtime in-process, with the real Probe fixture plugin.
#include <doctest/doctest.h>

#include <dlfcn.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <thread>
#include <mutex>
#include <nlohmann/json.hpp>

#include "plugin/module_table.hpp"
#include "plugin/plugin_loader.hpp"
#include "runtime/runtime.hpp"

using namespace mesh::host;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::filesystem::path probe_path =
    std::filesystem::path(MESH_FIXTURE_PLUGIN_DIR) / "libfixture_probe.so";

/// A task owning its payload, and the outcome it got.
struct test_task : task {
  std::vector<uint8_t> payload_bytes, init_bytes;
  bool done = false;
  bool ok = false;
  std::string code, message;
  json reply;
  uint64_t activation = 0;
};

class collecting_sink : public completion_sink {
 public:
  void complete_on_worker(task* t, const outcome& r) noexcept override {
    auto* tt = static_cast<test_task*>(t);
    tt->ok = r.ok;
    tt->code = std::string(mesh::wire::to_string(r.code));
    tt->message = std::string(r.message);
    tt->activation = r.activation;
    if (r.ok && t->kind == mesh::wire::op::call)
      tt->reply = json::from_msgpack(r.reply.data, r.reply.data + r.reply.size);
    std::lock_guard lock(mutex_);
    tt->done = true;
    ++completed_;
    cv_.notify_all();
  }
  bool wait_for(size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return completed_ >= n; });
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

/// Reads one of the Probe's exported counters through the same loaded library.
uint64_t probe_counter(const char* symbol, int arg = 0) {
  // Held open for the whole run, so the counters survive runtimes coming and going.
  static void* const handle = ::dlopen(probe_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  REQUIRE(handle != nullptr);
  uint64_t value = 0;
  if (std::string(symbol) == "probe_live_actors") {
    value = reinterpret_cast<uint64_t (*)()>(::dlsym(handle, symbol))();
  } else {
    value = reinterpret_cast<uint64_t (*)(int)>(::dlsym(handle, symbol))(arg);
  }
  return value;
}

struct fixture {
  collecting_sink sink;
  module_table table{std::nullopt};
  actor_module* probe = nullptr;
  std::deque<test_task> tasks;
  runtime rt;

  explicit fixture(unsigned workers = 2) : rt(runtime_config{workers, 1 << 20}, sink) {
    auto plugin = load_plugin(probe_path);
    REQUIRE(plugin);
    REQUIRE(table.add(*plugin));
    auto m = table.resolve("probe", "Probe");
    REQUIRE(m);
    probe = *m;
  }

  test_task& submit(const std::string& id, const json& payload,
                    mesh::wire::op kind = mesh::wire::op::call,
                    const std::optional<json>& init = std::nullopt) {
    test_task& t = tasks.emplace_back();
    t.kind = kind;
    t.payload_bytes = json::to_msgpack(payload);
    t.payload = {t.payload_bytes.data(), t.payload_bytes.size()};
    if (init) {
      t.init_bytes = json::to_msgpack(*init);
      t.init_arg = {t.init_bytes.data(), t.init_bytes.size()};
    }
    rt.submit(*probe, id, &t);
    return t;
  }

  test_task& call(const std::string& id, const json& payload,
                  const std::optional<json>& init = std::nullopt) {
    const size_t before = sink.completed();
    test_task& t = submit(id, payload, mesh::wire::op::call, init);
    REQUIRE(sink.wait_for(before + 1));
    return t;
  }
};

bool wait_until(const std::function<bool()>& condition) {
  const auto end = std::chrono::steady_clock::now() + 10s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

}  // namespace

TEST_CASE("the runtime activates lazily with the first init_arg and reuses the activation") {
  fixture f;
  auto& a = f.call("x", {{"op", "info"}}, json{{"n", 1}});
  REQUIRE(a.ok);
  CHECK(a.reply["init"] == json{{"n", 1}});
  auto& b = f.call("x", {{"op", "info"}}, json{{"n", 2}});
  CHECK(b.activation == a.activation);
  CHECK(b.reply["init"] == json{{"n", 1}});
  CHECK(f.rt.live_actors() == 1);
}

TEST_CASE("a crash discards the instance without the hook and the next task gets a new one") {
  fixture f;
  const uint64_t crashed_before = probe_counter("probe_deactivations", 3);
  const uint64_t live_before = probe_counter("probe_live_actors");
  auto& a = f.call("c", {{"op", "info"}});
  auto& boom = f.call("c", {{"op", "throw"}});
  CHECK(boom.code == "actor_error");
  CHECK(probe_counter("probe_live_actors") == live_before);  // destroyed
  CHECK(probe_counter("probe_deactivations", 3) == crashed_before);  // hook not run
  auto& b = f.call("c", {{"op", "info"}});
  CHECK(b.activation != a.activation);
  CHECK(f.rt.stats().deactivations_crash.load() == 1);
}

TEST_CASE("idle actors get the deactivation hook with reason idle and busy ones are kept") {
  fixture f;
  const uint64_t idle_before = probe_counter("probe_deactivations", 0);
  f.call("idle-1", {{"op", "info"}});
  f.call("idle-2", {{"op", "info"}});
  std::this_thread::sleep_for(50ms);
  f.submit("busy", {{"op", "sleep"}, {"ms", 300}});
  std::this_thread::sleep_for(50ms);
  CHECK(f.rt.retire_idle(20ms) == 2);
  CHECK(f.rt.live_actors() == 1);
  REQUIRE(wait_until([&] { return probe_counter("probe_deactivations", 0) == idle_before + 2; }));
  REQUIRE(f.sink.wait_for(3));
}

TEST_CASE("retire_if counts as deactivated only the actors whose hook runs, as the stats do") {
  fixture f;
  const uint64_t hooks_before = probe_counter("probe_deactivations", 2);
  for (int i = 0; i < 5; ++i) f.call("m" + std::to_string(i), {{"op", "info"}});
  // Two of them crash: their slots stay, without an instance, until the next request.
  f.call("m0", {{"op", "throw"}});
  f.call("m1", {{"op", "throw"}});
  f.call("kept", {{"op", "info"}});
  const auto moved = f.rt.retire_if(
      [](const actor_module&, std::string_view id) { return id.substr(0, 1) == "m"; },
      MESH_DEACTIVATE_REBALANCE);
  CHECK(moved.deactivated == 3);
  CHECK(moved.empty == 2);
  CHECK(moved.busy == 0);
  CHECK(f.rt.live_actors() == 1);
  REQUIRE(wait_until([&] { return f.rt.stats().deactivations_rebalance.load() == 3; }));
  CHECK(probe_counter("probe_deactivations", 2) == hooks_before + 3);
}

TEST_CASE("shutdown deactivates every actor with reason shutdown") {
  const uint64_t before = probe_counter("probe_deactivations", 1);
  {
    fixture f;
    for (int i = 0; i < 10; ++i) f.call("s" + std::to_string(i), {{"op", "info"}});
    f.rt.shutdown();
    CHECK(f.rt.live_actors() == 0);
  }
  CHECK(probe_counter("probe_deactivations", 1) == before + 10);
}

TEST_CASE("tasks for one actor run in submission order and never concurrently") {
  fixture f(2);
  constexpr int n = 300;
  std::vector<test_task*> ts;
  for (int i = 0; i < n; ++i) ts.push_back(&f.submit("ordered", {{"op", "enter"}}));
  REQUIRE(f.sink.wait_for(n, 30s));
  for (int i = 0; i < n; ++i) {
    REQUIRE_MESSAGE(ts[i]->ok, ts[i]->message);
    CHECK(ts[i]->reply["seq"] == i + 1);
  }
}

TEST_CASE("different actors run in parallel on the workers") {
  fixture f(2);
  const auto start = std::chrono::steady_clock::now();
  f.submit("p1", {{"op", "sleep"}, {"ms", 400}});
  f.submit("p2", {{"op", "sleep"}, {"ms", 400}});
  REQUIRE(f.sink.wait_for(2));
  CHECK(std::chrono::steady_clock::now() - start < 750ms);
}

TEST_CASE("a task whose deadline passed while queued is answered with timeout unrun") {
  fixture f(1);
  f.submit("q", {{"op", "sleep"}, {"ms", 200}});
  test_task& late = f.tasks.emplace_back();
  late.payload_bytes = json::to_msgpack(json{{"op", "info"}});
  late.payload = {late.payload_bytes.data(), late.payload_bytes.size()};
  late.deadline = clock::now() + 50ms;
  f.rt.submit(*f.probe, "q", &late);
  REQUIRE(f.sink.wait_for(2));
  CHECK(late.code == "timeout");
}
