// Every example actor (plugins/) through a real meshd serving the build's example plugin
// directory, over real sockets on 127.0.0.1; and the examples that use the host services
// (fan-out, answer later, timers, transfers) across a three-host cluster.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <thread>

#include "cluster_support.hpp"

using namespace mesh::test;
using mesh::wire::op;

namespace {

/// A host serving MESH_EXAMPLE_PLUGIN_DIR as built, and a client connected to it.
struct examples_host {
  meshd_process host{MESH_EXAMPLE_PLUGIN_DIR};
  client c{host.endpoint()};
};

/// The host-services counters of the host `c` talks to.
json services_stats(client& c) {
  auto r = c.control(op::stats);
  REQUIRE(r.ok);
  return r.body["stats"]["services"];
}

/// Player `player`'s inbox (the last 100 messages) as the host `c` talks to serves it.
json inbox_of(client& c, const std::string& player) {
  auto r = c.call("chat", "PlayerActor", player, {{"action", "inbox"}, {"last", 100}});
  REQUIRE(r.ok);
  return r.body;
}

/// A GameActor world's state.
json world_state(client& c, const std::string& world) {
  auto r = c.call("game", "GameActor", world, {{"action", "state"}});
  REQUIRE(r.ok);
  return r.body;
}

int64_t balance_of(client& c, const std::string& account) {
  auto r = c.call("payment", "PaymentActor", account, {{"action", "balance"}});
  REQUIRE(r.ok);
  return r.body["balance"].get<int64_t>();
}

json transfer(const std::string& to, int64_t amount, const std::string& request_id) {
  return {{"action", "transfer"}, {"to", to}, {"amount", amount}, {"request_id", request_id}};
}

}  // namespace

TEST_CASE("the example plugin directory provides every example module") {
  examples_host h;
  auto caps = h.c.control(op::capabilities);
  REQUIRE(caps.ok);
  for (const char* cap : {"bench", "chat", "counter", "game", "payment"}) {
    INFO(cap);
    CHECK(std::find(caps.body["caps"].begin(), caps.body["caps"].end(), cap) !=
          caps.body["caps"].end());
  }
  auto has_module = [&](const std::string& mod, const std::string& cap, const std::string& file) {
    for (const auto& m : caps.body["modules"])
      if (m["mod"] == mod) return m["cap"] == cap && m["plugin"] == file;
    return false;
  };
  CHECK(has_module("Counter", "counter", "libmesh_counter.so"));
  CHECK(has_module("Echo", "bench", "libmesh_echo.so"));
  CHECK(has_module("GameActor", "game", "libmesh_examples.so"));
  CHECK(has_module("ChatActor", "chat", "libmesh_examples.so"));
  CHECK(has_module("PaymentActor", "payment", "libmesh_examples.so"));
}

// Counter -----------------------------------------------------------------------------------

TEST_CASE("Counter starts from its init start, increments by one or by N, and answers get") {
  examples_host h;
  auto first = h.c.call("counter", "Counter", "c", {{"op", "incr"}}, json{{"start", 10}});
  REQUIRE(first.ok);
  CHECK(first.module == "Counter");
  CHECK(first.id == "c");
  CHECK(first.body == json{{"count", 11}});
  auto by = h.c.call("counter", "Counter", "c", {{"op", "incr"}, {"by", 5}});
  CHECK(by.body == json{{"count", 16}});
  auto down = h.c.call("counter", "Counter", "c", {{"op", "incr"}, {"by", -20}});
  CHECK(down.body == json{{"count", -4}});
  auto get = h.c.call("counter", "Counter", "c", {{"op", "get"}}, json{{"start", 99}});
  CHECK(get.body == json{{"count", -4}});  // init only counts on activation
  CHECK(get.activation == first.activation);
  // Another id is another counter, starting at 0 without init.
  CHECK(h.c.call("counter", "Counter", "other", {{"op", "get"}}).body == json{{"count", 0}});
}

TEST_CASE("Counter casts are applied like calls") {
  examples_host h;
  REQUIRE(h.c.cast("counter", "Counter", "k", {{"op", "incr"}, {"by", 3}}).ok);
  REQUIRE(h.c.cast("counter", "Counter", "k", {{"op", "incr"}}).ok);
  CHECK(h.c.call("counter", "Counter", "k", {{"op", "get"}}).body == json{{"count", 4}});
}

TEST_CASE("Counter crash discards the activation and the next call starts over") {
  examples_host h;
  auto before = h.c.call("counter", "Counter", "c", {{"op", "incr"}, {"by", 7}});
  REQUIRE(before.body == json{{"count", 7}});
  auto crash = h.c.call("counter", "Counter", "c", {{"op", "crash"}});
  CHECK_FALSE(crash.ok);
  CHECK(crash.code == "actor_error");
  auto after = h.c.call("counter", "Counter", "c", {{"op", "get"}}, json{{"start", 2}});
  REQUIRE(after.ok);
  CHECK(after.activation != before.activation);
  CHECK(after.body == json{{"count", 2}});
}

