// The two writers of a host's counters, the `stats` map (msgpack) and the Prometheus text, on
// one snapshot with every counter set to its own value, against golden files written by the
// writers as they were before they shared a schema (byte for byte).
//
// To re-record after an intended change: MESH_UPDATE_GOLDEN=1 ./host_stats_test
#include "server/host_stats.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

using namespace mesh::host;

namespace {

const std::filesystem::path golden_dir = std::filesystem::path(__FILE__).parent_path() / "golden";

/// Every field a different value, labels that need escaping, both kinds of outcome.
stats_snapshot sample_snapshot() {
  stats_snapshot s;
  s.host = "node \"1\"\\a\nb";
  s.uptime_ms = 123'456;
  host_counters& c = s.counters;
  uint64_t n = 1;
  for (size_t op = 0; op < op_slots; op += 2)
    for (size_t o = 0; o < outcome_count; o += 3) c.requests[op][o] = n++;
  c.requests[op_invalid][outcome_of(mesh::wire::error_code::bad_request)] = 7;
  c.requests[0][outcome_forwarded] = 9;
  c.requests[1][outcome_of(mesh::wire::error_code::timeout)] = 4;
  c.forwarded = 101;
  c.forward_retries = 102;
  c.forward_unreachable = 103;
  c.wrong_owner = 104;
  c.wrong_incarnation = 105;
  c.decode_errors = 106;
  c.dropped_replies = 107;
  c.plugins_loaded = 108;
  c.plugins_refused = 109;
  c.view_changes = 110;
  c.late_replies = 111;
  for (size_t i = 0; i < member_change_count; ++i) c.membership[i] = 200 + i;
  for (const uint64_t us : {5u, 15u, 15u, 700u, 3'000u, 80'000u, 20'000'000u}) c.latency.record(us);
  s.activations = 301;
  s.activation_failures = 302;
  s.deactivations_idle = 303;
  s.deactivations_rebalance = 304;
  s.deactivations_crash = 305;
  s.deactivations_shutdown = 306;
  s.live_actors = 307;
  s.by_module = {{"counter", "Counter", 5}, {"odd\"cap", "Mod\\ule", 0}};
  s.inflight = 308;
  s.run_queue = 309;
  s.services = {501, 502, 503, 504, 505, 506, 507};
  s.curve = true;
  for (size_t r = 0; r < mesh::security::socket_role_count; ++r)
    for (size_t d = 0; d < mesh::security::denial_count; ++d)
      s.auth_denied[r][d] = 400 + 10 * r + d;
  return s;
}

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const char ch : bytes) {
    const auto b = static_cast<unsigned char>(ch);
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// `actual` equals the golden file `name`, or (MESH_UPDATE_GOLDEN set) becomes it.
void check_golden(const std::string& name, const std::string& actual) {
  const auto path = golden_dir / name;
  if (std::getenv("MESH_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path, std::ios::binary) << actual;
    MESSAGE("wrote " << path.string());
    return;
  }
  REQUIRE_MESSAGE(std::filesystem::exists(path), path.string());
  CHECK(actual == read_text(path));
}

}  // namespace

TEST_CASE("the stats map packs every counter exactly as the golden bytes") {
  mesh::wire::buffer out;
  msgpack::packer<mesh::wire::buffer> pk(out);
  pack_stats(pk, sample_snapshot());
  const std::string bytes(out.data(), out.size());
  const auto as_json = nlohmann::ordered_json::from_msgpack(bytes);
  CAPTURE(as_json.dump(1));
  check_golden("stats.msgpack.hex", hex(bytes) + "\n");
}

TEST_CASE("the Prometheus text renders every counter exactly as the golden text") {
  check_golden("stats.prom", render_prometheus(sample_snapshot()));
}

TEST_CASE("an empty snapshot omits zero request counts but keeps every other series") {
  const std::string text = render_prometheus(stats_snapshot{});
  CHECK(text.find("mesh_requests_total{") == std::string::npos);
  CHECK(text.find("mesh_forwarded_total 0\n") != std::string::npos);
  CHECK(text.find("mesh_auth_curve 0\n") != std::string::npos);
  CHECK(text.find("mesh_auth_denied_total{socket=\"gossip\",reason=\"no_key\"} 0\n") !=
        std::string::npos);
  mesh::wire::buffer out;
  msgpack::packer<mesh::wire::buffer> pk(out);
  pack_stats(pk, stats_snapshot{});
  const auto j = nlohmann::json::from_msgpack(std::string(out.data(), out.size()));
  CHECK(j["requests"].empty());
  CHECK(j.size() == 12);
  CHECK(j["services"]["timers_armed"] == 0);
  CHECK(j["auth"]["curve"] == false);
}
