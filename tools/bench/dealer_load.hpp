// Load on a host from one thread: Mesh calls through the client library (mesh::client), and the
// raw ZeroMQ baseline (a bare DEALER sending frames of the same size to an echoing ROUTER). Both
// run sequentially or with N in flight, every wait bounded.
#pragma once

#include <chrono>
#include <cstdint>
#include <mesh/client.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "bench_options.hpp"
#include "bench_report.hpp"
#include <mesh/wire/envelope.hpp>

namespace mesh::bench {

/// What a call goes to: a module of a capability, and the payload it gets.
struct call_target {
  std::string capability, module;
  std::vector<uint8_t> payload;
};

/// The calls of one phase: call i goes to ids[i % ids.size()], on targets[(i % ids.size()) %
/// targets.size()] (so an id always goes to the same module). Counts the replies, and those
/// served by one host when asked to.
class calls {
 public:
  /// One target. `ids` must outlive this object.
  calls(std::string_view capability, std::string_view module, std::span<const std::string> ids,
        std::vector<uint8_t> payload)
      : calls({{std::string(capability), std::string(module), std::move(payload)}}, ids) {}
  /// Several targets. `ids` must outlive this object.
  calls(std::vector<call_target> targets, std::span<const std::string> ids)
      : targets_(std::move(targets)), ids_(ids) {}

  /// Counts, from now on, the replies whose `actor.host` is `host`.
  void count_replies_from(std::string host) { counted_host_ = std::move(host); }
  uint64_t replies_from_counted_host() const noexcept { return from_counted_host_; }
  uint64_t replies() const noexcept { return replies_; }

  /// Request number `i`.
  client::actor_request request(uint64_t i, std::chrono::milliseconds timeout) const;
  /// Counts a successful reply.
  void served(std::string_view host);
  /// The mean frame size of the first requests (one per target): what the raw baseline sends.
  size_t frame_size() const;

 private:
  std::vector<call_target> targets_;
  std::span<const std::string> ids_;
  std::optional<std::string> counted_host_;
  uint64_t from_counted_host_ = 0, replies_ = 0;
};

/// Mesh calls through one mesh::client (single-threaded).
class mesh_load {
 public:
  /// `direct`: route each call to its owner (the smart client), else through `endpoints`.
  mesh_load(std::vector<std::string> endpoints, bool direct, const bench_options& options);

  /// Keeps `inflight` calls outstanding until `count` completed or `limit` passed. Throws on a
  /// failed call.
  run_result pipeline(calls& c, size_t inflight, uint64_t count,
                      std::chrono::steady_clock::duration limit);
  /// One call at a time; the round trip of each, in ns.
  std::vector<int64_t> sequential(calls& c, uint64_t count,
                                  std::chrono::steady_clock::duration limit);
  /// One control request answered within the client's timeout: the reply envelope as JSON.
  /// Throws on no reply or an error reply.
  nlohmann::json query(const wire::request& req, std::string_view endpoint = {});

  client::client& client() noexcept { return client_; }

 private:
  const bench_options& options_;
  mesh::client::client client_;
};

/// A bare DEALER socket driving the raw echo. Single-threaded.
class dealer {
 public:
  /// Connects to `endpoint`; `options` (stall limit) must outlive the dealer.
  dealer(zmq::context_t& context, const std::string& endpoint, const bench_options& options);

  /// Keeps `inflight` frames of `size` bytes outstanding until `count` came back or `limit`
  /// passed.
  run_result pipeline(size_t size, size_t inflight, uint64_t count,
                      std::chrono::steady_clock::duration limit);
  /// One frame at a time; the round trip of each, in ns.
  std::vector<int64_t> sequential(size_t size, uint64_t count,
                                  std::chrono::steady_clock::duration limit);

 private:
  void send(const std::string& frame);
  void receive(zmq::message_t& reply, size_t size);

  zmq::socket_t socket_;
  const bench_options& options_;
};

}  // namespace mesh::bench