TEST_CASE("Counter rejects an unknown op and keeps its state") {
  examples_host h;
  auto before = h.c.call("counter", "Counter", "c", {{"op", "incr"}, {"by", 3}});
  auto bad = h.c.call("counter", "Counter", "c", {{"op", "decr"}});
  CHECK_FALSE(bad.ok);
  CHECK(bad.code == "rejected");
  CHECK(bad.message.find("decr") != std::string::npos);
  auto after = h.c.call("counter", "Counter", "c", {{"op", "get"}});
  CHECK(after.activation == before.activation);
  CHECK(after.body == json{{"count", 3}});
}

TEST_CASE("Counter rejects an overflowing incr and keeps its count") {
  examples_host h;
  auto before = h.c.call("counter", "Counter", "c", {{"op", "incr"}, {"by", 3}});
  auto overflow = h.c.call("counter", "Counter", "c",
                           {{"op", "incr"}, {"by", std::numeric_limits<int64_t>::max()}});
  CHECK(overflow.code == "rejected");
  CHECK(overflow.message.find("overflow") != std::string::npos);
  auto after = h.c.call("counter", "Counter", "c", {{"op", "get"}});
  CHECK(after.activation == before.activation);
  CHECK(after.body == json{{"count", 3}});
}

// GameActor ---------------------------------------------------------------------------------

TEST_CASE("GameActor moves, scores, levels up from its init level and reports its state") {
  examples_host h;
  auto moved = h.c.call("game", "GameActor", "player_1", {{"action", "move"}, {"x", 1}, {"y", 2}},
                        json{{"level", 3}});
  REQUIRE(moved.ok);
  CHECK(moved.body ==
        json{{"player", "player_1"}, {"x", 1}, {"y", 2}, {"score", 0}, {"level", 3}});
  auto scored = h.c.call("game", "GameActor", "player_1", {{"action", "score"}, {"points", 250}});
  CHECK(scored.body ==
        json{{"player", "player_1"}, {"x", 1}, {"y", 2}, {"score", 250}, {"level", 5}});
  auto moved2 = h.c.call("game", "GameActor", "player_1",
                         {{"action", "move"}, {"x", -3.5}, {"y", 0.25}});
  CHECK(moved2.body["x"] == -3.5);
  CHECK(moved2.body["y"] == 0.25);
  auto lost = h.c.call("game", "GameActor", "player_1", {{"action", "score"}, {"points", -1000}});
  CHECK(lost.body["score"] == 0);  // never below zero
  CHECK(lost.body["level"] == 3);
  auto got = h.c.call("game", "GameActor", "player_1", {{"action", "get"}});
  CHECK(got.body ==
        json{{"player", "player_1"}, {"x", -3.5}, {"y", 0.25}, {"score", 0}, {"level", 3}});
  CHECK(got.activation == moved.activation);
  // Without init, a player starts at level 1.
  CHECK(h.c.call("game", "GameActor", "p2", {{"action", "get"}}).body["level"] == 1);
}

TEST_CASE("GameActor refuses bad requests and a bad init level") {
  examples_host h;
  auto no_y = h.c.call("game", "GameActor", "p", {{"action", "move"}, {"x", 1}});
  CHECK(no_y.code == "rejected");
  CHECK(no_y.message.find("y") != std::string::npos);
  CHECK(h.c.call("game", "GameActor", "p", {{"action", "score"}}).code == "rejected");
  CHECK(h.c.call("game", "GameActor", "p", {{"action", "fly"}}).code == "rejected");
  CHECK(h.c.call("game", "GameActor", "p", {{"action", "get"}}).body["x"] == 0);
  auto bad_level =
      h.c.call("game", "GameActor", "q", {{"action", "get"}}, json{{"level", 0}});
  CHECK(bad_level.code == "activation_failed");
  auto good_level =
      h.c.call("game", "GameActor", "q", {{"action", "get"}}, json{{"level", 1000000}});
  REQUIRE(good_level.ok);
  CHECK(good_level.body["level"] == 1000000);
}

TEST_CASE("GameActor crash loses the player's state") {
  examples_host h;
  auto before = h.c.call("game", "GameActor", "p", {{"action", "score"}, {"points", 40}},
                         json{{"level", 2}});
  REQUIRE(before.body["score"] == 40);
  auto crash = h.c.call("game", "GameActor", "p", {{"action", "crash"}});
  CHECK(crash.code == "actor_error");
  auto after = h.c.call("game", "GameActor", "p", {{"action", "get"}});
  REQUIRE(after.ok);
  CHECK(after.activation != before.activation);
  CHECK(after.body == json{{"player", "p"}, {"x", 0}, {"y", 0}, {"score", 0}, {"level", 1}});
}

