#include "server/control_ops.hpp"

#include <mesh/wire/shard.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "server/log_value.hpp"

namespace mesh::host {

namespace {

using packer = msgpack::packer<wire::buffer>;

template <class Stream>
void put_strings(msgpack::packer<Stream>& pk, const std::vector<std::string>& items) {
  pk.pack_array(static_cast<uint32_t>(items.size()));
  for (const auto& s : items) wire::pack_string(pk, s);
}

}  // namespace

const std::array<control_ops::handler, wire::op_count> control_ops::handlers_ = [] {
  std::array<handler, wire::op_count> table{};
  table.fill(&control_ops::unhandled);
  auto set = [&table](wire::op kind, handler h) { table[static_cast<size_t>(kind)] = h; };
  set(wire::op::stats, &control_ops::stats);
  set(wire::op::actors, &control_ops::actors);
  set(wire::op::capabilities, &control_ops::capabilities);
  set(wire::op::register_capabilities, &control_ops::register_capabilities);
  set(wire::op::shard, &control_ops::shard);
  set(wire::op::ping, &control_ops::ping);
  set(wire::op::members, &control_ops::members);
  set(wire::op::nodes_for, &control_ops::nodes_for);
  set(wire::op::owner, &control_ops::owner);
  return table;
}();

size_t control_ops::handle(const wire::request& req, wire::buffer& out) const {
  out.clear();
  const auto row = static_cast<size_t>(req.kind);
  const handler h = row < handlers_.size() ? handlers_[row] : &control_ops::unhandled;
  return (this->*h)(req, out);
}

size_t control_ops::unhandled(const wire::request& req, wire::buffer& out) const {
  wire::encode_error(out, req.rid, wire::error_code::internal, "unhandled op");
  return outcome_of(wire::error_code::internal);
}

size_t control_ops::stats(const wire::request& req, wire::buffer& out) const {
  const stats_snapshot snap = state_.snapshot();
  packer pk(out);
  wire::begin_ok(out, req.rid, 3);
  wire::pack_string(pk, "host");
  wire::pack_string(pk, state_.config.name);
  wire::pack_string(pk, "uptime_ms");
  pk.pack_uint64(snap.uptime_ms);
  wire::pack_string(pk, "stats");
  pack_stats(pk, snap);
  return outcome_ok;
}

size_t control_ops::capabilities(const wire::request& req, wire::buffer& out) const {
  const routing_table* routes = state_.cluster.routes();
  const auto caps = state_.modules.served();
  const auto mods = state_.modules.modules();
  packer pk(out);
  wire::begin_ok(out, req.rid, 4);
  wire::pack_string(pk, "host");
  wire::pack_string(pk, state_.config.name);
  wire::pack_string(pk, "caps");
  put_strings(pk, caps);
  wire::pack_string(pk, "cluster_caps");
  put_strings(pk, routes != nullptr ? routes->capabilities() : caps);
  wire::pack_string(pk, "modules");
  pk.pack_array(static_cast<uint32_t>(mods.size()));
  for (const actor_module* m : mods) {
    pk.pack_map(3);
    wire::pack_string(pk, "mod");
    wire::pack_string(pk, m->name);
    wire::pack_string(pk, "cap");
    wire::pack_string(pk, m->capability);
    wire::pack_string(pk, "plugin");
    wire::pack_string(pk, m->plugin_file);
  }
  return outcome_ok;
}

size_t control_ops::register_capabilities(const wire::request& req, wire::buffer& out) const {
  state_.modules.register_capabilities(req.capabilities);
  const auto caps = state_.modules.served();
  std::string list;
  for (const auto& c : caps) list += (list.empty() ? "" : ",") + c;
  spdlog::info("capabilities registered: {} caps={}", log_value(state_.config.name),
               log_value(list));
  if (state_.capabilities_changed) state_.capabilities_changed();
  packer pk(out);
  wire::begin_ok(out, req.rid, 1);
  wire::pack_string(pk, "caps");
  put_strings(pk, caps);
  return outcome_ok;
}

size_t control_ops::shard(const wire::request& req, wire::buffer& out) const {
  packer pk(out);
  wire::begin_ok(out, req.rid, 2);
  wire::pack_string(pk, "shard");
  pk.pack_uint32(wire::shard_for(req.id, state_.config.shards));
  wire::pack_string(pk, "shards");
  pk.pack_uint32(state_.config.shards);
  return outcome_ok;
}

size_t control_ops::ping(const wire::request& req, wire::buffer& out) const {
  packer pk(out);
  wire::begin_ok(out, req.rid, 2);
  wire::pack_string(pk, "host");
  wire::pack_string(pk, state_.config.name);
  wire::pack_string(pk, "shards");
  pk.pack_uint32(state_.config.shards);
  return outcome_ok;
}

size_t control_ops::members(const wire::request& req, wire::buffer& out) const {
  const auto now = clock::now();
  const routing_table* routes = state_.cluster.routes();
  const placement::placement_strategy* strategy = state_.cluster.strategy();
  std::vector<discovery::member_info> members;
  if (const auto* snapshot = state_.cluster.snapshot()) members = snapshot->members;
  if (members.empty()) {  // a single host: just us
    discovery::member_info me;
    me.record.name = state_.config.name;
    me.record.endpoint = state_.endpoint;
    me.record.capabilities = state_.modules.served();
    me.record.shards = state_.config.shards;
    me.self = true;
    me.last_heard = now;
    members.push_back(me);
  }
  packer pk(out);
  wire::begin_ok(out, req.rid, 4);
  wire::pack_string(pk, "epoch");
  pk.pack_uint64(routes != nullptr ? routes->epoch() : 0);
  wire::pack_string(pk, "strategy");
  // A single host owns every key whatever the strategy; it reports the default.
  wire::pack_string(pk, strategy != nullptr ? strategy->name() : std::string("rendezvous"));
  wire::pack_string(pk, "shards");
  pk.pack_uint32(state_.config.shards);
  wire::pack_string(pk, "members");
  pk.pack_array(static_cast<uint32_t>(members.size()));
  for (const auto& m : members) {
    pk.pack_map(9);
    wire::pack_string(pk, "name");
    wire::pack_string(pk, m.record.name);
    wire::pack_string(pk, "endpoint");
    wire::pack_string(pk, m.record.endpoint);
    wire::pack_string(pk, "gossip");
    wire::pack_string(pk, m.record.gossip);
    wire::pack_string(pk, "caps");
    put_strings(pk, m.record.capabilities);
    wire::pack_string(pk, "status");
    wire::pack_string(pk, discovery::to_string(m.status));
    wire::pack_string(pk, "incarnation");
    pk.pack_uint64(m.record.incarnation);
    wire::pack_string(pk, "version");
    pk.pack_uint64(m.record.version);
    wire::pack_string(pk, "self");
    pk.pack(m.self);
    wire::pack_string(pk, "last_heard_ms");
    pk.pack_uint64(m.self ? 0
                          : static_cast<uint64_t>(std::max<int64_t>(
                                0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                       now - m.last_heard)
                                       .count())));
  }
  return outcome_ok;
}

