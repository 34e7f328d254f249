// The membership state machine with a stepped clock: no sockets, no sleeping.
#include <doctest/doctest.h>
#include <mesh/discovery/membership.hpp>

using namespace mesh::discovery;
using namespace std::chrono_literals;

namespace {

member_record record(const std::string& name, std::vector<std::string> caps,
                     uint64_t incarnation = 1) {
  member_record r;
  r.name = name;
  r.incarnation = incarnation;
  r.version = 1;
  r.endpoint = "tcp://127.0.0.1:1/" + name;
  r.gossip = "tcp://127.0.0.1:2/" + name;
  r.capabilities = std::move(caps);
  r.shards = 4096;
  r.strategy = "rendezvous";
  return r;
}

/// Hosts that exchange gossip in memory; `deaf` lists (receiver, sender) pairs that are cut.
struct cluster {
  std::map<std::string, membership> hosts;
  std::set<std::pair<std::string, std::string>> cut;
  clock::time_point now = clock::time_point{} + 1h;

  void add(const member_record& r) { hosts.emplace(r.name, membership(r, failure_profile::test())); }

  /// One heartbeat: everyone ticks and publishes; everyone alive receives.
  void beat(const std::set<std::string>& silent = {}) {
    now += 100ms;
    std::vector<gossip_message> sent;
    for (auto& [name, m] : hosts) {
      m.tick(now);
      if (!silent.count(name)) sent.push_back(m.make_gossip());
    }
    for (auto& [name, m] : hosts) {
      if (silent.count(name)) continue;
      for (const auto& msg : sent)
        if (!cut.count({name, msg.from.name})) {
          // Through the real codec, as on the wire.
          auto decoded = decode_gossip(encode_gossip(msg).data(), encode_gossip(msg).size());
          REQUIRE(decoded);
          m.on_gossip(*decoded, now);
        }
    }
  }
  void beats(int n, const std::set<std::string>& silent = {}) {
    for (int i = 0; i < n; ++i) beat(silent);
  }
  std::vector<std::string> view_of(const std::string& name) {
    std::vector<std::string> out;
    for (const auto& r : hosts.at(name).view().members) out.push_back(r.name);
    return out;
  }
};

}  // namespace

TEST_CASE("hosts that gossip converge on the same view, learning peers transitively") {
  cluster c;
  c.add(record("a", {"game"}));
  c.add(record("b", {"chat"}));
  c.add(record("c", {"game", "chat"}));
  c.cut = {{"a", "c"}, {"c", "a"}};  // a and c only hear of each other through b
  c.beats(3);
  const std::vector<std::string> all = {"a", "b", "c"};
  CHECK(c.view_of("a") == all);
  CHECK(c.view_of("b") == all);
  CHECK(c.view_of("c") == all);
  CHECK(c.hosts.at("a").view().epoch == c.hosts.at("c").view().epoch);
  CHECK(c.hosts.at("a").view().hosts_with("game") == std::vector<std::string>{"a", "c"});
}

TEST_CASE("a silent host is suspected, then declared dead once a second host confirms") {
  cluster c;
  for (auto n : {"a", "b", "c"}) c.add(record(n, {"game"}));
  c.beats(3);
  c.beats(4, {"c"});  // 400 ms of silence: suspected, still in the view
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b", "c"});
  c.beats(6, {"c"});  // past dead_after, and b confirms
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b"});
  CHECK(c.view_of("b") == std::vector<std::string>{"a", "b"});
}