TEST_CASE("GameActor world ticks on its timer, moves its players by their velocity, and pause "
          "and resume stop and restart it") {
  examples_host h;
  auto spawned = h.c.call("game", "GameActor", "w",
                          {{"action", "spawn"}, {"player", "p1"}, {"x", 0}, {"y", 0},
                           {"vx", 1}, {"vy", 2}});
  REQUIRE(spawned.ok);
  CHECK(spawned.body == json{{"world", "w"}, {"tick", 0}, {"running", false}, {"period_ms", 100},
                             {"players", {{"p1", {{"x", 0}, {"y", 0}, {"vx", 1}, {"vy", 2}}}}}});
  REQUIRE(h.c.call("game", "GameActor", "w",
                   {{"action", "spawn"}, {"player", "p2"}, {"x", 10}, {"y", -4}, {"vx", -0.5}})
              .ok);
  // Not started: nothing moves.
  std::this_thread::sleep_for(150ms);
  CHECK(world_state(h.c, "w")["tick"] == 0);
  auto started = h.c.call("game", "GameActor", "w", {{"action", "start"}, {"period_ms", 50}});
  REQUIRE(started.ok);
  CHECK(started.body["running"] == true);
  CHECK(started.body["period_ms"] == 50);
  // Every 50 ms: at least 5 ticks within 3 s even on a loaded machine (20 would be on time).
  json state;
  CHECK(wait_until([&] { return (state = world_state(h.c, "w"))["tick"] >= 5; }, 3s));
  // The positions are exactly start + ticks * velocity (integers and halves: exact in double).
  const auto moved_by = [](const json& s) {
    const double t = s["tick"].get<double>();
    CHECK(s["players"]["p1"]["x"] == t);
    CHECK(s["players"]["p1"]["y"] == 2 * t);
    CHECK(s["players"]["p2"]["x"] == 10 - 0.5 * t);
    CHECK(s["players"]["p2"]["y"] == -4);
  };
  moved_by(state);
  auto paused = h.c.call("game", "GameActor", "w", {{"action", "pause"}});
  REQUIRE(paused.ok);
  CHECK(paused.body["running"] == false);
  const int64_t at_pause = paused.body["tick"];
  CHECK(at_pause >= 5);
  moved_by(paused.body);
  // A cancelled timer fires no more: the count stays where the pause left it.
  std::this_thread::sleep_for(400ms);
  CHECK(world_state(h.c, "w")["tick"] == at_pause);
  CHECK(h.c.call("game", "GameActor", "w", {{"action", "pause"}}).body["tick"] == at_pause);
  auto resumed = h.c.call("game", "GameActor", "w", {{"action", "resume"}});
  CHECK(resumed.body["running"] == true);
  CHECK(resumed.body["period_ms"] == 50);
  CHECK(wait_until([&] { return (state = world_state(h.c, "w"))["tick"] >= at_pause + 3; }, 3s));
  moved_by(state);
  // The player side of the same actor is untouched by the world.
  CHECK(h.c.call("game", "GameActor", "w", {{"action", "get"}}).body ==
        json{{"player", "w"}, {"x", 0}, {"y", 0}, {"score", 0}, {"level", 1}});
  CHECK(services_stats(h.c)["timers_armed"] == 1);
  REQUIRE(h.c.call("game", "GameActor", "w", {{"action", "pause"}}).ok);
  CHECK(services_stats(h.c)["timers_armed"] == 0);
}

TEST_CASE("GameActor world refuses bad spawns and periods, and its timer dies with a crash") {
  examples_host h;
  CHECK(h.c.call("game", "GameActor", "w", {{"action", "start"}, {"period_ms", 5}}).code ==
        "rejected");
  CHECK(h.c.call("game", "GameActor", "w", {{"action", "start"}, {"period_ms", 60001}}).code ==
        "rejected");
  CHECK(h.c.call("game", "GameActor", "w", {{"action", "spawn"}, {"x", 0}, {"y", 0}}).code ==
        "rejected");
  CHECK(h.c.call("game", "GameActor", "w",
                 {{"action", "spawn"}, {"player", "p"}, {"x", 0}, {"y", 0}, {"vx", 2e9}})
            .code == "rejected");
  CHECK(h.c.call("game", "GameActor", "w", {{"action", "spawn"}, {"player", "p"}, {"x", 0}})
            .code == "rejected");
  CHECK(world_state(h.c, "w")["players"] == json::object());
  REQUIRE(h.c.call("game", "GameActor", "w", {{"action", "start"}, {"period_ms", 20}}).ok);
  CHECK(wait_until([&] { return world_state(h.c, "w")["tick"] >= 2; }, 3s));
  CHECK(h.c.call("game", "GameActor", "w", {{"action", "crash"}}).code == "actor_error");
  // The new activation starts paused at tick 0, and no timer of the old one is left.
  CHECK(wait_until([&] { return services_stats(h.c)["timers_armed"] == 0; }, 5s));
  const json fresh = world_state(h.c, "w");
  CHECK(fresh["tick"] == 0);
  CHECK(fresh["running"] == false);
}

// ChatActor ---------------------------------------------------------------------------------

