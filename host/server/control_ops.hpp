// The control operations: every op that is not an actor call or cast (stats, actors,
// capabilities, register_capabilities, shard, ping, members, nodes_for, owner). Each op has one
// handler, found in a table indexed by the op; a handler packs the whole reply envelope and
// returns the outcome the server counts it under. docs/PROTOCOL.md describes each reply.
//
// Dispatcher-owned: the server calls handle() on its thread, with its own state behind the
// references given at construction.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <string>

#include "cluster/cluster_view.hpp"
#include "plugin/module_table.hpp"
#include "server/host_config.hpp"
#include "server/host_stats.hpp"
#include <mesh/wire/buffer.hpp>
#include <mesh/wire/envelope.hpp>
#include <mesh/wire/protocol.hpp>

namespace mesh::host {

/// Answers the control operations from the server's state.
class control_ops {
 public:
  /// What the control operations read and change. Everything is the server's: the references
  /// must outlive the control_ops.
  struct context {
    const host_config& config;       ///< name and shards
    const std::string& endpoint;     ///< the bound request endpoint
    module_table& modules;           ///< served modules (register_capabilities changes it)
    const cluster_view& cluster;     ///< the view, routes and strategy
    std::function<stats_snapshot()> snapshot;       ///< the counters as of now
    std::function<void()> capabilities_changed;     ///< after register_capabilities
  };

  /// Answers from `state`.
  explicit control_ops(context state) : state_(std::move(state)) {}

  /// Packs the reply to `req` (a control op) into `out` (cleared first) and returns its
  /// outcome: outcome_ok, or the outcome of the error it answered.
  size_t handle(const wire::request& req, wire::buffer& out) const;

 private:
  using handler = size_t (control_ops::*)(const wire::request&, wire::buffer&) const;
  /// One handler per op; call and cast (actor ops, never sent here) answer "unhandled op".
  static const std::array<handler, wire::op_count> handlers_;

  size_t unhandled(const wire::request& req, wire::buffer& out) const;
  size_t stats(const wire::request& req, wire::buffer& out) const;
  /// Pages through the live actors; bad_request for a cursor this host did not return.
  size_t actors(const wire::request& req, wire::buffer& out) const;
  size_t capabilities(const wire::request& req, wire::buffer& out) const;
  size_t register_capabilities(const wire::request& req, wire::buffer& out) const;
  size_t shard(const wire::request& req, wire::buffer& out) const;
  size_t ping(const wire::request& req, wire::buffer& out) const;
  size_t members(const wire::request& req, wire::buffer& out) const;
  size_t nodes_for(const wire::request& req, wire::buffer& out) const;
  size_t owner(const wire::request& req, wire::buffer& out) const;

  context state_;
};

}  // namespace mesh::host
