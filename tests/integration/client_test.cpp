// The C++ client library (mesh::client::client) against real meshd hosts on 127.0.0.1: the
// synchronous and asynchronous forms, errors and timeouts, and in a cluster the smart routing
// (each call straight to its owner) and the re-send when the owner dies or the view moves.
#include <mesh/wire/shard.hpp>
#include <doctest/doctest.h>
#include <signal.h>

#include <map>
#include <mesh/client.hpp>
#include <set>

#include "cluster_support.hpp"

using namespace mesh::test;
namespace mc = mesh::client;

namespace {

const std::filesystem::path examples = MESH_EXAMPLE_PLUGIN_DIR;
const std::filesystem::path fixtures = MESH_FIXTURE_PLUGIN_DIR;

mc::bytes pack(const json& v) { return mc::json_to_msgpack(v); }

json unpack(const mc::bytes& b) {
  auto j = mc::json_from_msgpack(b);
  REQUIRE(j.has_value());
  return json::parse(j->dump());
}

/// A single host serving Counter, the examples and the Probe fixture.
struct single_host {
  temp_dir plugins;
  std::optional<meshd_process> host;
  single_host() {
    install_plugin(examples / "libmesh_counter.so", plugins.path());
    install_plugin(examples / "libmesh_examples.so", plugins.path());
    install_plugin(fixtures / "libfixture_probe.so", plugins.path());
    host.emplace(plugins.path());
  }
};

/// A ZeroMQ ROUTER that takes requests and never answers.
struct silent_host {
  zmq::context_t context{1};
  zmq::socket_t socket{context, zmq::socket_type::router};
  std::string endpoint;
  silent_host() {
    socket.set(zmq::sockopt::linger, 0);
    socket.bind("tcp://127.0.0.1:*");
    endpoint = socket.get(zmq::sockopt::last_endpoint);
  }
};

/// Ids of `capability` whose owner, as host `asked` names it, is `owner`.
std::vector<std::string> ids_owned_by(cluster_node& asked, const std::string& capability,
                                      const std::string& owner, size_t count,
                                      const std::string& prefix) {
  std::vector<std::string> ids;
  for (int i = 0; ids.size() < count && i < 10'000; ++i) {
    std::string id = prefix + std::to_string(i);
    if (asked.owner(capability, id) == owner) ids.push_back(std::move(id));
  }
  REQUIRE(ids.size() == count);
  return ids;
}

}  // namespace

TEST_CASE("client: calls keep actor state, casts are applied, queries answer") {
  single_host h;
  mc::client c({h.host->endpoint()});

  auto first = c.call("counter", "Counter", "c1", pack({{"op", "incr"}, {"by", 2}}),
                      pack({{"start", 10}}));
  REQUIRE_MESSAGE(first.has_value(), first.error().code << ": " << first.error().message);
  CHECK(unpack(first->reply) == json{{"count", 12}});
  CHECK(first->actor.module == "Counter");
  CHECK(first->actor.id == "c1");

  auto cast = c.cast("counter", "Counter", "c1", pack({{"op", "incr"}, {"by", 5}}));
  REQUIRE(cast.has_value());
  auto get = c.call("counter", "Counter", "c1", pack({{"op", "get"}}), pack({{"start", 99}}));
  REQUIRE(get.has_value());
  CHECK(unpack(get->reply) == json{{"count", 17}});  // init used only on activation
  CHECK(get->actor.activation == first->actor.activation);

  auto members = c.members();
  REQUIRE(members.has_value());
  REQUIRE(members->members.size() == 1);
  CHECK(members->members[0].self);
  CHECK(members->members[0].endpoint == h.host->endpoint());

  auto caps = c.capabilities();
  REQUIRE(caps.has_value());
  CHECK(std::find(caps->capabilities.begin(), caps->capabilities.end(), "counter") !=
        caps->capabilities.end());

  auto ping = c.ping();
  REQUIRE(ping.has_value());
  CHECK(ping->host == members->members[0].name);

  for (const std::string id : {"player_1", "chat:room-42", "ü-ñ", "x"}) {
    auto remote = c.remote_shard(id);
    REQUIRE(remote.has_value());
    CHECK(remote->shard == c.shard_for(id));
    CHECK(remote->shard == mesh::wire::shard_for(id, remote->shards));
  }
}

