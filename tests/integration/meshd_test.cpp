// A real meshd process, real plugins, real sockets on 127.0.0.1.
#include <mesh/wire/shard.hpp>
#include <doctest/doctest.h>

#include <mesh/plugin_abi.h>

#include "test_support.hpp"

using namespace mesh::test;
using mesh::wire::op;

namespace {

const std::filesystem::path examples = MESH_EXAMPLE_PLUGIN_DIR;
const std::filesystem::path fixtures = MESH_FIXTURE_PLUGIN_DIR;

/// A plugin directory holding the Probe fixture and the Counter example.
struct probe_host {
  temp_dir plugins;
  std::optional<meshd_process> host;
  explicit probe_host(std::vector<std::string> extra = {}) {
    install_plugin(fixtures / "libfixture_probe.so", plugins.path());
    install_plugin(examples / "libmesh_counter.so", plugins.path());
    host.emplace(plugins.path(), std::move(extra));
  }
};

}  // namespace

TEST_CASE("the first call activates an actor and later calls reuse it") {
  probe_host h;
  client c(h.host->endpoint());
  auto first = c.call("probe", "Probe", "p1", {{"op", "info"}}, json{{"seed", 7}});
  REQUIRE(first.ok);
  CHECK(first.module == "Probe");
  CHECK(first.id == "p1");
  CHECK(first.activation > 0);
  CHECK(first.body["init"] == json{{"seed", 7}});
  CHECK(first.body["calls"] == 1);
  auto second = c.call("probe", "Probe", "p1", {{"op", "info"}}, json{{"seed", 99}});
  REQUIRE(second.ok);
  CHECK(second.activation == first.activation);
  CHECK(second.body["init"] == json{{"seed", 7}});  // init_arg only counts on creation
  CHECK(second.body["calls"] == 2);
  auto other = c.call("probe", "Probe", "p2", {{"op", "info"}});
  CHECK(other.activation != first.activation);
  CHECK(other.body["init"].is_null());
}

TEST_CASE("a throwing handler returns actor_error and the next call gets a fresh actor") {
  probe_host h;
  client c(h.host->endpoint());
  auto before = c.call("probe", "Probe", "boom", {{"op", "info"}});
  auto failed = c.call("probe", "Probe", "boom", {{"op", "throw"}});
  CHECK_FALSE(failed.ok);
  CHECK(failed.code == "actor_error");
  CHECK(failed.message == "probe exploded");
  auto after = c.call("probe", "Probe", "boom", {{"op", "info"}});
  REQUIRE(after.ok);
  CHECK(after.activation != before.activation);
  CHECK(after.body["calls"] == 1);
}

TEST_CASE("a rejected request keeps the actor and its state") {
  probe_host h;
  client c(h.host->endpoint());
  auto before = c.call("probe", "Probe", "r", {{"op", "info"}});
  auto rejected = c.call("probe", "Probe", "r", {{"op", "reject"}});
  CHECK(rejected.code == "rejected");
  CHECK(rejected.message == "probe rejects");
  auto after = c.call("probe", "Probe", "r", {{"op", "info"}});
  CHECK(after.activation == before.activation);
  CHECK(after.body["calls"] == 3);
}

TEST_CASE("a cast is acknowledged before its handler runs") {
  probe_host h;
  client c(h.host->endpoint());
  const auto start = std::chrono::steady_clock::now();
  auto ack = c.cast("probe", "Probe", "slow", {{"op", "sleep"}, {"ms", 1500}});
  const auto acked = std::chrono::steady_clock::now() - start;
  REQUIRE(ack.ok);
  CHECK(acked < 1000ms);
  // The actor is busy with the cast: a call queues behind it and sees its effect afterwards.
  auto info = c.call("probe", "Probe", "slow", {{"op", "info"}});
  CHECK(std::chrono::steady_clock::now() - start >= 1400ms);
  CHECK(info.ok);
}

TEST_CASE("a call that outlives its timeout gets a timeout error and the host keeps serving") {
  probe_host h;
  client c(h.host->endpoint());
  const auto start = std::chrono::steady_clock::now();
  auto r = c.call("probe", "Probe", "sleepy", {{"op", "sleep"}, {"ms", 3000}}, std::nullopt, 200);
  CHECK_FALSE(r.ok);
  CHECK(r.code == "timeout");
  CHECK(std::chrono::steady_clock::now() - start < 2500ms);
  // Another actor is not held up by the sleeping one.
  auto other = c.call("counter", "Counter", "c", {{"op", "incr"}});
  CHECK(other.ok);
  CHECK(other.body["count"] == 1);
}