size_t control_ops::nodes_for(const wire::request& req, wire::buffer& out) const {
  const routing_table* routes = state_.cluster.routes();
  const std::string cap(req.capability);
  std::vector<std::string> nodes;
  if (routes != nullptr) {
    nodes = routes->hosts_for(cap);
  } else {
    const auto served = state_.modules.served();
    if (std::find(served.begin(), served.end(), cap) != served.end())
      nodes.push_back(state_.config.name);
  }
  packer pk(out);
  wire::begin_ok(out, req.rid, 2);
  wire::pack_string(pk, "cap");
  wire::pack_string(pk, cap);
  wire::pack_string(pk, "nodes");
  put_strings(pk, nodes);
  return outcome_ok;
}

size_t control_ops::owner(const wire::request& req, wire::buffer& out) const {
  const routing_table* routes = state_.cluster.routes();
  const uint32_t shard = wire::shard_for(req.id, state_.config.shards);
  std::string owner, owner_endpoint;
  if (routes != nullptr) {
    if (const auto* o = routes->owner(req.capability, shard)) {
      owner = o->name;
      owner_endpoint = o->endpoint;
    }
  } else {
    const auto served = state_.modules.served();
    if (std::find(served.begin(), served.end(), req.capability) != served.end()) {
      owner = state_.config.name;
      owner_endpoint = state_.endpoint;
    }
  }
  if (owner.empty()) {
    wire::encode_error(out, req.rid, wire::error_code::unknown_capability,
                       "no host has capability \"" + std::string(req.capability) + "\"");
    return outcome_of(wire::error_code::unknown_capability);
  }
  packer pk(out);
  wire::begin_ok(out, req.rid, 4);
  wire::pack_string(pk, "shard");
  pk.pack_uint32(shard);
  wire::pack_string(pk, "shards");
  pk.pack_uint32(state_.config.shards);
  wire::pack_string(pk, "owner");
  wire::pack_string(pk, owner);
  wire::pack_string(pk, "endpoint");
  wire::pack_string(pk, owner_endpoint);
  return outcome_ok;
}