TEST_CASE("client: errors carry the host's code, bad arguments are refused before sending") {
  single_host h;
  mc::client c({h.host->endpoint()});

  auto unknown = c.call("counter", "Nope", "x", pack(nullptr));
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().code == "unknown_module");
  CHECK(unknown.error().origin == mc::error_origin::host);

  auto no_cap = c.call("nope", "Counter", "x", pack(nullptr));
  REQUIRE_FALSE(no_cap.has_value());
  CHECK(no_cap.error().code == "unknown_capability");

  auto crash = c.call("game", "GameActor", "p", pack({{"action", "crash"}}));
  REQUIRE_FALSE(crash.has_value());
  CHECK(crash.error().code == "actor_error");

  const uint64_t sent = c.stats().sent;
  auto empty = c.call("counter", "", "x", pack(nullptr));
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().code == "bad_argument");
  CHECK(empty.error().origin == mc::error_origin::client);
  CHECK(c.stats().sent == sent);  // the refused one was never sent
}

TEST_CASE("client: the host's timeout comes back as a host error and a silent host times out here") {
  single_host h;
  mc::client c({h.host->endpoint()});
  const auto start = std::chrono::steady_clock::now();
  auto slow = c.call("probe", "Probe", "slow", pack({{"op", "sleep"}, {"ms", 3000}}), std::nullopt,
                     300ms);
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(slow.has_value());
  CHECK(slow.error().code == "timeout");
  CHECK(slow.error().origin == mc::error_origin::host);
  CHECK(took >= 300ms);
  CHECK(took < 1300ms);  // before this client's own margin ran out

  silent_host nobody;
  mc::options o;
  o.direct = false;  // nothing to learn from a silent host
  mc::client quiet({nobody.endpoint}, o);
  const auto start2 = std::chrono::steady_clock::now();
  auto lost = quiet.call("counter", "Counter", "x", pack(nullptr), std::nullopt, 200ms);
  const auto took2 = std::chrono::steady_clock::now() - start2;
  REQUIRE_FALSE(lost.has_value());
  CHECK(lost.error().code == "timeout");
  CHECK(lost.error().origin == mc::error_origin::client);
  CHECK(took2 >= 200ms + mc::reply_margin);
  CHECK(took2 < 5s);
  CHECK(quiet.in_flight() == 0);
}

TEST_CASE("client: one thread keeps thousands of calls in flight") {
  single_host h;
  mc::client c({h.host->endpoint()});
  constexpr int actors = 200, rounds = 10;
  size_t ok = 0, failed = 0, peak = 0;
  const auto incr = pack({{"op", "incr"}, {"by", 1}});
  for (int r = 0; r < rounds; ++r)
    for (int a = 0; a < actors; ++a) {
      const std::string id = "a" + std::to_string(a);
      c.call_async({"counter", "Counter", id, mc::view_of(incr)},
                   [&](tl::expected<mc::call_result, mc::error> res) { ++(res ? ok : failed); });
      peak = std::max(peak, c.in_flight());
    }
  CHECK(peak == actors * rounds);  // nothing completes before the thread polls
  REQUIRE(c.drain(30s));
  CHECK(ok == actors * rounds);
  CHECK(failed == 0);
  // Every increment ran exactly once, in order per actor.
  for (int a = 0; a < actors; a += 37) {
    auto get = c.call("counter", "Counter", "a" + std::to_string(a), pack({{"op", "get"}}));
    REQUIRE(get.has_value());
    CHECK(unpack(get->reply) == json{{"count", rounds}});
  }
}

