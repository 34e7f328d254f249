// Every example actor (plugins/) through a real meshd serving the build's example plugin
// directory, over real sockets on 127.0.0.1.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "test_support.hpp"

using namespace mesh::test;
using mesh::wire::op;

namespace {

/// A host serving MESH_EXAMPLE_PLUGIN_DIR as built, and a client connected to it.
struct examples_host {
  meshd_process host{MESH_EXAMPLE_PLUGIN_DIR};
  client c{host.endpoint()};
};

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
