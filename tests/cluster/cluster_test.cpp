// Multi-host clusters: real meshd processes on 127.0.0.1 that find each other by gossip (static
// seeds, test failure-detection profile) and route every key to its owner, whichever host a
// request enters by. The first host starts without seeds; the others name its gossip endpoint,
// read back from the `members` op, so no port is guessed.
#include <mesh/wire/shard.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>

#include "cluster_support.hpp"
#include <mesh/placement/placement.hpp>

using namespace mesh::test;
using mesh::wire::op;

namespace {

using steady = std::chrono::steady_clock;

std::vector<std::string> ids(const std::string& prefix, size_t count) {
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

double ms_since(steady::time_point start, steady::time_point end = steady::now()) {
  return std::chrono::duration<double, std::milli>(end - start).count();
}

/// The owner of `id` among `hosts` by the documented rendezvous placement (default shards).
std::string rendezvous_owner(const std::vector<std::string>& hosts, const std::string& id) {
  static const auto strategy = mesh::placement::make_rendezvous();
  const auto table = mesh::placement::build_shard_table(*strategy, mesh::wire::default_shards, hosts);
  return table.hosts[table.owner_of[mesh::wire::shard_for(id)]];
}

/// node1 serves game, node2 chat, node3 game, chat and payment (the eigr/mesh example).
struct example_cluster {
  cluster_node node1{"node1", {}, "game"};
  cluster_node node2{"node2", {node1.gossip()}, "chat"};
  cluster_node node3{"node3", {node1.gossip()}, "game,chat,payment"};
  std::vector<cluster_node*> all{&node1, &node2, &node3};

  example_cluster() {
    if (!wait_converged(all, {"node1", "node2", "node3"}))
      throw std::runtime_error("the example cluster did not converge");
  }
};

/// Three hosts serving every example capability (counter included).
struct full_cluster {
  cluster_node node1{"node1", {}};
  cluster_node node2{"node2", {node1.gossip()}};
  cluster_node node3{"node3", {node1.gossip()}};
  std::vector<cluster_node*> all{&node1, &node2, &node3};

  full_cluster() {
    if (!wait_converged(all, {"node1", "node2", "node3"}))
      throw std::runtime_error("the cluster did not converge");
  }
};

/// Splits `candidates` by the owner `via` names for them (counter capability).
std::map<std::string, std::vector<std::string>> by_owner(cluster_node& via,
                                                         const std::vector<std::string>& keys) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& k : keys) out[via.owner("counter", k)].push_back(k);
  return out;
}

}  // namespace