TEST_CASE("client: in a cluster every call goes straight to its owner") {
  cluster_node n1("n1", {}, "counter");
  cluster_node n2("n2", {n1.gossip()}, "counter");
  cluster_node n3("n3", {n1.gossip()}, "counter");
  REQUIRE(wait_converged({&n1, &n2, &n3}, {"n1", "n2", "n3"}));

  mc::client c({n1.endpoint()});
  REQUIRE(c.refresh().has_value());
  CHECK(c.view().members.size() == 3);
  CHECK(c.view().strategy == "rendezvous");
  CHECK(c.view().shards == mesh::wire::default_shards);

  std::map<std::string, int> served;
  const auto incr = pack({{"op", "incr"}, {"by", 1}});
  int checked = 0;
  for (int i = 0; i < 150; ++i) {
    const std::string id = "k" + std::to_string(i);
    const auto expected = c.owner_in_view(id, "counter");
    REQUIRE(expected.has_value());
    if (i % 10 == 0) {  // the client's placement is the hosts' placement
      CHECK(*expected == n2.owner("counter", id));
      ++checked;
    }
    c.call_async({"counter", "Counter", id, mc::view_of(incr)},
                 [&, id, expected](tl::expected<mc::call_result, mc::error> r) {
                   REQUIRE_MESSAGE(r.has_value(), r.error().code);
                   CHECK(r->actor.host == *expected);
                   ++served[r->actor.host];
                 });
  }
  REQUIRE(c.drain(30s));
  CHECK(checked == 15);
  CHECK(served.size() == 3);  // all three hosts own some of 150 keys
  CHECK(c.stats().direct == 150);
  CHECK(c.stats().via_any == 0);
  CHECK(c.stats().stale_owner == 0);

  // Routing through the given host instead: the same owners answer, one hop further.
  mc::options through;
  through.direct = false;
  mc::client t({n1.endpoint()}, through);
  for (int i = 0; i < 20; ++i) {
    const std::string id = "k" + std::to_string(i);
    auto r = t.call("counter", "Counter", id, pack({{"op", "get"}}));
    REQUIRE(r.has_value());
    CHECK(r->actor.host == *c.owner_in_view(id, "counter"));
    CHECK(unpack(r->reply) == json{{"count", 1}});
  }
  CHECK(t.stats().via_any == 20);
}

TEST_CASE("client: calls alternating between capabilities each go to a host that has theirs") {
  // n1 serves only counter, n2 only bench: the client's routes for one capability must never
  // answer for the other (it remembers the last capability's routes between calls).
  cluster_node n1("n1", {}, "counter");
  cluster_node n2("n2", {n1.gossip()}, "bench");
  REQUIRE(wait_converged({&n1, &n2}, {"n1", "n2"}));
  mc::client c({n1.endpoint()});
  REQUIRE(c.refresh().has_value());
  const auto incr = pack({{"op", "incr"}, {"by", 1}});
  const auto echo = pack({{"seq", 1}});
  std::map<std::string, int> served;
  for (int i = 0; i < 40; ++i) {
    const std::string id = "alt" + std::to_string(i);
    const bool counter = i % 2 == 0;
    c.call_async({counter ? "counter" : "bench", counter ? "Counter" : "Echo", id,
                  mc::view_of(counter ? incr : echo)},
                 [&, counter](tl::expected<mc::call_result, mc::error> r) {
                   REQUIRE_MESSAGE(r.has_value(), r.error().code);
                   CHECK(r->actor.host == (counter ? "n1" : "n2"));
                   ++served[r->actor.host];
                 });
  }
  REQUIRE(c.drain(30s));
  CHECK(served["n1"] == 20);
  CHECK(served["n2"] == 20);
  CHECK(c.stats().direct == 40);
  CHECK(c.stats().via_any == 0);
  // A call sent to the wrong host is still served, forwarded by it; the client counts that.
  CHECK(c.stats().stale_owner == 0);
}

