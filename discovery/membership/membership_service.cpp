#include "mesh/discovery/membership_service.hpp"

#include <spdlog/spdlog.h>

#include "mesh/discovery/source_address.hpp"

namespace mesh::discovery {
namespace {

constexpr auto seed_poll_every = std::chrono::seconds(1);
constexpr auto snapshot_every = std::chrono::seconds(1);

/// A log value: bare, or quoted when it has spaces, quotes or `=` (as host/server/log_value.hpp).
std::string quoted(const std::string& v) {
  if (!v.empty() && v.find_first_of(" \t\"=\\") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

/// One line per membership event: `event: NAME key=value ...` (docs/OPERATIONS.md#logs).
void log_event(const membership_event& e) {
  const std::string detail = e.detail.empty() ? "" : " " + e.detail;
  switch (e.what) {
    case membership_event::joined:
      spdlog::info("member joined: {}{}", e.name, detail);
      break;
    case membership_event::updated:
      spdlog::info("member updated: {}{}", e.name, detail);
      break;
    case membership_event::suspected:
      spdlog::warn("member suspected: {}{}", e.name, detail);
      break;
    case membership_event::recovered:
      spdlog::info("member recovered: {}{}", e.name, detail);
      break;
    case membership_event::died:
      spdlog::warn("member dead: {}{}", e.name, detail);
      break;
    case membership_event::left:
      spdlog::info("member left: {}{}", e.name, detail);
      break;
    case membership_event::refuted:
      spdlog::warn("suspicion refuted: {}{}", e.name, detail);
      break;
    case membership_event::refused:
      spdlog::error("refusing host {}: reason={}", e.name, quoted(e.detail));
      break;
    case membership_event::heard_of:
      spdlog::debug("member heard of: {}{}", e.name, detail);
      break;
    case membership_event::health:
      spdlog::info("local health: {}{}", e.name, detail);
      break;
  }
}

}  // namespace

membership_service::membership_service(zmq::context_t& context, member_record self,
                                       const std::string& gossip_bind, failure_profile profile,
                                       std::unique_ptr<seed_source> seeds, callback on_change,
                                       const socket_setup& setup)
    : pub_(context, zmq::socket_type::xpub),
      sub_(context, zmq::socket_type::xsub),
      state_(member_record{}, profile),
      seeds_(std::move(seeds)),
      on_change_(std::move(on_change)) {
  pub_.set(zmq::sockopt::linger, 0);
  pub_.set(zmq::sockopt::sndhwm, 1000);
  pub_.set(zmq::sockopt::rcvhwm, 1000);
  pub_.set(zmq::sockopt::maxmsgsize, int64_t{1} << 20);  // upstream gossip is network input
  if (setup.before_bind) setup.before_bind(pub_);
  pub_.bind(gossip_bind);
  gossip_endpoint_ = pub_.get(zmq::sockopt::last_endpoint);
  sub_.set(zmq::sockopt::linger, 0);
  sub_.set(zmq::sockopt::sndhwm, 1000);
  // Upstream gossip goes only to connected peers: none piles up for a seed that is not there
  // (or a restarted peer's old endpoint); the next heartbeat carries the full state anyway.
  sub_.set(zmq::sockopt::immediate, 1);
  sub_.set(zmq::sockopt::maxmsgsize, int64_t{1} << 20);
  if (setup.before_connect) setup.before_connect(sub_);
  // XSUB: subscribe to everything (the socket re-sends this to every peer it connects to).
  const uint8_t subscribe_all = 1;
  sub_.send(zmq::buffer(&subscribe_all, 1), zmq::send_flags::none);
  self.gossip = gossip_endpoint_;
  state_ = membership(std::move(self), profile);
}

membership_service::~membership_service() { stop(); }

void membership_service::start() {
  thread_ = std::thread([this] { loop(); });
}

void membership_service::stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

void membership_service::set_capabilities(std::vector<std::string> capabilities) {
  std::lock_guard lock(commands_mutex_);
  new_capabilities_ = std::move(capabilities);
}

void membership_service::leave() {
  std::lock_guard lock(commands_mutex_);
  leave_requested_ = true;
}

void membership_service::connect_new(const std::vector<std::string>& endpoints) {
  for (const auto& ep : endpoints) {
    if (ep == gossip_endpoint_ || connected_.count(ep) != 0) continue;
    try {
      sub_.connect(connect_from(gossip_endpoint_, ep));
      connected_.insert(ep);
    } catch (const zmq::error_t& e) {
      spdlog::warn("gossip subscribe failed: {} reason={}", ep, quoted(e.what()));
      connected_.insert(ep);  // do not retry a malformed endpoint every second
    }
  }
}

void membership_service::publish() {
  const std::string bytes = encode_gossip(state_.make_gossip());
  pub_.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  // Also upstream, to every host we subscribe to (XSUB -> XPUB): a seed learns of a host that
  // names it as a seed, which it could not otherwise (PUB/SUB only flows one way). A gossip
  // message is a MessagePack map, so its first byte is never a (un)subscribe byte (0 or 1).
  sub_.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
}

void membership_service::receive(zmq::socket_t& socket) {
  for (int i = 0; i < 256; ++i) {
    zmq::message_t msg;
    if (!socket.recv(msg, zmq::recv_flags::dontwait)) break;
    // XPUB also delivers subscriptions (first byte 0 or 1); they are not gossip.
    if (msg.size() == 0 || msg.data<uint8_t>()[0] <= 1) continue;
    auto decoded = decode_gossip(msg.data(), msg.size());
    if (!decoded) {
      if (decode_errors_.fetch_add(1) % 100 == 0)
        spdlog::warn("malformed gossip message ignored: {} count={} reason={}", gossip_endpoint_,
                     decode_errors_.load(), quoted(std::as_const(decoded.error())));
      continue;
    }
    const uint64_t replays = state_.replays();
    state_.on_gossip(*decoded, clock::now());
    if (state_.replays() != replays && replays % 100 == 0)
      spdlog::warn("replayed gossip message ignored: {} from={} count={}", gossip_endpoint_,
                   quoted(std::as_const(decoded->from.name)), state_.replays());
  }
}

void membership_service::loop() {
  const auto heartbeat = state_.profile().heartbeat;
  auto next_beat = clock::now();
  auto next_seed_poll = clock::now();
  auto next_snapshot = clock::now();
  uint64_t last_epoch = ~uint64_t{0};
  bool changed = true;
  zmq::pollitem_t items[] = {{sub_.handle(), 0, ZMQ_POLLIN, 0}, {pub_.handle(), 0, ZMQ_POLLIN, 0}};
  while (!stopping_.load()) {
    auto now = clock::now();
    if (now >= next_seed_poll) {
      if (seeds_) connect_new(seeds_->seeds());
      next_seed_poll = now + seed_poll_every;
    }
    {
      std::lock_guard lock(commands_mutex_);
      if (new_capabilities_) {
        state_.set_capabilities(std::move(*new_capabilities_));
        new_capabilities_.reset();
        next_beat = now;  // announce at once
        changed = true;
      }
      if (leave_requested_ && !state_.self().leaving) {
        state_.set_leaving();
        next_beat = now;
        changed = true;
      }
    }
    if (now >= next_beat) {
      // What arrived while this thread was not running counts before any silence is judged:
      // after a pause or a stretch without CPU, the peers' messages are waiting in the sockets.
      receive(sub_);
      receive(pub_);
      now = clock::now();
      state_.tick(now);
      publish();
      next_beat = now + heartbeat;
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_beat - now);
    try {
      zmq::poll(items, 2, std::max(std::chrono::milliseconds(1), std::min(wait, heartbeat)));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      continue;
    }
    receive(sub_);
    receive(pub_);
    auto events = state_.take_events();
    for (const auto& e : events) log_event(e);
    if (!events.empty()) {
      connect_new(state_.peer_gossip_endpoints());
      changed = true;
    }
    now = clock::now();
    if (changed || state_.view().epoch != last_epoch || now >= next_snapshot) {
      auto snap = std::make_shared<membership_snapshot>();
      snap->view = state_.view();
      snap->members = state_.members();
      last_epoch = snap->view.epoch;
      next_snapshot = now + snapshot_every;
      changed = false;
      if (on_change_) on_change_(std::move(snap));
    }
  }
  // Last words: make sure peers hear the departure before the silence.
  if (state_.self().leaving) publish();
}

}  // namespace mesh::discovery
