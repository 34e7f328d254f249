// Host services across hosts: actors on one meshd calling, casting to and answering through
// actors on others (real processes on 127.0.0.1, gossip, the fixture plugin
// libfixture_services.so). Actors' requests take the clients' route (owner by placement,
// forwarding, "once" with re-routing during view changes), so the same guarantees hold.
#include <doctest/doctest.h>

#include <map>
#include <thread>

#include "cluster_support.hpp"

using namespace mesh::test;
using steady = std::chrono::steady_clock;

namespace {

const std::filesystem::path fixtures = MESH_FIXTURE_PLUGIN_DIR;

/// A plugin directory with the services fixture, shared by the hosts of a test.
struct services_plugins {
  temp_dir dir;
  services_plugins() { install_plugin(fixtures / "libfixture_services.so", dir.path()); }
};

/// Three hosts serving `svc`.
struct svc_cluster {
  services_plugins plugins;
  cluster_node node1{"node1", {}, "svc", {}, nullptr, plugins.dir.path()};
  cluster_node node2{"node2", {node1.gossip()}, "svc", {}, nullptr, plugins.dir.path()};
  cluster_node node3{"node3", {node1.gossip()}, "svc", {}, nullptr, plugins.dir.path()};
  std::vector<cluster_node*> all{&node1, &node2, &node3};

  svc_cluster() {
    if (!wait_converged(all, {"node1", "node2", "node3"}))
      throw std::runtime_error("the cluster did not converge");
  }

  /// An id (prefix + n) that `owner` owns in `svc`.
  std::string id_on(const std::string& owner, const std::string& prefix) {
    for (int n = 0; n < 10'000; ++n) {
      const std::string id = prefix + std::to_string(n);
      if (node1.owner("svc", id) == owner) return id;
    }
    throw std::runtime_error("no id for " + owner);
  }
};

json call_op(const std::string& mod, const std::string& id, json payload) {
  return json{{"op", "call"}, {"cap", "svc"}, {"mod", mod}, {"id", id}, {"payload", payload}};
}

double ms_since(steady::time_point start) {
  return std::chrono::duration<double, std::milli>(steady::now() - start).count();
}

}  // namespace

TEST_SUITE("host services in a cluster") {
  TEST_CASE("an actor calls actors on every host and gathers their replies (answer later)") {
    svc_cluster cl;
    const std::string a = cl.id_on("node1", "a");
    std::vector<std::string> ids;
    std::map<std::string, int> owners;
    for (int n = 0; n < 30; ++n) {
      ids.push_back("t" + std::to_string(n));
      ++owners[cl.node1.owner("svc", ids.back())];
    }
    REQUIRE(owners.size() == 3);  // the targets live on all three hosts
    auto r = cl.node1.c().call("svc", "Relay", a,
                               {{"op", "fanout"}, {"cap", "svc"}, {"mod", "RelayW"},
                                {"ids", ids}, {"payload", {{"op", "echo"}}}});
    REQUIRE(r.ok);
    REQUIRE(r.body.size() == ids.size());
    for (const auto& id : ids) CHECK(r.body[id] == "ok");
    // Each reply came from the target's owner.
    const std::string remote = cl.id_on("node3", "r");
    auto echo = cl.node1.c().call("svc", "Relay", a, call_op("Relay", remote, {{"op", "echo"}}));
    REQUIRE(echo.ok);
    CHECK(echo.body["reply"]["host"] == "node3");
  }

  TEST_CASE("a deferred reply goes back through the forwarding host") {
    svc_cluster cl;
    const std::string far = cl.id_on("node2", "late");
    const auto forwarded_before =
        cl.node1.c().control(mesh::wire::op::stats).body["stats"]["forward"]["sent"].get<uint64_t>();
    auto r = cl.node1.c().call("svc", "RelayW", far, {{"op", "later"}, {"ms", 100}});
    REQUIRE(r.ok);
    CHECK(r.body["late"] == true);
    CHECK(r.host == "node2");
    CHECK(cl.node1.c().control(mesh::wire::op::stats).body["stats"]["forward"]["sent"] >
          forwarded_before);
  }

  TEST_CASE("a three-host cycle A -> B -> C -> A comes back at once") {
    svc_cluster cl;
    const std::string a = cl.id_on("node1", "a"), b = cl.id_on("node2", "b"),
                      c = cl.id_on("node3", "c");
    const auto start = steady::now();
    auto r = cl.node2.c().call(
        "svc", "Relay", a,
        call_op("RelayW", b, call_op("Relay", c, call_op("Relay", a, {{"op", "echo"}, {"x", 3}}))));
    REQUIRE(r.ok);
    CHECK(ms_since(start) < 2000);  // the timeout is 5 s
    const json inner = r.body["reply"]["reply"];
    CHECK(inner["ok"] == true);
    CHECK(inner["reply"]["self"] == "Relay/" + a);
    CHECK(inner["reply"]["host"] == "node1");
  }

  TEST_CASE("a remote callee's crash, timeout or unknown module reaches the caller, which lives on") {
    svc_cluster cl;
    const std::string a = cl.id_on("node1", "a");
    const std::string victim = cl.id_on("node2", "v");
    const auto first = cl.node1.c().call("svc", "Relay", a, {{"op", "echo"}});
    auto crashed = cl.node1.c().call("svc", "Relay", a, call_op("Relay", victim, {{"op", "crash"}}));
    REQUIRE(crashed.ok);
    CAPTURE(crashed.body.dump());
    CHECK(crashed.body["code"] == "actor_error");
    auto slow = cl.node1.c().call(
        "svc", "Relay", a,
        json{{"op", "call"}, {"cap", "svc"}, {"mod", "RelayW"}, {"id", victim},
             {"payload", {{"op", "sleep"}, {"ms", 1200}}}, {"timeout_ms", 200}});
    REQUIRE(slow.ok);
    CAPTURE(slow.body.dump());
    CHECK(slow.body["code"] == "timeout");
    auto unknown = cl.node1.c().call("svc", "Relay", a, call_op("Nobody", victim, {{"op", "echo"}}));
    REQUIRE(unknown.ok);
    CHECK(unknown.body["code"] == "unknown_module");
    CHECK(cl.node1.c().call("svc", "Relay", a, {{"op", "echo"}}).activation == first.activation);
  }

  TEST_CASE("casts from an actor to an actor on another host arrive in order") {
    svc_cluster cl;
    const std::string s = cl.id_on("node1", "s"), r = cl.id_on("node3", "r");
    for (int from = 0; from < 1000; from += 250)
      REQUIRE(cl.node1.c()
                  .call("svc", "RelayW", s, {{"op", "castmany"}, {"cap", "svc"}, {"mod", "Relay"},
                                             {"id", r}, {"from", from}, {"count", 250}})
                  .ok);
    json got;
    CHECK(wait_until([&] {
      got = cl.node3.c().call("svc", "Relay", r, {{"op", "casts"}}).body["n"];
      return got.size() >= 1000;
    }, 10s));
    const auto n = got.get<std::vector<int64_t>>();
    REQUIRE(n.size() == 1000);
    for (int64_t i = 0; i < 1000; ++i) CHECK(n[static_cast<size_t>(i)] == i);
  }
}

