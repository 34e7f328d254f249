// The cluster view, in memory: applying membership snapshots, counting member changes, the
// routing table it builds, and the refusal window after a pause.
#include <doctest/doctest.h>

#include <algorithm>

#include "cluster/cluster_view.hpp"
#include "plugin/module_table.hpp"
#include "plugin/plugin_loader.hpp"

#include <thread>

using namespace mesh::host;
namespace discovery = mesh::discovery;
namespace placement = mesh::placement;
using namespace std::chrono_literals;

namespace {

discovery::member_info member(std::string name, discovery::member_status status, bool self = false,
                              uint64_t incarnation = 1) {
  discovery::member_info m;
  m.record.name = std::move(name);
  m.record.endpoint = "inproc://" + m.record.name;
  m.record.capabilities = {"echo"};
  m.record.incarnation = incarnation;
  m.status = status;
  m.self = self;
  return m;
}

/// A snapshot whose view holds the members that own keys (alive or suspect).
cluster_view::snapshot_ptr snapshot(std::vector<discovery::member_info> members, uint64_t epoch) {
  auto s = std::make_shared<discovery::membership_snapshot>();
  s->members = std::move(members);
  for (const auto& m : s->members)
    if (m.status == discovery::member_status::alive || m.status == discovery::member_status::suspect)
      s->view.members.push_back(m.record);
  std::sort(s->view.members.begin(), s->view.members.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  s->view.epoch = epoch;
  return s;
}

/// The config of host "a" with 16 shards.
host_config config_of_a() {
  host_config c;
  c.name = std::string("a");
  c.shards = 16;
  return c;
}

struct fixture {
  host_config config = config_of_a();
  host_counters stats;
  cluster_view view{config, stats};
  fixture() { view.enable(placement::make_rendezvous()); }
  uint64_t changes(member_change c) const { return stats.membership[static_cast<size_t>(c)]; }
};

class null_sink : public completion_sink {
 public:
  void complete_on_worker(task*, const outcome&) noexcept override {}
};

}  // namespace

TEST_SUITE("cluster_view") {
  TEST_CASE("a view that is not enabled has no routes and refuses nothing") {
    host_config config;
    host_counters stats;
    cluster_view view{config, stats};
    CHECK_FALSE(view.enabled());
    CHECK(view.routes() == nullptr);
    CHECK(view.strategy() == nullptr);
    CHECK(view.incarnation() == 0);
    CHECK_FALSE(view.refusing_requests());
  }

  TEST_CASE("a new view builds its routing table, learns this host's incarnation and asks for a rebalance") {
    fixture f;
    using st = discovery::member_status;
    CHECK(f.view.apply({snapshot({member("a", st::alive, true, 7), member("b", st::alive)}, 100)}));
    REQUIRE(f.view.routes() != nullptr);
    CHECK(f.view.routes()->epoch() == 100);
    CHECK(f.view.routes()->hosts_for("echo") == std::vector<std::string>{"a", "b"});
    CHECK(f.view.incarnation() == 7);
    CHECK(f.view.rebalance_pending());
    CHECK(f.stats.view_changes == 1);
    REQUIRE(f.view.snapshot() != nullptr);
    CHECK(f.view.snapshot()->members.size() == 2);
  }

  TEST_CASE("a snapshot with the same epoch keeps the routing table") {
    fixture f;
    using st = discovery::member_status;
    REQUIRE(f.view.apply({snapshot({member("a", st::alive, true), member("b", st::alive)}, 100)}));
    const routing_table* before = f.view.routes();
    CHECK_FALSE(f.view.apply({snapshot({member("a", st::alive, true), member("b", st::suspect)}, 100)}));
    CHECK(f.view.routes() == before);
    CHECK(f.stats.view_changes == 1);
    CHECK(f.view.snapshot()->members[1].status == st::suspect);  // the snapshot is the newest
    CHECK_FALSE(f.view.apply({}));
  }

  TEST_CASE("member changes are counted as a peer joins, is suspected, recovers, dies and another leaves") {
    fixture f;
    using st = discovery::member_status;
    auto me = member("a", st::alive, true);
    f.view.apply({snapshot({me, member("b", st::alive), member("c", st::alive)}, 1),
                  snapshot({me, member("b", st::suspect), member("c", st::alive)}, 2)});
    CHECK(f.changes(member_change::joined) == 2);
    CHECK(f.changes(member_change::suspected) == 1);
    f.view.apply({snapshot({me, member("b", st::alive), member("c", st::leaving)}, 3)});
    CHECK(f.changes(member_change::recovered) == 1);
    CHECK(f.changes(member_change::left) == 1);
    f.view.apply({snapshot({me, member("b", st::dead), member("c", st::dead)}, 4)});
    CHECK(f.changes(member_change::dead) == 1);  // c had left: not counted dead
    CHECK(f.changes(member_change::joined) == 2);  // this host itself is never counted
  }

  TEST_CASE("after a pause actor requests are refused for the pause limit") {
    fixture f;
    null_sink sink;
    runtime rt({1, 1 << 16}, sink);
    CHECK_FALSE(f.view.refusing_requests());
    f.view.recover_from_pause(rt, 5s, 1h);
    CHECK(f.view.refusing_requests());
    f.view.recover_from_pause(rt, 5s, 0ms);
    CHECK_FALSE(f.view.refusing_requests());
  }

  TEST_CASE("an actor still running a handler when a pause ends is retired once it is done") {
    fixture f;
    null_sink sink;
    runtime rt({1, 1 << 16}, sink);
    module_table table{std::nullopt};
    auto plugin = load_plugin(std::filesystem::path(MESH_FIXTURE_PLUGIN_DIR) / "libfixture_probe.so");
    REQUIRE(plugin);
    REQUIRE(table.add(*plugin));
    auto probe = table.resolve("probe", "Probe");
    REQUIRE(probe);
    const uint8_t sleep_300ms[] = {0x82, 0xa2, 'o', 'p', 0xa5, 's', 'l', 'e', 'e', 'p',
                                   0xa2, 'm', 's', 0xcd, 0x01, 0x2c};  // {op: sleep, ms: 300}
    const uint8_t info[] = {0x81, 0xa2, 'o', 'p', 0xa4, 'i', 'n', 'f', 'o'};  // {op: info}
    task t, fresh;
    t.kind = fresh.kind = mesh::wire::op::cast;
    t.payload = {sleep_300ms, sizeof sleep_300ms};
    fresh.payload = {info, sizeof info};
    rt.submit(**probe, "busy", &t);
    std::this_thread::sleep_for(50ms);  // the worker is in the handler
    f.view.recover_from_pause(rt, 5s, 0ms);
    CHECK(rt.live_actors() == 1);
    CHECK(f.view.rebalance_pending());
    rt.submit(**probe, "after", &fresh);  // activated after the pause: not stale
    const auto end = clock::now() + 10s;
    while (rt.live_actors() != 1 || f.view.rebalance_pending()) {
      if (clock::now() > end) break;
      std::this_thread::sleep_for(10ms);
      f.view.rebalance(rt);
    }
    CHECK(rt.live_actors() == 1);  // "busy" retired once its handler ended; "after" kept
    CHECK_FALSE(f.view.rebalance_pending());
    rt.shutdown();
  }

  TEST_CASE("a rebalance without a view has nothing to hand off") {
    fixture f;
    null_sink sink;
    runtime rt({1, 1 << 16}, sink);
    f.view.rebalance(rt);
    CHECK_FALSE(f.view.rebalance_pending());
    using st = discovery::member_status;
    f.view.apply({snapshot({member("a", st::alive, true)}, 5)});
    REQUIRE(f.view.rebalance_pending());
    f.view.rebalance(rt);  // no actors: nothing busy
    CHECK_FALSE(f.view.rebalance_pending());
  }
}
