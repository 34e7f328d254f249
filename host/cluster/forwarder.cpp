#include "cluster/forwarder.hpp"

#include <mesh/discovery/source_address.hpp>
#include <mesh/wire/shard.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

#include "cluster/forward_header.hpp"
#include "security/authenticator.hpp"

namespace mesh::host {

namespace {
constexpr int max_batch = 256;
}  // namespace

forwarder::forwarder(zmq::context_t& context, const host_config& config,
                     const std::string& local_endpoint, deadlines& timers, host_counters& stats)
    : context_(context),
      config_(config),
      local_endpoint_(local_endpoint),
      timers_(timers),
      stats_(stats) {}

forwarder::peer_link& forwarder::link_to(const discovery::member_record& owner) {
  auto it = peers_.find(owner.name);
  if (it != peers_.end() && it->second.endpoint == owner.endpoint) return it->second;
  if (it != peers_.end()) {
    // Restarted on another endpoint: what we sent to the old one will never be answered.
    if (!it->second.backlog.empty()) --backlogged_;
    peers_.erase(it);
    for (auto& [fseq, f] : forwards_)
      if (f.target == owner.name) retries_.emplace_back(clock::now(), fseq);
  }
  zmq::socket_t s(context_, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::immediate, 1);  // never queue for a peer we are not connected to
  s.set(zmq::sockopt::sndhwm, 100'000);
  s.set(zmq::sockopt::rcvhwm, 100'000);
  if (config_.security) config_.security->connect_as_host(s);
  s.connect(discovery::connect_from(local_endpoint_, owner.endpoint));
  links_changed_ = true;
  return peers_.emplace(owner.name, peer_link{std::move(s), owner.endpoint}).first->second;
}

void forwarder::forward(std::unique_ptr<inbound> in, const discovery::member_record& owner,
                        uint64_t epoch, uint32_t attempts, uint32_t unreachable) {
  const uint64_t fseq = timers_.next_seq();
  peer_link& link = link_to(owner);
  header_.clear();
  forward_header h;
  h.fseq = fseq;
  h.from = config_.name;
  h.epoch = epoch;
  h.hops = attempts;
  h.to_incarnation = owner.incarnation;
  encode_forward_header(header_, h);
  zmq::message_t header(header_.data(), header_.size());
  zmq::message_t body;
  body.copy(in->frame);  // shares the bytes for large frames; never re-encoded
  bool sent = false;
  // Behind a backlog, a request waits its turn: sending it now would overtake the backlog.
  if (link.backlog.empty()) {
    try {
      sent = link.socket.send(header, zmq::send_flags::sndmore | zmq::send_flags::dontwait)
                 .has_value();
      if (sent) link.socket.send(body, zmq::send_flags::none);
    } catch (const zmq::error_t& e) {
      spdlog::debug("forward to {} failed: {}", owner.name, e.what());
    }
  }
  const uint32_t timeout_ms = in->timeout_ms;
  const auto deadline = in->deadline;
  forwards_.emplace(fseq, pending{std::move(in), owner.name, owner.incarnation, attempts,
                                  sent ? 0 : unreachable + 1, false, {}});
  timers_.track(timeout_ms, deadline, fseq);
  if (sent) {
    ++stats_.forwarded;
    link.failures = 0;
  } else {
    ++stats_.forward_unreachable;
    // Not connected (yet, or any more; a crash not yet detected): the link's backlog is tried
    // again, in order and by the view of that moment, backing off up to 100 ms, until each
    // request's deadline. Failure detection moves the key.
    if (link.backlog.empty()) {
      ++backlogged_;
      const auto backoff = std::min<clock::duration>(
          retry_step * (1u << std::min(link.failures, 4u)), std::chrono::milliseconds(100));
      link.retry_at = clock::now() + backoff;
      ++link.failures;
    }
    link.backlog.push_back(fseq);
  }
}

void forwarder::add_poll_items(std::vector<zmq::pollitem_t>& items) {
  poll_links_.clear();
  for (auto& [name, link] : peers_) {
    items.push_back({link.socket.handle(), 0, ZMQ_POLLIN, 0});
    poll_links_.push_back(&link);
  }
  links_changed_ = false;
}

void forwarder::receive_replies(const zmq::pollitem_t* items, std::vector<relayed_reply>& out) {
  if (links_changed_) return;  // the items may name links closed since
  for (size_t i = 0; i < poll_links_.size(); ++i)
    if (items[i].revents & ZMQ_POLLIN) receive_from(*poll_links_[i], out);
}

void forwarder::receive_from(peer_link& link, std::vector<relayed_reply>& out) {
  for (int i = 0; i < max_batch; ++i) {
    zmq::message_t header, body;
    if (!link.socket.recv(header, zmq::recv_flags::dontwait)) return;
    if (!header.more()) continue;  // not our framing; ignore
    (void)link.socket.recv(body, zmq::recv_flags::none);
    for (zmq::message_t rest; body.more();) {  // drain anything unexpected
      (void)link.socket.recv(rest, zmq::recv_flags::none);
      if (!rest.more()) break;
    }
    auto h = decode_forward_header(header.data<uint8_t>(), header.size());
    if (!h) continue;
    auto it = forwards_.find(h->fseq);
    if (it == forwards_.end()) continue;  // answered already (timeout) or re-routed
    if (h->retry) {
      it->second.hint = h->owner;
      it->second.refused = true;
      ++stats_.forward_retries;
      retries_.emplace_back(clock::now() + retry_step * it->second.attempts, h->fseq);
      continue;
    }
    out.push_back(relayed_reply{std::move(it->second.in), std::move(body)});
    forwards_.erase(it);
  }
}

void forwarder::run_due_retries(clock::time_point now, const routing_table& routes,
                                std::vector<returned_request>& out) {
  if (backlogged_ != 0) {
    // By name: a retry may re-open (replace) a link, so no iterator into peers_ survives it.
    std::vector<std::string> due;
    for (auto& [name, link] : peers_)
      if (!link.backlog.empty() && link.retry_at <= now) due.push_back(name);
    for (const std::string& name : due) {
      auto it = peers_.find(name);
      if (it == peers_.end() || it->second.backlog.empty()) continue;
      std::deque<uint64_t> batch;
      batch.swap(it->second.backlog);
      --backlogged_;
      // In order: once one finds the link still down, forward() queues the rest behind it.
      for (const uint64_t fseq : batch) retry(fseq, routes, out);
    }
  }
  const size_t n = retries_.size();
  for (size_t i = 0; i < n; ++i) {
    auto [when, fseq] = retries_.front();
    retries_.pop_front();
    if (when > now) {
      retries_.emplace_back(when, fseq);
      continue;
    }
    retry(fseq, routes, out);
  }
}

void forwarder::retry(uint64_t fseq, const routing_table& routes,
                      std::vector<returned_request>& out) {
  auto it = forwards_.find(fseq);
  if (it == forwards_.end()) return;
  pending f = std::move(it->second);
  forwards_.erase(it);
  std::unique_ptr<inbound> in = std::move(f.in);
  auto give_back = [&](wire::error_code code, std::string message) {
    returned_request r;
    r.in = std::move(in);
    r.code = code;
    r.message = std::move(message);
    out.push_back(std::move(r));
  };
  if (clock::now() >= in->deadline) {
    give_back(wire::error_code::timeout, "no reply within " + std::to_string(in->timeout_ms) + " ms");
    return;
  }
  // Only refusals count: an unreachable owner is retried until the deadline.
  const uint32_t attempts = f.attempts + (f.refused ? 1 : 0);
  if (attempts >= max_attempts) {
    give_back(wire::error_code::wrong_owner,
              "hosts did not agree on the owner after " + std::to_string(attempts) +
                  " attempts; retry later");
    return;
  }
  auto req = wire::decode_request(in->frame.data<uint8_t>(), in->frame.size());
  if (!req) {  // it decoded before: cannot happen, but never crash on it
    give_back(wire::error_code::internal, "could not decode a forwarded request again");
    return;
  }
  const uint32_t shard = wire::shard_for(req->id, config_.shards);
  const discovery::member_record* owner = routes.owner(req->capability, shard);
  if (owner == nullptr) {
    give_back(wire::error_code::unknown_capability,
              "no host has capability \"" + std::string(req->capability) + "\"");
    return;
  }
  auto serve_here = [&] {
    returned_request r;
    r.in = std::move(in);
    r.serve_here = true;
    r.req = *req;
    out.push_back(std::move(r));
  };
  if (owner->name == config_.name) {
    serve_here();
    return;
  }
  // Our view still names the host that refused: trust its hint if it names a third host we
  // know. A hint that names this host never makes it serve: only its own view may (CLUSTER.md),
  // so the request goes back to the owner of that view, which will have caught up.
  if (f.refused && owner->name == f.target && !f.hint.empty() && f.hint != f.target &&
      f.hint != config_.name) {
    if (const auto* hinted = routes.view().find(f.hint)) owner = hinted;
  }
  forward(std::move(in), *owner, routes.epoch(), attempts,
          owner->name == f.target ? f.unreachable : 0);
}

void forwarder::view_changed(const routing_table& routes) {
  // Requests on their way to a host that left the view, or to a run of it that a restart
  // replaced (which died with what it was sent; the new run refuses them): route them again.
  for (auto& [fseq, f] : forwards_) {
    const auto* target = routes.view().find(f.target);
    if (target == nullptr || target->incarnation != f.target_incarnation)
      retries_.emplace_back(clock::now(), fseq);
  }
  // Close the links to hosts that are gone from the view.
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (routes.view().find(it->first) == nullptr) {
      if (!it->second.backlog.empty()) --backlogged_;  // its requests are in retries_ (above)
      it = peers_.erase(it);
      links_changed_ = true;
    } else {
      ++it;
    }
  }
}

std::unique_ptr<inbound> forwarder::take(uint64_t fseq) {
  auto it = forwards_.find(fseq);
  if (it == forwards_.end()) return nullptr;
  std::unique_ptr<inbound> in = std::move(it->second.in);
  forwards_.erase(it);
  return in;
}

}  // namespace mesh::host