TEST_SUITE("cluster") {
  TEST_CASE(
      "each capability is served only by its hosts, each id by one activation, whatever "
      "the entry host") {
    example_cluster cl;
    const std::map<std::string, std::vector<std::string>> hosts_of = {
        {"game", {"node1", "node3"}}, {"chat", {"node2", "node3"}}, {"payment", {"node3"}}};
    const std::map<std::string, std::pair<std::string, json>> call_of = {
        {"game", {"GameActor", {{"action", "get"}}}},
        {"chat", {"ChatActor", {{"action", "history"}}}},
        {"payment", {"PaymentActor", {{"action", "balance"}}}}};
    for (const auto& [cap, hosts] : hosts_of) {
      INFO("capability " << cap);
      const auto& [module, payload] = call_of.at(cap);
      const auto keys = ids(cap + "-", 200);
      std::map<std::string, std::pair<std::string, uint64_t>> served;  // id -> host, activation
      std::map<std::string, size_t> share;
      for (int round = 0; round < 2; ++round) {
        for (auto* entry : cl.all) {
          INFO("entry " << entry->name() << ", round " << round);
          auto replies = call_all(entry->c(), cap, module, keys, payload, 5000, 20s);
          REQUIRE(replies.size() == keys.size());
          for (const auto& key : keys) {
            const reply& r = replies.at(key).r;
            INFO("id " << key << ": " << r.code << " " << r.message);
            REQUIRE(r.ok);
            CHECK(std::find(hosts.begin(), hosts.end(), r.host) != hosts.end());
            CHECK(r.host == rendezvous_owner(hosts, key));
            auto [it, first] = served.emplace(key, std::make_pair(r.host, r.activation));
            if (first) {
              ++share[r.host];
            } else {
              CHECK(it->second.first == r.host);
              CHECK(it->second.second == r.activation);
            }
          }
        }
      }
      // The owner op agrees with the host that served, on every host.
      for (auto* entry : cl.all)
        for (const auto& key : keys) {
          INFO("owner of " << key << " asked " << entry->name());
          CHECK(entry->owner(cap, key) == served.at(key).first);
        }
      // Both hosts of a two-host capability get a fair share (expected: half each).
      for (const auto& h : hosts) {
        INFO("host " << h << " served " << share[h] << " of " << keys.size());
        CHECK(share[h] * hosts.size() >= keys.size() * 7 / 10);
      }
    }
  }

  TEST_CASE(
      "every host reports the same members, hosts per capability and cluster "
      "capabilities, and a capability no host has fails at once") {
    example_cluster cl;
    for (auto* n : cl.all) {
      INFO("asked " << n->name());
      CHECK(n->nodes_for("game") == std::vector<std::string>{"node1", "node3"});
      CHECK(n->nodes_for("chat") == std::vector<std::string>{"node2", "node3"});
      CHECK(n->nodes_for("payment") == std::vector<std::string>{"node3"});
      CHECK(n->nodes_for("bench").empty());
      auto caps = n->c().control(op::capabilities);
      REQUIRE(caps.ok);
      CHECK(strings_of(caps.body["cluster_caps"]) ==
            std::vector<std::string>{"chat", "game", "payment"});
      const json m = n->members();
      CHECK(cluster_node::with_status(m, "alive") ==
            std::set<std::string>{"node1", "node2", "node3"});
      for (const auto& rec : m["members"]) {
        INFO("record " << rec.dump());
        CHECK(rec["self"] == (rec["name"] == n->name()));
        CHECK(rec["gossip"].get<std::string>().rfind("tcp://127.0.0.1:", 0) == 0);
        CHECK(rec["endpoint"].get<std::string>().rfind("tcp://127.0.0.1:", 0) == 0);
        CHECK(rec["incarnation"].get<uint64_t>() > 0);
      }

      const auto start = steady::now();
      auto r = n->c().call("bench", "Echo", "x", {{"hello", 1}}, std::nullopt, 5000);
      CHECK(ms_since(start) < 2000);  // an error at once, not the deadline
      CHECK_FALSE(r.ok);
      CHECK(r.code == "unknown_capability");
      CHECK(r.message.find("no host has capability") != std::string::npos);
      auto o = query(n->c(), op::owner, "bench", "x");
      CHECK_FALSE(o.ok);
      CHECK(o.code == "unknown_capability");
    }
  }

  TEST_CASE(
      "a joining host takes about a third of the keys, all from the others, and no key "
      "moves between the old hosts") {
    cluster_node node1{"node1", {}, "game"};
    cluster_node node2{"node2", {node1.gossip()}, "game"};
    REQUIRE(wait_converged({&node1, &node2}, {"node1", "node2"}));
    const auto keys = ids("player-", 1000);
    std::map<std::string, std::string> before;
    for (const auto& k : keys) {
      before[k] = node1.owner("game", k);
      REQUIRE(node2.owner("game", k) == before[k]);
    }

    cluster_node node3{"node3", {node1.gossip()}, "game"};
    REQUIRE(wait_converged({&node1, &node2, &node3}, {"node1", "node2", "node3"}));
    size_t moved = 0;
    std::vector<std::string> moved_keys;
    for (const auto& k : keys) {
      const std::string after = node1.owner("game", k);
      CHECK(node2.owner("game", k) == after);
      CHECK(node3.owner("game", k) == after);
      if (after != before[k]) {
        ++moved;
        moved_keys.push_back(k);
        INFO(k << " moved from " << before[k] << " to " << after);
        CHECK(after == "node3");  // never between node1 and node2
      }
    }
    INFO(moved << " of " << keys.size() << " keys moved");
    CHECK(moved * 300 <= keys.size() * 109);  // at most 1/3 + 3 percentage points
    CHECK(moved * 100 >= keys.size() * 25);   // and the new host does get its share
    // The keys that moved are served by the new host, whichever host they enter by.
    auto replies =
        call_all(node1.c(), "game", "GameActor", moved_keys, {{"action", "get"}}, 5000, 20s);
    REQUIRE(replies.size() == moved_keys.size());
    for (const auto& [k, tr] : replies) {
      INFO(k << ": " << tr.r.code << " " << tr.r.message);
      CHECK(tr.r.ok);
      CHECK(tr.r.host == "node3");
    }
  }

  TEST_CASE(
      "after a kill -9 its keys answer from the survivors within 3 s and keys on the "
      "survivors never fail") {
    full_cluster cl;
    const auto owners = by_owner(cl.node1, ids("k-", 300));
    const auto victim_keys = owners.at("node2");
    std::vector<std::string> survivor_keys = owners.at("node1");
    survivor_keys.insert(survivor_keys.end(), owners.at("node3").begin(), owners.at("node3").end());
    REQUIRE(victim_keys.size() > 30);
    REQUIRE(survivor_keys.size() > 60);
    // Activate everything; remember the survivors' activations.
    auto first =
        call_all(cl.node1.c(), "counter", "Counter", survivor_keys, {{"op", "incr"}}, 5000, 20s);
    REQUIRE(first.size() == survivor_keys.size());
    for (const auto& [k, tr] : first) REQUIRE(tr.r.ok);
    auto victims =
        call_all(cl.node1.c(), "counter", "Counter", victim_keys, {{"op", "incr"}}, 5000, 20s);
    REQUIRE(victims.size() == victim_keys.size());
    for (const auto& [k, tr] : victims) REQUIRE(tr.r.host == "node2");

    load_loop load(cl.node1.endpoint(), "counter", "Counter", survivor_keys, {{"op", "incr"}});
    REQUIRE(wait_until([&] { return load.calls() > 50; }));
    cl.node2.process().signal(SIGKILL);
    const auto killed = steady::now();

    // Ask for every victim key at once, round after round, until each has answered once.
    std::map<std::string, double> answered_ms;
    std::map<std::string, std::string> answered_by;
    std::string before_takeover;
    while (answered_ms.size() < victim_keys.size() && ms_since(killed) < 8000) {
      std::vector<std::string> pending;
      for (const auto& k : victim_keys)
        if (!answered_ms.count(k)) pending.push_back(k);
      auto replies =
          call_all(cl.node3.c(), "counter", "Counter", pending, {{"op", "get"}}, 1000, 3s);
      for (const auto& [k, tr] : replies)
        if (tr.r.ok) {
          answered_ms[k] = ms_since(killed, tr.at);
          answered_by[k] = tr.r.host;
        } else if (before_takeover.empty()) {
          before_takeover = tr.r.code + ": " + tr.r.message;
        }
    }
    if (!before_takeover.empty()) MESSAGE("before the takeover, calls got " << before_takeover);
    REQUIRE(answered_ms.size() == victim_keys.size());
    double slowest = 0;
    for (const auto& [k, ms] : answered_ms) {
      slowest = std::max(slowest, ms);
      INFO(k << " served by " << answered_by[k]);
      CHECK((answered_by[k] == "node1" || answered_by[k] == "node3"));
    }
    MESSAGE("the dead host's keys answered again after " << slowest << " ms");
    CHECK(slowest <= 3000);

    // Keep the load going a little past the takeover, then check it never failed.
    REQUIRE(wait_converged({&cl.node1, &cl.node3}, {"node1", "node3"}, 10s));
    const uint64_t at_takeover = load.calls();
    REQUIRE(wait_until([&] { return load.calls() > at_takeover + 50; }));
    load.stop();
    INFO("first failure: " << load.first_failure());
    CHECK(load.failures() == 0);
    // Survivor keys kept their activations: no key moved between the survivors.
    auto after =
        call_all(cl.node1.c(), "counter", "Counter", survivor_keys, {{"op", "get"}}, 5000, 20s);
    REQUIRE(after.size() == survivor_keys.size());
    for (const auto& [k, tr] : after) {
      INFO(k);
      CHECK(tr.r.host == first.at(k).r.host);
      CHECK(tr.r.activation == first.at(k).r.activation);
    }
  }

  TEST_CASE(
      "a host stopped with SIGTERM under load leaves without a single failed request and "
      "exits 0") {
    full_cluster cl;
    const auto keys = ids("load-", 90);
    const auto owners = by_owner(cl.node1, keys);
    REQUIRE(owners.count("node2") == 1);
    REQUIRE(owners.at("node2").size() > 10);

    // Two callers through each of the other hosts, each going round every key.
    std::vector<std::unique_ptr<load_loop>> loads;
    for (auto* entry : {&cl.node1, &cl.node3, &cl.node1, &cl.node3})
      loads.push_back(std::make_unique<load_loop>(entry->endpoint(), "counter", "Counter", keys,
                                                  json{{"op", "incr"}}));
    auto all_passed = [&](const std::vector<uint64_t>& since) {
      for (size_t i = 0; i < loads.size(); ++i)
        if (loads[i]->calls() < since[i] + keys.size()) return false;
      return true;
    };
    REQUIRE(wait_until([&] { return all_passed(std::vector<uint64_t>(loads.size(), 0)); }));
    cl.node2.process().signal(SIGTERM);
    const auto exit_code = cl.node2.process().wait(15s);
    REQUIRE(exit_code.has_value());
    CHECK(*exit_code == 0);
    REQUIRE(wait_converged({&cl.node1, &cl.node3}, {"node1", "node3"}, 10s));
    std::vector<uint64_t> at_exit;
    for (const auto& l : loads) at_exit.push_back(l->calls());
    REQUIRE(wait_until([&] { return all_passed(at_exit); }));
    for (size_t i = 0; i < loads.size(); ++i) {
      loads[i]->stop();
      INFO("caller " << i << ": " << loads[i]->calls()
                     << " calls, first failure: " << loads[i]->first_failure());
      CHECK(loads[i]->failures() == 0);
    }
    // The others saw a departure, not a death.
    CHECK(cl.node1.log().find("member left: node2") != std::string::npos);
    CHECK(cl.node1.log().find("member dead: node2") == std::string::npos);
    CHECK(cl.node2.log().find("stopped:") != std::string::npos);
    // The departed host's keys are now served by the others.
    for (const auto& k : owners.at("node2")) {
      auto r = cl.node1.c().call("counter", "Counter", k, {{"op", "get"}});
      INFO(k << ": " << r.code << " " << r.message);
      CHECK(r.ok);
      CHECK(r.host != "node2");
    }
  }

  TEST_CASE(
      "a host restarted with the same name after kill -9 rejoins with a higher "
      "incarnation and serves its keys again") {
    auto node1 = std::make_unique<cluster_node>("node1", std::vector<std::string>{});
    auto node2 = std::make_unique<cluster_node>("node2", std::vector<std::string>{node1->gossip()});
    auto node3 = std::make_unique<cluster_node>("node3", std::vector<std::string>{node1->gossip()});
    const std::set<std::string> everyone = {"node1", "node2", "node3"};
    REQUIRE(wait_converged({node1.get(), node2.get(), node3.get()}, everyone));
    auto incarnation_of = [](cluster_node& via, const std::string& name) -> uint64_t {
      const json envelope = via.members();
      for (const auto& m : envelope["members"])
        if (m["name"] == name) return m["incarnation"].get<uint64_t>();
      return 0;
    };
    const uint64_t old_incarnation = incarnation_of(*node1, "node2");
    REQUIRE(old_incarnation > 0);
    const auto keys = by_owner(*node1, ids("k-", 150)).at("node2");
    REQUIRE(keys.size() > 20);

    node2->process().signal(SIGKILL);
    REQUIRE(node2->process().wait(5s).has_value());
    node2.reset();
    const auto restarted = steady::now();
    node2 = std::make_unique<cluster_node>("node2", std::vector<std::string>{node1->gossip()});
    REQUIRE(wait_until(
        [&] {
          return incarnation_of(*node1, "node2") > old_incarnation &&
                 incarnation_of(*node3, "node2") > old_incarnation &&
                 converged({node1.get(), node2.get(), node3.get()}, everyone);
        },
        15s));
    CHECK(incarnation_of(*node2, "node2") == incarnation_of(*node1, "node2"));
    for (auto* n : {node1.get(), node2.get(), node3.get()})
      for (const auto& k : keys) {
        INFO("owner of " << k << " asked " << n->name());
        CHECK(n->owner("counter", k) == "node2");
      }
    for (auto* entry : {node1.get(), node3.get()}) {
      auto replies = call_all(entry->c(), "counter", "Counter", keys, {{"op", "incr"}}, 5000, 20s);
      REQUIRE(replies.size() == keys.size());
      for (const auto& [k, tr] : replies) {
        INFO(k << " via " << entry->name() << ": " << tr.r.code << " " << tr.r.message);
        CHECK(tr.r.ok);
        CHECK(tr.r.host == "node2");
      }
    }
    // Includes the new process's start-up and every check above.
    MESSAGE("the restarted host served its keys " << ms_since(restarted) << " ms after restart");
    CHECK(ms_since(restarted) <= 3000);
  }

  TEST_CASE("a host with a different shard count is refused and never owns a key") {
    full_cluster cl;
    cluster_node odd{"node4",
                     {cl.node1.gossip(), cl.node2.gossip(), cl.node3.gossip()},
                     {},
                     {"--shards", "128"}};
    for (auto* n : cl.all) {
      INFO("log of " << n->name());
      CHECK(wait_until(
          [&] {
            const std::string log = n->log();
            return log.find("refusing host node4") != std::string::npos &&
                   log.find("shard count") != std::string::npos;
          },
          10s));
    }
    // Give node4 time to be (wrongly) merged before checking that it is not.
    REQUIRE(wait_until([&] { return odd.log().find("refusing host") != std::string::npos; }, 10s));
    for (auto* n : cl.all) {
      INFO("asked " << n->name());
      const json m = n->members();
      for (const auto& rec : m["members"]) CHECK(rec["name"] != "node4");
      CHECK(n->nodes_for("counter") == std::vector<std::string>{"node1", "node2", "node3"});
    }
    for (const auto& k : ids("k-", 200))
      for (auto* n : cl.all) {
        INFO("owner of " << k << " asked " << n->name());
        CHECK(n->owner("counter", k) != "node4");
      }
    auto replies =
        call_all(cl.node1.c(), "counter", "Counter", ids("k-", 200), {{"op", "get"}}, 5000, 20s);
    REQUIRE(replies.size() == 200);
    for (const auto& [k, tr] : replies) {
      INFO(k << ": " << tr.r.code);
      CHECK(tr.r.ok);
      CHECK(tr.r.host != "node4");
    }
  }

  TEST_CASE("capabilities registered at run time are gossiped and keys route to the host") {
    example_cluster cl;
    const auto keys = ids("game-", 200);
    for (const auto& k : keys) REQUIRE(cl.node1.owner("game", k) != "node2");

    auto r = cl.node2.c().control(op::register_capabilities, {"game"});
    REQUIRE(r.ok);
    const auto registered = steady::now();
    for (auto* n : cl.all) {
      INFO("asked " << n->name());
      CHECK(wait_until(
          [&] {
            return n->nodes_for("game") == std::vector<std::string>{"node1", "node2", "node3"};
          },
          3s));
    }
    MESSAGE("every host knew after " << ms_since(registered) << " ms");
    CHECK(ms_since(registered) < 3000);
    REQUIRE(wait_converged(cl.all, {"node1", "node2", "node3"}, 5s));
    std::vector<std::string> to_node2;
    for (const auto& k : keys) {
      const std::string owner = cl.node1.owner("game", k);
      CHECK(cl.node2.owner("game", k) == owner);
      CHECK(cl.node3.owner("game", k) == owner);
      if (owner == "node2") to_node2.push_back(k);
    }
    INFO(to_node2.size() << " of " << keys.size() << " game ids now belong to node2");
    CHECK(to_node2.size() * 100 >= keys.size() * 20);
    auto replies =
        call_all(cl.node3.c(), "game", "GameActor", to_node2, {{"action", "get"}}, 5000, 20s);
    REQUIRE(replies.size() == to_node2.size());
    for (const auto& [k, tr] : replies) {
      INFO(k << ": " << tr.r.code << " " << tr.r.message);
      CHECK(tr.r.ok);
      CHECK(tr.r.host == "node2");
    }
  }
}

