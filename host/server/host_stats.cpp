#include "server/host_stats.hpp"

#include <cmath>
#include <mesh/wire/name_table.hpp>

namespace mesh::host {
namespace {

constexpr wire::name_table<member_change, member_change_count> member_change_names{
    {"joined", "suspected", "recovered", "dead", "left"}};
static_assert(member_change_names.complete());

/// `us` microseconds as decimal seconds without exponent or trailing zeros: 10 -> "0.00001".
std::string seconds_of_us(uint64_t us) {
  std::string out = std::to_string(us / 1'000'000);
  uint64_t frac = us % 1'000'000;
  if (frac == 0) return out;
  std::string digits = std::to_string(frac);
  digits.insert(0, 6 - digits.size(), '0');
  digits.erase(digits.find_last_not_of('0') + 1);
  return out + "." + digits;
}

/// A Prometheus label value: backslash, double quote and newline escaped.
std::string label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

/// Appends the # HELP and # TYPE lines of a metric family.
void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

/// Appends one sample line `name{labels} value`.
void sample(std::string& out, std::string_view name, std::string_view labels, std::string_view value) {
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(value).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels, uint64_t value) {
  sample(out, name, labels, std::to_string(value));
}

template <class Stream>
void kv(msgpack::packer<Stream>& pk, std::string_view key, uint64_t value) {
  wire::pack_string(pk, key);
  pk.pack_uint64(value);
}

}  // namespace

uint64_t latency_histogram::quantile_us(double q) const noexcept {
  if (count_ == 0) return 0;
  const double rank = q * static_cast<double>(count_);
  uint64_t below = 0;
  for (size_t i = 0; i < latency_bounds_us.size(); ++i) {
    const uint64_t in_bucket = counts_[i];
    if (in_bucket > 0 && static_cast<double>(below + in_bucket) >= rank) {
      const double lower = i == 0 ? 0.0 : static_cast<double>(latency_bounds_us[i - 1]);
      const double upper = static_cast<double>(latency_bounds_us[i]);
      const double fraction = (rank - static_cast<double>(below)) / static_cast<double>(in_bucket);
      return static_cast<uint64_t>(std::llround(lower + (upper - lower) * fraction));
    }
    below += in_bucket;
  }
  return latency_bounds_us.back();
}

std::string_view outcome_name(size_t outcome) noexcept {
  if (outcome == outcome_ok) return "ok";
  if (outcome == outcome_forwarded) return "forwarded";
  return wire::to_string(static_cast<wire::error_code>(outcome));
}

std::string_view op_name(size_t op) noexcept {
  if (op >= wire::op_count) return "invalid";
  return wire::to_string(static_cast<wire::op>(op));
}

std::string_view to_string(member_change c) noexcept { return member_change_names.name(c); }

uint64_t stats_snapshot::timeouts() const noexcept {
  uint64_t n = 0;
  for (const auto& row : counters.requests) n += row[outcome_of(wire::error_code::timeout)];
  return n;
}

namespace {

using packer = msgpack::packer<wire::buffer>;

// ---- The parts of the schema that are more than one number -------------------------------

void pack_requests(packer& pk, const stats_snapshot& s) {
  const host_counters& c = s.counters;
  uint32_t ops = 0;
  for (const auto& row : c.requests)
    for (uint64_t n : row)
      if (n != 0) {
        ++ops;
        break;
      }
  pk.pack_map(ops);
  for (size_t op = 0; op < op_slots; ++op) {
    uint32_t outcomes = 0;
    for (uint64_t n : c.requests[op]) outcomes += n != 0 ? 1 : 0;
    if (outcomes == 0) continue;
    wire::pack_string(pk, op_name(op));
    pk.pack_map(outcomes);
    for (size_t o = 0; o < outcome_count; ++o)
      if (c.requests[op][o] != 0) kv(pk, outcome_name(o), c.requests[op][o]);
  }
}

void render_requests(std::string& out, std::string_view metric, const stats_snapshot& s) {
  const host_counters& c = s.counters;
  for (size_t op = 0; op < op_slots; ++op)
    for (size_t o = 0; o < outcome_count; ++o)
      if (c.requests[op][o] != 0)
        sample(out, metric,
               "op=\"" + std::string(op_name(op)) + "\",outcome=\"" +
                   std::string(outcome_name(o)) + "\"",
               c.requests[op][o]);
}

/// Deactivations by reason, in the order both writers list them.
std::array<std::pair<std::string_view, uint64_t>, 4> deactivations(const stats_snapshot& s) {
  return {{{"idle", s.deactivations_idle},
           {"rebalance", s.deactivations_rebalance},
           {"crash", s.deactivations_crash},
           {"shutdown", s.deactivations_shutdown}}};
}

void pack_deactivations(packer& pk, const stats_snapshot& s) {
  const auto reasons = deactivations(s);
  pk.pack_map(static_cast<uint32_t>(reasons.size()));
  for (const auto& [reason, n] : reasons) kv(pk, reason, n);
}

void render_deactivations(std::string& out, std::string_view metric, const stats_snapshot& s) {
  for (const auto& [reason, n] : deactivations(s))
    sample(out, metric, "reason=\"" + std::string(reason) + "\"", n);
}

void pack_by_module(packer& pk, const stats_snapshot& s) {
  pk.pack_array(static_cast<uint32_t>(s.by_module.size()));
  for (const auto& m : s.by_module) {
    pk.pack_map(3);
    wire::pack_string(pk, "cap");
    wire::pack_string(pk, m.capability);
    wire::pack_string(pk, "mod");
    wire::pack_string(pk, m.module);
    kv(pk, "live", m.live);
  }
}

void render_by_module(std::string& out, std::string_view metric, const stats_snapshot& s) {
  for (const auto& m : s.by_module)
    sample(out, metric,
           "capability=\"" + label_value(m.capability) + "\",module=\"" + label_value(m.module) +
               "\"",
           m.live);
}

void pack_latency(packer& pk, const stats_snapshot& s) {
  const latency_histogram& h = s.counters.latency;
  pk.pack_map(6);
  wire::pack_string(pk, "buckets");
  pk.pack_array(static_cast<uint32_t>(latency_bounds_us.size()));
  uint64_t cumulative = 0;
  for (size_t i = 0; i < latency_bounds_us.size(); ++i) {
    cumulative += h.counts()[i];
    pk.pack_array(2);
    pk.pack_uint64(latency_bounds_us[i]);
    pk.pack_uint64(cumulative);
  }
  kv(pk, "count", h.count());
  kv(pk, "sum_us", h.sum_us());
  kv(pk, "p50", h.quantile_us(0.50));
  kv(pk, "p95", h.quantile_us(0.95));
  kv(pk, "p99", h.quantile_us(0.99));
}

void render_latency(std::string& out, std::string_view metric, const stats_snapshot& s) {
  const latency_histogram& h = s.counters.latency;
  const std::string name(metric);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < latency_bounds_us.size(); ++i) {
    cumulative += h.counts()[i];
    sample(out, name + "_bucket", "le=\"" + seconds_of_us(latency_bounds_us[i]) + "\"",
           cumulative);
  }
  sample(out, name + "_bucket", "le=\"+Inf\"", h.count());
  sample(out, name + "_sum", {}, seconds_of_us(h.sum_us()));
  sample(out, name + "_count", {}, h.count());
}

/// Membership changes are keys of the `membership` map itself, beside view_changes.
void pack_membership_changes(packer& pk, const stats_snapshot& s) {
  for (size_t i = 0; i < member_change_count; ++i)
    kv(pk, to_string(static_cast<member_change>(i)), s.counters.membership[i]);
}

void render_membership_changes(std::string& out, std::string_view metric,
                               const stats_snapshot& s) {
  for (size_t i = 0; i < member_change_count; ++i)
    sample(out, metric,
           "change=\"" + std::string(to_string(static_cast<member_change>(i))) + "\"",
           s.counters.membership[i]);
}

void pack_curve(packer& pk, const stats_snapshot& s) {
  if (s.curve) pk.pack_true(); else pk.pack_false();
}

void pack_auth_denied(packer& pk, const stats_snapshot& s) {
  pk.pack_map(security::socket_role_count);
  for (size_t r = 0; r < security::socket_role_count; ++r) {
    wire::pack_string(pk, to_string(static_cast<security::socket_role>(r)));
    pk.pack_map(security::denial_count);
    for (size_t d = 0; d < security::denial_count; ++d)
      kv(pk, to_string(static_cast<security::denial>(d)), s.auth_denied[r][d]);
  }
}

void render_auth_denied(std::string& out, std::string_view metric, const stats_snapshot& s) {
  for (size_t r = 0; r < security::socket_role_count; ++r)
    for (size_t d = 0; d < security::denial_count; ++d)
      sample(out, metric,
             "socket=\"" + std::string(to_string(static_cast<security::socket_role>(r))) +
                 "\",reason=\"" + std::string(to_string(static_cast<security::denial>(d))) + "\"",
             s.auth_denied[r][d]);
}

void render_host_info(std::string& out, std::string_view metric, const stats_snapshot& s) {
  sample(out, metric, "host=\"" + label_value(s.host) + "\"", 1);
}

void render_uptime(std::string& out, std::string_view metric, const stats_snapshot& s) {
  sample(out, metric, {}, seconds_of_us(s.uptime_ms * 1000));
}

// ---- The schema ----------------------------------------------------------------------------

/// One thing the host reports: where it sits in the `stats` map, which Prometheus family it is,
/// and how to read it. A plain number has only `value`; anything else packs and renders itself.
struct stat_field {
  /// The map of the `stats` reply it sits in: "" for the top level; `stats` = false for the
  /// families the reply carries beside the map (host, uptime_ms).
  std::string_view section;
  /// Its key there; "" when `pack` writes `keys` entries of the section itself.
  std::string_view key;
  std::string_view metric;
  std::string_view type;  ///< counter, gauge or histogram
  std::string_view help;
  /// Its Prometheus position (docs/OPERATIONS.md lists the families in this order).
  int rank;
  uint64_t (*value)(const stats_snapshot&) = nullptr;
  void (*pack)(packer&, const stats_snapshot&) = nullptr;
  void (*render)(std::string&, std::string_view metric, const stats_snapshot&) = nullptr;
  uint32_t keys = 1;
  bool stats = true;
};

/// In `stats` map order; a section's fields are next to each other.
constexpr std::array<stat_field, 33> schema = {{
    {"", "requests", "mesh_requests_total", "counter",
     "Requests received, by op and by how this host answered them (ok, an error code, or "
     "forwarded: the owner's reply was relayed). Zero counts are omitted.",
     2, nullptr, &pack_requests, &render_requests},
    {"forward", "sent", "mesh_forwarded_total", "counter",
     "Requests sent to the owning host (re-sends after a retry included).", 3,
     [](const stats_snapshot& s) { return s.counters.forwarded; }},
    {"forward", "retries", "mesh_forward_retries_total", "counter",
     "wrong_owner answers received from other hosts; the request was routed again.", 4,
     [](const stats_snapshot& s) { return s.counters.forward_retries; }},
    {"forward", "unreachable", "mesh_forward_unreachable_total", "counter",
     "Forwards that found the owner not connected; retried with back-off.", 5,
     [](const stats_snapshot& s) { return s.counters.forward_unreachable; }},
    {"forward", "wrong_owner", "mesh_wrong_owner_total", "counter",
     "wrong_owner answers this host gave to forwarding hosts.", 6,
     [](const stats_snapshot& s) { return s.counters.wrong_owner; }},
    {"forward", "wrong_incarnation", "mesh_wrong_incarnation_total", "counter",
     "Requests refused unrun because they were addressed to another run of this host "
     "(a restart on the same endpoint).",
     7, [](const stats_snapshot& s) { return s.counters.wrong_incarnation; }},
    {"actors", "live", "mesh_actors_live", "gauge", "Live actors on this host.", 11,
     [](const stats_snapshot& s) { return s.live_actors; }},
    {"actors", "activations", "mesh_activations_total", "counter",
     "Actors created (constructor succeeded).", 8,
     [](const stats_snapshot& s) { return s.activations; }},
    {"actors", "activation_failures", "mesh_activation_failures_total", "counter",
     "Actor constructors that failed (activation_failed).", 9,
     [](const stats_snapshot& s) { return s.activation_failures; }},
    {"actors", "deactivations", "mesh_deactivations_total", "counter",
     "Actors deactivated, by reason: idle, rebalance (key moved to another host), crash (a "
     "handler failed and the activation was discarded), shutdown.",
     10, nullptr, &pack_deactivations, &render_deactivations},
    {"actors", "by_module", "mesh_actors", "gauge",
     "Live actors on this host, by capability and module.", 12, nullptr, &pack_by_module,
     &render_by_module},
    {"queue", "inflight", "mesh_inflight_requests", "gauge",
     "Requests accepted and not yet answered (local and forwarded).", 13,
     [](const stats_snapshot& s) { return s.inflight; }},
    {"queue", "run_queue", "mesh_run_queue_length", "gauge",
     "Actors with mail waiting for a worker.", 14,
     [](const stats_snapshot& s) { return s.run_queue; }},
    {"", "latency_us", "mesh_call_latency_seconds", "histogram",
     "Calls served by this host's actors: from accepting the request to sending the reply.", 15,
     nullptr, &pack_latency, &render_latency},
    {"membership", "", "mesh_membership_changes_total", "counter",
     "Changes of other hosts' status in this host's view: joined, suspected, recovered, "
     "dead, left.",
     16, nullptr, &pack_membership_changes, &render_membership_changes, member_change_count},
    {"membership", "view_changes", "mesh_view_changes_total", "counter",
     "New cluster views (sets of hosts owning keys) applied.", 17,
     [](const stats_snapshot& s) { return s.counters.view_changes; }},
    {"plugins", "loaded", "mesh_plugins_loaded_total", "counter", "Plugins loaded.", 18,
     [](const stats_snapshot& s) { return s.counters.plugins_loaded; }},
    {"plugins", "refused", "mesh_plugins_refused_total", "counter", "Plugin files refused.", 19,
     [](const stats_snapshot& s) { return s.counters.plugins_refused; }},
    {"auth", "curve", "mesh_auth_curve", "gauge",
     "1 when the host runs with a cluster key (CURVE on every socket), 0 when unauthenticated.",
     23, [](const stats_snapshot& s) -> uint64_t { return s.curve ? 1 : 0; }, &pack_curve},
    {"auth", "denied", "mesh_auth_denied_total", "counter",
     "Handshakes refused, by socket (requests, gossip) and reason: unknown_key (a key not "
     "allowed), no_key (a peer without CURVE), bad_handshake (any other failure, e.g. a "
     "peer expecting another cluster key).",
     24, nullptr, &pack_auth_denied, &render_auth_denied},
    {"", "decode_errors", "mesh_decode_errors_total", "counter",
     "Requests that could not be decoded (bad_request, too_large, unknown_op, "
     "unsupported_version).",
     20, [](const stats_snapshot& s) { return s.counters.decode_errors; }},
    {"", "dropped_replies", "mesh_dropped_replies_total", "counter",
     "Replies that could not be sent (client gone or its queue full).", 21,
     [](const stats_snapshot& s) { return s.counters.dropped_replies; }},
    {"", "timeouts", "mesh_timeouts_total", "counter", "Requests answered with timeout.", 22,
     [](const stats_snapshot& s) { return s.timeouts(); }},
    {"services", "calls", "mesh_actor_calls_total", "counter",
     "Calls actors made to other actors (host services).", 25,
     [](const stats_snapshot& s) { return s.services.calls; }},
    {"services", "casts", "mesh_actor_casts_total", "counter",
     "Casts actors made to other actors (host services).", 26,
     [](const stats_snapshot& s) { return s.services.casts; }},
    {"services", "deferred_replies", "mesh_deferred_replies_total", "counter",
     "Calls an actor chose to answer later (defer_reply).", 27,
     [](const stats_snapshot& s) { return s.services.deferred_replies; }},
    {"services", "late_replies", "mesh_late_replies_total", "counter",
     "Replies that came after their call's deadline (already answered timeout): dropped.", 28,
     [](const stats_snapshot& s) { return s.counters.late_replies; }},
    {"services", "timers_armed", "mesh_timers_armed", "gauge",
     "Actors' timers armed (or firing) now.", 29,
     [](const stats_snapshot& s) { return s.services.timers_armed; }},
    {"services", "timer_firings", "mesh_timer_firings_total", "counter",
     "Timer firings delivered to actors.", 30,
     [](const stats_snapshot& s) { return s.services.timer_firings; }},
    {"services", "messages_dropped", "mesh_actor_messages_dropped_total", "counter",
     "Replies and timer firings dropped because the activation they were for was gone.", 31,
     [](const stats_snapshot& s) { return s.services.messages_dropped; }},
    {"services", "refused", "mesh_services_refused_total", "counter",
     "Uses of the host services refused (a bad payload or id, a cap reached, a reply to an "
     "unknown token).",
     32, [](const stats_snapshot& s) { return s.services.refused; }},
    // Beside the `stats` map in the reply (docs/PROTOCOL.md#stats): host and uptime_ms.
    {"", "host", "mesh_host_info", "gauge", "Always 1; the label names this host (meshd --name).",
     0, nullptr, nullptr, &render_host_info, 1, false},
    {"", "uptime_ms", "mesh_uptime_seconds", "gauge", "Seconds since the host started serving.",
     1, nullptr, nullptr, &render_uptime, 1, false},
}};

/// Whether the ranks are 0..N-1, each once, and each section's fields are next to each other.
constexpr bool well_formed() {
  for (size_t rank = 0; rank < schema.size(); ++rank) {
    size_t holders = 0;
    for (const auto& f : schema) holders += f.rank == static_cast<int>(rank) ? 1 : 0;
    if (holders != 1) return false;
  }
  for (size_t i = 1; i < schema.size(); ++i)
    if (!schema[i].section.empty() && schema[i].section != schema[i - 1].section)
      for (size_t j = 0; j + 1 < i; ++j)
        if (schema[j].section == schema[i].section) return false;
  return true;
}
static_assert(well_formed());

/// The schema's fields in Prometheus order.
std::array<const stat_field*, schema.size()> by_rank() {
  std::array<const stat_field*, schema.size()> out{};
  for (const auto& f : schema) out[static_cast<size_t>(f.rank)] = &f;
  return out;
}

}  // namespace