TEST_CASE("ChatActor post returns the number of messages and history returns the last N in "
          "order") {
  examples_host h;
  for (int i = 1; i <= 5; ++i) {
    auto posted = h.c.call("chat", "ChatActor", "room",
                           {{"action", "post"},
                            {"user", i % 2 ? "ann" : "bob"},
                            {"text", "message " + std::to_string(i)}});
    REQUIRE(posted.ok);
    CHECK(posted.body == json{{"messages", i}});
  }
  auto last2 = h.c.call("chat", "ChatActor", "room", {{"action", "history"}, {"last", 2}});
  REQUIRE(last2.ok);
  CHECK(last2.body ==
        json{{"messages", json::array({{{"user", "bob"}, {"text", "message 4"}, {"seq", 4}},
                                       {{"user", "ann"}, {"text", "message 5"}, {"seq", 5}}})}});
  auto all = h.c.call("chat", "ChatActor", "room", {{"action", "history"}});  // default 10
  REQUIRE(all.body["messages"].size() == 5);
  for (int i = 0; i < 5; ++i) CHECK(all.body["messages"][i]["seq"] == i + 1);
  CHECK(all.body["messages"][0]["text"] == "message 1");
  auto none = h.c.call("chat", "ChatActor", "room", {{"action", "history"}, {"last", 0}});
  CHECK(none.body == json{{"messages", json::array()}});
  // Rooms are separate actors.
  auto other = h.c.call("chat", "ChatActor", "other", {{"action", "history"}});
  CHECK(other.body == json{{"messages", json::array()}});
}

TEST_CASE("ChatActor rejects bad posts and a negative history length") {
  examples_host h;
  CHECK(h.c.call("chat", "ChatActor", "r", {{"action", "post"}, {"user", ""}, {"text", "x"}})
            .code == "rejected");
  CHECK(h.c.call("chat", "ChatActor", "r", {{"action", "post"}, {"user", "u"}}).code ==
        "rejected");
  CHECK(h.c.call("chat", "ChatActor", "r",
                 {{"action", "post"}, {"user", std::string(65, 'u')}, {"text", "x"}})
            .code == "rejected");
  CHECK(h.c.call("chat", "ChatActor", "r", {{"action", "history"}, {"last", -1}}).code ==
        "rejected");
  // Nothing was stored by the rejected posts.
  auto posted = h.c.call("chat", "ChatActor", "r", {{"action", "post"}, {"user", "u"},
                                                    {"text", "x"}});
  CHECK(posted.body == json{{"messages", 1}});
}

TEST_CASE("ChatActor crash empties the room") {
  examples_host h;
  auto before = h.c.call("chat", "ChatActor", "room",
                         {{"action", "post"}, {"user", "ann"}, {"text", "hi"}});
  REQUIRE(before.body == json{{"messages", 1}});
  CHECK(h.c.call("chat", "ChatActor", "room", {{"action", "crash"}}).code == "actor_error");
  auto history = h.c.call("chat", "ChatActor", "room", {{"action", "history"}});
  REQUIRE(history.ok);
  CHECK(history.activation != before.activation);
  CHECK(history.body == json{{"messages", json::array()}});
  auto posted = h.c.call("chat", "ChatActor", "room",
                         {{"action", "post"}, {"user", "bob"}, {"text", "again"}});
  CHECK(posted.body == json{{"messages", 1}});
}

TEST_CASE("ChatActor fans each post out to every member's PlayerActor inbox, in order") {
  examples_host h;
  for (const char* player : {"ann", "bob", "cid"}) {
    auto joined = h.c.call("chat", "ChatActor", "lobby", {{"action", "join"}, {"player", player}});
    REQUIRE(joined.ok);
  }
  CHECK(h.c.call("chat", "ChatActor", "lobby", {{"action", "join"}, {"player", "bob"}}).body ==
        json{{"members", 3}});  // joining twice changes nothing
  CHECK(h.c.call("chat", "ChatActor", "lobby", {{"action", "members"}}).body ==
        json{{"members", {"ann", "bob", "cid"}}});
  // The post reply is what it always was; the deliveries are casts the room does not wait for.
  CHECK(h.c.call("chat", "ChatActor", "lobby",
                 {{"action", "post"}, {"user", "ann"}, {"text", "hello"}})
            .body == json{{"messages", 1}});
  CHECK(h.c.call("chat", "ChatActor", "lobby",
                 {{"action", "post"}, {"user", "dan"}, {"text", "hi all"}})
            .body == json{{"messages", 2}});
  const json expected = json::array(
      {{{"room", "lobby"}, {"user", "ann"}, {"text", "hello"}, {"seq", 1}},
       {{"room", "lobby"}, {"user", "dan"}, {"text", "hi all"}, {"seq", 2}}});
  for (const char* player : {"ann", "bob", "cid"}) {
    CAPTURE(player);
    json inbox;
    CHECK(wait_until([&] { return (inbox = inbox_of(h.c, player))["received"] == 2; }, 5s));
    CHECK(inbox == json{{"player", player}, {"received", 2}, {"messages", expected}});
  }
  // A member who left misses what is posted meanwhile: cid leaves, one post, cid joins again,
  // another post. The room's casts to cid arrive in the order sent, so once seq 4 is in cid's
  // inbox, seq 3 would have been before it.
  CHECK(h.c.call("chat", "ChatActor", "lobby", {{"action", "leave"}, {"player", "cid"}}).body ==
        json{{"members", 2}});
  REQUIRE(h.c.call("chat", "ChatActor", "lobby",
                   {{"action", "post"}, {"user", "ann"}, {"text", "cid is gone"}})
              .ok);
  REQUIRE(h.c.call("chat", "ChatActor", "lobby", {{"action", "join"}, {"player", "cid"}}).ok);
  REQUIRE(h.c.call("chat", "ChatActor", "lobby",
                   {{"action", "post"}, {"user", "cid"}, {"text", "back"}})
              .ok);
  json cid;
  CHECK(wait_until([&] { return (cid = inbox_of(h.c, "cid"))["received"] == 3; }, 5s));
  REQUIRE(cid["messages"].size() == 3);
  CHECK(cid["messages"][2]["seq"] == 4);
  CHECK(cid["messages"][2]["text"] == "back");
  CHECK(wait_until([&] { return inbox_of(h.c, "ann")["received"] == 4; }, 5s));
  CHECK(inbox_of(h.c, "ann")["messages"][2]["text"] == "cid is gone");
  // One cast per member per post: 3 + 3 + 2 + 3.
  CHECK(services_stats(h.c)["casts"] == 11);
  // Bad membership requests are refused.
  CHECK(h.c.call("chat", "ChatActor", "lobby", {{"action", "join"}}).code == "rejected");
  CHECK(h.c.call("chat", "ChatActor", "lobby",
                 {{"action", "join"}, {"player", std::string(65, 'p')}})
            .code == "rejected");
}

