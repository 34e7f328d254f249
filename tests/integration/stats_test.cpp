// The host's counters: the `stats` and `actors` ops, the members additions, the Prometheus
// endpoint (--metrics-listen) and JSON logs, against real meshd processes.
#include <doctest/doctest.h>
#include <httplib.h>

#include <map>
#include <regex>
#include <set>

#include "test_support.hpp"

using namespace mesh::test;
using mesh::wire::op;

namespace {

const std::filesystem::path examples = MESH_EXAMPLE_PLUGIN_DIR;
const std::filesystem::path fixtures = MESH_FIXTURE_PLUGIN_DIR;

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

/// meshd with the Probe fixture and the Counter example, and its metrics endpoint on a free port.
struct stats_host {
  temp_dir plugins;
  temp_dir files;
  std::optional<meshd_process> host;
  std::string metrics;  ///< HOST:PORT of the metrics endpoint

  explicit stats_host(std::vector<std::string> extra = {}) {
    install_plugin(fixtures / "libfixture_probe.so", plugins.path());
    install_plugin(examples / "libmesh_counter.so", plugins.path());
    extra.insert(extra.end(), {"--metrics-listen", "127.0.0.1:0", "--metrics-ready-file",
                               (files / "metrics").string()});
    host.emplace(plugins.path(), std::move(extra));
    metrics = trimmed(read_file(files / "metrics"));
  }

  int metrics_port() const { return std::stoi(metrics.substr(metrics.rfind(':') + 1)); }

  /// GET /metrics; empty when nothing answered.
  std::string scrape(std::string* content_type = nullptr) const {
    httplib::Client http("127.0.0.1", metrics_port());
    http.set_connection_timeout(2, 0);
    http.set_read_timeout(5, 0);
    auto res = http.Get("/metrics");
    if (!res || res->status != 200) return {};
    if (content_type != nullptr) *content_type = res->get_header_value("Content-Type");
    return res->body;
  }
};

/// The `stats` map of a stats reply.
json stats_of(client& c) {
  auto r = c.control(op::stats);
  REQUIRE(r.ok);
  REQUIRE(r.body.contains("stats"));
  return r.body["stats"];
}

/// `stats.requests[op][outcome]`, 0 when absent.
uint64_t requests(const json& s, const std::string& kind, const std::string& outcome) {
  const auto& r = s["requests"];
  if (!r.contains(kind) || !r[kind].contains(outcome)) return 0;
  return r[kind][outcome].get<uint64_t>();
}

/// Live count of `module` in stats.actors.by_module.
uint64_t live_of(const json& s, const std::string& module) {
  for (const auto& m : s["actors"]["by_module"])
    if (m["mod"] == module) return m["live"].get<uint64_t>();
  return ~uint64_t{0};
}

/// One `actors` request; the reply envelope.
reply actors_page(client& c, uint32_t limit, const std::string& mod = {},
                  const std::vector<uint8_t>& after = {}) {
  mesh::wire::request req;
  req.kind = op::actors;
  req.rid = c.next_rid();
  req.limit = limit;
  req.module = mod;
  req.after = {after.data(), after.size()};
  c.send(req);
  return c.expect(req.rid, 10s);
}

/// Every page of `actors` with `limit`; (mod, id) -> act, failing on a repeat.
std::map<std::pair<std::string, std::string>, uint64_t> all_actors(client& c, uint32_t limit,
                                                                   const std::string& mod = {},
                                                                   size_t* pages = nullptr) {
  std::map<std::pair<std::string, std::string>, uint64_t> seen;
  std::vector<uint8_t> cursor;
  std::pair<std::string, std::string> last;
  for (size_t page = 0; page < 1000; ++page) {
    auto r = actors_page(c, limit, mod, cursor);
    REQUIRE(r.ok);
    CHECK(r.body["actors"].size() <= limit);
    for (const auto& a : r.body["actors"]) {
      std::pair<std::string, std::string> key{a["mod"], a["id"]};
      CHECK_MESSAGE(seen.count(key) == 0, key.first, "/", key.second, " listed twice");
      CHECK(last < key);  // (mod, id) order across pages
      last = key;
      seen[key] = a["act"].get<uint64_t>();
      CHECK(a["cap"].is_string());
      CHECK(a["idle_ms"].is_number_unsigned());
    }
    if (pages != nullptr) *pages = page + 1;
    if (r.body["next"].is_null()) return seen;
    REQUIRE(r.body["next"].is_binary());
    cursor = r.body["next"].get_binary();
  }
  FAIL("paging did not end");
  return seen;
}

/// Whether `text` is Prometheus text format: comments, or `name{labels} value` lines.
bool parses_as_prometheus(const std::string& text, std::string* bad_line) {
  static const std::regex sample(
      R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\})? (-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|\+Inf|-Inf|NaN)$)");
  static const std::regex comment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$)");
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (!std::regex_match(line, line[0] == '#' ? comment : sample)) {
      *bad_line = line;
      return false;
    }
  }
  return !text.empty() && text.back() == '\n';
}

