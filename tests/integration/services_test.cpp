// Host services (ABI 1.2) on one real meshd: actors that call and cast to actors, answer later,
// keep time and ask to be deactivated, driven through the fixture plugin libfixture_services.so
// (tests/fixtures/services.cpp). Cross-host behaviour is in tests/cluster/services_cluster_test.
#include <doctest/doctest.h>

#include <algorithm>
#include <thread>

#include "test_support.hpp"

using namespace mesh::test;
using steady = std::chrono::steady_clock;

namespace {

const std::filesystem::path fixtures = MESH_FIXTURE_PLUGIN_DIR;

struct services_host {
  temp_dir plugins;
  std::optional<meshd_process> host;
  explicit services_host(std::vector<std::string> extra = {}) {
    install_plugin(fixtures / "libfixture_services.so", plugins.path());
    install_plugin(fixtures / "libfixture_abi11.so", plugins.path());
    host.emplace(plugins.path(), std::move(extra));
  }
};

json call_op(const std::string& mod, const std::string& id, json payload) {
  return json{{"op", "call"}, {"cap", "svc"}, {"mod", mod}, {"id", id}, {"payload", payload}};
}

double ms_since(steady::time_point start) {
  return std::chrono::duration<double, std::milli>(steady::now() - start).count();
}

json stats_of(client& c) {
  auto r = c.control(mesh::wire::op::stats);
  REQUIRE(r.ok);
  return r.body["stats"];
}

}  // namespace

