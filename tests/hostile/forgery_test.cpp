// S16 of RELIABILITY.md: a forger on the gossip sockets of two real meshd hosts. It joins as a
// host of its own (that serves nothing) and says, about another live host, that it left, that its
// capabilities and endpoint changed, that it restarted, that it is dead; it replays that host's
// old messages. No view regresses, routing does not change and the real host stays listed.
#include <doctest/doctest.h>

#include <limits>
#include <mesh/discovery/member.hpp>

#include "cluster_support.hpp"

using namespace mesh::test;
namespace disc = mesh::discovery;

namespace {

/// node2 as `via` lists it: status, record fields; throws when it is missing.
json member(cluster_node& via, const std::string& name) {
  const json envelope = via.members();
  for (const auto& m : envelope["members"])
    if (m["name"] == name) return m;
  throw std::runtime_error(name + " missing from " + via.name() + "'s members: " + envelope.dump());
}

}  // namespace

TEST_CASE("a forger cannot speak for another host, and replays change no view") {
  zmq::context_t ctx(1);
  cluster_node node1{"node1", {}};
  cluster_node node2{"node2", {node1.gossip()}};
  std::vector<cluster_node*> both{&node1, &node2};
  REQUIRE(wait_converged(both, {"node1", "node2"}));

  // Listen to node2 as any peer may, and keep a few of its messages to replay.
  zmq::socket_t tap(ctx, zmq::socket_type::sub);
  tap.set(zmq::sockopt::linger, 0);
  tap.set(zmq::sockopt::subscribe, "");
  tap.set(zmq::sockopt::rcvtimeo, 5000);
  tap.connect(node2.gossip());
  std::vector<std::string> old_messages;
  disc::member_record real;
  while (old_messages.size() < 3) {
    zmq::message_t msg;
    REQUIRE(tap.recv(msg));
    auto decoded = disc::decode_gossip(msg.data(), msg.size());
    REQUIRE(decoded);
    real = decoded->from;
    old_messages.push_back(msg.to_string());
  }
  tap.close();
  REQUIRE(real.name == "node2");

  const json before = member(node1, "node2");
  const std::vector<std::string> keys = {"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7"};
  std::map<std::string, std::string> owners;
  for (const auto& k : keys) owners[k] = node1.owner("counter", k);
  REQUIRE(std::count_if(owners.begin(), owners.end(),
                        [](const auto& kv) { return kv.second == "node2"; }) > 0);

  // The forger's own record: compatible, serving nothing, with no gossip endpoint to follow.
  disc::gossip_message forged;
  forged.from.name = "forger";
  forged.from.incarnation = 1;
  forged.from.version = 1;
  forged.from.endpoint = "tcp://127.0.0.1:9";
  forged.from.shards = real.shards;
  forged.from.strategy = real.strategy;
  disc::member_record left = real, recapped = real, restarted = real, about_node1;
  left.version += 1;
  left.leaving = true;
  recapped.version += 2;
  recapped.capabilities = {"payment"};
  recapped.endpoint = "tcp://127.0.0.1:9";
  restarted.incarnation += 1;
  restarted.capabilities = {};
  about_node1.name = "node1";
  about_node1.incarnation = member(node1, "node1")["incarnation"].get<uint64_t>();
  about_node1.version = std::numeric_limits<uint64_t>::max();
  about_node1.shards = real.shards;
  about_node1.strategy = real.strategy;
  forged.members = {{left, disc::member_status::leaving},
                    {recapped, disc::member_status::alive},
                    {real, disc::member_status::dead},
                    {restarted, disc::member_status::alive},
                    {about_node1, disc::member_status::dead}};

  // Upstream into node1's gossip socket, as a host that follows node1 would send.
  zmq::socket_t up(ctx, zmq::socket_type::xsub);
  up.set(zmq::sockopt::linger, 0);
  up.connect(node1.gossip());

  load_loop load(node1.endpoint(), "counter", "Counter", keys, {{"op", "incr"}});
  const auto end = std::chrono::steady_clock::now() + 3s;
  int checks = 0;
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 10; ++i) {
      ++forged.seq;
      const std::string bytes = disc::encode_gossip(forged);
      up.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
      for (const auto& old : old_messages) up.send(zmq::buffer(old), zmq::send_flags::dontwait);
      std::this_thread::sleep_for(20ms);
    }
    const json now = member(node1, "node2");
    CHECK(now["status"] == "alive");
    CHECK(now["incarnation"] == before["incarnation"]);
    CHECK(now["caps"] == before["caps"]);
    CHECK(now["endpoint"] == before["endpoint"]);
    ++checks;
  }
  load.stop();
  CHECK(checks >= 5);
  CHECK(load.calls() > 0);
  CHECK_MESSAGE(load.failures() == 0, load.first_failure());
  CHECK(node1.log().find("member joined: forger") != std::string::npos);
  CHECK(node1.log().find("replayed gossip message ignored") != std::string::npos);
  // node1 did not follow a suspicion of a version it never had.
  CHECK(member(node1, "node1")["version"].get<uint64_t>() < 1000);
  for (const auto& k : keys) CHECK(node1.owner("counter", k) == owners[k]);
  CHECK(node2.with_status(node2.members(), "alive").count("node1") == 1);
  CHECK(member(node2, "node2")["version"] == before["version"]);  // nothing reached it to refute
}