size_t control_ops::actors(const wire::request& req, wire::buffer& out) const {
  // Cursor: 4-byte big-endian module name length, the module name, then the id. Opaque to
  // clients; it names the last actor of the previous page in (module, id) byte order.
  std::string_view after_mod, after_id;
  const bool paged = !req.after.empty();
  if (paged) {
    const auto& c = req.after;
    const size_t len = c.size < 4 ? 0
                                  : (size_t{c.data[0]} << 24) | (size_t{c.data[1]} << 16) |
                                        (size_t{c.data[2]} << 8) | c.data[3];
    if (c.size < 4 || len > c.size - 4) {
      wire::encode_error(out, req.rid, wire::error_code::bad_request,
                         "\"after\" is not a cursor this host returned");
      return outcome_of(wire::error_code::bad_request);
    }
    after_mod = std::string_view(reinterpret_cast<const char*>(c.data) + 4, len);
    after_id = std::string_view(reinterpret_cast<const char*>(c.data) + 4 + len, c.size - 4 - len);
  }
  struct entry {
    const actor_module* module;
    const activation* actor;
    uint64_t number;
  };
  std::vector<entry> found;
  uint64_t total = 0;
  for (const actor_module* m : state_.modules.modules()) {
    if (!req.module.empty() && m->name != req.module) continue;
    const bool before_cursor = paged && m->name < after_mod;
    const bool cursor_module = paged && m->name == after_mod;
    m->actors.for_each([&](const activation* a) {
      const uint64_t number = a->number.load(std::memory_order_relaxed);
      if (number == 0) return;  // not created yet, or discarded after a crash
      ++total;
      if (before_cursor || (cursor_module && a->id <= after_id)) return;
      found.push_back({m, a, number});
    });
  }
  const size_t page = std::min<size_t>(found.size(), req.limit);
  auto before = [](const entry& a, const entry& b) {
    if (a.module != b.module) return a.module->name < b.module->name;
    return a.actor->id < b.actor->id;
  };
  std::partial_sort(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(page), found.end(),
                    before);
  const bool more = found.size() > page;
  const int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch()).count();
  packer pk(out);
  wire::begin_ok(out, req.rid, 4);
  wire::pack_string(pk, "host");
  wire::pack_string(pk, state_.config.name);
  wire::pack_string(pk, "actors");
  pk.pack_array(static_cast<uint32_t>(page));
  for (size_t i = 0; i < page; ++i) {
    const entry& e = found[i];
    const int64_t last = e.actor->last_active.load(std::memory_order_relaxed);
    pk.pack_map(5);
    wire::pack_string(pk, "cap");
    wire::pack_string(pk, e.module->capability);
    wire::pack_string(pk, "mod");
    wire::pack_string(pk, e.module->name);
    wire::pack_string(pk, "id");
    wire::pack_string(pk, e.actor->id);
    wire::pack_string(pk, "act");
    pk.pack_uint64(e.number);
    wire::pack_string(pk, "idle_ms");
    pk.pack_uint64(last == 0 || now_ns < last ? 0 : static_cast<uint64_t>(now_ns - last) / 1'000'000);
  }
  wire::pack_string(pk, "next");
  if (more && page > 0) {
    const entry& last = found[page - 1];
    const std::string& mod = last.module->name;
    std::string cursor;
    cursor.reserve(4 + mod.size() + last.actor->id.size());
    for (int shift = 24; shift >= 0; shift -= 8)
      cursor += static_cast<char>((mod.size() >> shift) & 0xff);
    cursor += mod;
    cursor += last.actor->id;
    pk.pack_bin(static_cast<uint32_t>(cursor.size()));
    pk.pack_bin_body(cursor.data(), static_cast<uint32_t>(cursor.size()));
  } else {
    pk.pack_nil();
  }
  wire::pack_string(pk, "total");
  pk.pack_uint64(total);
  return outcome_ok;
}

}  // namespace mesh::host