/// The value of the sample line that starts with `series ` ("name{labels}"), or -1.
double metric(const std::string& text, const std::string& series) {
  const std::string head = series + " ";
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(head, 0) == 0) return std::stod(line.substr(head.size()));
  return -1;
}

}  // namespace

TEST_CASE("stats counts calls, casts and errors by op and outcome, and the latency of served calls") {
  stats_host h;
  client c(h.host->endpoint());
  for (int i = 0; i < 5; ++i)
    REQUIRE(c.call("counter", "Counter", "c" + std::to_string(i), {{"op", "incr"}}).ok);
  for (int i = 0; i < 3; ++i) REQUIRE(c.cast("counter", "Counter", "c0", {{"op", "incr"}}).ok);
  CHECK(c.call("counter", "Nope", "x", {{"op", "get"}}).code == "unknown_module");
  CHECK(c.call("counter", "Nope", "y", {{"op", "get"}}).code == "unknown_module");
  CHECK(c.call("probe", "Probe", "boom", {{"op", "throw"}}).code == "actor_error");
  CHECK(c.call("probe", "Probe", "picky", {{"op", "reject"}}).code == "rejected");
  // The casts' handlers run after their acknowledgement: wait until c0 saw all three.
  REQUIRE(wait_until(
      [&] { return c.call("counter", "Counter", "c0", {{"op", "get"}}).body["count"] == 4; }));

  auto r = c.control(op::stats);
  REQUIRE(r.ok);
  CHECK(r.body["host"].is_string());
  CHECK(r.body["uptime_ms"].is_number_unsigned());
  const json s = r.body["stats"];
  const uint64_t gets = requests(s, "call", "ok") - 5;  // the polling calls above
  CHECK(gets >= 1);
  CHECK(requests(s, "cast", "ok") == 3);
  CHECK(requests(s, "call", "unknown_module") == 2);
  CHECK(requests(s, "call", "actor_error") == 1);
  CHECK(requests(s, "call", "rejected") == 1);
  CHECK(s["requests"]["call"].size() == 4);  // ok, unknown_module, actor_error, rejected
  CHECK(s["timeouts"] == 0);
  CHECK(s["decode_errors"] == 0);

  // Latency: every call an actor served (not the two unknown_module ones).
  const auto& lat = s["latency_us"];
  CHECK(lat["count"] == 5 + gets + 2);
  CHECK(lat["buckets"].size() == 19);
  CHECK(lat["buckets"][0][0] == 10);
  CHECK(lat["buckets"][18][0] == 10'000'000);
  CHECK(lat["buckets"][18][1] <= lat["count"]);
  CHECK(lat["p50"] <= lat["p95"]);
  CHECK(lat["p95"] <= lat["p99"]);
  CHECK(lat["sum_us"] > 0);

  // Actors: five counters and two probes were created; boom crashed and was discarded.
  CHECK(s["actors"]["activations"] == 7);
  CHECK(s["actors"]["activation_failures"] == 0);
  CHECK(s["actors"]["deactivations"]["crash"] == 1);
  CHECK(s["actors"]["deactivations"]["idle"] == 0);
  CHECK(s["actors"]["live"] == 6);
  CHECK(live_of(s, "Counter") == 5);
  CHECK(live_of(s, "Probe") == 1);
  CHECK(s["plugins"]["loaded"] == 2);
  CHECK(s["plugins"]["refused"] == 0);
  CHECK(s["queue"]["inflight"] == 0);
  CHECK(s["forward"]["sent"] == 0);
  CHECK(s["membership"]["joined"] == 0);

  // The stats request itself is counted once its reply is sent.
  CHECK(requests(stats_of(c), "stats", "ok") == 1);
}

