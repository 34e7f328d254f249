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

/// A family with one unlabelled sample.
void single(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            uint64_t value) {
  family(out, name, type, help);
  sample(out, name, {}, value);
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

void pack_stats(msgpack::packer<wire::buffer>& pk, const stats_snapshot& s) {
  const host_counters& c = s.counters;
  pk.pack_map(11);

  wire::pack_string(pk, "requests");
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

  wire::pack_string(pk, "forward");
  pk.pack_map(5);
  kv(pk, "sent", c.forwarded);
  kv(pk, "retries", c.forward_retries);
  kv(pk, "unreachable", c.forward_unreachable);
  kv(pk, "wrong_owner", c.wrong_owner);
  kv(pk, "wrong_incarnation", c.wrong_incarnation);

  wire::pack_string(pk, "actors");
  pk.pack_map(5);
  kv(pk, "live", s.live_actors);
  kv(pk, "activations", s.activations);
  kv(pk, "activation_failures", s.activation_failures);
  wire::pack_string(pk, "deactivations");
  pk.pack_map(4);
  kv(pk, "idle", s.deactivations_idle);
  kv(pk, "rebalance", s.deactivations_rebalance);
  kv(pk, "crash", s.deactivations_crash);
  kv(pk, "shutdown", s.deactivations_shutdown);
  wire::pack_string(pk, "by_module");
  pk.pack_array(static_cast<uint32_t>(s.by_module.size()));
  for (const auto& m : s.by_module) {
    pk.pack_map(3);
    wire::pack_string(pk, "cap");
    wire::pack_string(pk, m.capability);
    wire::pack_string(pk, "mod");
    wire::pack_string(pk, m.module);
    kv(pk, "live", m.live);
  }

  wire::pack_string(pk, "queue");
  pk.pack_map(2);
  kv(pk, "inflight", s.inflight);
  kv(pk, "run_queue", s.run_queue);

  wire::pack_string(pk, "latency_us");
  pk.pack_map(6);
  wire::pack_string(pk, "buckets");
  pk.pack_array(static_cast<uint32_t>(latency_bounds_us.size()));
  uint64_t cumulative = 0;
  for (size_t i = 0; i < latency_bounds_us.size(); ++i) {
    cumulative += c.latency.counts()[i];
    pk.pack_array(2);
    pk.pack_uint64(latency_bounds_us[i]);
    pk.pack_uint64(cumulative);
  }
  kv(pk, "count", c.latency.count());
  kv(pk, "sum_us", c.latency.sum_us());
  kv(pk, "p50", c.latency.quantile_us(0.50));
  kv(pk, "p95", c.latency.quantile_us(0.95));
  kv(pk, "p99", c.latency.quantile_us(0.99));

  wire::pack_string(pk, "membership");
  pk.pack_map(member_change_count + 1);
  for (size_t i = 0; i < member_change_count; ++i)
    kv(pk, to_string(static_cast<member_change>(i)), c.membership[i]);
  kv(pk, "view_changes", c.view_changes);

  wire::pack_string(pk, "plugins");
  pk.pack_map(2);
  kv(pk, "loaded", c.plugins_loaded);
  kv(pk, "refused", c.plugins_refused);

  wire::pack_string(pk, "auth");
  pk.pack_map(2);
  wire::pack_string(pk, "curve");
  if (s.curve) pk.pack_true(); else pk.pack_false();
  wire::pack_string(pk, "denied");
  pk.pack_map(security::socket_role_count);
  for (size_t r = 0; r < security::socket_role_count; ++r) {
    wire::pack_string(pk, to_string(static_cast<security::socket_role>(r)));
    pk.pack_map(security::denial_count);
    for (size_t d = 0; d < security::denial_count; ++d)
      kv(pk, to_string(static_cast<security::denial>(d)), s.auth_denied[r][d]);
  }

  kv(pk, "decode_errors", c.decode_errors);
  kv(pk, "dropped_replies", c.dropped_replies);
  kv(pk, "timeouts", s.timeouts());
}

std::string render_prometheus(const stats_snapshot& s) {
  const host_counters& c = s.counters;
  std::string out;
  out.reserve(8192);

  family(out, "mesh_host_info", "gauge", "Always 1; the label names this host (meshd --name).");
  sample(out, "mesh_host_info", "host=\"" + label_value(s.host) + "\"", 1);
  family(out, "mesh_uptime_seconds", "gauge", "Seconds since the host started serving.");
  sample(out, "mesh_uptime_seconds", {}, seconds_of_us(s.uptime_ms * 1000));

  family(out, "mesh_requests_total", "counter",
         "Requests received, by op and by how this host answered them (ok, an error code, or "
         "forwarded: the owner's reply was relayed). Zero counts are omitted.");
  for (size_t op = 0; op < op_slots; ++op)
    for (size_t o = 0; o < outcome_count; ++o)
      if (c.requests[op][o] != 0)
        sample(out, "mesh_requests_total",
               "op=\"" + std::string(op_name(op)) + "\",outcome=\"" +
                   std::string(outcome_name(o)) + "\"",
               c.requests[op][o]);

  single(out, "mesh_forwarded_total", "counter",
         "Requests sent to the owning host (re-sends after a retry included).", c.forwarded);
  single(out, "mesh_forward_retries_total", "counter",
         "wrong_owner answers received from other hosts; the request was routed again.",
         c.forward_retries);
  single(out, "mesh_forward_unreachable_total", "counter",
         "Forwards that found the owner not connected; retried with back-off.",
         c.forward_unreachable);
  single(out, "mesh_wrong_owner_total", "counter",
         "wrong_owner answers this host gave to forwarding hosts.", c.wrong_owner);
  single(out, "mesh_wrong_incarnation_total", "counter",
         "Requests refused unrun because they were addressed to another run of this host "
         "(a restart on the same endpoint).",
         c.wrong_incarnation);

  single(out, "mesh_activations_total", "counter", "Actors created (constructor succeeded).",
         s.activations);
  single(out, "mesh_activation_failures_total", "counter",
         "Actor constructors that failed (activation_failed).", s.activation_failures);
  family(out, "mesh_deactivations_total", "counter",
         "Actors deactivated, by reason: idle, rebalance (key moved to another host), crash (a "
         "handler failed and the activation was discarded), shutdown.");
  sample(out, "mesh_deactivations_total", "reason=\"idle\"", s.deactivations_idle);
  sample(out, "mesh_deactivations_total", "reason=\"rebalance\"", s.deactivations_rebalance);
  sample(out, "mesh_deactivations_total", "reason=\"crash\"", s.deactivations_crash);
  sample(out, "mesh_deactivations_total", "reason=\"shutdown\"", s.deactivations_shutdown);

  single(out, "mesh_actors_live", "gauge", "Live actors on this host.", s.live_actors);
  family(out, "mesh_actors", "gauge", "Live actors on this host, by capability and module.");
  for (const auto& m : s.by_module)
    sample(out, "mesh_actors",
           "capability=\"" + label_value(m.capability) + "\",module=\"" + label_value(m.module) +
               "\"",
           m.live);

  single(out, "mesh_inflight_requests", "gauge",
         "Requests accepted and not yet answered (local and forwarded).", s.inflight);
  single(out, "mesh_run_queue_length", "gauge", "Actors with mail waiting for a worker.",
         s.run_queue);

  family(out, "mesh_call_latency_seconds", "histogram",
         "Calls served by this host's actors: from accepting the request to sending the reply.");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < latency_bounds_us.size(); ++i) {
    cumulative += c.latency.counts()[i];
    sample(out, "mesh_call_latency_seconds_bucket",
           "le=\"" + seconds_of_us(latency_bounds_us[i]) + "\"", cumulative);
  }
  sample(out, "mesh_call_latency_seconds_bucket", "le=\"+Inf\"", c.latency.count());
  sample(out, "mesh_call_latency_seconds_sum", {}, seconds_of_us(c.latency.sum_us()));
  sample(out, "mesh_call_latency_seconds_count", {}, c.latency.count());

  family(out, "mesh_membership_changes_total", "counter",
         "Changes of other hosts' status in this host's view: joined, suspected, recovered, "
         "dead, left.");
  for (size_t i = 0; i < member_change_count; ++i)
    sample(out, "mesh_membership_changes_total",
           "change=\"" + std::string(to_string(static_cast<member_change>(i))) + "\"",
           c.membership[i]);
  single(out, "mesh_view_changes_total", "counter",
         "New cluster views (sets of hosts owning keys) applied.", c.view_changes);

  single(out, "mesh_plugins_loaded_total", "counter", "Plugins loaded.", c.plugins_loaded);
  single(out, "mesh_plugins_refused_total", "counter", "Plugin files refused.", c.plugins_refused);
  single(out, "mesh_decode_errors_total", "counter",
         "Requests that could not be decoded (bad_request, too_large, unknown_op, "
         "unsupported_version).",
         c.decode_errors);
  single(out, "mesh_dropped_replies_total", "counter",
         "Replies that could not be sent (client gone or its queue full).", c.dropped_replies);
  single(out, "mesh_timeouts_total", "counter", "Requests answered with timeout.", s.timeouts());

  single(out, "mesh_auth_curve", "gauge",
         "1 when the host runs with a cluster key (CURVE on every socket), 0 when unauthenticated.",
         s.curve ? 1 : 0);
  family(out, "mesh_auth_denied_total", "counter",
         "Handshakes refused, by socket (requests, gossip) and reason: unknown_key (a key not "
         "allowed), no_key (a peer without CURVE), bad_handshake (any other failure, e.g. a "
         "peer expecting another cluster key).");
  for (size_t r = 0; r < security::socket_role_count; ++r)
    for (size_t d = 0; d < security::denial_count; ++d)
      sample(out, "mesh_auth_denied_total",
             "socket=\"" + std::string(to_string(static_cast<security::socket_role>(r))) +
                 "\",reason=\"" + std::string(to_string(static_cast<security::denial>(d))) + "\"",
             s.auth_denied[r][d]);
  return out;
}

}  // namespace mesh::host