TEST_CASE("actors' calls keep being answered while a host joins and keys move") {
  services_plugins plugins;
  cluster_node node1{"node1", {}, "svc", {}, nullptr, plugins.dir.path()};
  cluster_node node2{"node2", {node1.gossip()}, "svc", {}, nullptr, plugins.dir.path()};
  REQUIRE(wait_converged({&node1, &node2}, {"node1", "node2"}));
  std::vector<std::string> ids;
  for (int n = 0; n < 60; ++n) ids.push_back("j" + std::to_string(n));
  const json fanout = {{"op", "fanout"}, {"cap", "svc"}, {"mod", "Relay"}, {"ids", ids},
                       {"payload", {{"op", "echo"}}}};
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0}, whole_rounds{0}, moved{0};
  std::string failure;
  std::thread caller([&] {
    client c(node1.endpoint());
    while (!stop.load()) {
      // Every round is answered within its deadline, never lost. The targets' calls are
      // re-routed while their keys move, so every id answers "ok". The caller itself may move
      // while it gathers: its activation is then deactivated and the round answered
      // actor_error "deactivated before it replied" (documented), or refused `overloaded`;
      // the next round runs on its new owner.
      try {
        auto r = c.call("svc", "Relay", "caller", fanout, std::nullopt, 5000);
        if (!r.ok) {
          const bool caller_moved = r.code == "actor_error" &&
                                    r.message.find("deactivated before it replied") != std::string::npos;
          if (caller_moved || r.code == "overloaded") {
            moved.fetch_add(1);
          } else if (failure.empty()) {
            failure = r.code + ": " + r.message;
          }
        } else {
          bool whole = true;
          for (const auto& id : ids)
            if (r.body[id] != "ok") {
              whole = false;
              if (failure.empty()) failure = id + ": " + r.body[id].dump();
            }
          if (whole) whole_rounds.fetch_add(1);
        }
      } catch (const std::exception& e) {
        if (failure.empty()) failure = e.what();
      }
      rounds.fetch_add(1);
    }
  });
  std::this_thread::sleep_for(300ms);
  cluster_node node3{"node3", {node1.gossip()}, "svc", {}, nullptr, plugins.dir.path()};
  CHECK(wait_converged({&node1, &node2, &node3}, {"node1", "node2", "node3"}));
  const int at_join = whole_rounds.load();
  // After the views converge, whole rounds go on.
  CHECK(wait_until([&] { return whole_rounds.load() >= at_join + 5; }, 20s));
  stop.store(true);
  caller.join();
  CHECK_MESSAGE(failure.empty(), failure);
  CHECK(moved.load() <= 5);  // the caller moves once; only the rounds that meet the move
  CHECK(rounds.load() > 5);
}