TEST_CASE("client: a call whose owner is killed is sent again to the new owner in time") {
  cluster_node a("a", {}, "counter");
  cluster_node b("b", {a.gossip()}, "counter");
  REQUIRE(wait_converged({&a, &b}, {"a", "b"}));
  const auto on_b = ids_owned_by(a, "counter", "b", 20, "kb");

  mc::options o;
  o.refresh_interval = 200ms;
  mc::client c({a.endpoint(), b.endpoint()}, o);
  REQUIRE(c.refresh().has_value());
  for (const auto& id : on_b) REQUIRE(*c.owner_in_view(id, "counter") == "b");

  b.process().signal(SIGKILL);
  const auto incr = pack({{"op", "incr"}, {"by", 1}});
  size_t ok = 0;
  std::set<std::string> hosts;
  const auto start = std::chrono::steady_clock::now();
  for (const auto& id : on_b)
    c.call_async({"counter", "Counter", id, mc::view_of(incr), std::nullopt, 8000ms},
                 [&](tl::expected<mc::call_result, mc::error> r) {
                   REQUIRE_MESSAGE(r.has_value(), r.error().code << ": " << r.error().message);
                   ++ok;
                   hosts.insert(r->actor.host);
                 });
  REQUIRE(c.drain(20s));
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(ok == on_b.size());
  CHECK(hosts == std::set<std::string>{"a"});
  CHECK(c.stats().retries >= on_b.size());  // each was re-sent (same request id)
  CHECK(took < 6s);  // detection (~1 s with the test profile) plus a refresh
  MESSAGE("calls to a killed owner answered by the survivor after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
}

TEST_CASE("client: a call to a host that leaves gracefully is answered there, not sent again") {
  // A leaving host finishes what it accepted; sending its calls to the next owner as well
  // would run them twice (the fault harness's S8 caught this as a double execution).
  temp_dir plugins;
  install_plugin(fixtures / "libfixture_probe.so", plugins.path());
  cluster_node a("a", {}, "probe", {}, nullptr, plugins.path());
  cluster_node b("b", {a.gossip()}, "probe", {}, nullptr, plugins.path());
  REQUIRE(wait_converged({&a, &b}, {"a", "b"}));
  const auto on_b = ids_owned_by(a, "probe", "b", 1, "slow");

  mc::options o;
  o.refresh_interval = 50ms;
  mc::client c({a.endpoint(), b.endpoint()}, o);
  REQUIRE(c.refresh().has_value());
  const auto nap = pack({{"op", "sleep"}, {"ms", 1500}});
  std::optional<tl::expected<mc::call_result, mc::error>> result;
  c.call_async({"probe", "Probe", on_b[0], mc::view_of(nap), std::nullopt, 8000ms},
               [&](tl::expected<mc::call_result, mc::error> r) { result = std::move(r); });
  const auto sent = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - sent < 300ms) c.poll(10ms);  // it reaches b
  REQUIRE_FALSE(result.has_value());
  b.process().signal(SIGTERM);
  REQUIRE(c.drain(10s));
  REQUIRE(result.has_value());
  REQUIRE_MESSAGE(result->has_value(), result->error().code << ": " << result->error().message);
  CHECK((*result)->actor.host == "b");
  CHECK(c.stats().refreshes >= 3);  // it did see the view change while the call ran
  // Never sent to a: nothing was activated there.
  const auto stats = a.c().control(mesh::wire::op::stats);
  REQUIRE(stats.ok);
  CHECK(stats.body["stats"]["actors"]["activations"] == 0);
}

TEST_CASE("client: a host that joins is learnt and its keys go to it") {
  cluster_node a("a", {}, "counter");
  mc::options o;
  o.refresh_interval = 100ms;
  mc::client c({a.endpoint()}, o);
  REQUIRE(c.refresh().has_value());
  CHECK(c.view().members.size() == 1);

  cluster_node b("b", {a.gossip()}, "counter");
  REQUIRE(wait_converged({&a, &b}, {"a", "b"}));
  const auto on_b = ids_owned_by(a, "counter", "b", 10, "j");
  // The client still believes in the old view: its first calls go to a, which forwards.
  auto first = c.call("counter", "Counter", on_b[0], pack({{"op", "get"}}));
  REQUIRE(first.has_value());
  CHECK(first->actor.host == "b");
  // The reply showed the view is stale; within a few refreshes the client routes to b itself.
  REQUIRE(wait_until(
      [&] {
        c.poll(50ms);
        auto r = c.call("counter", "Counter", on_b[1], pack({{"op", "get"}}));
        return r && c.owner_in_view(on_b[1], "counter") == std::optional<std::string>("b");
      },
      10s));
  const uint64_t direct_before = c.stats().direct;
  for (const auto& id : on_b) {
    auto r = c.call("counter", "Counter", id, pack({{"op", "get"}}));
    REQUIRE(r.has_value());
    CHECK(r->actor.host == "b");
  }
  CHECK(c.stats().direct - direct_before == on_b.size());
}