TEST_CASE("a slow actor does not stall other actors") {
  probe_host h({"--workers", "2"});
  client slow(h.host->endpoint());
  client fast(h.host->endpoint());
  auto req = client::make(op::call, "probe", "Probe", "snail");
  req.rid = 1;
  slow.send(req, json{{"op", "sleep"}, {"ms", 2000}});
  std::this_thread::sleep_for(100ms);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 50; ++i) REQUIRE(fast.call("counter", "Counter", "hare", {{"op", "incr"}}).ok);
  CHECK(std::chrono::steady_clock::now() - start < 1500ms);
  CHECK(slow.expect(1, 10s).ok);
}

TEST_CASE("handlers of one actor never overlap under concurrent callers") {
  probe_host h({"--workers", "2"});
  constexpr int callers = 4, per_caller = 50;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, failed{0};
  for (int t = 0; t < callers; ++t) {
    threads.emplace_back([&] {
      client c(h.host->endpoint());
      // Pipeline: send everything, then collect, so requests really interleave at the host.
      std::vector<uint64_t> rids;
      for (int i = 0; i < per_caller; ++i) {
        auto req = client::make(op::call, "probe", "Probe", "shared");
        req.rid = c.next_rid();
        rids.push_back(req.rid);
        c.send(req, json{{"op", "enter"}});
      }
      for (auto rid : rids) (c.expect(rid, 20s).ok ? ok : failed)++;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failed == 0);
  CHECK(ok == callers * per_caller);
  client c(h.host->endpoint());
  auto last = c.call("probe", "Probe", "shared", {{"op", "enter"}});
  CHECK(last.body["seq"] == callers * per_caller + 1);
}

TEST_CASE("idle actors are deactivated and re-created on demand") {
  probe_host h({"--idle-timeout", "300ms"});
  client c(h.host->endpoint());
  auto first = c.call("counter", "Counter", "idle", {{"op", "incr"}, {"by", 5}});
  REQUIRE(first.body["count"] == 5);
  std::this_thread::sleep_for(1200ms);
  auto later = c.call("counter", "Counter", "idle", {{"op", "get"}});
  CHECK(later.activation != first.activation);
  CHECK(later.body["count"] == 0);  // state lived in memory only
}

TEST_CASE("requests naming what the host does not have get clear error codes") {
  probe_host h;
  client c(h.host->endpoint());
  CHECK(c.call("nope", "Probe", "x", json::object()).code == "unknown_capability");
  CHECK(c.call("probe", "Nope", "x", json::object()).code == "unknown_module");
  CHECK(c.call("counter", "Probe", "x", json::object()).code == "capability_mismatch");
  auto r = c.call("nope", "Probe", "x", json::object());
  CHECK(r.message.find("nope") != std::string::npos);
}

TEST_CASE("a host started with --capabilities serves only those, and more can be registered") {
  probe_host h({"--capabilities", "counter"});
  client c(h.host->endpoint());
  CHECK(c.call("counter", "Counter", "a", {{"op", "get"}}).ok);
  CHECK(c.call("probe", "Probe", "a", {{"op", "info"}}).code == "capability_not_served");
  auto reg = c.control(op::register_capabilities, {"probe"});
  REQUIRE(reg.ok);
  CHECK(reg.body["caps"] == json::array({"counter", "probe"}));
  CHECK(c.call("probe", "Probe", "a", {{"op", "info"}}).ok);
  auto caps = c.control(op::capabilities);
  CHECK(caps.body["caps"] == json::array({"counter", "probe"}));
}

TEST_CASE("malformed, oversized and multi-frame requests get errors and the host keeps serving") {
  probe_host h({"--max-frame", "64k"});
  client c(h.host->endpoint());
  c.send_raw("\xc1\x00garbage");
  auto garbage = c.receive();
  REQUIRE(garbage);
  CHECK(garbage->code == "bad_request");
  c.send_raw(std::string("\xdd\xff\xff\xff\xff", 5));  // an array claiming 4 billion elements
  CHECK(c.receive()->code == "bad_request");
  c.send_raw(std::string("\x81\xa1v\x01", 4) + std::string(10, '\x91'));  // trailing junk
  CHECK(c.receive()->code == "bad_request");
  c.send_raw(std::string(100 * 1024, 'x'));
  CHECK(c.receive()->code == "too_large");
  c.send_frames({"a", "b", "c"});
  CHECK(c.receive()->code == "bad_request");
  // A valid envelope whose payload is not MessagePack.
  auto req = client::make(op::call, "counter", "Counter", "x");
  std::string bad_payload = "\x82\xa2op";
  req.payload = {reinterpret_cast<const uint8_t*>(bad_payload.data()), bad_payload.size()};
  c.send(req);
  CHECK(c.receive()->code == "bad_request");
  // Version mismatch.
  auto v2 = json::to_msgpack(json{{"v", 2}, {"op", "ping"}});
  c.send_raw(std::string(v2.begin(), v2.end()));
  CHECK(c.receive()->code == "unsupported_version");
  CHECK(c.call("counter", "Counter", "still", {{"op", "incr"}}).ok);
  CHECK(h.host->process().running());
}

TEST_CASE("a plugin copied into the directory of a running host is served") {
  temp_dir plugins;
  meshd_process host(plugins.path());
  client c(host.endpoint());
  CHECK(c.call("counter", "Counter", "late", {{"op", "get"}}).code == "unknown_capability");
  install_plugin(examples / "libmesh_counter.so", plugins.path());
  REQUIRE(wait_until(
      [&] { return c.call("counter", "Counter", "late", {{"op", "get"}}).ok; }, 5s));
  CHECK(host.log().find("plugin loaded: " + (plugins.path() / "libmesh_counter.so").string()) !=
        std::string::npos);
}

TEST_CASE("invalid plugins are refused with one log line each and the rest is served") {
  temp_dir plugins;
  for (auto f : {"libfixture_wrong_abi.so", "libfixture_missing_entry.so",
                 "libfixture_init_throws.so", "not_a_plugin.so", "libfixture_probe.so"})
    install_plugin(fixtures / f, plugins.path());
  meshd_process host(plugins.path());
  const std::string log = host.log();
  auto refused = [&](const std::string& file, const std::string& reason) {
    const std::string line = "plugin refused: " + (plugins.path() / file).string() + ": ";
    const auto at = log.find(line);
    REQUIRE_MESSAGE(at != std::string::npos, std::string(log));
    CHECK(log.substr(at, log.find('\n', at) - at).find(reason) != std::string::npos);
  };
  const std::string minor = std::to_string(MESH_ABI_VERSION_MINOR);
  refused("libfixture_wrong_abi.so",
          "plugin ABI 99." + minor + " is incompatible with host ABI 1." + minor);
  refused("libfixture_missing_entry.so", "missing entry point mesh_plugin_abi_version");
  refused("libfixture_init_throws.so", "returned no plugin description");
  refused("not_a_plugin.so", "not a loadable shared library");
  client c(host.endpoint());
  CHECK(c.call("probe", "Probe", "x", {{"op", "info"}}).ok);
  // A duplicate module name dropped in later is refused too; the original keeps serving.
  install_plugin(fixtures / "libfixture_duplicate.so", plugins.path());
  REQUIRE(wait_until([&] {
    return host.log().find("libfixture_duplicate.so: module Probe is already provided by "
                           "libfixture_probe.so") != std::string::npos;
  }, 5s));
  CHECK(c.call("probe", "Probe", "x", {{"op", "info"}}).body["calls"] == 2);
}

TEST_CASE("a reply that is not MessagePack becomes bad_reply and the host keeps serving") {
  temp_dir plugins;
  install_plugin(fixtures / "libfixture_bad_reply.so", plugins.path());
  install_plugin(examples / "libmesh_counter.so", plugins.path());
  meshd_process host(plugins.path());
  client c(host.endpoint());
  auto r = c.call("probe2", "BadReply", "x", json::object());
  CHECK(r.code == "bad_reply");
  CHECK(c.call("counter", "Counter", "y", {{"op", "incr"}}).ok);
}

TEST_CASE("a constructor that throws answers activation_failed and a later call can succeed") {
  temp_dir plugins;
  install_plugin(fixtures / "libfixture_ctor_throws.so", plugins.path());
  meshd_process host(plugins.path());
  client c(host.endpoint());
  auto r = c.call("probe3", "Fragile", "f", json::object());
  CHECK(r.code == "activation_failed");
  CHECK_FALSE(r.message.empty());
  CHECK(c.call("probe3", "Fragile", "f", json::object(), json{{"ok", true}}).ok);
}

TEST_CASE("SIGTERM lets in-flight calls finish, then the host exits cleanly") {
  probe_host h;
  client c(h.host->endpoint());
  auto req = client::make(op::call, "probe", "Probe", "inflight");
  req.rid = 42;
  c.send(req, json{{"op", "sleep"}, {"ms", 500}});
  std::this_thread::sleep_for(100ms);
  h.host->process().signal(SIGTERM);
  auto r = c.expect(42, 10s);
  CHECK(r.ok);
  CHECK(h.host->process().wait(10s) == 0);
  CHECK(h.host->log().find("stopped: 1 actors deactivated") != std::string::npos);
}

TEST_CASE("shard and ping answer from the host") {
  probe_host h({"--shards", "128"});
  client c(h.host->endpoint());
  auto s = c.control(op::shard, {}, "player_1");
  REQUIRE(s.ok);
  CHECK(s.body["shards"] == 128);
  CHECK(s.body["shard"] == mesh::wire::shard_for("player_1", 128));
  auto p = c.control(op::ping);
  CHECK(p.ok);
  CHECK(p.body["host"].get<std::string>().find(':') != std::string::npos);
}