TEST_CASE("ChatActor who gathers every member's status and answers once all are back, with "
          "the error code of a member whose call failed") {
  examples_host h;
  // An empty room answers at once.
  auto empty = h.c.call("chat", "ChatActor", "den", {{"action", "who"}});
  REQUIRE(empty.ok);
  CHECK(empty.body == json{{"room", "den"}, {"members", json::object()}});
  for (const char* player : {"ann", "bob", "eve"})
    REQUIRE(h.c.call("chat", "ChatActor", "den", {{"action", "join"}, {"player", player}}).ok);
  auto busy = h.c.call("chat", "PlayerActor", "ann",
                       {{"action", "set_status"}, {"status", "busy"}});
  CHECK(busy.body == json{{"player", "ann"}, {"status", "busy"}, {"visible", true}});
  // eve hides her status: her PlayerActor refuses the room's call.
  REQUIRE(h.c.call("chat", "PlayerActor", "eve",
                   {{"action", "set_status"}, {"status", "away"}, {"visible", false}})
              .ok);
  const json before = services_stats(h.c);
  auto who = h.c.call("chat", "ChatActor", "den", {{"action", "who"}}, std::nullopt, 3000);
  REQUIRE(who.ok);
  CHECK(who.body["room"] == "den");
  REQUIRE(who.body["members"].size() == 3);
  CHECK(who.body["members"]["ann"] == json{{"status", "busy"}});
  CHECK(who.body["members"]["bob"] == json{{"status", "online"}});  // activated by the call
  CHECK(who.body["members"]["eve"]["error"] == "rejected");
  CHECK(who.body["members"]["eve"]["message"].get<std::string>().find("eve") !=
        std::string::npos);
  // Answered later: one deferred reply, one call per member.
  const json after = services_stats(h.c);
  CHECK(after["deferred_replies"].get<int64_t>() - before["deferred_replies"].get<int64_t>() == 1);
  CHECK(after["calls"].get<int64_t>() - before["calls"].get<int64_t>() == 3);
  // The room and the members live on after it.
  CHECK(h.c.call("chat", "ChatActor", "den", {{"action", "members"}}).body ==
        json{{"members", {"ann", "bob", "eve"}}});
}

// PaymentActor ------------------------------------------------------------------------------

TEST_CASE("PaymentActor opens with its init balance and charges each request_id once") {
  examples_host h;
  auto opened = h.c.call("payment", "PaymentActor", "acct", {{"action", "balance"}},
                         json{{"balance", 100}});
  REQUIRE(opened.ok);
  CHECK(opened.body == json{{"balance", 100}});
  const json charge = {{"action", "charge"}, {"amount", 30}, {"request_id", "r1"}};
  auto first = h.c.call("payment", "PaymentActor", "acct", charge);
  CHECK(first.body == json{{"balance", 70}, {"applied", true}, {"duplicate", false}});
  auto again = h.c.call("payment", "PaymentActor", "acct", charge);
  CHECK(again.body == json{{"balance", 70}, {"applied", false}, {"duplicate", true}});
  CHECK(h.c.call("payment", "PaymentActor", "acct", {{"action", "balance"}}).body ==
        json{{"balance", 70}});
  auto credit = h.c.call("payment", "PaymentActor", "acct",
                         {{"action", "credit"}, {"amount", 5}, {"request_id", "r2"}});
  CHECK(credit.body == json{{"balance", 75}, {"applied", true}, {"duplicate", false}});
  // A duplicate answers with the balance the original produced, not the current one.
  auto late = h.c.call("payment", "PaymentActor", "acct", charge);
  CHECK(late.body == json{{"balance", 70}, {"applied", false}, {"duplicate", true}});
  // Reusing a request_id for something else is refused.
  auto reused = h.c.call("payment", "PaymentActor", "acct",
                         {{"action", "charge"}, {"amount", 31}, {"request_id", "r1"}});
  CHECK(reused.code == "rejected");
  CHECK(h.c.call("payment", "PaymentActor", "acct", {{"action", "balance"}}).body ==
        json{{"balance", 75}});
}

