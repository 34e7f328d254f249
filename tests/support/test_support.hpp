// Helpers shared by the tests: temporary directories, child processes (real meshd hosts), and a
// small DEALER client speaking the wire protocol. Every wait is bounded.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include <mesh/wire/envelope.hpp>

#include "child_process.hpp"
#include "temp_dir.hpp"

namespace mesh::test {

using namespace std::chrono_literals;
using json = nlohmann::json;

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
inline bool wait_until(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = 10s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

/// Child processes (meshd, meshctl, the client example): started by posix_spawn, signalled
/// only by their own pid, SIGKILL on destruction (tools/child_process).
using tools::child_process;
using tools::child_options;

/// A real meshd on 127.0.0.1 with a free port, its own plugin directory and log.
class meshd_process {
 public:
  /// Starts meshd serving `plugins_dir`, with `extra` arguments, and waits until it serves.
  meshd_process(const std::filesystem::path& plugins_dir, std::vector<std::string> extra = {}) {
    ready_ = dir_ / "ready";
    log_ = dir_ / "meshd.log";
    std::vector<std::string> argv = {MESHD_PATH,      "--listen", "tcp://127.0.0.1:*", "--plugins",
                                     plugins_dir.string(), "--ready-file", ready_.string(),
                                     "--scan-interval", "100ms"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_.emplace(argv, child_options{.log = log_, .ready_file = ready_, .ready_timeout = 15s});
  }

  const std::string& endpoint() const noexcept { return process_->endpoint(); }
  std::string log() const { return read_file(log_); }
  child_process& process() { return *process_; }

 private:
  temp_dir dir_;
  std::filesystem::path ready_, log_;
  std::optional<child_process> process_;
};

/// A decoded reply that owns its data.
struct reply {
  bool ok = false;
  uint64_t rid = 0;
  std::string code, message;
  json body;  ///< the actor's reply (calls) or the whole envelope (other ops)
  std::string host, module, id;
  uint64_t activation = 0;
};

/// CURVE keys of a client of a keyed cluster (Z85): the cluster's public key, the client's pair.
struct curve_client_keys {
  std::string server_key, public_key, secret_key;
};

/// A DEALER client (a CURVE client when given `keys`). Every receive has a timeout.
class client {
 public:
  explicit client(const std::string& endpoint, const curve_client_keys* keys = nullptr)
      : socket_(context_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    if (keys != nullptr) {
      socket_.set(zmq::sockopt::curve_serverkey, keys->server_key);
      socket_.set(zmq::sockopt::curve_publickey, keys->public_key);
      socket_.set(zmq::sockopt::curve_secretkey, keys->secret_key);
    }
    socket_.connect(endpoint);
  }

  void send_raw(const std::string& bytes) {
    if (!socket_.send(zmq::buffer(bytes), zmq::send_flags::none)) throw std::runtime_error("send timed out");
  }
  /// Bounds every later send (a DEALER whose handshakes all fail has nowhere to queue: a send
  /// would block for good). A send that times out throws std::runtime_error.
  void set_send_timeout(std::chrono::milliseconds timeout) {
    socket_.set(zmq::sockopt::sndtimeo, static_cast<int>(timeout.count()));
  }
  void send_frames(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i)
      socket_.send(zmq::buffer(frames[i]),
                   i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }

  /// Receives one reply frame, or nullopt after `timeout`.
  std::optional<reply> receive(std::chrono::milliseconds timeout = 10s) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
    zmq::message_t msg;
    (void)socket_.recv(msg);
    while (msg.size() == 0 && msg.more()) (void)socket_.recv(msg);  // skip a delimiter
    msgpack::zone zone;
    auto rep = wire::decode_reply(msg.data<uint8_t>(), msg.size(), zone);
    if (!rep) throw std::runtime_error("undecodable reply: " + rep.error().message);
    reply out;
    out.ok = rep->ok;
    out.rid = rep->rid;
    out.code = rep->error_code;
    out.message = rep->error_message;
    if (rep->has_actor) {
      out.host = std::string(rep->actor.host);
      out.module = std::string(rep->actor.module);
      out.id = std::string(rep->actor.id.as_string());
      out.activation = rep->actor.activation;
    }
    if (!rep->body.empty()) {
      out.body = json::from_msgpack(rep->body.data, rep->body.data + rep->body.size);
    } else {
      msgpack::sbuffer sb;
      msgpack::pack(sb, *rep->envelope);
      out.body = json::from_msgpack(sb.data(), sb.data() + sb.size());
    }
    return out;
  }

  /// Sends `req` (payload and init given as JSON, converted to MessagePack).
  void send(wire::request req, const std::optional<json>& payload = std::nullopt,
            const std::optional<json>& init = std::nullopt) {
    std::vector<uint8_t> p, i;
    if (payload) {
      p = json::to_msgpack(*payload);
      req.payload = {p.data(), p.size()};
    }
    if (init) {
      i = json::to_msgpack(*init);
      req.init_arg = {i.data(), i.size()};
    }
    wire::buffer buf;
    wire::encode_request(buf, req);
    if (!socket_.send(zmq::buffer(buf.data(), buf.size()), zmq::send_flags::none))
      throw std::runtime_error("send timed out");
  }

  /// A request whose views point at the arguments: pass literals or strings that outlive it.
  static wire::request make(wire::op kind, std::string_view cap, std::string_view mod,
                            std::string_view id, uint32_t timeout_ms = 5000) {
    wire::request req;
    req.kind = kind;
    req.capability = cap;
    req.module = mod;
    req.id = {reinterpret_cast<const uint8_t*>(id.data()), id.size()};
    req.timeout_ms = timeout_ms;
    return req;
  }

  /// One call, waiting for its reply (throws if none arrives in time).
  reply call(const std::string& cap, const std::string& mod, const std::string& id,
             const json& payload, const std::optional<json>& init = std::nullopt,
             uint32_t timeout_ms = 5000) {
    auto req = make(wire::op::call, cap, mod, id, timeout_ms);
    req.rid = ++rid_;
    send(req, payload, init);
    return expect(req.rid, std::chrono::milliseconds(timeout_ms) + 5s);
  }

  reply cast(const std::string& cap, const std::string& mod, const std::string& id,
             const json& payload) {
    auto req = make(wire::op::cast, cap, mod, id);
    req.rid = ++rid_;
    send(req, payload);
    return expect(req.rid, 10s);
  }

  /// An op without actor fields (capabilities, ping, ...).
  reply control(wire::op kind, std::vector<std::string> caps = {}, const std::string& id = {}) {
    wire::request req;
    req.kind = kind;
    req.rid = ++rid_;
    for (const auto& c : caps) req.capabilities.push_back(c);
    req.id = {reinterpret_cast<const uint8_t*>(id.data()), id.size()};
    send(req);
    return expect(req.rid, 10s);
  }

  /// Receives until the reply with `rid` arrives (others are dropped).
  reply expect(uint64_t rid, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      auto r = receive(left);
      if (!r) break;
      if (r->rid == rid) return *r;
    }
    throw std::runtime_error("no reply for rid " + std::to_string(rid));
  }

  uint64_t next_rid() { return ++rid_; }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  uint64_t rid_ = 0;
};

}  // namespace mesh::test