TEST_CASE("a request addressed to another run of a host is refused unrun, and its own run serves it") {
  // A restart on the same endpoint must not run what a client addressed to the run before it:
  // the client re-sends that elsewhere once the old run is declared dead (S14).
  cluster_node a("solo", {});
  uint64_t incarnation = 0;
  const json view = a.members();
  for (const auto& m : view["members"])
    if (m["self"] == true) incarnation = m["incarnation"].get<uint64_t>();
  REQUIRE(incarnation != 0);
  auto incr = [&](uint64_t to) {
    auto req = client::make(op::call, "counter", "Counter", "k1");
    req.rid = a.c().next_rid();
    req.once = true;
    req.to_incarnation = to;
    a.c().send(req, json{{"op", "incr"}});
    return a.c().expect(req.rid, 10s);
  };
  for (const uint64_t other : {incarnation - 1, incarnation + 1}) {
    const reply r = incr(other);
    INFO(r.code << ": " << r.message);
    CHECK_FALSE(r.ok);
    CHECK(r.code == "wrong_owner");
    CHECK(r.message.find(std::to_string(incarnation)) != std::string::npos);
  }
  reply r = incr(incarnation);
  REQUIRE(r.ok);
  CHECK(r.body["count"] == 1);  // neither refused request ran
  r = incr(0);                  // addressed to no run in particular
  REQUIRE(r.ok);
  CHECK(r.body["count"] == 2);
  const reply stats = a.c().control(op::stats);
  REQUIRE(stats.ok);
  CHECK(stats.body["stats"]["forward"]["wrong_incarnation"] == 2);
}