TEST_CASE("PaymentActor rejects a charge beyond the balance and leaves the balance unchanged") {
  examples_host h;
  REQUIRE(h.c.call("payment", "PaymentActor", "poor", {{"action", "balance"}},
                   json{{"balance", 50}})
              .body == json{{"balance", 50}});
  auto refused = h.c.call("payment", "PaymentActor", "poor",
                          {{"action", "charge"}, {"amount", 51}, {"request_id", "big"}});
  CHECK_FALSE(refused.ok);
  CHECK(refused.code == "rejected");
  CHECK(refused.message == "insufficient funds");
  CHECK(h.c.call("payment", "PaymentActor", "poor", {{"action", "balance"}}).body ==
        json{{"balance", 50}});
  // A rejected request is not remembered: the same id can be used once funds allow.
  auto exact = h.c.call("payment", "PaymentActor", "poor",
                        {{"action", "charge"}, {"amount", 50}, {"request_id", "big"}});
  CHECK(exact.body == json{{"balance", 0}, {"applied", true}, {"duplicate", false}});
  // Bad amounts and ids are refused too.
  CHECK(h.c.call("payment", "PaymentActor", "poor",
                 {{"action", "credit"}, {"amount", 0}, {"request_id", "z"}})
            .code == "rejected");
  CHECK(h.c.call("payment", "PaymentActor", "poor", {{"action", "credit"}, {"amount", 1}})
            .code == "rejected");
  CHECK(h.c.call("payment", "PaymentActor", "poor", {{"action", "balance"}}).body ==
        json{{"balance", 0}});
}

TEST_CASE("PaymentActor refuses a negative opening balance and a crash forgets everything") {
  examples_host h;
  auto negative = h.c.call("payment", "PaymentActor", "neg", {{"action", "balance"}},
                           json{{"balance", -1}});
  CHECK(negative.code == "activation_failed");
  CHECK(h.c.call("payment", "PaymentActor", "neg", {{"action", "balance"}}).body ==
        json{{"balance", 0}});

  auto before = h.c.call("payment", "PaymentActor", "a",
                         {{"action", "charge"}, {"amount", 10}, {"request_id", "once"}},
                         json{{"balance", 20}});
  REQUIRE(before.body["balance"] == 10);
  CHECK(h.c.call("payment", "PaymentActor", "a", {{"action", "crash"}}).code == "actor_error");
  auto after = h.c.call("payment", "PaymentActor", "a", {{"action", "balance"}},
                        json{{"balance", 20}});
  CHECK(after.activation != before.activation);
  CHECK(after.body == json{{"balance", 20}});
}

TEST_CASE("PaymentActor transfer moves money to another account, and a retry with the same "
          "request_id is applied once on each side") {
  examples_host h;
  REQUIRE(h.c.call("payment", "PaymentActor", "alice", {{"action", "balance"}},
                   json{{"balance", 100}})
              .ok);
  REQUIRE(h.c.call("payment", "PaymentActor", "bob", {{"action", "balance"}},
                   json{{"balance", 5}})
              .ok);
  const json before = services_stats(h.c);
  auto first = h.c.call("payment", "PaymentActor", "alice", transfer("bob", 30, "t1"));
  REQUIRE(first.ok);
  CHECK(first.body == json{{"balance", 70}, {"applied", true}, {"duplicate", false}});
  CHECK(balance_of(h.c, "alice") == 70);
  CHECK(balance_of(h.c, "bob") == 35);
  // Answered later, once bob's answer was back.
  const json after = services_stats(h.c);
  CHECK(after["deferred_replies"].get<int64_t>() - before["deferred_replies"].get<int64_t>() == 1);
  CHECK(after["calls"].get<int64_t>() - before["calls"].get<int64_t>() == 1);
  // The retry: alice answers from memory and does not debit or send again.
  auto retry = h.c.call("payment", "PaymentActor", "alice", transfer("bob", 30, "t1"));
  CHECK(retry.body == json{{"balance", 70}, {"applied", false}, {"duplicate", true}});
  CHECK(services_stats(h.c)["calls"] == after["calls"]);
  CHECK(balance_of(h.c, "alice") == 70);
  CHECK(balance_of(h.c, "bob") == 35);
  // Bob applies alice's t1 once, whoever sends it again.
  auto again = h.c.call("payment", "PaymentActor", "bob",
                        {{"action", "receive"}, {"from", "alice"}, {"amount", 30},
                         {"request_id", "t1"}});
  CHECK(again.body == json{{"applied", false}, {"duplicate", true}});
  CHECK(balance_of(h.c, "bob") == 35);
  // Bob's own request ids are another namespace: his "t1" is his own charge.
  auto own = h.c.call("payment", "PaymentActor", "bob",
                      {{"action", "charge"}, {"amount", 5}, {"request_id", "t1"}});
  CHECK(own.body == json{{"balance", 30}, {"applied", true}, {"duplicate", false}});
  // t1 cannot be reused for another amount or target; charging with it is refused too.
  CHECK(h.c.call("payment", "PaymentActor", "alice", transfer("bob", 31, "t1")).code ==
        "rejected");
  CHECK(h.c.call("payment", "PaymentActor", "alice", transfer("carol", 30, "t1")).code ==
        "rejected");
  CHECK(h.c.call("payment", "PaymentActor", "alice",
                 {{"action", "charge"}, {"amount", 30}, {"request_id", "t1"}})
            .code == "rejected");
  // Refused before anything moves: too much, to itself, no target.
  auto broke = h.c.call("payment", "PaymentActor", "alice", transfer("bob", 71, "t2"));
  CHECK(broke.code == "rejected");
  CHECK(broke.message == "insufficient funds");
  CHECK(h.c.call("payment", "PaymentActor", "alice", transfer("alice", 1, "t3")).code ==
        "rejected");
  CHECK(h.c.call("payment", "PaymentActor", "alice",
                 {{"action", "transfer"}, {"amount", 1}, {"request_id", "t4"}})
            .code == "rejected");
  CHECK(balance_of(h.c, "alice") == 70);
  CHECK(balance_of(h.c, "bob") == 30);
}