void pack_stats(packer& pk, const stats_snapshot& s) {
  uint32_t top = 0;
  for (size_t i = 0; i < schema.size(); ++i)
    if (schema[i].stats && (schema[i].section.empty() || i == 0 ||
                            schema[i - 1].section != schema[i].section))
      ++top;
  pk.pack_map(top);
  for (size_t i = 0; i < schema.size(); ++i) {
    const stat_field& f = schema[i];
    if (!f.stats) continue;
    if (!f.section.empty() && (i == 0 || schema[i - 1].section != f.section)) {
      uint32_t keys = 0;
      for (size_t j = i; j < schema.size() && schema[j].section == f.section; ++j)
        keys += schema[j].keys;
      wire::pack_string(pk, f.section);
      pk.pack_map(keys);
    }
    if (!f.key.empty()) wire::pack_string(pk, f.key);
    if (f.pack != nullptr) {
      f.pack(pk, s);
    } else {
      pk.pack_uint64(f.value(s));
    }
  }
}

std::string render_prometheus(const stats_snapshot& s) {
  static const auto ordered = by_rank();
  std::string out;
  out.reserve(8192);
  for (const stat_field* f : ordered) {
    family(out, f->metric, f->type, f->help);
    if (f->render != nullptr) {
      f->render(out, f->metric, s);
    } else {
      sample(out, f->metric, {}, f->value(s));
    }
  }
  return out;
}

}  // namespace mesh::host
