// The control operations, in memory: each op's reply as a single host, and that an op without a
// handler of its own is answered rather than crashing.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "server/control_ops.hpp"
#include <mesh/wire/shard.hpp>

using namespace mesh::host;
using json = nlohmann::json;
namespace wire = mesh::wire;

namespace {

struct single_host {
  host_config config;
  std::string endpoint = "inproc://solo";
  module_table modules{std::nullopt};
  host_counters stats;
  cluster_view cluster{config, stats};
  int announced = 0;
  control_ops ops{control_ops::context{config, endpoint, modules, cluster,
                                       [] {
                                         stats_snapshot s;
                                         s.host = "solo";
                                         s.uptime_ms = 1234;
                                         return s;
                                       },
                                       [this] { ++announced; }}};
  wire::buffer out;

  single_host() {
    config.name = "solo";
    config.shards = 64;
  }
  /// Answers `req`; returns the decoded reply and sets `outcome`.
  json ask(const wire::request& req, size_t& outcome) {
    outcome = ops.handle(req, out);
    return json::from_msgpack(out.data(), out.data() + out.size());
  }
  json ask(const wire::request& req) {
    size_t outcome = 0;
    return ask(req, outcome);
  }
};

wire::request make(wire::op kind, uint64_t rid) {
  wire::request req;
  req.kind = kind;
  req.rid = rid;
  return req;
}

}  // namespace

TEST_SUITE("control_ops") {
  TEST_CASE("ping answers the host's name and shard count") {
    single_host h;
    size_t outcome = 99;
    const json r = h.ask(make(wire::op::ping, 1), outcome);
    CHECK(outcome == outcome_ok);
    CHECK(r["rid"] == 1);
    CHECK(r["ok"] == true);
    CHECK(r["host"] == "solo");
    CHECK(r["shards"] == 64);
  }

  TEST_CASE("shard answers the shard the id hashes to") {
    single_host h;
    wire::request req = make(wire::op::shard, 2);
    const std::string id = "some-key";
    req.id = wire::bytes_view{reinterpret_cast<const uint8_t*>(id.data()), id.size()};
    const json r = h.ask(req);
    CHECK(r["shard"] == wire::shard_for(req.id, 64));
    CHECK(r["shards"] == 64);
  }

  TEST_CASE("the owner of a capability nobody serves is unknown_capability") {
    single_host h;
    wire::request req = make(wire::op::owner, 3);
    req.capability = "nobody";
    size_t outcome = 0;
    const json r = h.ask(req, outcome);
    CHECK(outcome == outcome_of(wire::error_code::unknown_capability));
    CHECK(r["ok"] == false);
    CHECK(r["error"]["code"] == "unknown_capability");
  }

  TEST_CASE("register_capabilities serves them, owns their keys here and announces the change") {
    single_host h;
    wire::request req = make(wire::op::register_capabilities, 4);
    req.capabilities = {"extra"};
    const json r = h.ask(req);
    CHECK(r["caps"] == json::array({"extra"}));
    CHECK(h.announced == 1);
    wire::request owner = make(wire::op::owner, 5);
    owner.capability = "extra";
    const json o = h.ask(owner);
    CHECK(o["owner"] == "solo");
    CHECK(o["endpoint"] == "inproc://solo");
    wire::request nodes = make(wire::op::nodes_for, 6);
    nodes.capability = "extra";
    CHECK(h.ask(nodes)["nodes"] == json::array({"solo"}));
  }

  TEST_CASE("members of a single host lists just itself under the default strategy") {
    single_host h;
    const json r = h.ask(make(wire::op::members, 7));
    CHECK(r["epoch"] == 0);
    CHECK(r["strategy"] == "rendezvous");
    REQUIRE(r["members"].size() == 1);
    CHECK(r["members"][0]["name"] == "solo");
    CHECK(r["members"][0]["self"] == true);
  }

  TEST_CASE("stats answers from the server's snapshot") {
    single_host h;
    const json r = h.ask(make(wire::op::stats, 8));
    CHECK(r["host"] == "solo");
    CHECK(r["uptime_ms"] == 1234);
    CHECK(r.contains("stats"));
  }

  TEST_CASE("actors pages an empty host and refuses a cursor it did not return") {
    single_host h;
    const json r = h.ask(make(wire::op::actors, 9));
    CHECK(r["actors"].empty());
    CHECK(r["host"] == "solo");  // whose actors these are
    CHECK(r["total"] == 0);
    CHECK(r["next"].is_null());
    wire::request bad = make(wire::op::actors, 10);
    const uint8_t cursor[] = {0, 0};
    bad.after = wire::bytes_view{cursor, sizeof cursor};
    size_t outcome = 0;
    CHECK(h.ask(bad, outcome)["error"]["code"] == "bad_request");
    CHECK(outcome == outcome_of(wire::error_code::bad_request));
  }

  TEST_CASE("an actor op that reaches the control table is answered internal, not run") {
    single_host h;
    size_t outcome = 0;
    const json r = h.ask(make(wire::op::call, 11), outcome);
    CHECK(outcome == outcome_of(wire::error_code::internal));
    CHECK(r["error"]["code"] == "internal");
  }

  TEST_CASE("capabilities lists what this host serves, which is the cluster's without a cluster") {
    single_host h;
    wire::request reg = make(wire::op::register_capabilities, 12);
    reg.capabilities = {"a", "b"};
    h.ask(reg);
    const json r = h.ask(make(wire::op::capabilities, 13));
    CHECK(r["host"] == "solo");
    CHECK(r["caps"] == json::array({"a", "b"}));
    CHECK(r["cluster_caps"] == r["caps"]);
    CHECK(r["modules"].empty());
  }
}