TEST_CASE("undecodable requests are counted as decode errors under the op invalid") {
  stats_host h;
  client c(h.host->endpoint());
  c.send_raw("\xc1");                      // not MessagePack
  CHECK(c.receive()->code == "bad_request");
  c.send_raw("\x82\xa1v\x01\xa2op\xa4jump");  // an op nobody knows
  CHECK(c.receive()->code == "unknown_op");
  c.send_frames({"a", "b", "c"});          // three frames
  CHECK(c.receive()->code == "bad_request");
  const json s = stats_of(c);
  CHECK(s["decode_errors"] == 3);
  CHECK(requests(s, "invalid", "bad_request") == 2);
  CHECK(requests(s, "invalid", "unknown_op") == 1);
}

TEST_CASE("idle deactivations are counted and live actors drop to zero") {
  stats_host h({"--idle-timeout", "300ms"});
  client c(h.host->endpoint());
  for (auto id : {"a", "b", "c"}) REQUIRE(c.call("counter", "Counter", id, {{"op", "incr"}}).ok);
  CHECK(live_of(stats_of(c), "Counter") == 3);
  REQUIRE(wait_until([&] { return stats_of(c)["actors"]["deactivations"]["idle"] == 3; }));
  const json s = stats_of(c);
  CHECK(s["actors"]["live"] == 0);
  CHECK(live_of(s, "Counter") == 0);
  CHECK(s["actors"]["deactivations"]["crash"] == 0);
  CHECK(actors_page(c, 10).body["total"] == 0);
}