TEST_CASE("one host that cannot hear another does not kill it alone") {
  cluster c;
  for (auto n : {"a", "b", "c"}) c.add(record(n, {"game"}));
  c.beats(3);
  c.cut = {{"a", "c"}};  // a is deaf to c; b still hears c
  c.beats(30);
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b", "c"});
  CHECK(c.view_of("b") == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("in a cluster of two, silence alone is enough to declare death") {
  cluster c;
  for (auto n : {"a", "b"}) c.add(record(n, {"game"}));
  c.beats(3);
  c.beats(10, {"b"});
  CHECK(c.view_of("a") == std::vector<std::string>{"a"});
}

TEST_CASE("a host declared dead refutes with a higher version when it speaks again") {
  cluster c;
  for (auto n : {"a", "b", "c"}) c.add(record(n, {"game"}));
  c.beats(3);
  c.beats(12, {"c"});  // c frozen: declared dead
  REQUIRE(c.view_of("a") == std::vector<std::string>{"a", "b"});
  const uint64_t before = c.hosts.at("c").self().version;
  c.beats(3);  // c resumes, hears it is dead, refutes
  CHECK(c.hosts.at("c").self().version > before);
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("a restarted host with a higher incarnation replaces its dead self") {
  cluster c;
  for (auto n : {"a", "b"}) c.add(record(n, {"game"}));
  c.beats(3);
  c.hosts.erase("b");
  c.beats(10);
  REQUIRE(c.view_of("a") == std::vector<std::string>{"a"});
  c.add(record("b", {"game", "chat"}, 2));
  c.beats(3);
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b"});
  CHECK(c.hosts.at("a").view().find("b")->incarnation == 2);
  CHECK(c.hosts.at("a").view().hosts_with("chat") == std::vector<std::string>{"b"});
}

TEST_CASE("a leaving host leaves every view at once, without waiting for failure detection") {
  cluster c;
  for (auto n : {"a", "b", "c"}) c.add(record(n, {"game"}));
  c.beats(3);
  c.hosts.at("c").set_leaving();
  c.beat();
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b"});
  CHECK(c.view_of("c") == std::vector<std::string>{"a", "b"});
}

TEST_CASE("new capabilities are gossiped and change the view's epoch") {
  cluster c;
  for (auto n : {"a", "b"}) c.add(record(n, {"game"}));
  c.beats(3);
  const uint64_t epoch = c.hosts.at("a").view().epoch;
  c.hosts.at("b").set_capabilities({"game", "payment"});
  c.beat();
  CHECK(c.hosts.at("a").view().hosts_with("payment") == std::vector<std::string>{"b"});
  CHECK(c.hosts.at("a").view().epoch != epoch);
  CHECK(c.hosts.at("a").view().epoch == c.hosts.at("b").view().epoch);
}

TEST_CASE("a host with another shard count or strategy is refused, and says why") {
  cluster c;
  c.add(record("a", {"game"}));
  auto odd = record("b", {"game"});
  odd.shards = 128;
  c.add(odd);
  c.beats(3);
  CHECK(c.view_of("a") == std::vector<std::string>{"a"});
  bool refused = false;
  for (const auto& e : c.hosts.at("a").take_events())
    if (e.what == membership_event::refused && e.name == "b" &&
        e.detail == "shard count 128 differs from ours (4096)")
      refused = true;
  CHECK(refused);
}

TEST_CASE("stale gossip about a dead host cannot bring it back") {
  cluster c;
  for (auto n : {"a", "b", "c"}) c.add(record(n, {"game"}));
  c.beats(3);
  const gossip_message old_from_c = c.hosts.at("c").make_gossip();
  c.hosts.erase("c");
  c.beats(12);
  REQUIRE(c.view_of("a") == std::vector<std::string>{"a", "b"});
  // A replay of c's last message about b (and about itself, relayed) changes nothing.
  gossip_message relay = c.hosts.at("b").make_gossip();
  relay.members.push_back({old_from_c.from, member_status::alive});
  c.hosts.at("a").on_gossip(relay, c.now);
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b"});
}

TEST_CASE("malformed gossip is refused with a reason, never a crash") {
  CHECK_FALSE(decode_gossip("", 0));
  const std::string garbage = "\xc1\xc1\xc1";
  CHECK_FALSE(decode_gossip(garbage.data(), garbage.size()));
  const std::string huge = "\xdd\xff\xff\xff\xff";
  CHECK_FALSE(decode_gossip(huge.data(), huge.size()));
  const std::string not_map = "\x93\x01\x02\x03";
  CHECK(decode_gossip(not_map.data(), not_map.size()).error() == "not a map");
  gossip_message ok;
  ok.from = record("a", {"x"});
  const std::string bytes = encode_gossip(ok);
  auto back = decode_gossip(bytes.data(), bytes.size());
  REQUIRE(back);
  CHECK(back->from.name == "a");
  CHECK(back->from.capabilities == std::vector<std::string>{"x"});
}