TEST_CASE("PaymentActor refunds a transfer whose credit fails and answers the error") {
  examples_host h;
  constexpr int64_t max = std::numeric_limits<int64_t>::max();
  REQUIRE(h.c.call("payment", "PaymentActor", "payer", {{"action", "balance"}},
                   json{{"balance", 100}})
              .ok);
  // The target is nearly full: crediting 50 would overflow its balance, so it refuses.
  REQUIRE(h.c.call("payment", "PaymentActor", "full", {{"action", "balance"}},
                   json{{"balance", max - 10}})
              .ok);
  auto failed = h.c.call("payment", "PaymentActor", "payer", transfer("full", 50, "x1"));
  CHECK_FALSE(failed.ok);
  CHECK(failed.code == "rejected");
  CHECK(failed.message.find("refunded") != std::string::npos);
  CHECK(failed.message.find("rejected: credit would overflow the balance") != std::string::npos);
  CHECK(balance_of(h.c, "payer") == 100);
  CHECK(balance_of(h.c, "full") == max - 10);
  // A refused transfer is not remembered: once the target has room, the same id goes through.
  REQUIRE(h.c.call("payment", "PaymentActor", "full",
                   {{"action", "charge"}, {"amount", 100}, {"request_id", "room"}})
              .ok);
  auto retried = h.c.call("payment", "PaymentActor", "payer", transfer("full", 50, "x1"));
  CHECK(retried.body == json{{"balance", 50}, {"applied", true}, {"duplicate", false}});
  CHECK(balance_of(h.c, "full") == max - 60);
}

// Echo --------------------------------------------------------------------------------------

TEST_CASE("Echo returns its payload exactly, nested maps and arrays included") {
  examples_host h;
  const json nested = {
      {"name", "ユーザ"},
      {"n", -42},
      {"big", std::numeric_limits<uint64_t>::max()},
      {"small", std::numeric_limits<int64_t>::min()},
      {"pi", 3.25},
      {"yes", true},
      {"nothing", nullptr},
      {"list", json::array({1, "two", json::array({3, json::array({4})}), json::object()})},
      {"map", {{"inner", {{"deeper", {{"deepest", json::array({true, false, nullptr})}}}}}}},
      {"empty", ""}};
  auto r = h.c.call("bench", "Echo", "e", nested);
  REQUIRE(r.ok);
  CHECK(r.body == nested);
  CHECK(json::to_msgpack(r.body) == json::to_msgpack(nested));
  for (const json& value : {json("just a string"), json(7), json(nullptr), json::array(),
                            json::object(), json{{"action", "crash"}, {"x", 1}}}) {
    INFO(value.dump());
    auto echoed = h.c.call("bench", "Echo", "e", value);
    REQUIRE(echoed.ok);
    CHECK(echoed.body == value);
    CHECK(echoed.activation == r.activation);
  }
}

TEST_CASE("Echo crashes on request and the next call gets a fresh activation") {
  examples_host h;
  auto before = h.c.call("bench", "Echo", "e", {{"hello", "world"}});
  REQUIRE(before.ok);
  auto crash = h.c.call("bench", "Echo", "e", {{"action", "crash"}});
  CHECK(crash.code == "actor_error");
  auto after = h.c.call("bench", "Echo", "e", {{"hello", "again"}});
  REQUIRE(after.ok);
  CHECK(after.activation != before.activation);
  CHECK(after.body == json{{"hello", "again"}});
}

// Across hosts ------------------------------------------------------------------------------

namespace {

/// Three hosts serving every example capability, gossiping on 127.0.0.1, converged.
struct examples_cluster {
  cluster_node node1{"node1", {}};
  cluster_node node2{"node2", {node1.gossip()}};
  cluster_node node3{"node3", {node1.gossip()}};
  std::vector<cluster_node*> all{&node1, &node2, &node3};

  examples_cluster() {
    if (!wait_converged(all, {"node1", "node2", "node3"}))
      throw std::runtime_error("the cluster did not converge");
  }

  /// An id (prefix + n) whose actor of `capability` lives on `owner`.
  std::string id_on(const std::string& owner, const std::string& capability,
                    const std::string& prefix) {
    for (int n = 0; n < 10'000; ++n) {
      const std::string id = prefix + std::to_string(n);
      if (node1.owner(capability, id) == owner) return id;
    }
    throw std::runtime_error("no " + capability + " id on " + owner);
  }
};

}  // namespace

