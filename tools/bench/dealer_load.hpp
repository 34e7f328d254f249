// Load a DEALER socket puts on a host: Mesh call envelopes (or raw frames of the same size),
// sent one at a time or with N in flight, every wait bounded.
#pragma once

#include <chrono>
#include <cstdint>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "bench_options.hpp"
#include "wire/wire.hpp"

namespace mesh::bench {

/// What one pipelined run did.
struct run_result {
  uint64_t completed = 0;
  double seconds = 0;
  double rate() const { return seconds > 0 ? static_cast<double>(completed) / seconds : 0; }
};

/// Produces request frames and checks reply frames for one phase. The Mesh kind encodes call
/// envelopes for ids[i % ids.size()] and decodes the replies; the raw kind sends a fixed frame
/// and checks that the same number of bytes comes back.
class traffic {
 public:
  /// Mesh calls of `module` (`capability`) with `payload`. `ids` must outlive this object.
  traffic(std::string_view capability, std::string_view module, std::span<const std::string> ids,
          const std::vector<uint8_t>& payload)
      : capability_(capability), module_(module), ids_(ids), payload_(payload) {}

  /// Raw frames of `size` bytes.
  explicit traffic(size_t size) : raw_(std::in_place, size, 'x') {}

  /// Counts, from now on, the successful replies whose `actor.host` is `host`.
  void count_replies_from(std::string host) { counted_host_ = std::move(host); }
  /// Replies checked so far whose `actor.host` was the counted host.
  uint64_t replies_from_counted_host() const noexcept { return from_counted_host_; }
  /// Replies checked so far.
  uint64_t replies() const noexcept { return replies_; }

  /// The frame of request number `i`.
  std::pair<const void*, size_t> frame(uint64_t i);
  /// Throws unless `reply` is a successful answer.
  void check(const zmq::message_t& reply);
  /// The size of the frames this traffic sends (the first one's, for Mesh calls).
  size_t frame_size() { return frame(0).second; }

 private:
  std::string_view capability_, module_;
  std::span<const std::string> ids_;
  std::vector<uint8_t> payload_;
  std::optional<std::string> raw_;
  std::optional<std::string> counted_host_;
  uint64_t from_counted_host_ = 0, replies_ = 0;
  wire::buffer buffer_;
  msgpack::zone zone_;
};

/// A DEALER socket driving one host (Mesh or the raw echo). Single-threaded.
class dealer {
 public:
  /// Connects to `endpoint`; `options` (stall limit) must outlive the dealer.
  dealer(zmq::context_t& context, const std::string& endpoint, const bench_options& options);

  /// Keeps `inflight` requests outstanding until `count` completed or `limit` passed.
  run_result pipeline(traffic& t, size_t inflight, uint64_t count,
                      std::chrono::steady_clock::duration limit);

  /// One request at a time; the round trip of each, in ns.
  std::vector<int64_t> sequential(traffic& t, uint64_t count,
                                  std::chrono::steady_clock::duration limit);

  /// One control request (`members`, `owner`, ...) answered within `timeout`: the whole reply
  /// envelope as JSON. Throws on no reply or an error reply. Replies with another rid (late
  /// answers of an earlier phase) are skipped. Not to be mixed with a running pipeline.
  nlohmann::json query(wire::request req, std::chrono::milliseconds timeout);

 private:
  void send(traffic& t, uint64_t i);
  void wait();

  zmq::socket_t socket_;
  const bench_options& options_;
  uint64_t next_query_rid_ = uint64_t{1} << 62;
};

}  // namespace mesh::bench
