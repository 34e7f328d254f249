// The routing table, in memory: who owns which shard of which capability in one view.
#include <doctest/doctest.h>

#include "cluster/routing_table.hpp"

using namespace mesh::host;
namespace discovery = mesh::discovery;
namespace placement = mesh::placement;

namespace {

discovery::member_record host(std::string name, std::vector<std::string> caps) {
  discovery::member_record m;
  m.name = std::move(name);
  m.endpoint = "inproc://" + m.name;
  m.capabilities = std::move(caps);
  m.incarnation = 1;
  return m;
}

/// a: counter, echo; b: echo; c: counter (sorted by name, as views are).
discovery::member_view three_hosts() {
  discovery::member_view v;
  v.members = {host("a", {"counter", "echo"}), host("b", {"echo"}), host("c", {"counter"})};
  v.epoch = 42;
  return v;
}

constexpr uint32_t shards = 64;

}  // namespace

TEST_SUITE("routing_table") {
  TEST_CASE("an empty routing table has no owner for anything") {
    routing_table t;
    CHECK(t.owner("echo", 0) == nullptr);
    CHECK(t.capabilities().empty());
    CHECK(t.hosts_for("echo").empty());
    CHECK_FALSE(t.owns("echo", 0));
  }

  TEST_CASE("each shard is owned by the host the strategy picks among the hosts with the capability") {
    const auto strategy = placement::make_rendezvous();
    routing_table t(three_hosts(), *strategy, shards, "a");
    const auto echo = placement::build_shard_table(*strategy, shards, {"a", "b"});
    const auto counter = placement::build_shard_table(*strategy, shards, {"a", "c"});
    bool b_owns_some = false;
    for (uint32_t s = 0; s < shards; ++s) {
      const auto* e = t.owner("echo", s);
      const auto* c = t.owner("counter", s);
      REQUIRE(e != nullptr);
      REQUIRE(c != nullptr);
      CHECK(e->name == echo.hosts[echo.owner_of[s]]);
      CHECK(c->name == counter.hosts[counter.owner_of[s]]);
      CHECK(e->name != "c");  // c does not have echo
      b_owns_some = b_owns_some || e->name == "b";
    }
    CHECK(b_owns_some);
  }

  TEST_CASE("this host owns exactly the shards whose owner it is") {
    const auto strategy = placement::make_modulo();
    routing_table t(three_hosts(), *strategy, shards, "b");
    for (uint32_t s = 0; s < shards; ++s) {
      CHECK(t.owns("echo", s) == (t.owner("echo", s)->name == "b"));
      CHECK_FALSE(t.owns("counter", s));
    }
    // modulo over {a, b}: b owns the odd shards
    CHECK(t.owns("echo", 1));
    CHECK_FALSE(t.owns("echo", 2));
  }

  TEST_CASE("a capability no host has, or a shard out of range, has no owner") {
    const auto strategy = placement::make_rendezvous();
    routing_table t(three_hosts(), *strategy, shards, "a");
    CHECK(t.owner("nobody", 0) == nullptr);
    CHECK(t.owner("echo", shards) == nullptr);
  }

  TEST_CASE("hosts and capabilities are listed sorted, and the view is kept with its epoch") {
    const auto strategy = placement::make_rendezvous();
    routing_table t(three_hosts(), *strategy, shards, "c");
    CHECK(t.hosts_for("echo") == std::vector<std::string>{"a", "b"});
    CHECK(t.hosts_for("counter") == std::vector<std::string>{"a", "c"});
    CHECK(t.capabilities() == std::vector<std::string>{"counter", "echo"});
    CHECK(t.epoch() == 42);
    CHECK(t.shards() == shards);
    CHECK(t.self() == "c");
    REQUIRE(t.view().find("b") != nullptr);
    CHECK(t.owner("echo", 0) == t.view().find(t.owner("echo", 0)->name));  // points into its view
  }
}