TEST_CASE("the client example program calls every example actor through a two-host cluster") {
  cluster_node a("a", {}, "game,chat");
  cluster_node b("b", {a.gossip()}, "game,payment");
  REQUIRE(wait_converged({&a, &b}, {"a", "b"}));
  temp_dir dir;
  child_process example({MESH_CLIENT_EXAMPLE_PATH, a.endpoint()}, dir / "out.txt");
  const auto status = example.wait(60s);
  const std::string out = read_file(dir / "out.txt");
  INFO(out);
  REQUIRE(status.has_value());
  CHECK(*status == 0);
  CHECK(out.find("\"duplicate\":true") != std::string::npos);  // the second credit, not applied
  CHECK(out.find("\"balance\":100") != std::string::npos);
  CHECK(out.find("2000 async calls, 0 failed") != std::string::npos);
  // Only the very first call, sent before the client had learnt the view, went through a host.
  CHECK(out.find("routed directly to the owner: 200") != std::string::npos);
  CHECK(out.find("through a host: 1\n") != std::string::npos);
}

TEST_CASE("a re-sent request with once runs once however often it arrives") {
  single_host h;
  client raw(h.host->endpoint());  // the tests' own encoder, not the client library
  auto info_calls = [&] {
    auto r = raw.call("probe", "Probe", "p", {{"op", "info"}});
    REQUIRE(r.ok);
    return r.body["calls"].get<int>();
  };
  // Twice back to back while the first still sleeps: both get the one reply.
  auto sleep = client::make(mesh::wire::op::call, "probe", "Probe", "p");
  sleep.once = true;
  sleep.retry = true;  // remembered: a re-send (or a forward), not a smart client's first try
  sleep.rid = 1'000'001;
  raw.send(sleep, json{{"op", "sleep"}, {"ms", 300}});
  raw.send(sleep, json{{"op", "sleep"}, {"ms", 300}});
  auto first = raw.expect(sleep.rid, 10s);
  auto second = raw.expect(sleep.rid, 10s);
  REQUIRE(first.ok);
  REQUIRE(second.ok);
  CHECK(first.body == json{{"slept", 300}});
  CHECK(second.body == first.body);
  CHECK(second.activation == first.activation);
  CHECK(info_calls() == 2);  // the sleep once, and this info

  // Later: the stored reply, without running.
  raw.send(sleep, json{{"op", "sleep"}, {"ms", 300}});
  auto later = raw.expect(sleep.rid, 10s);
  REQUIRE(later.ok);
  CHECK(later.body == first.body);
  CHECK(info_calls() == 3);

  // A repeated cast is acknowledged and not run.
  auto incr = client::make(mesh::wire::op::cast, "probe", "Probe", "p");
  incr.once = true;
  incr.retry = true;
  incr.rid = 1'000'002;
  for (int i = 0; i < 3; ++i) {
    raw.send(incr, json{{"op", "incr"}});
    CHECK(raw.expect(incr.rid, 10s).ok);
  }
  CHECK(info_calls() == 5);  // one incr, one more info

  // The same rid without once is an ordinary request each time.
  auto plain = client::make(mesh::wire::op::call, "probe", "Probe", "p");
  plain.rid = 1'000'001;
  raw.send(plain, json{{"op", "info"}});
  raw.expect(plain.rid, 10s);
  raw.send(plain, json{{"op", "info"}});
  raw.expect(plain.rid, 10s);
  CHECK(info_calls() == 8);

  // A first attempt sent straight to the owner is not remembered (nothing can repeat it there),
  // so that the smart client's fast path costs nothing.
  auto first_try = client::make(mesh::wire::op::call, "probe", "Probe", "p");
  first_try.once = true;
  first_try.rid = 1'000'003;
  raw.send(first_try, json{{"op", "info"}});
  raw.expect(first_try.rid, 10s);
  raw.send(first_try, json{{"op", "info"}});
  raw.expect(first_try.rid, 10s);
  CHECK(info_calls() == 11);
}