TEST_CASE("across three hosts, a transfer credits an account on another host and a room fans "
          "out to members on every host") {
  examples_cluster cl;
  // Payment: the payer lives on node1, the payee on node3, the client enters through node2.
  const std::string payer = cl.id_on("node1", "payment", "payer-");
  const std::string payee = cl.id_on("node3", "payment", "payee-");
  client& c = cl.node2.c();
  REQUIRE(c.call("payment", "PaymentActor", payer, {{"action", "balance"}}, json{{"balance", 50}})
              .ok);
  auto sent = c.call("payment", "PaymentActor", payer, transfer(payee, 20, "rent"));
  REQUIRE(sent.ok);
  CHECK(sent.host == "node1");
  CHECK(sent.body == json{{"balance", 30}, {"applied", true}, {"duplicate", false}});
  auto payee_balance = cl.node1.c().call("payment", "PaymentActor", payee, {{"action", "balance"}});
  CHECK(payee_balance.host == "node3");
  CHECK(payee_balance.body == json{{"balance", 20}});
  CHECK(c.call("payment", "PaymentActor", payer, transfer(payee, 20, "rent")).body ==
        json{{"balance", 30}, {"applied", false}, {"duplicate", true}});
  CHECK(balance_of(cl.node3.c(), payee) == 20);

  // Chat: the room on node2, one member on each host, the post entering through node1.
  const std::string room = cl.id_on("node2", "chat", "room-");
  const std::vector<std::string> members = {cl.id_on("node1", "chat", "p"),
                                            cl.id_on("node2", "chat", "p"),
                                            cl.id_on("node3", "chat", "p")};
  for (const auto& m : members)
    REQUIRE(cl.node3.c().call("chat", "ChatActor", room, {{"action", "join"}, {"player", m}}).ok);
  auto posted = cl.node1.c().call("chat", "ChatActor", room,
                                  {{"action", "post"}, {"user", "ann"}, {"text", "to all hosts"}});
  REQUIRE(posted.ok);
  CHECK(posted.host == "node2");
  std::set<std::string> hosts;
  for (const auto& m : members) {
    CAPTURE(m);
    reply inbox;
    CHECK(wait_until([&] {
      inbox = cl.node1.c().call("chat", "PlayerActor", m, {{"action", "inbox"}});
      return inbox.ok && inbox.body["received"] == 1;
    }, 5s));
    CHECK(inbox.body["messages"] ==
          json::array({{{"room", room}, {"user", "ann"}, {"text", "to all hosts"}, {"seq", 1}}}));
    hosts.insert(inbox.host);
  }
  CHECK(hosts == std::set<std::string>{"node1", "node2", "node3"});
  // And `who` gathers the three statuses from the three hosts.
  auto who = cl.node3.c().call("chat", "ChatActor", room, {{"action", "who"}}, std::nullopt, 3000);
  REQUIRE(who.ok);
  for (const auto& m : members) CHECK(who.body["members"][m] == json{{"status", "online"}});
}

TEST_CASE("a transfer whose credit times out keeps the money held, sends the credit again and "
          "settles it once: neither refunded nor applied twice") {
  examples_cluster cl;
  const std::string payer = cl.id_on("node1", "payment", "payer-");
  const std::string payee = cl.id_on("node3", "payment", "payee-");
  client& c = cl.node1.c();
  REQUIRE(c.call("payment", "PaymentActor", payer, {{"action", "balance"}}, json{{"balance", 50}})
              .ok);
  REQUIRE(balance_of(c, payee) == 0);
  const int64_t calls_before = services_stats(c)["calls"].get<int64_t>();
  // node3 frozen: the credit reaches its socket but nobody answers within the 300 ms the
  // transfer has. The freeze stays well below the 800 ms after which the test profile declares
  // a silent host dead (a suspected host still owns its keys), so the payee stays on node3.
  cl.node3.process().signal(SIGSTOP);
  reply unknown;
  try {
    unknown = c.call("payment", "PaymentActor", payer, transfer(payee, 20, "in-doubt"),
                     std::nullopt, 300);
  } catch (...) {
    cl.node3.process().signal(SIGCONT);
    throw;
  }
  cl.node3.process().signal(SIGCONT);
  CHECK(unknown.code == "timeout");
  // The outcome was unknown, so nothing was refunded: the money is held (in neither balance).
  CHECK(balance_of(c, payer) == 30);
  // The payer sends the credit again by itself (a second call, a second after the timeout)...
  CHECK(wait_until([&] { return services_stats(c)["calls"].get<int64_t>() - calls_before >= 2; },
                   5s));
  // ... until the payee answers; a retry gets that answer.
  reply settled;
  CHECK(wait_until([&] {
    settled = c.call("payment", "PaymentActor", payer, transfer(payee, 20, "in-doubt"),
                     std::nullopt, 3000);
    return settled.ok;
  }, 10s));
  CHECK(settled.body == json{{"balance", 30}, {"applied", false}, {"duplicate", true}});
  // Applied exactly once on each side, whether node3 ran the first credit late or not.
  CHECK(balance_of(c, payer) == 30);
  auto payee_balance = c.call("payment", "PaymentActor", payee, {{"action", "balance"}});
  CHECK(payee_balance.host == "node3");
  CHECK(payee_balance.body == json{{"balance", 20}});
}
