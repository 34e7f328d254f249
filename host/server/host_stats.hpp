// What a host counts about itself, and the snapshot of it that the `stats` op and the
// Prometheus endpoint report. docs/OPERATIONS.md lists every counter; docs/PROTOCOL.md the
// `stats` reply.
//
// Cost: the dispatcher thread is the only writer of `host_counters` (plain integers); worker
// counters live in runtime_stats (relaxed atomics). A snapshot is taken on the dispatcher.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "security/authenticator.hpp"
#include <mesh/wire/envelope.hpp>

namespace mesh::host {

/// Upper bounds (µs) of the call latency buckets: 1-2-5 steps from 10 µs to 10 s.
inline constexpr std::array<uint64_t, 19> latency_bounds_us = {
    10,     20,     50,      100,     200,     500,     1'000,     2'000,     5'000,    10'000,
    20'000, 50'000, 100'000, 200'000, 500'000, 1'000'000, 2'000'000, 5'000'000, 10'000'000};

/// A histogram over latency_bounds_us with one writer: count per bucket (the last one holds
/// what exceeds the last bound), sum and count.
class latency_histogram {
 public:
  /// Adds one observation of `us` microseconds.
  void record(uint64_t us) noexcept {
    size_t i = 0;
    while (i < latency_bounds_us.size() && us > latency_bounds_us[i]) ++i;
    ++counts_[i];
    sum_us_ += us;
    ++count_;
  }
  /// Observations per bucket (not cumulative); index latency_bounds_us.size() is the overflow.
  const std::array<uint64_t, latency_bounds_us.size() + 1>& counts() const noexcept {
    return counts_;
  }
  uint64_t sum_us() const noexcept { return sum_us_; }
  uint64_t count() const noexcept { return count_; }
  /// The `q` quantile (0 < q <= 1) in µs, interpolated linearly inside its bucket the way
  /// Prometheus' histogram_quantile does; 0 without observations; the last bound if it falls in
  /// the overflow bucket.
  uint64_t quantile_us(double q) const noexcept;

 private:
  std::array<uint64_t, latency_bounds_us.size() + 1> counts_{};
  uint64_t sum_us_ = 0;
  uint64_t count_ = 0;
};

/// How a host answered a request: ok, an error code, or relayed the owner's reply. An error's
/// outcome index is its code, so ok sits where error_code::none does.
inline constexpr size_t outcome_ok = static_cast<size_t>(wire::error_code::none);
inline constexpr size_t outcome_forwarded = wire::error_code_count;
inline constexpr size_t outcome_count = wire::error_code_count + 1;
/// The outcome index of an error code.
constexpr size_t outcome_of(wire::error_code code) noexcept { return static_cast<size_t>(code); }
/// "ok", an error code's wire name, or "forwarded".
std::string_view outcome_name(size_t outcome) noexcept;

/// Request table rows: one per op, plus one for requests whose op was never known (undecodable).
inline constexpr size_t op_invalid = wire::op_count;
inline constexpr size_t op_slots = wire::op_count + 1;
/// An op's wire name, or "invalid" for op_invalid.
std::string_view op_name(size_t op) noexcept;

/// Membership changes, counted where this host's view of a member changes.
enum class member_change : uint8_t { joined, suspected, recovered, dead, left };
inline constexpr size_t member_change_count = 5;
std::string_view to_string(member_change c) noexcept;

/// The dispatcher's counters (plain integers: the dispatcher thread is the only writer).
struct host_counters {
  std::array<std::array<uint64_t, outcome_count>, op_slots> requests{};
  uint64_t forwarded = 0;            ///< frames sent to another host (re-sends included)
  uint64_t forward_retries = 0;      ///< wrong_owner answers received: routed again
  uint64_t forward_unreachable = 0;  ///< sends that found the owner not connected
  uint64_t wrong_owner = 0;          ///< wrong_owner answers given to other hosts
  uint64_t wrong_incarnation = 0;    ///< requests refused: meant for another run of this host
  uint64_t decode_errors = 0;
  uint64_t dropped_replies = 0;
  uint64_t plugins_loaded = 0;
  uint64_t plugins_refused = 0;
  uint64_t view_changes = 0;
  uint64_t late_replies = 0;  ///< replies after their call was answered timeout: dropped
  std::array<uint64_t, member_change_count> membership{};
  latency_histogram latency;  ///< calls served here: accept to reply send
};

/// Live actors of one module.
struct module_live {
  std::string capability;
  std::string module;
  uint64_t live = 0;
};

/// Everything the host reports, copied at one moment on the dispatcher thread.
struct stats_snapshot {
  std::string host;
  uint64_t uptime_ms = 0;
  host_counters counters;
  // From the runtime (worker-written atomics, read once).
  uint64_t activations = 0;
  uint64_t activation_failures = 0;
  uint64_t deactivations_idle = 0;
  uint64_t deactivations_rebalance = 0;
  uint64_t deactivations_crash = 0;
  uint64_t deactivations_shutdown = 0;
  /// Host services (ABI 1.2), from the runtime.
  struct services_counts {
    uint64_t calls = 0, casts = 0, deferred_replies = 0, timer_firings = 0, messages_dropped = 0,
             refused = 0, timers_armed = 0;
  } services;
  // Gauges.
  uint64_t live_actors = 0;
  std::vector<module_live> by_module;  ///< every loaded module, sorted by module name
  uint64_t inflight = 0;
  uint64_t run_queue = 0;
  // Authentication (docs/SECURITY.md).
  bool curve = false;  ///< the host runs with a cluster key
  /// Refused handshakes by socket role and reason (security::socket_role, security::denial).
  std::array<std::array<uint64_t, security::denial_count>, security::socket_role_count> auth_denied{};

  /// Requests answered with `timeout`, whatever the op.
  uint64_t timeouts() const noexcept;
};

/// Packs the `stats` map of the `stats` reply (docs/PROTOCOL.md#stats).
void pack_stats(msgpack::packer<wire::buffer>& pk, const stats_snapshot& s);

/// The Prometheus text exposition (format 0.0.4) of `s` (docs/OPERATIONS.md#metrics).
std::string render_prometheus(const stats_snapshot& s);

}  // namespace mesh::host
