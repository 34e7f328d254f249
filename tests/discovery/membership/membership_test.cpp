// The membership state machine with a stepped clock: no sockets, no sleeping.
#include <doctest/doctest.h>
#include <algorithm>
#include <limits>
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

/// Hosts that exchange gossip in memory; `cut` lists (receiver, sender) pairs that are cut.
/// With `seeds` set, a host hears another only as the sockets would let it: when it follows the
/// other's gossip endpoint (a seed or an endpoint membership gave it), or the other follows it
/// and sends upstream. Without `seeds`, everyone hears everyone.
struct cluster {
  std::map<std::string, membership> hosts;
  std::set<std::pair<std::string, std::string>> cut;
  std::map<std::string, std::set<std::string>> seeds;  ///< host -> names it follows from the start
  clock::time_point now = clock::time_point{} + 1h;

  void add(const member_record& r) { hosts.emplace(r.name, membership(r, failure_profile::test())); }

  bool follows(const std::string& x, const std::string& y) {
    if (seeds[x].count(y)) return true;
    const auto eps = hosts.at(x).peer_gossip_endpoints();
    return std::find(eps.begin(), eps.end(), hosts.at(y).self().gossip) != eps.end();
  }
  bool hears(const std::string& x, const std::string& y) {
    if (cut.count({x, y})) return false;
    return seeds.empty() || follows(x, y) || follows(y, x);
  }

