#include "mesh/client.hpp"
#include <mesh/wire/object_walk.hpp>
#include <mesh/wire/shard.hpp>

#include <algorithm>
#include <queue>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <zmq.hpp>

#include <mesh/placement/placement.hpp>
#include "request_table.hpp"
#include <mesh/security/curve_keys.hpp>

namespace mesh::client {
namespace {

using clock = std::chrono::steady_clock;

/// Limits for reply envelopes: the defaults, with room for long capability, module and member
/// lists and the nested maps of the stats operation.
wire::decode_limits reply_limits() {
  wire::decode_limits limits;
  limits.max_array = 64 * 1024;
  limits.max_map = 1024;
  limits.max_depth = 16;
  return limits;
}

/// Nesting allowed in payloads and replies converted to JSON (the host's own bound).
constexpr size_t max_value_depth = 64;
/// Longest pause between two attempts of a request the host did not run (overloaded, ...).
constexpr milliseconds max_backoff{100};

error client_error(std::string code, std::string message) {
  return error{std::move(code), std::move(message), error_origin::client};
}

tl::unexpected<error> missing_field(std::string_view op, std::string_view field) {
  return tl::unexpected(client_error("protocol_error", "the " + std::string(op) +
                                                           " reply has no valid \"" +
                                                           std::string(field) + "\""));
}

std::string_view str_of(const msgpack::object& o) { return {o.via.str.ptr, o.via.str.size}; }

/// The value under `key` in map `map`, or nullptr.
const msgpack::object* find(const msgpack::object& map, std::string_view key) {
  if (map.type != msgpack::type::MAP) return nullptr;
  for (uint32_t i = 0; i < map.via.map.size; ++i) {
    const auto& kv = map.via.map.ptr[i];
    if (kv.key.type == msgpack::type::STR && str_of(kv.key) == key) return &kv.val;
  }
  return nullptr;
}

std::optional<std::string> find_str(const msgpack::object& map, std::string_view key) {
  const auto* v = find(map, key);
  if (v == nullptr || v->type != msgpack::type::STR) return std::nullopt;
  return std::string(str_of(*v));
}

std::optional<uint64_t> find_uint(const msgpack::object& map, std::string_view key) {
  const auto* v = find(map, key);
  if (v == nullptr || v->type != msgpack::type::POSITIVE_INTEGER) return std::nullopt;
  return v->via.u64;
}

std::optional<uint32_t> find_u32(const msgpack::object& map, std::string_view key) {
  auto v = find_uint(map, key);
  if (!v || *v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

std::optional<std::vector<std::string>> find_str_array(const msgpack::object& map,
                                                       std::string_view key) {
  const auto* v = find(map, key);
  if (v == nullptr || v->type != msgpack::type::ARRAY) return std::nullopt;
  std::vector<std::string> out;
  out.reserve(v->via.array.size);
  for (uint32_t i = 0; i < v->via.array.size; ++i) {
    const auto& item = v->via.array.ptr[i];
    if (item.type != msgpack::type::STR) return std::nullopt;
    out.emplace_back(str_of(item));
  }
  return out;
}

/// Hashes std::string and std::string_view alike, so that lookups by a view build no string.
struct string_hash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// Whether an error reply proves the request did not run, so that it may be sent again.
bool not_run(std::string_view code) {
  return code == "shutting_down" || code == "overloaded" || code == "wrong_owner";
}

/// Whether an operation is answered by any host the same way (so a retry elsewhere is fine).
bool is_actor_op(wire::op kind) { return kind == wire::op::call || kind == wire::op::cast; }

tl::expected<members_info, error> parse_members(const msgpack::object& env) {
  members_info info;
  info.epoch = find_uint(env, "epoch").value_or(0);
  info.strategy = find_str(env, "strategy").value_or("");
  info.shards = find_u32(env, "shards").value_or(0);
  const auto* list = find(env, "members");
  if (list == nullptr || list->type != msgpack::type::ARRAY)
    return missing_field("members", "members");
  for (uint32_t i = 0; i < list->via.array.size; ++i) {
    const auto& m = list->via.array.ptr[i];
    member_info member;
    auto name = find_str(m, "name");
    auto endpoint = find_str(m, "endpoint");
    if (!name || !endpoint) return missing_field("members", "members[].name/endpoint");
    member.name = std::move(*name);
    member.endpoint = std::move(*endpoint);
    member.gossip = find_str(m, "gossip").value_or("");
    member.capabilities = find_str_array(m, "caps").value_or(std::vector<std::string>{});
    member.status = find_str(m, "status").value_or("alive");
    member.incarnation = find_uint(m, "incarnation").value_or(0);
    member.version = find_uint(m, "version").value_or(0);
    const auto* self = find(m, "self");
    member.self = self != nullptr && self->type == msgpack::type::BOOLEAN && self->via.boolean;
    member.last_heard_ms = find_uint(m, "last_heard_ms").value_or(0);
    info.members.push_back(std::move(member));
  }
  std::sort(info.members.begin(), info.members.end(),
            [](const member_info& a, const member_info& b) { return a.name < b.name; });
  return info;
}


json to_json(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return nullptr;
    case msgpack::type::BOOLEAN:
      return o.via.boolean;
    case msgpack::type::POSITIVE_INTEGER:
      return o.via.u64;
    case msgpack::type::NEGATIVE_INTEGER:
      return o.via.i64;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return o.via.f64;
    case msgpack::type::STR:
      return std::string(str_of(o));
    case msgpack::type::BIN: {
      const auto* p = reinterpret_cast<const uint8_t*>(o.via.bin.ptr);
      return json::binary(json::binary_t::container_type(p, p + o.via.bin.size));
    }
    case msgpack::type::EXT: {
      const auto* p = reinterpret_cast<const uint8_t*>(o.via.ext.data());
      return json::binary(json::binary_t::container_type(p, p + o.via.ext.size),
                          static_cast<std::uint8_t>(o.via.ext.type()));
    }
    case msgpack::type::ARRAY: {
      json out = json::array();
      for (uint32_t i = 0; i < o.via.array.size; ++i) out.push_back(to_json(o.via.array.ptr[i]));
      return out;
    }
    case msgpack::type::MAP: {
      json out = json::object();
      for (uint32_t i = 0; i < o.via.map.size; ++i) {
        const auto& kv = o.via.map.ptr[i];
        // A key that is an array or a map has no JSON form; dumping it as text would escape
        // every level again and grow the output exponentially with the nesting.
        if (kv.key.type == msgpack::type::ARRAY || kv.key.type == msgpack::type::MAP)
          throw std::invalid_argument("a map key is an array or a map, which JSON cannot show");
        std::string key =
            kv.key.type == msgpack::type::STR
                ? std::string(str_of(kv.key))
                : to_json(kv.key).dump(-1, ' ', false, json::error_handler_t::replace);
        out[std::move(key)] = to_json(kv.val);
      }
      return out;
    }
  }
  return nullptr;
}

/// Validates an actor request and turns it into a wire request; the error names what is wrong.
tl::expected<wire::request, error> actor_wire_request(wire::op kind, const actor_request& r,
                                                      milliseconds default_timeout) {
  if (r.capability.empty() || r.module.empty() || r.id.empty())
    return tl::unexpected(
        client_error("bad_argument", "capability, module and id must not be empty"));
  wire::request req;
  req.kind = kind;
  req.capability = r.capability;
  req.module = r.module;
  req.id = view_of(r.id);
  req.payload = r.payload;
  if (r.init) req.init_arg = *r.init;
  const milliseconds timeout = r.timeout.count() > 0 ? r.timeout : default_timeout;
  req.timeout_ms = static_cast<uint32_t>(
      std::clamp<milliseconds::rep>(timeout.count(), 1, wire::max_timeout_ms));
  // Request ids start at a random point and count up: unique enough that the owner may run a
  // re-sent request at most once.
  req.once = true;
  return req;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The client's state. Everything runs on the thread that calls poll().

struct client::impl {
  /// One host the client talks to: a DEALER socket connected to its request endpoint.
  struct peer {
    std::string endpoint;
    zmq::socket_t socket;
    size_t pending = 0;  ///< requests sent here and not answered yet
  };

  /// A request whose handler has not run yet. Lives in a slot of `requests`, which is reused
  /// by later requests: clear() keeps the strings' capacity, so a steady stream of calls
  /// allocates nothing here.
  struct pending {
    wire::op kind = wire::op::call;
    bool internal = false;      ///< the client's own membership query (not in in_flight())
    bool wants_actor = false;   ///< a call: a success without "actor" and "reply" is an error
    std::string frame;          ///< the encoded request, sent again unchanged on a retry
    std::string capability;     ///< actor requests: routing key
    uint64_t key_hash = 0;      ///< actor requests: id_hash(id)
    std::string fixed_endpoint; ///< requests to one named host
    std::string expected_host;  ///< the owner it was sent to, if sent directly
    uint64_t expected_incarnation = 0;  ///< the run of it the frame is addressed to (0: any)
    peer* target = nullptr;     ///< where the last attempt went (nullptr: waiting to resend)
    clock::time_point deadline;
    uint32_t attempts = 0;  ///< including those that found no connection
    bool marks_retry = false;   ///< encoded with once: a re-send flips the final byte
    reply_handler done;

    void clear() noexcept {
      kind = wire::op::call;
      internal = wants_actor = marks_retry = false;
      frame.clear();
      capability.clear();
      key_hash = 0;
      fixed_endpoint.clear();
      expected_host.clear();
      expected_incarnation = 0;
      target = nullptr;
      deadline = {};
      attempts = 0;
      done = nullptr;
    }
  };

  /// Where requests without a fixed host go: one endpoint of any_endpoints() and its peer,
  /// connected on first use.
  struct any_target {
    const std::string* endpoint;
    peer* target = nullptr;
  };

  /// The placement of one capability in the current view, and the peers of its hosts
  /// (parallel to table.hosts, connected on first use).
  struct route_table {
    placement::shard_table table;
    std::vector<peer*> peers;
    std::vector<uint64_t> incarnations;  ///< of table.hosts, as the view lists them
  };

  using timer = std::pair<clock::time_point, uint64_t>;  // (when, rid), in a min-heap
  using timer_heap = std::priority_queue<timer, std::vector<timer>, std::greater<>>;

  impl(std::vector<std::string> endpoints, options given) : opts(given), seeds(std::move(endpoints)) {
    if (seeds.empty()) throw std::invalid_argument("mesh::client needs at least one endpoint");
    curve = !opts.curve_server_key.empty() || !opts.curve_public_key.empty() ||
            !opts.curve_secret_key.empty();
    if (curve && !(security::is_z85_key(opts.curve_server_key) &&
                   security::is_z85_key(opts.curve_public_key) &&
                   security::is_z85_key(opts.curve_secret_key)))
      throw std::invalid_argument(
          "CURVE needs the server key, the client's public and secret keys: 40-character Z85 each");
    std::random_device rd;
    next_rid = (uint64_t{rd()} << 32 | rd()) & ~(uint64_t{1} << 63);
    if (next_rid == 0) next_rid = 1;
    for (const auto& e : seeds) peer_for(e);  // throws for an endpoint ZeroMQ refuses
  }

  options opts;
  bool curve = false;
  std::vector<std::string> seeds;
  zmq::context_t context{1};
  std::vector<std::unique_ptr<peer>> peers;
  std::vector<zmq::pollitem_t> items;  // one per peer, same order
  request_table<pending> requests;
  size_t user_pending = 0;
  uint64_t next_rid;
  timer_heap deadlines, retries;
  size_t any_cursor = 0;
  client_stats counters;
  msgpack::zone zone;  // the members answer's object tree
  wire::buffer out;

  // The view the client routes by.
  members_info view;
  std::unique_ptr<placement::placement_strategy> strategy;  // nullptr: route via any host
  std::unordered_map<std::string, std::string> endpoint_of;  // routable host -> endpoint
  // Per capability, built on first use and dropped with the view.
  mutable std::unordered_map<std::string, route_table, string_hash, std::equal_to<>> tables;
  // The entry of `tables` routes_of() found last: calls come in runs for one capability, and
  // hashing its name was ~130 instructions of each call. Dropped with the map.
  mutable std::pair<const std::string, route_table>* last_table = nullptr;
  std::vector<any_target> any_targets;  // any_endpoints(), cached until the view changes
  bool view_known = false;
  bool refresh_in_flight = false;
  clock::time_point next_refresh{};  // epoch: due at once
  size_t refresh_cursor = 0;

  uint32_t shards() const noexcept { return view.shards != 0 ? view.shards : wire::default_shards; }

  peer* peer_for(const std::string& endpoint) {
    for (auto& p : peers)
      if (p->endpoint == endpoint) return p.get();
    auto p = std::make_unique<peer>(peer{endpoint, zmq::socket_t(context, zmq::socket_type::dealer)});
    p->socket.set(zmq::sockopt::linger, 0);
    // Queue only on a live connection: a frame sent while the host is down fails at once (and
    // is re-sent: provably not run) instead of waiting for whatever next serves that endpoint,
    // a restart that would run it after its re-send ran elsewhere (docs/RELIABILITY.md, S14).
    p->socket.set(zmq::sockopt::immediate, 1);
    p->socket.set(zmq::sockopt::sndhwm, opts.high_water_mark);
    p->socket.set(zmq::sockopt::rcvhwm, opts.high_water_mark);
    if (curve) {
      p->socket.set(zmq::sockopt::curve_serverkey, opts.curve_server_key);
      p->socket.set(zmq::sockopt::curve_publickey, opts.curve_public_key);
      p->socket.set(zmq::sockopt::curve_secretkey, opts.curve_secret_key);
    }
    p->socket.connect(endpoint);
    items.push_back(zmq::pollitem_t{p->socket.handle(), 0, ZMQ_POLLIN, 0});
    peers.push_back(std::move(p));
    return peers.back().get();
  }

  /// Endpoints requests without an owner go to: the given hosts when routing through them,
  /// otherwise the routable hosts of the view (the given ones until a view is known).
  std::vector<const std::string*> any_endpoints() const {
    std::vector<const std::string*> found;
    if (opts.direct && view_known)
      for (const auto& m : view.members)
        if (m.routable()) found.push_back(&m.endpoint);
    if (found.empty())
      for (const auto& s : seeds) found.push_back(&s);
    return found;
  }

  /// The next host in turn for a request without an owner.
  peer* any_peer() {
    if (any_targets.empty())
      for (const auto* e : any_endpoints()) any_targets.push_back(any_target{e});
    auto& t = any_targets[any_cursor++ % any_targets.size()];
    if (t.target == nullptr) t.target = peer_for(*t.endpoint);
    return t.target;
  }

  /// The view's record of host `name`, whatever its status, or nullptr.
  const member_info* member(std::string_view name) const {
    for (const auto& m : view.members)
      if (m.name == name) return &m;
    return nullptr;
  }

  /// The placement of `capability` in the current view, or nullptr when the client cannot
  /// compute it.
  route_table* routes_of(std::string_view capability) const {
    if (!view_known || !strategy) return nullptr;
    if (last_table == nullptr || last_table->first != capability)
      last_table = &table_of(capability);
    return last_table->second.table.hosts.empty() ? nullptr : &last_table->second;
  }

  /// The entry of `tables` for `capability`, built from the view on first use.
  std::pair<const std::string, route_table>& table_of(std::string_view capability) const {
    auto it = tables.find(capability);
    if (it == tables.end()) {
      std::vector<std::string> hosts;
      for (const auto& m : view.members)
        if (m.routable() && std::find(m.capabilities.begin(), m.capabilities.end(),
                                      capability) != m.capabilities.end())
          hosts.push_back(m.name);
      route_table r{placement::build_shard_table(*strategy, shards(), std::move(hosts)), {}, {}};
      r.peers.assign(r.table.hosts.size(), nullptr);
      for (const auto& h : r.table.hosts) {
        const member_info* m = member(h);
        r.incarnations.push_back(m == nullptr ? 0 : m->incarnation);
      }
      it = tables.emplace(std::string(capability), std::move(r)).first;
    }
    return *it;
  }

  /// Index into routes->table.hosts of the owner of `key_hash`.
  size_t owner_index(const route_table& routes, uint64_t key_hash) const {
    return routes.table.owner_of[key_hash % shards()];
  }

  /// The owner of (capability, key) in the current view, or nullptr.
  const std::string* owner_of(std::string_view capability, uint64_t key_hash) const {
    const auto* routes = routes_of(capability);
    if (routes == nullptr) return nullptr;
    return &routes->table.hosts[owner_index(*routes, key_hash)];
  }

  /// The peer of the owner of (capability, key) in the current view, or nullptr; sets `host`
  /// to the owner's name and `incarnation` to its run's.
  peer* owner_peer(std::string_view capability, uint64_t key_hash, std::string& host,
                   uint64_t& incarnation) {
    auto* routes = routes_of(capability);
    if (routes == nullptr) return nullptr;
    const size_t i = owner_index(*routes, key_hash);
    if (routes->peers[i] == nullptr) {
      auto e = endpoint_of.find(routes->table.hosts[i]);
      if (e == endpoint_of.end()) return nullptr;
      routes->peers[i] = peer_for(e->second);
    }
    host = routes->table.hosts[i];
    incarnation = routes->incarnations[i];
    return routes->peers[i];
  }

  /// Encodes `req` under a fresh request id, registers it, lets `fill` set the rest of its
  /// state (deadline, routing, handler) and sends it. Request ids start at a random point so
  /// that two clients' ids do not meet in a host's logs.
  template <class Fill>
  void submit(wire::request& req, Fill&& fill) {
    auto [rid, p] = requests.insert(next_rid);
    req.rid = rid;
    out.clear();
    wire::encode_request(out, req);
    p.frame.assign(out.data(), out.size());
    p.kind = req.kind;
    fill(p);
    if (!p.internal) ++user_pending;
    deadlines.emplace(p.deadline, rid);
    dispatch(rid, p);
  }

  /// A call or cast: validated, keyed for routing, marked `once`, sent. `wants_actor`: the
  /// reply must name the actor and carry a body (calls).
  void submit_actor(wire::op kind, const actor_request& r, reply_handler done, bool wants_actor) {
    auto req = actor_wire_request(kind, r, opts.timeout);
    if (!req) {
      done(tl::unexpected(std::move(req.error())));
      return;
    }
    // A call waits for the host's own timeout reply; a cast only for the acknowledgement.
    const auto deadline =
        clock::now() + (kind == wire::op::call
                            ? milliseconds{req->timeout_ms} + reply_margin
                            : (r.timeout.count() > 0 ? r.timeout : opts.timeout));
    submit(*req, [&](pending& p) {
      p.capability = r.capability;
      p.key_hash = wire::id_hash(req->id);
      p.deadline = deadline;
      p.marks_retry = true;
      p.wants_actor = wants_actor;
      p.done = std::move(done);
    });
  }

  /// Sends (or re-sends) request `rid` to where it belongs now.
  void dispatch(uint64_t rid, pending& p) {
    peer* target = nullptr;
    uint64_t incarnation = 0;
    p.expected_host.clear();
    if (!p.fixed_endpoint.empty()) {
      target = peer_for(p.fixed_endpoint);
    } else if (is_actor_op(p.kind)) {
      if (opts.direct) target = owner_peer(p.capability, p.key_hash, p.expected_host, incarnation);
      if (target == nullptr) target = any_peer();
    } else {
      target = any_peer();
    }
    // Address it to that run of the owner: a restart on the same endpoint refuses it unrun, so
    // that re-sending it once that run is declared dead cannot run it twice (apply_view).
    if (p.marks_retry && incarnation != p.expected_incarnation &&
        wire::address_request(p.frame.data(), p.frame.size(), incarnation))
      p.expected_incarnation = incarnation;
    if (p.attempts++ > 0) {
      // Mark the re-send ("retry": true is the frame's last byte, see wire::request::retry),
      // even after attempts that found no connection: the owner then remembers it (once), in
      // case a stale view makes this client send it once more through another host.
      if (p.marks_retry && p.frame.back() == '\xc2') p.frame.back() = '\xc3';
    }
    bool sent = false;
    try {
      sent = target->socket.send(zmq::const_buffer(p.frame.data(), p.frame.size()),
                                 zmq::send_flags::dontwait)
                 .has_value();
    } catch (const zmq::error_t&) {
      sent = false;
    }
    if (!sent) {  // queue full or host not connected: not sent, try again within the deadline
      schedule_retry(rid, p);
      return;
    }
    ++counters.sent;
    if (p.attempts > 1) ++counters.retries;
    if (is_actor_op(p.kind) && p.fixed_endpoint.empty()) {
      if (p.expected_host.empty()) {
        ++counters.via_any;
      } else {
        ++counters.direct;
      }
    }
    p.target = target;
    ++target->pending;
  }

  void schedule_retry(uint64_t rid, pending& p) {
    if (p.target != nullptr) {
      --p.target->pending;
      p.target = nullptr;
    }
    const auto backoff =
        std::min<milliseconds>(max_backoff, milliseconds{int64_t{1} << std::min<uint32_t>(p.attempts, 7)});
    retries.emplace(clock::now() + backoff, rid);
  }

  /// Runs the handler of request `rid` (whose state is `p`) once and forgets the request. The
  /// slot is released first: the handler may submit new requests.
  void finish(uint64_t rid, pending& p, tl::expected<reply_view, error> outcome) {
    if (p.target != nullptr) --p.target->pending;
    if (!p.internal) --user_pending;
    const bool wants_actor = p.wants_actor;
    reply_handler done = std::move(p.done);
    requests.erase(rid);
    if (!done) return;
    if (outcome && wants_actor && (!outcome->decoded.has_actor || outcome->decoded.body.empty()))
      done(missing_field("call", outcome->decoded.has_actor ? "reply" : "actor"));
    else
      done(std::move(outcome));
  }

  void fail(uint64_t rid, pending& p, error e) { finish(rid, p, tl::unexpected(std::move(e))); }

  /// Handles one reply frame from `from`; returns whether it completed a request of the user.
  bool on_frame(peer& from, const zmq::message_t& frame) {
    const auto* data = frame.data<uint8_t>();
    auto decoded = wire::decode_reply(data, frame.size(), reply_limits());
    if (!decoded) {
      // Nothing can be matched to an undecodable frame; its request times out.
      ++counters.late_replies;
      return false;
    }
    uint64_t rid = decoded->rid;
    if (rid == 0 && !decoded->ok && from.pending == 1) {
      // The host could not read the request's rid: with one request outstanding there, it is
      // the answer to that one.
      rid = requests.find_if([&](uint64_t, const pending& q) { return q.target == &from; });
    }
    pending* found = requests.find(rid);
    if (found == nullptr || found->target != &from) {
      ++counters.late_replies;
      return false;
    }
    pending& p = *found;
    if (!decoded->ok) {
      const std::string& code = decoded->error_code;
      if (not_run(code) && p.fixed_endpoint.empty() && clock::now() < p.deadline) {
        // Not run: the host is stopping, overloaded, or not the owner any more. Learn the new
        // view and send the same frame again.
        next_refresh = clock::now();
        schedule_retry(rid, p);
        return false;
      }
      const bool user = !p.internal;
      fail(rid, p,
           error{code.empty() ? "internal" : code, decoded->error_message, error_origin::host});
      return user;
    }
    if (!p.expected_host.empty() && decoded->has_actor && decoded->actor.host != p.expected_host) {
      ++counters.stale_owner;  // served correctly, one hop longer: our view is behind
      next_refresh = clock::now();
    }
    const bool user = !p.internal;
    finish(rid, p, reply_view{*decoded, {data, frame.size()}});
    return user;
  }

  /// Installs a new view and re-sends what went to hosts that are gone from it.
  void apply_view(members_info info) {
    view = std::move(info);
    view_known = true;
    ++counters.refreshes;
    tables.clear();
    last_table = nullptr;
    any_targets.clear();
    endpoint_of.clear();
    for (const auto& m : view.members)
      if (m.routable()) endpoint_of.emplace(m.name, m.endpoint);
    if (view.strategy == "rendezvous") {
      if (!strategy || strategy->name() != "rendezvous") strategy = placement::make_rendezvous();
    } else if (view.strategy == "modulo") {
      if (!strategy || strategy->name() != "modulo") strategy = placement::make_modulo();
    } else {
      strategy.reset();  // a placement plugin, or an old host: let the hosts route
    }
    // A request sent directly to a run of a host that is now declared dead, or that a newer
    // run (a restart) replaced, will not be answered (its activations are gone), and no other
    // run serves it (it is addressed to that one): send it to the new owner. The rest stay:
    // - a host that is leaving still finishes and answers what it accepted;
    // - a host missing from the view is one the host asked has not heard of (it may have just
    //   started itself), not one known to be gone: dead hosts stay listed as dead for a while.
    // Re-sending those could run them twice.
    requests.for_each([&](uint64_t rid, pending& p) {
      if (p.target == nullptr || p.expected_host.empty()) return;
      const member_info* m = member(p.expected_host);
      if (m == nullptr) return;
      const uint64_t sent_to = p.expected_incarnation;
      const bool replaced = sent_to != 0 && m->incarnation > sent_to;
      const bool dead = m->status == "dead" && (sent_to == 0 || m->incarnation >= sent_to);
      if (replaced || dead) schedule_retry(rid, p);
    });
  }

  void start_refresh() {
    refresh_in_flight = true;
    next_refresh = clock::now() + opts.refresh_interval;
    const auto candidates = any_endpoints();
    const std::string endpoint = *candidates[refresh_cursor++ % candidates.size()];
    wire::request req;
    req.kind = wire::op::members;
    submit(req, [&](pending& p) {
      p.internal = true;
      p.fixed_endpoint = endpoint;
      p.deadline = clock::now() + opts.refresh_timeout;
      p.done = [this](tl::expected<reply_view, error> r) {
        refresh_in_flight = false;
        if (!r) {
          next_refresh = clock::now();  // ask another host at once
          return;
        }
        zone.clear();
        auto tree = wire::decode_reply(r->frame.data, r->frame.size, zone, reply_limits());
        if (!tree) return;
        auto info = parse_members(*tree->envelope);
        if (info) apply_view(std::move(*info));
      };
    });
  }

  /// Fails requests whose deadline passed, re-sends those whose back-off ended, and refreshes
  /// the view when it is due. Returns how many requests completed.
  size_t run_timers() {
    size_t completed = 0;
    const auto now = clock::now();
    while (!deadlines.empty() && deadlines.top().first <= now) {
      const uint64_t rid = deadlines.top().second;
      deadlines.pop();
      pending* p = requests.find(rid);
      if (p == nullptr) continue;
      const bool internal = p->internal;
      fail(rid, *p, client_error("timeout", "no reply before the deadline"));
      if (!internal) ++completed;
    }
    while (!retries.empty() && retries.top().first <= now) {
      const uint64_t rid = retries.top().second;
      retries.pop();
      pending* p = requests.find(rid);
      if (p == nullptr || p->target != nullptr) continue;
      dispatch(rid, *p);
    }
    if (opts.direct && !refresh_in_flight && (user_pending > 0 || !view_known) &&
        now >= next_refresh)
      start_refresh();
    // Completed requests leave their heap entries behind; rebuild when those dominate.
    if (deadlines.size() > 1024 && deadlines.size() > 4 * requests.size()) {
      timer_heap fresh;
      requests.for_each([&](uint64_t rid, const pending& p) { fresh.emplace(p.deadline, rid); });
      deadlines.swap(fresh);
    }
    return completed;
  }

  clock::time_point next_timer() const {
    auto t = clock::time_point::max();
    if (!deadlines.empty()) t = std::min(t, deadlines.top().first);
    if (!retries.empty()) t = std::min(t, retries.top().first);
    if (opts.direct && !refresh_in_flight && (user_pending > 0 || !view_known))
      t = std::min(t, next_refresh);
    return t;
  }

  /// Takes the frames waiting on the peers (those zmq_poll marked, or all of them when
  /// `polled` is false); returns whether there was any. Adds the requests they completed to
  /// `completed`.
  bool receive(bool polled, size_t& completed) {
    bool any = false;
    zmq::message_t frame;
    for (size_t i = 0; i < items.size(); ++i) {
      if (polled && (items[i].revents & ZMQ_POLLIN) == 0) continue;
      peer& p = *peers[i];
      while (p.socket.recv(frame, zmq::recv_flags::dontwait)) {
        any = true;
        if (on_frame(p, frame)) ++completed;
        // A reply is one frame; drop any continuation a misbehaving peer sends.
        while (frame.more() && p.socket.recv(frame, zmq::recv_flags::dontwait)) {
        }
      }
    }
    return any;
  }

  size_t poll(milliseconds wait) {
    size_t completed = run_timers();
    const auto until = clock::now() + wait;
    for (;;) {
      // Under load replies are already waiting: take them without zmq_poll, which costs a
      // system call even when it need not wait. Poll only when there was nothing.
      bool any = receive(false, completed);
      if (!any && completed == 0) {
        const auto now = clock::now();
        const auto wake = std::min(until, next_timer());
        const auto timeout =
            wake <= now ? milliseconds{0} : std::chrono::ceil<milliseconds>(wake - now);
        if (zmq::poll(items.data(), items.size(), timeout) > 0) any = receive(true, completed);
      }
      completed += run_timers();
      if (completed > 0 || clock::now() >= until || (!any && wait.count() == 0)) return completed;
    }
  }
};

// ---------------------------------------------------------------------------------------------

namespace {

call_result owned(const reply_view& v) {
  call_result out;
  out.reply.assign(v.decoded.body.data, v.decoded.body.data + v.decoded.body.size);
  const auto& a = v.decoded.actor;
  out.actor = actor_info{std::string(a.host), std::string(a.module), std::string(a.id.as_string()),
                         a.activation};
  return out;
}

}  // namespace

client::client(std::vector<std::string> endpoints, options opts)
    : impl_(std::make_unique<impl>(std::move(endpoints), opts)) {}

client::~client() = default;

void client::call_async_view(const actor_request& r, reply_handler done) {
  impl_->submit_actor(wire::op::call, r, std::move(done), true);
}

void client::call_async(const actor_request& r, call_handler done) {
  call_async_view(r, [done = std::move(done)](tl::expected<reply_view, error> v) {
    if (!v)
      done(tl::unexpected(std::move(v.error())));
    else
      done(owned(*v));
  });
}

void client::cast_async(const actor_request& r, cast_handler done) {
  impl_->submit_actor(
      wire::op::cast, r,
      [done = std::move(done)](tl::expected<reply_view, error> v) {
        if (!v)
          done(tl::unexpected(std::move(v.error())));
        else
          done({});
      },
      false);
}

void client::request_async(const wire::request& req, reply_handler done, std::string_view endpoint,
                           milliseconds wait) {
  try {
    if (!endpoint.empty()) impl_->peer_for(std::string(endpoint));
  } catch (const zmq::error_t& e) {
    done(tl::unexpected(client_error(
        "bad_argument", "cannot connect to \"" + std::string(endpoint) + "\": " + e.what())));
    return;
  }
  wire::request numbered = req;
  impl_->submit(numbered, [&](impl::pending& p) {
    if (is_actor_op(req.kind)) {
      p.capability = req.capability;
      p.key_hash = wire::id_hash(req.id);
    }
    p.fixed_endpoint = endpoint;
    p.deadline = clock::now() + wait;
    p.done = std::move(done);
  });
}

size_t client::poll(milliseconds wait) { return impl_->poll(wait); }

bool client::drain(milliseconds limit) {
  const auto until = clock::now() + limit;
  while (impl_->user_pending > 0) {
    const auto now = clock::now();
    if (now >= until) return false;
    impl_->poll(std::chrono::ceil<milliseconds>(until - now));
  }
  return true;
}

size_t client::in_flight() const noexcept { return impl_->user_pending; }

namespace {

/// Runs `start` (which issues one async request completing into the slot) and polls until the
/// slot is filled. Every request has a deadline, so this ends.
template <class T, class Start>
T wait_for(client& c, Start&& start) {
  std::optional<T> slot;
  start(slot);
  while (!slot) c.poll(milliseconds{50});
  return std::move(*slot);
}

}  // namespace

tl::expected<call_result, error> client::call(std::string_view capability, std::string_view module,
                                              std::string_view id, const bytes& payload,
                                              const std::optional<bytes>& init,
                                              milliseconds timeout) {
  actor_request r{capability, module, id, view_of(payload), std::nullopt, timeout};
  if (init) r.init = view_of(*init);
  return wait_for<tl::expected<call_result, error>>(*this, [&](auto& slot) {
    call_async(r, [&slot](tl::expected<call_result, error> v) { slot = std::move(v); });
  });
}

tl::expected<void, error> client::cast(std::string_view capability, std::string_view module,
                                       std::string_view id, const bytes& payload,
                                       const std::optional<bytes>& init) {
  actor_request r{capability, module, id, view_of(payload), std::nullopt, milliseconds{0}};
  if (init) r.init = view_of(*init);
  return wait_for<tl::expected<void, error>>(*this, [&](auto& slot) {
    cast_async(r, [&slot](tl::expected<void, error> v) { slot = std::move(v); });
  });
}

tl::expected<bytes, error> client::request(const wire::request& req, std::string_view endpoint,
                                           milliseconds wait) {
  return wait_for<tl::expected<bytes, error>>(*this, [&](auto& slot) {
    request_async(
        req,
        [&slot](tl::expected<reply_view, error> v) {
          if (!v)
            slot = tl::unexpected(std::move(v.error()));
          else
            slot = bytes(v->frame.data, v->frame.data + v->frame.size);
        },
        endpoint, wait);
  });
}

namespace {

/// Sends `req` and hands the decoded reply envelope to `parse`.
template <class T, class Parse>
tl::expected<T, error> query(client& c, const wire::request& req, std::string_view endpoint,
                             milliseconds wait, Parse&& parse) {
  auto envelope = c.request(req, endpoint, wait);
  if (!envelope) return tl::unexpected(std::move(envelope.error()));
  msgpack::zone zone;
  auto decoded = wire::decode_reply(envelope->data(), envelope->size(), zone, reply_limits());
  if (!decoded || decoded->envelope == nullptr)
    return tl::unexpected(client_error("protocol_error", "undecodable reply"));
  return parse(*decoded->envelope);
}

wire::request op_request(wire::op kind) {
  wire::request req;
  req.kind = kind;
  return req;
}

}  // namespace

tl::expected<members_info, error> client::members(std::string_view endpoint) {
  return query<members_info>(*this, op_request(wire::op::members), endpoint, impl_->opts.timeout,
                             parse_members);
}

tl::expected<std::vector<std::string>, error> client::nodes_for(std::string_view capability,
                                                                std::string_view endpoint) {
  auto req = op_request(wire::op::nodes_for);
  req.capability = capability;
  return query<std::vector<std::string>>(
      *this, req, endpoint, impl_->opts.timeout,
      [](const msgpack::object& env) -> tl::expected<std::vector<std::string>, error> {
        auto nodes = find_str_array(env, "nodes");
        if (!nodes) return missing_field("nodes_for", "nodes");
        return std::move(*nodes);
      });
}

tl::expected<owner_info, error> client::owner(std::string_view id, std::string_view capability,
                                              std::string_view endpoint) {
  auto req = op_request(wire::op::owner);
  req.capability = capability;
  req.id = view_of(id);
  return query<owner_info>(*this, req, endpoint, impl_->opts.timeout,
                           [](const msgpack::object& env) -> tl::expected<owner_info, error> {
                             owner_info info;
                             auto shard = find_u32(env, "shard");
                             auto shards = find_u32(env, "shards");
                             auto owner = find_str(env, "owner");
                             if (!shard || !shards || !owner) return missing_field("owner", "owner");
                             info.shard = *shard;
                             info.shards = *shards;
                             info.owner = std::move(*owner);
                             info.endpoint = find_str(env, "endpoint").value_or("");
                             return info;
                           });
}

tl::expected<capabilities_info, error> client::capabilities(std::string_view endpoint) {
  return query<capabilities_info>(
      *this, op_request(wire::op::capabilities), endpoint, impl_->opts.timeout,
      [](const msgpack::object& env) -> tl::expected<capabilities_info, error> {
        capabilities_info info;
        auto caps = find_str_array(env, "caps");
        if (!caps) return missing_field("capabilities", "caps");
        info.capabilities = std::move(*caps);
        info.cluster_capabilities =
            find_str_array(env, "cluster_caps").value_or(info.capabilities);
        info.host = find_str(env, "host").value_or("");
        const auto* modules = find(env, "modules");
        if (modules == nullptr || modules->type != msgpack::type::ARRAY)
          return missing_field("capabilities", "modules");
        for (uint32_t i = 0; i < modules->via.array.size; ++i) {
          const auto& m = modules->via.array.ptr[i];
          info.modules.push_back(module_info{find_str(m, "mod").value_or(""),
                                             find_str(m, "cap").value_or(""),
                                             find_str(m, "plugin").value_or("")});
        }
        return info;
      });
}

tl::expected<std::vector<std::string>, error> client::register_capabilities(
    const std::vector<std::string>& names, std::string_view endpoint) {
  auto req = op_request(wire::op::register_capabilities);
  req.capabilities.assign(names.begin(), names.end());
  // Registration is per host: without an endpoint it goes to the first one given.
  const std::string target = endpoint.empty() ? impl_->seeds.front() : std::string(endpoint);
  return query<std::vector<std::string>>(
      *this, req, target, impl_->opts.timeout,
      [](const msgpack::object& env) -> tl::expected<std::vector<std::string>, error> {
        auto caps = find_str_array(env, "caps");
        if (!caps) return missing_field("register_capabilities", "caps");
        return std::move(*caps);
      });
}

tl::expected<ping_info, error> client::ping(std::string_view endpoint) {
  return query<ping_info>(*this, op_request(wire::op::ping), endpoint, impl_->opts.timeout,
                          [](const msgpack::object& env) -> tl::expected<ping_info, error> {
                            auto shards = find_u32(env, "shards");
                            if (!shards) return missing_field("ping", "shards");
                            return ping_info{find_str(env, "host").value_or(""), *shards};
                          });
}

tl::expected<shard_info, error> client::remote_shard(std::string_view id,
                                                     std::string_view endpoint) {
  auto req = op_request(wire::op::shard);
  req.id = view_of(id);
  return query<shard_info>(*this, req, endpoint, impl_->opts.timeout,
                           [](const msgpack::object& env) -> tl::expected<shard_info, error> {
                             auto shard = find_u32(env, "shard");
                             auto shards = find_u32(env, "shards");
                             if (!shard || !shards) return missing_field("shard", "shard");
                             return shard_info{*shard, *shards};
                           });
}

uint32_t client::shard_for(std::string_view id) const noexcept {
  return wire::shard_for(id, impl_->shards());
}

tl::expected<void, error> client::refresh() {
  auto info = members();
  if (!info) return tl::unexpected(std::move(info.error()));
  impl_->apply_view(std::move(*info));
  impl_->next_refresh = clock::now() + impl_->opts.refresh_interval;
  return {};
}

const members_info& client::view() const noexcept { return impl_->view; }

std::optional<std::string> client::owner_in_view(std::string_view id,
                                                 std::string_view capability) const {
  const auto* owner = impl_->owner_of(capability, wire::id_hash(view_of(id)));
  if (owner == nullptr) return std::nullopt;
  return *owner;
}

const client_stats& client::stats() const noexcept { return impl_->counters; }
const options& client::settings() const noexcept { return impl_->opts; }

bytes json_to_msgpack(const json& value) { return json::to_msgpack(value); }

tl::expected<json, error> json_from_msgpack(const uint8_t* data, size_t size) {
  // Walk first: checks for exactly one object, bounded depth, and container sizes that fit in
  // the bytes, so unpacking below cannot be asked for more memory than the input justifies.
  if (!mesh::wire::is_single_object(data, size, max_value_depth))
    return tl::unexpected(client_error("protocol_error", "not exactly one well-formed MessagePack object"));
  const msgpack::unpack_limit limit(size, size, size, size, size, max_value_depth);
  msgpack::zone zone;
  std::size_t offset = 0;
  try {
    const msgpack::object root = msgpack::unpack(zone, reinterpret_cast<const char*>(data), size,
                                                 offset, nullptr, nullptr, limit);
    return to_json(root);
  } catch (const std::exception& e) {
    return tl::unexpected(client_error("protocol_error", std::string("bad MessagePack: ") + e.what()));
  }
}

}  // namespace mesh::client