TEST_CASE("actors lists exactly the live activations and paging visits each once") {
  stats_host h;
  client c(h.host->endpoint());
  std::map<std::pair<std::string, std::string>, uint64_t> expected;
  for (int i = 0; i < 23; ++i) {
    const std::string id = "k" + std::to_string(i);
    auto r = c.call("counter", "Counter", id, {{"op", "incr"}});
    REQUIRE(r.ok);
    expected[{"Counter", id}] = r.activation;
  }
  for (int i = 0; i < 7; ++i) {
    const std::string id = "p" + std::to_string(i);
    auto r = c.call("probe", "Probe", id, {{"op", "info"}});
    REQUIRE(r.ok);
    expected[{"Probe", id}] = r.activation;
  }
  // A crashed actor is not live any more.
  CHECK(c.call("probe", "Probe", "gone", {{"op", "throw"}}).code == "actor_error");

  size_t pages = 0;
  CHECK(all_actors(c, 4, {}, &pages) == expected);
  CHECK(pages == 8);  // 30 actors, 4 a page
  CHECK(all_actors(c, 1000) == expected);

  auto first = actors_page(c, 4);
  CHECK(first.body["total"] == 30);
  CHECK(first.body["actors"].size() == 4);
  CHECK(first.body["actors"][0]["mod"] == "Counter");
  CHECK(first.body["actors"][0]["cap"] == "counter");
  CHECK(first.body["actors"][0]["id"] == "k0");  // byte order: k0, k1, k10, k11, ...
  CHECK(first.body["actors"][1]["id"] == "k1");
  CHECK(first.body["actors"][2]["id"] == "k10");

  auto probes = all_actors(c, 3, "Probe");
  CHECK(probes.size() == 7);
  for (const auto& [key, act] : probes) CHECK(key.first == "Probe");
  auto filtered = actors_page(c, 100, "Probe");
  CHECK(filtered.body["total"] == 7);
  CHECK(filtered.body["next"].is_null());
  CHECK(actors_page(c, 100, "Nope").body["total"] == 0);

  // Actors created between pages after the cursor show up; earlier ones are not repeated.
  auto page = actors_page(c, 20);
  REQUIRE(page.body["next"].is_binary());
  REQUIRE(c.call("probe", "Probe", "zz", {{"op", "info"}}).ok);
  REQUIRE(c.call("counter", "Counter", "a-new", {{"op", "incr"}}).ok);  // before the cursor
  auto rest = actors_page(c, 100, {}, page.body["next"].get_binary());
  CHECK(rest.body["total"] == 32);
  CHECK(rest.body["actors"].size() == 11);  // 30 - 20 + zz
  CHECK(rest.body["actors"].back()["id"] == "zz");

  // Bad limits and cursors are bad requests, answered with the request's rid (PROTOCOL.md: one
  // rule for every refusal of a readable envelope).
  for (uint32_t bad : {0u, 1001u}) {
    mesh::wire::request req;
    req.kind = op::actors;
    req.rid = c.next_rid();
    req.limit = bad;
    c.send(req);
    auto r = c.receive();
    REQUIRE(r);
    CHECK(r->code == "bad_request");
    CHECK(r->rid == req.rid);
  }
  CHECK(actors_page(c, 10, {}, {0xff, 0xff, 0xff, 0xff, 'x'}).code == "bad_request");
}

TEST_CASE("the members reply carries the placement strategy and the shard count") {
  stats_host h({"--shards", "64"});
  client c(h.host->endpoint());
  auto r = c.control(op::members);
  REQUIRE(r.ok);
  CHECK(r.body["strategy"] == "rendezvous");
  CHECK(r.body["shards"] == 64);
  CHECK(r.body["members"].size() == 1);
}

TEST_CASE("the metrics endpoint serves the counters in the Prometheus text format") {
  stats_host h;
  client c(h.host->endpoint());
  for (int i = 0; i < 3; ++i)
    REQUIRE(c.call("counter", "Counter", "m" + std::to_string(i), {{"op", "incr"}}).ok);
  CHECK(c.call("probe", "Probe", "boom", {{"op", "throw"}}).code == "actor_error");
  CHECK(c.call("counter", "Nope", "x", {{"op", "get"}}).code == "unknown_module");

  // The dispatcher publishes a snapshot every 250 ms.
  std::string text, content_type;
  REQUIRE(wait_until([&] {
    text = h.scrape(&content_type);
    return metric(text, R"(mesh_requests_total{op="call",outcome="unknown_module"})") == 1;
  }));
  std::string bad;
  CHECK_MESSAGE(parses_as_prometheus(text, &bad), bad);
  CHECK(content_type.find("text/plain") == 0);
  CHECK(content_type.find("version=0.0.4") != std::string::npos);
  CHECK(metric(text, R"(mesh_requests_total{op="call",outcome="ok"})") == 3);
  CHECK(metric(text, R"(mesh_requests_total{op="call",outcome="actor_error"})") == 1);
  CHECK(metric(text, R"(mesh_actors{capability="counter",module="Counter"})") == 3);
  CHECK(metric(text, R"(mesh_actors{capability="probe",module="Probe"})") == 0);
  CHECK(metric(text, "mesh_actors_live") == 3);
  CHECK(metric(text, "mesh_activations_total") == 4);
  CHECK(metric(text, R"(mesh_deactivations_total{reason="crash"})") == 1);
  CHECK(metric(text, R"(mesh_deactivations_total{reason="idle"})") == 0);
  CHECK(metric(text, "mesh_plugins_loaded_total") == 2);
  CHECK(metric(text, "mesh_call_latency_seconds_count") == 4);
  CHECK(metric(text, R"(mesh_call_latency_seconds_bucket{le="+Inf"})") == 4);
  CHECK(metric(text, R"(mesh_call_latency_seconds_bucket{le="10"})") <= 4);
  CHECK(metric(text, R"(mesh_call_latency_seconds_bucket{le="0.00001"})") >= 0);
  CHECK(metric(text, "mesh_call_latency_seconds_sum") > 0);
  CHECK(text.find("# TYPE mesh_call_latency_seconds histogram\n") != std::string::npos);
  CHECK(text.find("# TYPE mesh_requests_total counter\n") != std::string::npos);
  CHECK(text.find("# TYPE mesh_actors gauge\n") != std::string::npos);

  httplib::Client http("127.0.0.1", h.metrics_port());
  auto other = http.Get("/nothing");
  REQUIRE(other);
  CHECK(other->status == 404);
}