TEST_CASE("a peer that speaks garbage on the gossip sockets is ignored and the cluster serves on") {
  // A fake peer: a PUB socket that node2 follows as a seed, and an XSUB that pushes upstream
  // into node1's gossip socket, both sending bytes that are not gossip.
  zmq::context_t ctx(1);
  zmq::socket_t fake_pub(ctx, zmq::socket_type::pub);
  fake_pub.set(zmq::sockopt::linger, 0);
  fake_pub.bind("tcp://127.0.0.1:*");
  const std::string fake_endpoint = fake_pub.get(zmq::sockopt::last_endpoint);

  cluster_node node1{"node1", {}};
  cluster_node node2{"node2", {node1.gossip(), fake_endpoint}};
  std::vector<cluster_node*> both{&node1, &node2};
  REQUIRE(wait_converged(both, {"node1", "node2"}));

  zmq::socket_t fake_up(ctx, zmq::socket_type::xsub);
  fake_up.set(zmq::sockopt::linger, 0);
  fake_up.connect(node1.gossip());
  const std::vector<std::string> garbage = {
      std::string("\xc1\xc1\xc1", 3),                              // never-used bytes
      std::string("\xdd\xff\xff\xff\xff", 5),                      // a 4G-element array
      std::string(200, '\x91') + "\xc0",                           // nesting far too deep
      std::string("\x83\xa1v\x01\xa4" "from\x80\xa3seq\x01", 15),  // a nameless sender
      std::string(100000, '\xc0'),                                 // 100 kB of nils
      std::string("\x82\xa1v\x07\xa4" "from\xc0", 10),             // an unknown version
  };
  const auto end = std::chrono::steady_clock::now() + 2s;
  size_t sent = 0;
  while (std::chrono::steady_clock::now() < end && sent < 3000) {
    for (const auto& g : garbage) {
      fake_pub.send(zmq::buffer(g), zmq::send_flags::dontwait);
      // Upstream frames starting with 0 or 1 are subscriptions; these are not.
      fake_up.send(zmq::buffer(g), zmq::send_flags::dontwait);
      ++sent;
    }
    std::this_thread::sleep_for(5ms);
  }
  CHECK(node1.process().running());
  CHECK(node2.process().running());
  CHECK(wait_until([&] { return node2.log().find("malformed gossip message ignored") !=
                                std::string::npos; }, 5s));
  CHECK(wait_until([&] { return node1.log().find("malformed gossip message ignored") !=
                                std::string::npos; }, 5s));
  // The view is untouched and both hosts still serve, each through the other.
  CHECK(wait_converged(both, {"node1", "node2"}));
  for (auto* entry : both) {
    auto r = entry->c().call("counter", "Counter", "after-garbage", {{"op", "incr"}});
    CHECK(r.ok);
  }
}
