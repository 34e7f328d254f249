// Helpers for multi-host tests: real meshd hosts gossiping on 127.0.0.1 (test failure-detection
// profile), the cluster ops (members, nodes_for, owner), waiting for convergence, and calls sent
// many at once. Every wait is bounded.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace mesh::test {

/// An op that names a capability and/or an id (nodes_for, owner), answered within 10 s.
inline reply query(client& c, wire::op kind, const std::string& capability,
                   const std::string& id = {}) {
  auto req = client::make(kind, capability, "", id);
  req.rid = c.next_rid();
  c.send(req);
  return c.expect(req.rid, 10s);
}

/// Names in a JSON array of strings, in order.
inline std::vector<std::string> strings_of(const json& array) {
  std::vector<std::string> out;
  if (array.is_array())
    for (const auto& s : array) out.push_back(s.get<std::string>());
  return out;
}

/// One meshd in a cluster: its process, a client for queries, and its gossip endpoint.
class cluster_node {
 public:
  /// Starts `name` gossiping on a free port, following `seeds` (gossip endpoints), serving
  /// `capabilities` (empty: everything the example plugins declare), with `extra` arguments;
  /// queries as a CURVE client with `keys` when given (a keyed cluster).
  cluster_node(std::string name, const std::vector<std::string>& seeds,
               const std::string& capabilities = {}, std::vector<std::string> extra = {},
               const curve_client_keys* keys = nullptr,
               const std::filesystem::path& plugins = MESH_EXAMPLE_PLUGIN_DIR)
      : name_(std::move(name)) {
    std::vector<std::string> args = {"--name",    name_,  "--gossip",       "tcp://127.0.0.1:*",
                                     "--profile", "test", "--idle-timeout", "10m"};
    if (!seeds.empty()) {
      std::string list;
      for (const auto& s : seeds) list += (list.empty() ? "" : ",") + s;
      args.insert(args.end(), {"--seeds", list});
    }
    if (!capabilities.empty()) args.insert(args.end(), {"--capabilities", capabilities});
    args.insert(args.end(), extra.begin(), extra.end());
    process_ = std::make_unique<meshd_process>(plugins, args);
    client_ = std::make_unique<client>(process_->endpoint(), keys);
    // The first view reaches the server just after the ready file: until then, no gossip.
    wait_until([this] {
      const json envelope = members();
      for (const auto& m : envelope["members"])
        if (m["self"] == true) gossip_ = m["gossip"].get<std::string>();
      return !gossip_.empty();
    });
    if (gossip_.empty())
      throw std::runtime_error(name_ + " reports no gossip endpoint: " + members().dump());
  }

  const std::string& name() const noexcept { return name_; }
  const std::string& gossip() const noexcept { return gossip_; }
  const std::string& endpoint() const noexcept { return process_->endpoint(); }
  std::string log() const { return process_->log(); }
  child_process& process() { return process_->process(); }
  /// The query client (one thread only: the test's).
  client& c() { return *client_; }

  /// The `members` reply envelope ({"epoch", "members": [...]}).
  json members() {
    auto r = client_->control(wire::op::members);
    if (!r.ok) throw std::runtime_error("members failed on " + name_ + ": " + r.message);
    return r.body;
  }
  /// Names of the members this host sees with `status`.
  static std::set<std::string> with_status(const json& envelope, const std::string& status) {
    std::set<std::string> out;
    for (const auto& m : envelope["members"])
      if (m["status"] == status) out.insert(m["name"].get<std::string>());
    return out;
  }
  /// `nodes_for capability` on this host.
  std::vector<std::string> nodes_for(const std::string& capability) {
    return strings_of(query(*client_, wire::op::nodes_for, capability).body["nodes"]);
  }
  /// The owner host this host names for `id` in `capability` ("" on an error).
  std::string owner(const std::string& capability, const std::string& id) {
    auto r = query(*client_, wire::op::owner, capability, id);
    return r.ok ? r.body["owner"].get<std::string>() : std::string();
  }

 private:
  std::string name_, gossip_;
  std::unique_ptr<meshd_process> process_;
  std::unique_ptr<client> client_;
};

/// True when every host in `nodes` sees exactly `alive` as its alive members and all of them
/// route by the same view (equal epochs).
inline bool converged(const std::vector<cluster_node*>& nodes, const std::set<std::string>& alive) {
  std::set<uint64_t> epochs;
  for (auto* n : nodes) {
    const json m = n->members();
    if (n->with_status(m, "alive") != alive) return false;
    epochs.insert(m["epoch"].get<uint64_t>());
  }
  return epochs.size() == 1 && *epochs.begin() != 0;
}

/// Waits (bounded) until `nodes` converge on `alive`.
inline bool wait_converged(const std::vector<cluster_node*>& nodes,
                           const std::set<std::string>& alive,
                           std::chrono::milliseconds timeout = 15s) {
  return wait_until([&] { return converged(nodes, alive); }, timeout);
}

/// A reply and when it arrived.
struct timed_reply {
  reply r;
  std::chrono::steady_clock::time_point at;
};

/// Sends one call per id at once through `c` and collects the replies (by id) until all have
/// arrived or `wait` has passed; ids without a reply are missing from the result.
inline std::map<std::string, timed_reply> call_all(client& c, const std::string& capability,
                                                   const std::string& module,
                                                   const std::vector<std::string>& ids,
                                                   const json& payload, uint32_t timeout_ms,
                                                   std::chrono::milliseconds wait) {
  std::map<uint64_t, std::string> by_rid;
  for (const auto& id : ids) {
    auto req = client::make(wire::op::call, capability, module, id, timeout_ms);
    req.rid = c.next_rid();
    by_rid.emplace(req.rid, id);
    c.send(req, payload);
  }
  std::map<std::string, timed_reply> out;
  const auto end = std::chrono::steady_clock::now() + wait;
  while (out.size() < ids.size()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    auto r = c.receive(left);
    if (!r) break;
    auto it = by_rid.find(r->rid);
    if (it != by_rid.end()) out[it->second] = timed_reply{*r, std::chrono::steady_clock::now()};
  }
  return out;
}

/// Calls `ids` round-robin through `endpoint` on a thread of its own until stopped, counting
/// calls and failures (an error reply or no reply at all).
class load_loop {
 public:
  load_loop(std::string endpoint, std::string capability, std::string module,
            std::vector<std::string> ids, json payload)
      : thread_([this, endpoint = std::move(endpoint), capability = std::move(capability),
                 module = std::move(module), ids = std::move(ids), payload = std::move(payload)] {
          client c(endpoint);
          for (size_t i = 0; !stop_.load(); ++i) {
            const std::string& id = ids[i % ids.size()];
            try {
              auto r = c.call(capability, module, id, payload, std::nullopt, 5000);
              if (!r.ok) fail(id + ": " + r.code + ": " + r.message);
            } catch (const std::exception& e) {
              fail(id + ": " + e.what());
            }
            calls_.fetch_add(1);
          }
        }) {}
  ~load_loop() { stop(); }
  load_loop(const load_loop&) = delete;
  load_loop& operator=(const load_loop&) = delete;

  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  uint64_t calls() const noexcept { return calls_.load(); }
  uint64_t failures() const noexcept { return failures_.load(); }
  /// The first failure's description (read after stop()).
  const std::string& first_failure() const noexcept { return first_failure_; }

 private:
  void fail(const std::string& what) {
    if (failures_.fetch_add(1) == 0) first_failure_ = what;
  }

  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> calls_{0}, failures_{0};
  std::string first_failure_;
  std::thread thread_;  // last: starts once everything it uses exists
};

}  // namespace mesh::test