TEST_CASE("SIGTERM stops the metrics endpoint with the host") {
  stats_host h;
  REQUIRE_FALSE(h.scrape().empty());
  h.host->process().signal(SIGTERM);
  CHECK(h.host->process().wait(15s) == 0);
  CHECK(h.scrape().empty());
  const std::string log = h.host->log();
  CHECK(log.find("started: ") != std::string::npos);
  CHECK(log.find("metrics=http://" + h.metrics + "/metrics") != std::string::npos);
  CHECK(log.find("stopped: 0 actors deactivated") != std::string::npos);
}

TEST_CASE("a metrics address that cannot be bound is a start-up error") {
  stats_host first;
  temp_dir dir;
  child_process p({MESHD_PATH, "--listen", "tcp://127.0.0.1:*", "--plugins",
                   first.plugins.path().string(), "--metrics-listen", first.metrics},
                  dir / "log");
  CHECK(p.wait(15s) == 1);
  CHECK(read_file(dir / "log").find("cannot serve metrics on " + first.metrics) !=
        std::string::npos);

  child_process junk({MESHD_PATH, "--listen", "tcp://127.0.0.1:*", "--plugins",
                      first.plugins.path().string(), "--metrics-listen", "127.0.0.1:http"},
                     dir / "log2");
  CHECK(junk.wait(15s) == 1);
  CHECK(read_file(dir / "log2").find("invalid port") != std::string::npos);
}

TEST_CASE("--log-format json writes one JSON object per line") {
  temp_dir plugins;
  install_plugin(fixtures / "libfixture_wrong_abi.so", plugins.path());
  install_plugin(examples / "libmesh_counter.so", plugins.path());
  meshd_process host(plugins.path(), {"--log-format", "json"});
  client c(host.endpoint());
  REQUIRE(c.call("counter", "Counter", "j\"son\n", {{"op", "incr"}}).ok);
  host.process().signal(SIGTERM);
  REQUIRE(host.process().wait(15s) == 0);
  std::istringstream in(host.log());
  std::vector<std::string> messages;
  for (std::string line; std::getline(in, line);) {
    json j;
    REQUIRE_NOTHROW(j = json::parse(line));
    REQUIRE(j.is_object());
    CHECK(j.size() == 3);
    CHECK(j["ts"].get<std::string>().size() == 24);  // 2024-05-01T12:00:00.123Z
    CHECK(j["ts"].get<std::string>().back() == 'Z');
    CHECK(j["level"].is_string());
    messages.push_back(j["msg"]);
  }
  auto has = [&](const std::string& prefix) {
    return std::count_if(messages.begin(), messages.end(),
                         [&](const std::string& m) { return m.rfind(prefix, 0) == 0; });
  };
  CHECK(has("started: ") == 1);
  CHECK(has("plugin loaded: ") == 1);
  CHECK(has("plugin refused: ") == 1);
  CHECK(has("stopping: ") == 1);
  CHECK(has("stopped: 1 actors deactivated") == 1);
}