  /// One heartbeat: everyone ticks and publishes; everyone alive receives. A `frozen` host
  /// (SIGSTOP, or no CPU) does not even tick: it neither speaks nor hears nor judges.
  void beat(const std::set<std::string>& silent = {}, const std::set<std::string>& frozen = {}) {
    now += 100ms;
    std::vector<gossip_message> sent;
    for (auto& [name, m] : hosts) {
      if (frozen.count(name)) continue;
      m.tick(now);
      if (!silent.count(name)) sent.push_back(m.make_gossip());
    }
    std::set<std::pair<std::string, std::string>> links;
    for (auto& [x, mx] : hosts)
      for (auto& [y, my] : hosts)
        if (x != y && hears(x, y)) links.insert({x, y});
    for (auto& [name, m] : hosts) {
      if (silent.count(name) || frozen.count(name)) continue;
      for (const auto& msg : sent)
        if (links.count({name, msg.from.name})) deliver(name, msg);
    }
  }
  /// Hands `msg` to `to` through the real codec, as on the wire.
  void deliver(const std::string& to, const gossip_message& msg) {
    const std::string bytes = encode_gossip(msg);
    auto decoded = decode_gossip(bytes.data(), bytes.size());
    REQUIRE(decoded);
    hosts.at(to).on_gossip(*decoded, now);
  }
  void beats(int n, const std::set<std::string>& silent = {},
             const std::set<std::string>& frozen = {}) {
    for (int i = 0; i < n; ++i) beat(silent, frozen);
  }
  /// Events of kind `k` that `name` has reported since the last call.
  size_t events_of(const std::string& name, membership_event::kind k) {
    size_t n = 0;
    for (const auto& e : hosts.at(name).take_events()) n += e.what == k;
    return n;
  }
  std::vector<std::string> view_of(const std::string& name) {
    std::vector<std::string> out;
    for (const auto& r : hosts.at(name).view().members) out.push_back(r.name);
    return out;
  }
  /// A message `from` sends now with `members` in place of its real digest: a forgery relayed by
  /// a live host (its own record is genuine, so the message is accepted as its).
  gossip_message relay(const std::string& from, std::vector<digest_entry> members) {
    gossip_message msg = hosts.at(from).make_gossip();
    msg.members = std::move(members);
    return msg;
  }
};

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("hosts that gossip converge on the same view, learning peers transitively") {
  cluster c;
  c.add(record("a", {"game"}));
  c.add(record("b", {"chat"}));
  c.add(record("c", {"game", "chat"}));
  c.seeds = {{"a", {"b"}}, {"c", {"b"}}};  // a and c first hear of each other through b
  c.beats(2);
  // b has named c to a: a follows c's gossip endpoint.
  CHECK(has(c.hosts.at("a").peer_gossip_endpoints(), c.hosts.at("c").self().gossip));
  c.beats(2);
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

TEST_CASE("a host restarted right after it left rejoins with its new incarnation") {
  cluster c;
  for (auto n : {"a", "b"}) c.add(record(n, {"game"}));
  c.beats(3);
  c.hosts.at("b").set_leaving();
  c.beat();
  REQUIRE(c.view_of("a") == std::vector<std::string>{"a"});
  c.hosts.erase("b");
  c.add(record("b", {"game"}, 2));
  c.beat();
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b"});
  c.beats(20);
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b"});
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

TEST_CASE("a third party cannot change another host's capabilities, endpoints or leaving flag") {
  cluster c;
  for (auto n : {"a", "b", "c"}) c.add(record(n, {"game"}));
  c.beats(3);
  const member_record real = c.hosts.at("c").self();
  member_record forged = real;
  forged.version = real.version + 5;
  forged.capabilities = {"game", "payment"};
  forged.endpoint = "tcp://127.0.0.1:9/forged";
  c.deliver("a", c.relay("b", {{forged, member_status::alive}}));
  forged.version += 1;
  forged.leaving = true;
  c.deliver("a", c.relay("b", {{forged, member_status::leaving}}));
  forged.incarnation += 1;  // a restart that never happened
  c.deliver("a", c.relay("b", {{forged, member_status::alive}}));
  const member_record* seen = c.hosts.at("a").view().find("c");
  REQUIRE(seen != nullptr);
  CHECK(seen->incarnation == real.incarnation);
  CHECK(seen->version == real.version);
  CHECK(seen->capabilities == real.capabilities);
  CHECK(seen->endpoint == real.endpoint);
  CHECK(c.hosts.at("a").view().hosts_with("payment").empty());
  c.beats(3);  // c's own gossip still rules
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b", "c"});
  CHECK(c.hosts.at("a").view().find("c")->version == real.version);
}

TEST_CASE("only the host itself changes its record, and every view follows") {
  cluster c;
  for (auto n : {"a", "b", "c"}) c.add(record(n, {"game"}));
  c.seeds = {{"a", {"b"}}, {"b", {"c"}}, {"c", {"a"}}};
  c.beats(4);
  c.hosts.at("c").set_capabilities({"game", "payment"});
  c.beat();
  CHECK(c.hosts.at("a").view().hosts_with("payment") == std::vector<std::string>{"c"});
  CHECK(c.hosts.at("b").view().hosts_with("payment") == std::vector<std::string>{"c"});
}

TEST_CASE("a third party cannot revive a dead host, only the host's own newer message can") {
  cluster c;
  for (auto n : {"a", "b", "c"}) c.add(record(n, {"game"}));
  c.beats(3);
  c.beats(12, {"c"});  // c frozen: declared dead
  REQUIRE(c.view_of("a") == std::vector<std::string>{"a", "b"});
  member_record claimed = c.hosts.at("c").self();
  claimed.version += 1;  // what a refutation would look like, said by b
  c.deliver("a", c.relay("b", {{claimed, member_status::alive}}));
  c.beat({"c"});
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b"});
  c.beats(3);  // c speaks again, hears it is dead and refutes itself
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("a suspicion alone does not remove a host that is heard, and the host refutes it") {
  cluster c;
  for (auto n : {"a", "b", "c"}) c.add(record(n, {"game"}));
  c.beats(3);
  const uint64_t before = c.hosts.at("c").self().version;
  for (int i = 0; i < 20; ++i) {
    const member_record about_c = c.hosts.at("a").view().find("c") != nullptr
                                      ? *c.hosts.at("a").view().find("c")
                                      : c.hosts.at("c").self();
    c.deliver("a", c.relay("b", {{about_c, member_status::dead}}));
    c.deliver("c", c.relay("b", {{c.hosts.at("c").self(), member_status::dead}}));
    c.beat();
    CHECK(c.view_of("a") == std::vector<std::string>{"a", "b", "c"});
  }
  CHECK(c.hosts.at("c").self().version > before);
}

TEST_CASE("a suspicion at the largest version or of another incarnation does not move a version") {
  cluster c;
  for (auto n : {"a", "b"}) c.add(record(n, {"game"}));
  c.beats(3);
  member_record about_a = c.hosts.at("a").self();
  const uint64_t before = about_a.version;
  about_a.version = std::numeric_limits<uint64_t>::max();  // a refutation would wrap to 0
  c.deliver("a", c.relay("b", {{about_a, member_status::dead}}));
  about_a.version = before;
  about_a.incarnation += 1;
  c.deliver("a", c.relay("b", {{about_a, member_status::suspect}}));
  CHECK(c.hosts.at("a").self().version == before);
  c.beats(3);
  CHECK(c.view_of("b") == std::vector<std::string>{"a", "b"});
}

TEST_CASE("a host whose name was used to push its version ahead steps past it and is heard again") {
  cluster c;
  for (auto n : {"a", "b", "c"}) c.add(record(n, {"game"}));
  c.beats(3);
  // A forger speaks as c with a far higher version: c's real messages now look old at a.
  gossip_message as_c = c.hosts.at("c").make_gossip();
  as_c.from.version += 1000;
  c.deliver("a", as_c);
  c.deliver("b", as_c);
  // a and b stop hearing c, suspect that version, c hears it and refutes past it.
  c.beats(15);
  CHECK(c.hosts.at("c").self().version > as_c.from.version);
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b", "c"});
  CHECK(c.hosts.at("a").view().find("c")->version == c.hosts.at("c").self().version);
}

TEST_CASE("replayed messages never regress a view") {
  cluster c;
  for (auto n : {"a", "b", "c"}) c.add(record(n, {"game"}));
  c.beats(3);
  const gossip_message b_old = c.hosts.at("b").make_gossip();  // names c's first incarnation
  const gossip_message first = c.hosts.at("c").make_gossip();
  c.hosts.at("c").set_capabilities({"game", "payment"});
  c.beats(2);
  const gossip_message second = c.hosts.at("c").make_gossip();
  c.beats(2);
  REQUIRE(c.hosts.at("a").view().hosts_with("payment") == std::vector<std::string>{"c"});
  // An older version of c: its capabilities do not come back.
  c.deliver("a", first);
  CHECK(c.hosts.at("a").view().hosts_with("payment") == std::vector<std::string>{"c"});
  CHECK(c.hosts.at("a").replays() >= 1);
  // An earlier message of c's current version, replayed while c is silent, is no sign of life:
  // c is still declared dead on time.
  for (int i = 0; i < 12; ++i) {
    c.beat({"c"});
    c.deliver("a", second);
  }
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b"});
  // c restarts with a higher incarnation; its old incarnation's messages change nothing.
  c.hosts.erase("c");
  c.add(record("c", {"chat"}, 2));
  c.beats(3);
  REQUIRE(c.view_of("a") == std::vector<std::string>{"a", "b", "c"});
  c.deliver("a", first);
  c.deliver("a", second);
  CHECK(c.hosts.at("a").view().find("c")->incarnation == 2);
  CHECK(c.hosts.at("a").view().hosts_with("game") == std::vector<std::string>{"a", "b"});
  // And a replay of b's earlier message does not bring c's old incarnation back either.
  const uint64_t epoch = c.hosts.at("a").view().epoch;
  c.deliver("a", b_old);
  CHECK(c.hosts.at("a").view().epoch == epoch);
}

TEST_CASE("a host only named by others is dropped once silent, and forgotten when no longer named") {
  cluster c;
  for (auto n : {"a", "b"}) c.add(record(n, {"game"}));
  c.beats(3);
  member_record ghost = record("ghost", {"game"});
  c.deliver("a", c.relay("b", {{ghost, member_status::alive}}));
  CHECK(has(c.hosts.at("a").peer_gossip_endpoints(), ghost.gossip));
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b", "ghost"});  // provisionally
  c.beats(12);  // never heard itself: dead without a second opinion
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b"});
  c.now += failure_profile::test().forget_after;
  c.beat();
  CHECK_FALSE(has(c.hosts.at("a").peer_gossip_endpoints(), ghost.gossip));
}

TEST_CASE("a relayed record of a host not yet heard is replaced whole by the host's own message") {
  cluster c;
  for (auto n : {"a", "b", "c"}) c.add(record(n, {"game"}));
  c.seeds = {{"a", {"b"}}, {"c", {"b"}}};
  c.beats(1);  // b has heard a and c; a has not heard c
  member_record forged = c.hosts.at("c").self();
  forged.incarnation += 99;
  forged.capabilities = {"payment"};
  c.deliver("a", c.relay("b", {{forged, member_status::alive}}));
  REQUIRE(c.hosts.at("a").view().find("c") != nullptr);
  c.beats(3);
  CHECK(c.hosts.at("a").view().find("c")->incarnation == 1);
  CHECK(c.hosts.at("a").view().hosts_with("game") == std::vector<std::string>{"a", "b", "c"});
  CHECK(c.hosts.at("a").view().hosts_with("payment").empty());
}

// Lifeguard's local health awareness (docs/CLUSTER.md "A busy host is not a dead host").

TEST_CASE("a host that did not run does not count its own pause as its peers' silence") {
  cluster c;
  for (auto n : {"a", "b", "c"}) c.add(record(n, {"game"}));
  c.beats(3);
  c.events_of("a", membership_event::suspected);
  c.beats(20, {}, {"a"});  // a is frozen for 2 s while b and c go on
  c.beat();                // a's first tick after the pause, then it hears them again
  CHECK(c.events_of("a", membership_event::suspected) == 0);
  // One point for the late tick, one for refuting b's and c's verdict that a was dead.
  CHECK(c.hosts.at("a").health_score() == 2);
  CHECK(c.hosts.at("a").suspect_timeout() == 3 * failure_profile::test().suspect_after);
  // A real death is still found, with the stretched timeouts.
  c.beats(40, {"c"});
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b"});
}

TEST_CASE("local health recovers one point per run of timely heartbeats") {
  cluster c;
  for (auto n : {"a", "b"}) c.add(record(n, {"game"}));
  c.beats(2);
  for (int i = 0; i < 3; ++i) {  // 300 ms without running: late, but nobody suspects a
    c.beats(2, {}, {"a"});
    c.beat();
  }
  CHECK(c.hosts.at("a").health_score() == 3);
  c.beats(failure_profile::test().health_recovery_beats - 1);
  CHECK(c.hosts.at("a").health_score() == 3);
  c.beat();
  CHECK(c.hosts.at("a").health_score() == 2);
  c.beats(2 * failure_profile::test().health_recovery_beats);
  CHECK(c.hosts.at("a").health_score() == 0);
  // Never past the largest multiplier.
  for (int i = 0; i < 20; ++i) {
    c.beats(2, {}, {"a"});
    c.beat();
  }
  CHECK(c.hosts.at("a").health_score() == failure_profile::test().max_health_multiplier - 1);
}

TEST_CASE("a host that has to refute a suspicion of itself lowers its own health") {
  cluster c;
  for (auto n : {"a", "b", "c"}) c.add(record(n, {"game"}));
  c.beats(3);
  CHECK(c.hosts.at("c").health_score() == 0);
  c.deliver("c", c.relay("b", {{c.hosts.at("c").self(), member_status::suspect}}));
  CHECK(c.hosts.at("c").health_score() == 1);
  CHECK(c.events_of("c", membership_event::refuted) == 1);
}

TEST_CASE("a starved host neither accuses a briefly silent peer nor confirms another's accusation") {
  cluster c;
  for (auto n : {"a", "b", "c"}) c.add(record(n, {"game"}));
  c.beats(3);
  for (int i = 0; i < 3; ++i) {  // a runs late three times: its timeouts are 4x
    c.beats(2, {}, {"a"});
    c.beat();
  }
  REQUIRE(c.hosts.at("a").health_score() == 3);
  // c is silent for 1 s: past b's dead_after (0.8 s) but within a's stretched suspect_after
  // (1.4 s). b needs a second opinion, and a gives none: nobody declares c dead.
  c.beats(10, {"c"});
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b", "c"});
  CHECK(c.view_of("b") == std::vector<std::string>{"a", "b", "c"});
  c.beats(2);
  CHECK(c.events_of("b", membership_event::died) == 0);
}

TEST_CASE("a suspicion lasts longer while few of the hosts that could confirm it have") {
  const failure_profile p = failure_profile::test();
  membership m(record("a", {"game"}), p);
  CHECK(m.dead_timeout(0, 0) == p.dead_after);       // nobody could confirm: dead_after
  CHECK(m.dead_timeout(1, 1) == p.dead_after);       // three hosts: the one other confirmed
  CHECK(m.dead_timeout(3, 3) == p.dead_after);       // all confirmed
  // 2x - log 2 / log 4 x (2x - x) = 1.5x
  CHECK(std::chrono::abs(m.dead_timeout(1, 3) - p.dead_after * 3 / 2) < 1ms);
  CHECK(m.dead_timeout(2, 3) > m.dead_timeout(3, 3));
  CHECK(m.dead_timeout(1, 3) > m.dead_timeout(2, 3));

  // Five hosts; only a and b cannot hear e (c and d can): a and b confirm each other, but of
  // three possible confirmations they have one, so e gets 1.5 x dead_after to be heard.
  cluster c;
  for (auto n : {"a", "b", "c", "d", "e"}) c.add(record(n, {"game"}));
  c.beats(3);
  c.cut = {{"a", "e"}, {"b", "e"}};
  c.beats(11);  // 1.1 s: past dead_after, within 1.5 x
  CHECK(c.view_of("a").size() == 5);
  c.beats(6);  // 1.7 s
  CHECK(c.view_of("a") == std::vector<std::string>{"a", "b", "c", "d"});
}