TEST_SUITE("host services") {
  TEST_CASE("an actor calls another, on the request thread or a worker, and answers later") {
    services_host h;
    client c(h.host->endpoint());
    for (const auto& [caller, callee] : std::vector<std::pair<std::string, std::string>>{
             {"Relay", "Relay"}, {"Relay", "RelayW"}, {"RelayW", "Relay"}, {"RelayW", "RelayW"}}) {
      CAPTURE(caller);
      CAPTURE(callee);
      auto r = c.call("svc", caller, "a", call_op(callee, "b", {{"op", "echo"}, {"x", 42}}));
      REQUIRE(r.ok);
      CHECK(r.body["ok"] == true);
      CHECK(r.body["reply"]["x"] == 42);
      CHECK(r.body["reply"]["self"] == callee + "/b");
      CHECK(r.module == caller);
    }
    const json s = stats_of(c);
    CHECK(s["services"]["calls"] == 4);
    CHECK(s["services"]["deferred_replies"] == 4);
  }

  TEST_CASE("a callee gets what is left of its caller's deadline") {
    services_host h;
    client c(h.host->endpoint());
    auto r = c.call("svc", "Relay", "a", call_op("Relay", "b", {{"op", "echo"}}), std::nullopt, 3000);
    REQUIRE(r.ok);
    const int64_t remaining = r.body["reply"]["remaining_ms"];
    CHECK(remaining <= 3000);
    CHECK(remaining > 1000);  // a loaded machine may take a while, not two seconds
    auto r2 = c.call("svc", "Relay", "a",
                     json{{"op", "call"}, {"cap", "svc"}, {"mod", "Relay"}, {"id", "b"},
                          {"payload", {{"op", "echo"}}}, {"timeout_ms", 400}});
    REQUIRE(r2.ok);
    CHECK(r2.body["reply"]["remaining_ms"] <= 400);
  }

  TEST_CASE("errors of an actor's call come back to it as messages, and it keeps its state") {
    services_host h;
    client c(h.host->endpoint());
    const auto first = c.call("svc", "Relay", "a", {{"op", "echo"}});
    REQUIRE(first.ok);
    auto unknown = c.call("svc", "Relay", "a", call_op("Nobody", "x", {{"op", "echo"}}));
    REQUIRE(unknown.ok);
    CHECK(unknown.body["ok"] == false);
    CHECK(unknown.body["code"] == "unknown_module");
    auto no_cap = c.call("svc", "Relay", "a",
                         json{{"op", "call"}, {"cap", "nocap"}, {"mod", "Relay"}, {"id", "x"},
                              {"payload", {{"op", "echo"}}}});
    REQUIRE(no_cap.ok);
    CHECK(no_cap.body["code"] == "unknown_capability");
    auto crashed = c.call("svc", "Relay", "a", call_op("Relay", "victim", {{"op", "crash"}}));
    REQUIRE(crashed.ok);
    CHECK(crashed.body["code"] == "actor_error");
    CHECK(crashed.body["msg"].get<std::string>().find("crashed on purpose") != std::string::npos);
    auto slow = c.call("svc", "Relay", "a",
                       json{{"op", "call"}, {"cap", "svc"}, {"mod", "RelayW"}, {"id", "slow"},
                            {"payload", {{"op", "sleep"}, {"ms", 1500}}}, {"timeout_ms", 200}});
    REQUIRE(slow.ok);
    CHECK(slow.body["code"] == "timeout");
    // The caller survived all of it: the same activation answers.
    const auto after = c.call("svc", "Relay", "a", {{"op", "echo"}});
    CHECK(after.activation == first.activation);
  }

  TEST_CASE("call cycles come back at once: A -> B -> A, A -> A, and a runaway chain stops") {
    services_host h;
    client c(h.host->endpoint());
    auto start = steady::now();
    auto cycle = c.call("svc", "Relay", "a",
                        call_op("RelayW", "b", call_op("Relay", "a", {{"op", "echo"}, {"x", 1}})));
    REQUIRE(cycle.ok);
    CHECK(cycle.body["ok"] == true);
    CHECK(cycle.body["reply"]["ok"] == true);
    CHECK(cycle.body["reply"]["reply"]["self"] == "Relay/a");
    CHECK(ms_since(start) < 2000);  // the timeout is 5 s: a deadlock would sit until then
    start = steady::now();
    auto self = c.call("svc", "Relay", "a", call_op("Relay", "a", {{"op", "echo"}, {"x", 2}}));
    REQUIRE(self.ok);
    CHECK(self.body["reply"]["x"] == 2);
    CHECK(ms_since(start) < 2000);
    // Seventeen nested calls of A to itself: the 17th hop is refused, naming the chain.
    json payload = {{"op", "echo"}};
    for (int i = 0; i < 17; ++i) payload = call_op("Relay", "a", payload);
    start = steady::now();
    auto runaway = c.call("svc", "Relay", "a", payload);
    REQUIRE(runaway.ok);
    CHECK(ms_since(start) < 2000);
    json deepest = runaway.body;
    int depth = 0;
    while (deepest["ok"] == true && deepest.contains("reply") && deepest["reply"].is_object() &&
           deepest["reply"].contains("ok")) {
      deepest = deepest["reply"];
      ++depth;
    }
    // The client's call carries no chain; the calls made from it carry 1..16 hops, and the one
    // that would carry 17 is refused.
    CHECK(depth == 16);
    CHECK(deepest["code"] == "chain_too_long");
    CHECK(deepest["msg"].get<std::string>().find("Relay/a -> Relay/a") != std::string::npos);
  }

  TEST_CASE("a deferred reply answers the call; one after the deadline is dropped and counted") {
    services_host h;
    client c(h.host->endpoint());
    auto r = c.call("svc", "Relay", "a", {{"op", "later"}, {"ms", 50}});
    REQUIRE(r.ok);
    CHECK(r.body["late"] == true);
    auto missed = c.call("svc", "RelayW", "a", {{"op", "later"}, {"ms", 600}}, std::nullopt, 150);
    CHECK_FALSE(missed.ok);
    CHECK(missed.code == "timeout");
    CHECK(wait_until([&] { return stats_of(c)["services"]["late_replies"] == 1; }, 5s));
    // The actor is fine and answers again.
    CHECK(c.call("svc", "RelayW", "a", {{"op", "echo"}}).ok);
  }

  TEST_CASE("timers: one-shot, periodic after each firing's end, cancel, none after a crash") {
    services_host h;
    client c(h.host->endpoint());
    REQUIRE(c.call("svc", "Relay", "t1", {{"op", "after"}, {"ms", 30}}).ok);
    CHECK(wait_until([&] { return c.call("svc", "Relay", "t1", {{"op", "fired"}}).body["count"] == 1; }, 5s));
    // Periodic, 100 ms, each firing working 60 ms on a worker: firings at least 160 ms apart.
    REQUIRE(c.call("svc", "RelayW", "t2", {{"op", "every"}, {"ms", 100}, {"work_ms", 60}}).ok);
    CHECK(wait_until([&] { return c.call("svc", "RelayW", "t2", {{"op", "fired"}}).body["count"] >= 5; }, 10s));
    auto cancelled = c.call("svc", "RelayW", "t2", {{"op", "cancel"}});
    CHECK(cancelled.body["cancelled"] == true);
    const auto fired = c.call("svc", "RelayW", "t2", {{"op", "fired"}}).body["t_ms"];
    for (size_t i = 1; i < fired.size(); ++i)
      CHECK(fired[i].get<int64_t>() - fired[i - 1].get<int64_t>() >= 158);
    std::this_thread::sleep_for(400ms);
    CHECK(c.call("svc", "RelayW", "t2", {{"op", "fired"}}).body["count"] == fired.size());
    CHECK(c.call("svc", "RelayW", "t2", {{"op", "cancel"}}).body["cancelled"] == false);
    // A crashed actor's timers die with it: nothing reaches its Recorder after the crash.
    const auto armed = c.call("svc", "Relay", "t3", {{"op", "every"}, {"ms", 40}});
    REQUIRE(armed.ok);
    CHECK(wait_until([&] { return c.call("svc", "Recorder", "t3", {{"op", "entries"}}).body.size() >= 2; }, 5s));
    CHECK_FALSE(c.call("svc", "Relay", "t3", {{"op", "crash"}}).ok);
    const size_t at_crash = c.call("svc", "Recorder", "t3", {{"op", "entries"}}).body.size();
    std::this_thread::sleep_for(400ms);
    const json entries = c.call("svc", "Recorder", "t3", {{"op", "entries"}}).body;
    CHECK(entries.size() <= at_crash + 1);  // one firing may have been in the mailbox already
    for (const auto& e : entries) CHECK(e["activation"] == armed.activation);
    const json s = stats_of(c);
    CHECK(s["services"]["timers_armed"] == 0);
  }

  TEST_CASE("one-shot timers fire in due order; a named timer started again replaces itself") {
    services_host h;
    client c(h.host->endpoint());
    // Armed latest-first: they must still fire earliest-first.
    for (const auto& [ms, note] : std::vector<std::pair<int, std::string>>{{240, "c"}, {160, "b"}, {80, "a"}})
      REQUIRE(c.call("svc", "Relay", "o", {{"op", "after"}, {"ms", ms}, {"note", note}}).ok);
    json entries;
    CHECK(wait_until([&] {
      entries = c.call("svc", "Recorder", "o", {{"op", "entries"}}).body;
      return entries.size() >= 3;
    }, 5s));
    REQUIRE(entries.size() == 3);
    CHECK(entries[0]["from"] == "a");
    CHECK(entries[1]["from"] == "b");
    CHECK(entries[2]["from"] == "c");
    // Named: starting "tick" three times leaves one timer armed.
    for (int i = 0; i < 3; ++i)
      REQUIRE(c.call("svc", "Relay", "n", {{"op", "named"}, {"name", "tick"}, {"ms", 60}}).ok);
    CHECK(stats_of(c)["services"]["timers_armed"] == 1);
    CHECK(c.call("svc", "Relay", "n", {{"op", "cancel_named"}, {"name", "tick"}}).body["cancelled"] == true);
    CHECK(c.call("svc", "Relay", "n", {{"op", "cancel_named"}, {"name", "tick"}}).body["cancelled"] == false);
    CHECK(stats_of(c)["services"]["timers_armed"] == 0);
  }

  TEST_CASE("a timer does not keep an actor alive, and dies with it when it is deactivated") {
    services_host h({"--idle-timeout", "300ms"});
    client c(h.host->endpoint());
    const auto armed = c.call("svc", "Relay", "idle", {{"op", "every"}, {"ms", 50}});
    REQUIRE(armed.ok);
    // Idle for 300 ms although its timer fires every 50 ms: deactivated, the timer with it.
    CHECK(wait_until([&] { return stats_of(c)["actors"]["deactivations"]["idle"] >= 1; }, 10s));
    CHECK(wait_until([&] { return stats_of(c)["services"]["timers_armed"] == 0; }, 5s));
    // No firing after that (counted by the host: the Recorder idles out too, so its log cannot
    // tell).
    const uint64_t fired = stats_of(c)["services"]["timer_firings"];
    CHECK(fired >= 1);
    std::this_thread::sleep_for(300ms);
    CHECK(stats_of(c)["services"]["timer_firings"] == fired);
    // Asked for by the actor itself.
    const auto before = c.call("svc", "Relay", "d", {{"op", "echo"}});
    REQUIRE(c.call("svc", "Relay", "d", {{"op", "deactivate"}}).ok);
    uint64_t now_serving = before.activation;
    CHECK(wait_until([&] {
      now_serving = c.call("svc", "Relay", "d", {{"op", "echo"}}).activation;
      return now_serving != before.activation;
    }, 5s));
    CAPTURE(before.activation);
    CHECK(now_serving != before.activation);
  }

  TEST_CASE("an actor's casts reach each receiver in the order it sent them") {
    services_host h;
    client c(h.host->endpoint());
    for (const auto& [sender, receiver] : std::vector<std::pair<std::string, std::string>>{
             {"Relay", "RelayW"}, {"RelayW", "Relay"}}) {
      for (int from = 0; from < 1000; from += 250)
        REQUIRE(c.call("svc", sender, "s", {{"op", "castmany"}, {"cap", "svc"}, {"mod", receiver},
                                             {"id", "r"}, {"from", from}, {"count", 250}})
                    .ok);
      json got;
      CHECK(wait_until([&] {
        got = c.call("svc", receiver, "r", {{"op", "casts"}}).body["n"];
        return got.size() >= 1000;
      }, 10s));
      std::vector<int64_t> n = got.get<std::vector<int64_t>>();
      REQUIRE(n.size() == 1000);
      for (int64_t i = 0; i < 1000; ++i) CHECK(n[static_cast<size_t>(i)] == i);
      c.call("svc", receiver, "r", {{"op", "crash"}});  // a fresh log for the next pair
    }
  }

  TEST_CASE("bad use of the host services gets a clear error, never a crash") {
    services_host h;
    client c(h.host->endpoint());
    const std::map<std::string, std::string> expected = {
        {"empty_id", "non-empty actor id"},
        {"no_module", "a capability and a module"},
        {"zero_period", "period above zero"},
        {"far_timer", "at most 30 days"},
        {"past_timer", "in the past"},
        {"timer_cap", "10000 timers armed"},
        {"double_reply", "second reply refused: no deferred call has this token (answered already"},
        {"defer_twice", "once per call"},
        {"bad_payload", "bad payload refused"},
    };
    REQUIRE(c.call("svc", "Relay", "m-double_reply", {{"op", "later"}, {"ms", 1}}).ok);
    for (const auto& [what, text] : expected) {
      CAPTURE(what);
      auto r = c.call("svc", "Relay", "m-" + what, {{"op", "misuse"}, {"what", what}});
      REQUIRE(r.ok);
      CHECK(r.body["refused"].get<std::string>().find(text) != std::string::npos);
    }
    CHECK(stats_of(c)["services"]["refused"] >= 6);
    CHECK(c.call("svc", "Relay", "a", {{"op", "echo"}}).ok);
  }

  TEST_CASE("a plugin built for ABI 1.1 still loads and serves next to one of ABI 1.2") {
    services_host h;
    client c(h.host->endpoint());
    auto r = c.call("old", "Old11", "x", {{"any", 1}});
    REQUIRE(r.ok);
    CHECK(r.body["tid"] == 17);
    CHECK(h.host->log().find("abi=1.1") != std::string::npos);
  }
}
