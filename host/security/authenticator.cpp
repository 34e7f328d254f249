#include "security/authenticator.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>

#include <mesh/wire/name_table.hpp>

namespace mesh::security {
namespace {

constexpr const char* zap_endpoint = "inproc://zeromq.zap.01";
/// ZMQ_ZAP_ENFORCE_DOMAIN: a draft option in libzmq 4.3 (the header hides it; it works).
constexpr int zap_enforce_domain = 93;
constexpr auto log_every = std::chrono::seconds(10);
constexpr size_t max_zap_frames = 16;

constexpr wire::name_table<socket_role, socket_role_count> socket_role_names{{"requests", "gossip"}};
static_assert(socket_role_names.complete());
constexpr wire::name_table<denial, denial_count> denial_names{
    {"unknown_key", "no_key", "bad_handshake"}};
static_assert(denial_names.complete());

std::string_view domain_of(socket_role r) noexcept {
  return r == socket_role::requests ? "mesh.requests" : "mesh.gossip";
}

/// The 32 bytes a Z85 key stands for (the form ZAP credentials arrive in).
std::string binary_key(const std::string& z85) {
  std::string out(32, '\0');
  if (!is_z85_key(z85) ||
      zmq_z85_decode(reinterpret_cast<uint8_t*>(out.data()), z85.c_str()) == nullptr)
    throw std::invalid_argument("not a Z85 key: " + z85);
  return out;
}

std::string z85_of(const zmq::message_t& key) {
  if (key.size() != 32) return "(" + std::to_string(key.size()) + " bytes)";
  char text[41] = {};
  zmq_z85_encode(text, key.data<uint8_t>(), 32);
  return text;
}

}  // namespace

std::string_view to_string(socket_role r) noexcept { return socket_role_names.name(r); }

std::string_view to_string(denial d) noexcept { return denial_names.name(d); }

authenticator::authenticator(zmq::context_t& context, key_pair host,
                             const std::vector<authorized_key>& clients)
    : context_(context), host_(std::move(host)), zap_(context, zmq::socket_type::rep) {
  zap_.set(zmq::sockopt::linger, 0);
  zap_.bind(zap_endpoint);
  host_only_.insert(binary_key(host_.public_key));
  request_keys_ = host_only_;
  for (const auto& k : clients) request_keys_.insert(binary_key(k.public_key));
}

authenticator::~authenticator() { stop(); }

void authenticator::serve(zmq::socket_t& s, socket_role role) {
  if (thread_.joinable()) throw std::logic_error("authenticator::serve after start");
  s.set(zmq::sockopt::curve_server, 1);
  s.set(zmq::sockopt::curve_secretkey, host_.secret_key);
  s.set(zmq::sockopt::zap_domain, std::string(domain_of(role)));
  const int on = 1;
  if (zmq_setsockopt(s.handle(), zap_enforce_domain, &on, sizeof on) != 0) throw zmq::error_t();
  const std::string address = "inproc://mesh.auth.monitor." + std::to_string(monitors_.size());
  if (zmq_socket_monitor(
          s.handle(), address.c_str(),
          ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0)
    throw zmq::error_t();
  auto m =
      std::make_unique<monitor>(monitor{zmq::socket_t(context_, zmq::socket_type::pair), role, {}});
  m->pair.set(zmq::sockopt::linger, 0);
  m->pair.connect(address);
  monitors_.push_back(std::move(m));
}

void authenticator::connect_as_host(zmq::socket_t& s) const {
  s.set(zmq::sockopt::curve_serverkey, host_.public_key);
  s.set(zmq::sockopt::curve_publickey, host_.public_key);
  s.set(zmq::sockopt::curve_secretkey, host_.secret_key);
}

void authenticator::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
}

void authenticator::stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

void authenticator::loop() {
  std::vector<zmq::pollitem_t> items{{zap_.handle(), 0, ZMQ_POLLIN, 0}};
  for (auto& m : monitors_) items.push_back({m->pair.handle(), 0, ZMQ_POLLIN, 0});
  while (!stopping_.load()) {
    try {
      zmq::poll(items, std::chrono::milliseconds(100));
      if (items[0].revents & ZMQ_POLLIN) answer_zap();
      for (size_t i = 0; i < monitors_.size(); ++i)
        if (items[i + 1].revents & ZMQ_POLLIN) read_monitor(*monitors_[i]);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      if (e.num() == ETERM) return;
      spdlog::error("authenticator: {}", e.what());
    }
  }
}

void authenticator::answer_zap() {
  // Request: version, request id, domain, address, routing id, mechanism, credentials...
  std::vector<zmq::message_t> frames;
  for (bool more = true; more && frames.size() < max_zap_frames + 1;) {
    zmq::message_t part;
    if (!zap_.recv(part, zmq::recv_flags::dontwait)) return;
    more = part.more();
    frames.push_back(std::move(part));
  }
  while (frames.back().more()) {  // more frames than any ZAP request has: drain them
    zmq::message_t rest;
    (void)zap_.recv(rest, zmq::recv_flags::none);
    if (!rest.more()) break;
  }
  const std::string request_id = frames.size() > 1 ? frames[1].to_string() : "";
  std::string status = "400", text = "not allowed", user;
  std::optional<socket_role> role;
  if (frames.size() >= 7 && frames[0].to_string_view() == "1.0") {
    const auto domain = frames[2].to_string_view();
    if (domain == domain_of(socket_role::requests)) role = socket_role::requests;
    if (domain == domain_of(socket_role::gossip)) role = socket_role::gossip;
    const auto& allowed = role == socket_role::gossip ? host_only_ : request_keys_;
    if (role && frames[5].to_string_view() == "CURVE" &&
        allowed.count(frames[6].to_string()) != 0) {
      status = "200";
      text = "OK";
      user = frames[6].to_string() == *host_only_.begin() ? "host" : "client";
    }
    if (role && status != "200")
      deny(*role, denial::unknown_key,
           "peer=" + frames[3].to_string() + " key=" + z85_of(frames[6]));
  }
  // Reply: version, request id, status code, status text, user id, metadata.
  const std::string reply[] = {"1.0", request_id, status, text, user, ""};
  for (size_t i = 0; i < 6; ++i)
    zap_.send(zmq::buffer(reply[i]), i < 5 ? zmq::send_flags::sndmore : zmq::send_flags::none);
}

void authenticator::read_monitor(monitor& m) {
  zmq::message_t event, endpoint;
  if (!m.pair.recv(event, zmq::recv_flags::dontwait)) return;
  if (event.more()) (void)m.pair.recv(endpoint, zmq::recv_flags::none);
  while (endpoint.more()) (void)m.pair.recv(endpoint, zmq::recv_flags::none);
  if (event.size() < 6) return;
  uint16_t id = 0;
  uint32_t value = 0;
  std::memcpy(&id, event.data<uint8_t>(), 2);
  std::memcpy(&value, event.data<uint8_t>() + 2, 4);
  if (id != ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && id != ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
    return;
  const denial why = id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
                             value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                         ? denial::no_key
                         : denial::bad_handshake;
  // A failed protocol carries a ZMQ_PROTOCOL_ERROR_* code; the other event an errno.
  char code[64];
  if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
    std::snprintf(code, sizeof code, "0x%x", value);
  else
    std::snprintf(code, sizeof code, "\"%s\"", zmq_strerror(static_cast<int>(value)));
  deny(m.role, why, "endpoint=" + endpoint.to_string() + " error=" + code);
}

void authenticator::deny(socket_role role, denial why, std::string_view detail) {
  const uint64_t total = counters_.add(role, why);
  auto& w = log_[static_cast<size_t>(role)][static_cast<size_t>(why)];
  const auto now = std::chrono::steady_clock::now();
  if (now < w.next) {
    ++w.suppressed;
    return;
  }
  spdlog::warn("auth denied: {} reason={} {} total={} not_logged={}", to_string(role),
               to_string(why), detail, total, w.suppressed);
  w.next = now + log_every;
  w.suppressed = 0;
}

}  // namespace mesh::security
