// One request as it travels through a host: the frame it came in (which the task's views point
// into), who sent it, and the reply a worker encodes for it. The dispatcher allocates it when the
// frame arrives and frees it once the request is answered and, for a task the runtime ran, once
// the runtime has given it back. Between those, it is owned by exactly one of: the server (being
// routed), the runtime (running; the worker touches only the task fields, `reply` and
// `outcome`), the forwarder (on its way to the owner host), or the once table (a repeat waiting
// for the first run's reply).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <zmq.hpp>

#include "runtime/runtime.hpp"
#include "server/host_stats.hpp"
#include <mesh/wire/envelope.hpp>

namespace mesh::host {

/// A request and everything needed to answer it.
struct inbound : task {
  /// No slot: the request is not a call in the server's table of calls.
  static constexpr uint32_t no_slot = UINT32_MAX;

  zmq::message_t routing_id;  ///< the sender's ROUTER routing id
  zmq::message_t frame;       ///< the request envelope
  zmq::message_t reply;       ///< a call's reply envelope, encoded by whoever completed it
  uint64_t rid = 0;  ///< the request id, echoed in the reply
  uint64_t seq = 0;  ///< the call's sequence number in the deadlines and the call table
  uint32_t timeout_ms = wire::default_timeout_ms;  ///< from the request
  uint8_t op_slot = op_invalid;  ///< row in host_counters::requests, set once decoded
  uint8_t outcome = 0;           ///< set on completion for the dispatcher to count
  bool delimiter = false;        ///< sent by a REQ socket: the reply starts with an empty frame
  /// Set when another host forwarded this request: the reply goes back with its header.
  bool forwarded = false;
  /// Sent with "once": runs at most once per (rid, actor); see once_table.
  bool once = false;
  uint64_t actor_key = 0;  ///< with once: the hash of (id, module)
  uint64_t fseq = 0;       ///< forwarded: the forwarding host's number for it
  /// The incarnation of this host the forwarding host meant (its header's "inc"; 0: any).
  uint64_t addressed = 0;
  /// A call's slot in the server's call table while it is unanswered.
  uint32_t slot = no_slot;
  /// Made by an actor on this host (host services), not received: there is no client to send
  /// the reply to; it goes back to the calling actor's mailbox (runtime::deliver_reply). For a
  /// call run here, `reply` then holds the raw reply object (or error message), not an
  /// envelope, and `outcome` its code.
  actor_request_ptr origin;

  /// One is allocated and freed per request, hundreds at a time, more than glibc's per-thread
  /// cache keeps: the thread that frees them keeps them for its next ones.
  static void* operator new(size_t size);
  /// Returns the memory to this thread's cache (or to the heap when the cache is full).
  static void operator delete(void* p) noexcept;
};

/// Deletes an inbound; for holders that see it as an incomplete type.
struct inbound_deleter {
  /// Deletes `in`.
  void operator()(inbound* in) const noexcept;
};

}  // namespace mesh::host
