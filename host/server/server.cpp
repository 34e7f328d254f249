#include "server/server.hpp"

#include "cluster/forward_header.hpp"
#include <mesh/wire/shard.hpp>

#include <mesh/discovery/source_address.hpp>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>

#include "security/authenticator.hpp"
#include "server/log_value.hpp"

namespace mesh::host {

/// One request as it travels: the frame (which the task's views point into), who sent it, and
/// the reply the worker encodes. Allocated by the dispatcher, freed by it after completion.
struct server::inbound : task {
  zmq::message_t routing_id;
  zmq::message_t frame;
  zmq::message_t reply;
  uint64_t rid = 0;
  uint64_t seq = 0;
  uint32_t timeout_ms = wire::default_timeout_ms;
  uint8_t op_slot = op_invalid;  ///< row in host_counters::requests, set once decoded
  uint8_t outcome = 0;           ///< set by complete() for the dispatcher to count
  bool delimiter = false;
  /// Set when another host forwarded this request: the reply goes back with its header.
  bool forwarded = false;
  /// Sent with "once": runs at most once per (rid, actor); see once_table.
  bool once = false;
  uint64_t actor_key = 0;
  uint64_t fseq = 0;
  /// The incarnation of this host the forwarding host meant (its header's "inc"; 0: any).
  uint64_t addressed = 0;
  /// A call's slot in calls_ while it is unanswered.
  uint32_t slot = slot_table<inbound>::none;

  // One is allocated and freed per request, hundreds at a time, more than glibc's per-thread
  // cache keeps: the thread that frees them keeps them for its next ones.
  static void* operator new(size_t size);
  static void operator delete(void* p) noexcept;
};

namespace {

/// Freed inbounds kept for reuse by this thread (none in sanitized builds, so that ASan still
/// sees every use after free).
struct inbound_cache {
  static constexpr size_t keep = 1024;
  std::vector<void*> free;
  inbound_cache() { free.reserve(keep); }
  ~inbound_cache() {
    for (void* p : free) ::operator delete(p);
  }
};
thread_local inbound_cache t_inbounds;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool cache_inbounds = false;
#else
constexpr bool cache_inbounds = true;
#endif

}  // namespace

void* server::inbound::operator new(size_t size) {
  auto& cache = t_inbounds.free;
  if (cache_inbounds && !cache.empty() && size == sizeof(inbound)) {
    void* p = cache.back();
    cache.pop_back();
    return p;
  }
  return ::operator new(size);
}

void server::inbound::operator delete(void* p) noexcept {
  auto& cache = t_inbounds.free;
  if (cache_inbounds && cache.size() < inbound_cache::keep) {
    cache.push_back(p);  // within the reserved capacity: cannot throw
  } else {
    ::operator delete(p);
  }
}

void server::inbound_deleter::operator()(inbound* in) const noexcept { delete in; }

namespace {

/// True on the dispatcher thread (the one in server::run).
thread_local bool t_dispatcher = false;

constexpr int max_batch = 256;
constexpr auto housekeeping_tick = std::chrono::milliseconds(100);
constexpr size_t max_timer_queues = 64;
constexpr uint32_t max_forward_attempts = 12;
constexpr auto retry_step = std::chrono::milliseconds(10);
constexpr auto publish_every = std::chrono::milliseconds(250);

std::string default_name(const std::string& endpoint) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "mesh");
  const auto colon = endpoint.rfind(':');
  return std::string(host) + ":" + (colon == std::string::npos ? endpoint : endpoint.substr(colon + 1));
}


template <class Stream>
void put_strings(msgpack::packer<Stream>& pk, const std::vector<std::string>& items) {
  pk.pack_array(static_cast<uint32_t>(items.size()));
  for (const auto& s : items) wire::pack_string(pk, s);
}

bool is_actor_op(wire::op kind) { return kind == wire::op::call || kind == wire::op::cast; }

}  // namespace

server::server(host_config config, zmq::context_t& context)
    : config_(std::move(config)),
      context_(context),
      socket_(context, zmq::socket_type::router),
      modules_(config_.capabilities) {
  socket_.set(zmq::sockopt::linger, 0);
  // A reply to a vanished client must fail loudly (EHOSTUNREACH), not vanish silently.
  socket_.set(zmq::sockopt::router_mandatory, 1);
  // Hard cap: ZeroMQ drops the connection of a peer sending more than this in one frame.
  // Frames between max_frame and this cap get a too_large error reply instead.
  const int64_t hard_cap = static_cast<int64_t>(std::min<size_t>(config_.max_frame * 16, 1u << 30));
  socket_.set(zmq::sockopt::maxmsgsize, hard_cap);
  socket_.set(zmq::sockopt::rcvhwm, 100'000);
  socket_.set(zmq::sockopt::sndhwm, 100'000);
  if (config_.security) config_.security->serve(socket_, security::socket_role::requests);
  socket_.bind(config_.listen);
  endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
  if (config_.name.empty()) config_.name = default_name(endpoint_);
  runtime_ = std::make_unique<runtime>(
      runtime_config{config_.workers, std::max<size_t>(config_.max_frame, 64)}, *this);
}

server::~server() {
  runtime_.reset();  // joins the workers before the queues they push to go away
  std::vector<inbound*> leftover;
  completions_.take_all(leftover);
  for (inbound* in : leftover) delete in;
}

void server::enable_cluster(std::unique_ptr<placement::placement_strategy> strategy, cluster_hooks hooks) {
  clustered_ = true;
  strategy_ = std::move(strategy);
  hooks_ = std::move(hooks);
}

void server::post_membership(std::shared_ptr<const discovery::membership_snapshot> snapshot) {
  membership_updates_.push(std::move(snapshot));
}

void server::post_plugin(plugin_event event) { plugin_events_.push(std::move(event)); }

void server::stop() noexcept {
  stopping_.store(true);
  completions_.wake();
}

void server::complete(task* t, const outcome& result) noexcept {
  auto* in = static_cast<inbound*>(t);
  in->outcome = static_cast<uint8_t>(result.ok ? outcome_ok : outcome_of(result.code));
  if (in->kind == wire::op::call) {
    thread_local wire::buffer buf;
    buf.clear();
    try {
      if (result.ok) {
        const activation& a = *t->actor;
        const wire::actor_ref ref{
            config_.name, a.module->name,
            wire::bytes_view{reinterpret_cast<const uint8_t*>(a.id.data()), a.id.size()},
            result.activation};
        wire::encode_call_reply(buf, in->rid, ref, result.reply);
      } else {
        wire::encode_error(buf, in->rid, result.code, result.message);
      }
      in->reply.rebuild(buf.data(), buf.size());
    } catch (...) {
      // Left empty: the dispatcher answers with an internal error.
    }
  } else if (!result.ok) {
    spdlog::debug("cast failed: {} id={} code={} msg={}", t->actor->module->name,
                  log_value(t->actor->id), wire::to_string(result.code),
                  log_value(result.message));
  }
  if (t_dispatcher) {
    inline_done_.push_back(in);  // ran in runtime::run_inline on this thread: no hand-over
  } else {
    completions_.push(in);
  }
}

// ---------------------------------------------------------------------------------------------
// Plugins and capabilities

void server::apply_pending_plugins() {
  events_.clear();
  plugin_events_.take_all(events_);
  for (auto& e : events_) apply_plugin(e);
  events_.clear();
}

void server::apply_plugin(plugin_event& event) {
  const std::string file = event.path.string();
  if (!event.plugin) {
    ++stats_.plugins_refused;
    spdlog::warn("plugin refused: {}: {}", file, event.error);
    return;
  }
  auto added = modules_.add(event.plugin);
  if (!added) {
    ++stats_.plugins_refused;
    spdlog::warn("plugin refused: {}: {}", file, added.error());
    return;
  }
  ++stats_.plugins_loaded;
  std::string list;
  for (const auto& m : event.plugin->modules) {
    if (!list.empty()) list += ",";
    list += m.name + ":" + m.capability;
  }
  spdlog::info("plugin loaded: {} plugin={} version={} abi={} modules={}", file,
               log_value(event.plugin->name), log_value(event.plugin->version),
               abi_version_string(event.plugin->abi_version), log_value(list));
  announce_capabilities();
}

void server::announce_capabilities() {
  if (clustered_ && hooks_.set_capabilities) hooks_.set_capabilities(modules_.served());
}

// ---------------------------------------------------------------------------------------------
// The loop

void server::rebuild_poll_items() {
  poll_items_.clear();
  poll_peers_.clear();
  poll_items_.push_back({socket_.handle(), 0, ZMQ_POLLIN, 0});
  poll_items_.push_back({nullptr, completions_.fd(), ZMQ_POLLIN, 0});
  poll_items_.push_back({nullptr, plugin_events_.fd(), ZMQ_POLLIN, 0});
  poll_items_.push_back({nullptr, membership_updates_.fd(), ZMQ_POLLIN, 0});
  for (auto& [name, link] : peers_) {
    poll_items_.push_back({link.socket.handle(), 0, ZMQ_POLLIN, 0});
    poll_peers_.push_back(&link);
  }
  poll_items_dirty_ = false;
}

void server::run() {
  t_dispatcher = true;
  const auto sweep_every = std::clamp<clock::duration>(config_.idle_timeout / 4,
                                                       std::chrono::milliseconds(10),
                                                       std::chrono::seconds(5));
  auto next_sweep = clock::now() + sweep_every;
  clock::time_point drain_deadline{}, grace_end{};
  auto next_publish = clock::now();
  constexpr size_t fixed_items = 4;
  auto now = clock::now();  // then: the end of the previous turn's work
  for (;;) {
    if (poll_items_dirty_) rebuild_poll_items();
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(housekeeping_tick);
    if (auto next = next_deadline(); next && *next - now < wait)
      wait = std::max(std::chrono::milliseconds(0),
                      std::chrono::ceil<std::chrono::milliseconds>(*next - now));
    if (!retries_.empty() || rebalance_pending_) wait = std::min(wait, retry_step);
    try {
      zmq::poll(poll_items_.data(), poll_items_.size(), wait);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;  // a signal (SIGTERM) interrupted the wait: carry on
      for (auto& item : poll_items_) item.revents = 0;
    }
    const auto woke = clock::now();
    if (hooks_.pause_limit.count() > 0 && turn_start_ != clock::time_point{} &&
        woke - turn_start_ > wait + hooks_.pause_limit)
      recover_from_pause(woke - turn_start_);
    turn_start_ = woke;
    if (poll_items_[3].revents & ZMQ_POLLIN) apply_membership();
    receive_batch();
    runtime_->run_inline();
    drain_completions();
    for (size_t i = fixed_items; i < poll_items_.size() && !poll_items_dirty_; ++i)
      if (poll_items_[i].revents & ZMQ_POLLIN) receive_from_peer(*poll_peers_[i - fixed_items]);
    if (poll_items_[2].revents & ZMQ_POLLIN) apply_pending_plugins();
    now = clock::now();
    expire_calls(now);
    run_due_retries(now);
    if (rebalance_pending_) rebalance();
    if (now >= next_sweep) {
      once_.expire(now);
      if (size_t retired = runtime_->retire_idle(config_.idle_timeout); retired > 0)
        spdlog::debug("idle sweep: {} actors deactivated", retired);
      next_sweep = now + sweep_every;
    }
    if (publish_stats_ && now >= next_publish) {
      publish_stats();
      next_publish = now + publish_every;
    }
    if (stopping_.load(std::memory_order_relaxed) && !draining_) {
      draining_ = true;
      drain_deadline = now + config_.drain_timeout;
      grace_end = now;
      if (clustered_ && hooks_.leave) {
        hooks_.leave();
        grace_end = now + hooks_.leave_grace;
      }
      spdlog::info("stopping: {} inflight={} actors={}", config_.name, inflight_,
                   runtime_->live_actors());
    }
    if (draining_ && ((now >= grace_end && inflight_ == 0) || now >= drain_deadline)) break;
  }
  if (inflight_ != 0)
    spdlog::warn("drain timeout: {} inflight={}; waiting for their handlers", config_.name,
                 inflight_);
  const size_t actors = runtime_->live_actors();
  runtime_->shutdown();
  drain_completions();
  // Give the last replies a moment to leave (linger 0 would drop them at close).
  socket_.set(zmq::sockopt::linger, 1000);
  const stats_snapshot s = take_snapshot();
  if (publish_stats_) publish_stats();
  uint64_t requests = 0, errors = 0;
  for (const auto& row : s.counters.requests)
    for (size_t o = 0; o < outcome_count; ++o) {
      requests += row[o];
      if (o != outcome_ok && o != outcome_forwarded) errors += row[o];
    }
  spdlog::info(
      "stopped: {} actors deactivated host={} uptime_ms={} requests={} errors={} timeouts={} "
      "decode_errors={} dropped_replies={} forwarded={} activations={} deactivated_idle={} "
      "deactivated_crash={} deactivated_rebalance={} deactivated_shutdown={}",
      actors, log_value(config_.name), s.uptime_ms, requests, errors, s.timeouts(),
      s.counters.decode_errors, s.counters.dropped_replies, s.counters.forwarded, s.activations,
      s.deactivations_idle, s.deactivations_crash, s.deactivations_rebalance,
      s.deactivations_shutdown);
}

// ---------------------------------------------------------------------------------------------
// Receiving

void server::receive_batch() {
  for (int i = 0; i < max_batch; ++i) {
    auto in = std::make_unique<inbound>();
    try {
      if (!socket_.recv(in->routing_id, zmq::recv_flags::dontwait)) return;
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) return;
      throw;
    }
    // Accepted shapes: [body], [empty, body] (REQ clients), [forward header, body] (hosts).
    zmq::message_t parts[2];
    size_t count = 0, extra = 0;
    for (bool more = in->routing_id.more(); more;) {
      zmq::message_t part;
      (void)socket_.recv(part, zmq::recv_flags::none);
      more = part.more();
      if (count < 2) {
        parts[count++] = std::move(part);
      } else {
        ++extra;
      }
    }
    bool shape_ok = count == 1 && extra == 0;
    if (count == 2 && extra == 0) {
      if (parts[0].size() == 0) {
        in->delimiter = true;
        shape_ok = true;
      } else if (auto h = host::decode_forward_header(parts[0].data<uint8_t>(), parts[0].size())) {
        in->forwarded = true;
        in->fseq = h->fseq;
        in->addressed = h->to_incarnation;
        shape_ok = true;
      }
    }
    if (count > 0) in->frame = std::move(parts[count - 1]);
    if (!shape_ok) {
      ++stats_.decode_errors;
      send_error(*in, wire::error_code::bad_request,
                 "expected exactly one envelope frame after the routing id");
      continue;
    }
    handle(std::move(in));
  }
}

void server::handle(std::unique_ptr<inbound> in) {
  if (draining_ && !clustered_) {
    send_error(*in, wire::error_code::shutting_down, "the host is stopping");
    return;
  }
  if (in->frame.size() > config_.max_frame) {
    ++stats_.decode_errors;
    send_error(*in, wire::error_code::too_large,
               "frame of " + std::to_string(in->frame.size()) + " bytes exceeds the limit of " +
                   std::to_string(config_.max_frame));
    return;
  }
  auto req = wire::decode_request(in->frame.data<uint8_t>(), in->frame.size());
  if (!req) {
    ++stats_.decode_errors;
    send_error(*in, req.error().code, req.error().message);
    return;
  }
  in->rid = req->rid;
  in->op_slot = static_cast<uint8_t>(req->kind);
  if (!is_actor_op(req->kind)) {
    handle_control(*in, *req);
    return;
  }
  in->kind = req->kind;
  in->timeout_ms = req->timeout_ms;
  // Meant for an earlier (or later) run of this host, on the same endpoint: that run's view
  // and activations are not ours, and its caller may re-send the request elsewhere once it
  // learns that run is dead. Not run; the caller learns the view and sends it again.
  const uint64_t addressed = in->forwarded ? in->addressed : req->to_incarnation;
  if (addressed != 0 && incarnation_ != 0 && addressed != incarnation_) {
    ++stats_.wrong_incarnation;
    send_error(*in, wire::error_code::wrong_owner,
               "addressed to incarnation " + std::to_string(addressed) + " of " + config_.name +
                   "; this is incarnation " + std::to_string(incarnation_),
               config_.name);
    return;
  }
  // A repeat can reach the same activation only through a forward (the first attempt went
  // through a host that failed) or as a re-send itself: only those are remembered, so the
  // direct first attempt of a smart client costs nothing here.
  if (req->once && (in->forwarded || req->retry)) {
    in->once = true;
    in->actor_key = wire::fmix64(wire::id_hash(req->id) ^
                                 wire::id_hash(wire::bytes_view{
                                     reinterpret_cast<const uint8_t*>(req->module.data()),
                                     req->module.size()}));
  }
  in->deadline = turn_start_ + std::chrono::milliseconds(req->timeout_ms);
  route(std::move(in), *req);
}

void server::route(std::unique_ptr<inbound> in, const wire::request& req) {
  if (!clustered_ || !routes_) {
    serve_locally(std::move(in), req);
    return;
  }
  const uint32_t shard = wire::shard_for(req.id, config_.shards);
  const discovery::member_record* owner = routes_->owner(req.capability, shard);
  if (owner == nullptr) {
    send_error(*in, wire::error_code::unknown_capability,
               "no host has capability \"" + std::string(req.capability) + "\"");
    return;
  }
  if (owner->name == config_.name) {
    serve_locally(std::move(in), req);
  } else if (in->forwarded) {
    // Serve or activate only what we own in our own view; the forwarding host routes again.
    ++stats_.wrong_owner;
    send_error(*in, wire::error_code::wrong_owner,
               "shard " + std::to_string(shard) + " of \"" + std::string(req.capability) +
                   "\" belongs to " + owner->name,
               owner->name);
  } else {
    forward_to(std::move(in), *owner, 0);
  }
}

void server::serve_locally(std::unique_ptr<inbound> in, const wire::request& req) {
  if (draining_ && !clustered_) {
    send_error(*in, wire::error_code::shutting_down, "the host is stopping");
    return;
  }
  if (paused_until_ != clock::time_point{} && paused_until_ > clock::now()) {
    // Queued before or during a pause: the caller has likely had it run by the key's new
    // owner already. Not run here; the client re-sends it (docs/RELIABILITY.md, S3).
    send_error(*in, wire::error_code::overloaded,
               "the host was paused long enough to be declared dead; retry later");
    return;
  }
  if (inflight_ >= config_.max_inflight) {
    send_error(*in, wire::error_code::overloaded,
               "the host has " + std::to_string(inflight_) + " requests in flight; retry later");
    return;
  }
  auto module = modules_.resolve(req.capability, req.module);
  if (!module) {
    send_error(*in, module.error().code, module.error().message);
    return;
  }
  if (in->once) {
    if (auto* seen = once_.admit(in->rid, in->actor_key)) {
      // A repeat of a request this host already runs or ran: never run it again.
      if (in->kind == wire::op::cast) {
        buffer_.clear();
        wire::encode_ok(buffer_, in->rid);
        send_reply(*in, zmq::message_t(buffer_.data(), buffer_.size()), outcome_ok);
      } else if (seen->done) {
        send_reply(*in, zmq::message_t(seen->reply.data(), seen->reply.size()), outcome_ok);
      } else {
        seen->waiters.emplace_back(in.release());
      }
      return;
    }
  }
  in->payload = req.payload;
  in->init_arg = req.init_arg;
  ++inflight_;
  if (in->kind == wire::op::call) {
    inbound* raw = in.release();  // owned by the runtime until it completes
    raw->seq = next_seq_++;
    raw->slot = calls_.add(raw->seq, raw);
    track_deadline(raw->timeout_ms, raw->deadline, raw->seq, raw->slot);
    runtime_->submit(**module, req.id.as_string(), raw);
  } else {
    // Acknowledge before the handler runs. The routing id is ours: workers never touch it, and
    // the dispatcher frees the task only after its completion, which it handles later.
    inbound* raw = in.release();
    buffer_.clear();
    wire::encode_ok(buffer_, raw->rid);
    zmq::message_t ack(buffer_.data(), buffer_.size());
    send_reply(*raw, std::move(ack), outcome_ok);
    runtime_->submit(**module, req.id.as_string(), raw);
  }
}

// ---------------------------------------------------------------------------------------------
// Forwarding to the owner

server::peer_link& server::peer(const discovery::member_record& owner) {
  auto it = peers_.find(owner.name);
  if (it != peers_.end() && it->second.endpoint == owner.endpoint) return it->second;
  if (it != peers_.end()) {
    // Restarted on another endpoint: what we sent to the old one will never be answered.
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
  s.connect(discovery::connect_from(endpoint_, owner.endpoint));
  poll_items_dirty_ = true;
  return peers_.emplace(owner.name, peer_link{std::move(s), owner.endpoint}).first->second;
}

void server::forward_to(std::unique_ptr<inbound> in, const discovery::member_record& owner,
                        uint32_t attempts, uint32_t unreachable) {
  const uint64_t fseq = next_seq_++;
  peer_link& link = peer(owner);
  buffer_.clear();
  host::forward_header h;
  h.fseq = fseq;
  h.from = config_.name;
  h.epoch = routes_->epoch();
  h.hops = attempts;
  h.to_incarnation = owner.incarnation;
  host::encode_forward_header(buffer_, h);
  zmq::message_t header(buffer_.data(), buffer_.size());
  zmq::message_t body;
  body.copy(in->frame);  // shares the bytes for large frames; never re-encoded
  bool sent = false;
  try {
    sent = link.socket.send(header, zmq::send_flags::sndmore | zmq::send_flags::dontwait)
               .has_value();
    if (sent) link.socket.send(body, zmq::send_flags::none);
  } catch (const zmq::error_t& e) {
    spdlog::debug("forward to {} failed: {}", owner.name, e.what());
  }
  const uint32_t timeout_ms = in->timeout_ms;
  const auto deadline = in->deadline;
  forwards_.emplace(fseq, forward{std::move(in), owner.name, owner.incarnation, attempts,
                                   sent ? 0 : unreachable + 1, false, {}});
  ++inflight_;
  track_deadline(timeout_ms, deadline, fseq);
  if (sent) {
    ++stats_.forwarded;
  } else {
    ++stats_.forward_unreachable;
    // Not connected (yet, or any more; a crash not yet detected): try again by the view of that
    // moment, backing off up to 100 ms, until the deadline. Failure detection moves the key.
    const auto backoff = std::min<clock::duration>(retry_step * (1u << std::min(unreachable, 4u)),
                                                   std::chrono::milliseconds(100));
    retries_.emplace_back(clock::now() + backoff, fseq);
  }
}

void server::receive_from_peer(peer_link& link) {
  for (int i = 0; i < max_batch; ++i) {
    zmq::message_t header, body;
    if (!link.socket.recv(header, zmq::recv_flags::dontwait)) return;
    if (!header.more()) continue;  // not our framing; ignore
    (void)link.socket.recv(body, zmq::recv_flags::none);
    for (zmq::message_t rest; body.more();) {  // drain anything unexpected
      (void)link.socket.recv(rest, zmq::recv_flags::none);
      if (!rest.more()) break;
    }
    auto h = host::decode_forward_header(header.data<uint8_t>(), header.size());
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
    send_reply(*it->second.in, std::move(body), outcome_forwarded);
    forwards_.erase(it);
    --inflight_;
  }
}

void server::run_due_retries(clock::time_point now) {
  const size_t n = retries_.size();
  for (size_t i = 0; i < n; ++i) {
    auto [when, fseq] = retries_.front();
    retries_.pop_front();
    if (when > now) {
      retries_.emplace_back(when, fseq);
      continue;
    }
    retry_forward(fseq);
  }
}

void server::retry_forward(uint64_t fseq) {
  auto it = forwards_.find(fseq);
  if (it == forwards_.end()) return;
  forward f = std::move(it->second);
  forwards_.erase(it);
  --inflight_;
  std::unique_ptr<inbound> in = std::move(f.in);
  if (clock::now() >= in->deadline) {
    send_error(*in, wire::error_code::timeout,
               "no reply within " + std::to_string(in->timeout_ms) + " ms");
    return;
  }
  // Only refusals count: an unreachable owner is retried until the deadline.
  const uint32_t attempts = f.attempts + (f.refused ? 1 : 0);
  if (attempts >= max_forward_attempts) {
    send_error(*in, wire::error_code::wrong_owner,
               "hosts did not agree on the owner after " + std::to_string(attempts) +
                   " attempts; retry later");
    return;
  }
  auto req = wire::decode_request(in->frame.data<uint8_t>(), in->frame.size());
  if (!req) {  // it decoded before: cannot happen, but never crash on it
    send_error(*in, wire::error_code::internal, "could not decode a forwarded request again");
    return;
  }
  const uint32_t shard = wire::shard_for(req->id, config_.shards);
  const discovery::member_record* owner = routes_->owner(req->capability, shard);
  if (owner == nullptr) {
    send_error(*in, wire::error_code::unknown_capability,
               "no host has capability \"" + std::string(req->capability) + "\"");
    return;
  }
  if (owner->name == config_.name) {
    serve_locally(std::move(in), *req);
    return;
  }
  // Our view still names the host that refused: trust its hint if it names a third host we
  // know. A hint that names this host never makes it serve: only its own view may (CLUSTER.md),
  // so the request goes back to the owner of that view, which will have caught up.
  if (f.refused && owner->name == f.target && !f.hint.empty() && f.hint != f.target &&
      f.hint != config_.name) {
    if (const auto* hinted = routes_->view().find(f.hint)) owner = hinted;
  }
  forward_to(std::move(in), *owner, attempts, owner->name == f.target ? f.unreachable : 0);
}

// ---------------------------------------------------------------------------------------------
// Membership and rebalancing

void server::apply_membership() {
  std::vector<std::shared_ptr<const discovery::membership_snapshot>> updates;
  membership_updates_.take_all(updates);
  if (updates.empty()) return;
  for (const auto& u : updates) count_member_changes(*u);
  snapshot_ = updates.back();
  if (routes_ && routes_->epoch() == snapshot_->view.epoch) return;
  routes_ = std::make_unique<routing_table>(snapshot_->view, *strategy_, config_.shards,
                                            config_.name);
  ++stats_.view_changes;
  std::string names;
  for (const auto& m : snapshot_->view.members) names += (names.empty() ? "" : ",") + m.name;
  spdlog::info("view changed: {:016x} hosts={} members={}", routes_->epoch(),
               snapshot_->view.members.size(), log_value(names));
  if (const auto* me = routes_->view().find(config_.name)) incarnation_ = me->incarnation;
  // Requests on their way to a host that left the view, or to a run of it that a restart
  // replaced (which died with what it was sent; the new run refuses them): route them again.
  for (auto& [fseq, f] : forwards_) {
    const auto* target = routes_->view().find(f.target);
    if (target == nullptr || target->incarnation != f.target_incarnation)
      retries_.emplace_back(clock::now(), fseq);
  }
  // Drop hosts that are gone from the peer links.
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (routes_->view().find(it->first) == nullptr) {
      it = peers_.erase(it);
      poll_items_dirty_ = true;
    } else {
      ++it;
    }
  }
  rebalance_pending_ = true;
}

void server::rebalance() {
  if (!routes_) {
    rebalance_pending_ = false;
    return;
  }
  size_t busy = 0;
  const size_t moved = runtime_->retire_if(
      [this](const actor_module& m, std::string_view id) {
        return !routes_->owns(m.capability, wire::shard_for(id, config_.shards));
      },
      MESH_DEACTIVATE_REBALANCE, busy);
  if (moved > 0)
    spdlog::info("rebalance: {:016x} handed_off={} busy={}", routes_->epoch(), moved, busy);
  rebalance_pending_ = busy > 0;
}

void server::recover_from_pause(clock::duration paused) {
  // The peers may have declared this host dead and activated its keys elsewhere: its actors'
  // state may be stale and the requests queued during the pause may have run elsewhere.
  size_t busy = 0;
  const size_t retired = runtime_->retire_if([](const actor_module&, std::string_view) { return true; },
                                             MESH_DEACTIVATE_REBALANCE, busy);
  paused_until_ = clock::now() + hooks_.pause_limit;
  spdlog::warn("paused: {} paused_ms={} retired={} busy={} refusing_ms={}", config_.name,
               std::chrono::duration_cast<std::chrono::milliseconds>(paused).count(), retired,
               busy, hooks_.pause_limit.count());
}

void server::count_member_changes(const discovery::membership_snapshot& snapshot) {
  using discovery::member_status;
  std::map<std::string, member_status> now;
  for (const auto& m : snapshot.members) {
    if (m.self) continue;
    now.emplace(m.record.name, m.status);
    auto it = member_status_.find(m.record.name);
    const bool known = it != member_status_.end();
    if (known && it->second == m.status) continue;
    const member_status before = known ? it->second : member_status::dead;
    auto count = [this](member_change c) { ++stats_.membership[static_cast<size_t>(c)]; };
    switch (m.status) {
      case member_status::alive:
        count(before == member_status::suspect ? member_change::recovered : member_change::joined);
        break;
      case member_status::suspect:
        if (!known) count(member_change::joined);
        count(member_change::suspected);
        break;
      case member_status::dead:
        if (before != member_status::leaving && known) count(member_change::dead);
        break;
      case member_status::leaving:
        count(member_change::left);
        break;
    }
  }
  member_status_ = std::move(now);
}

// ---------------------------------------------------------------------------------------------
// Control operations

void server::handle_control(inbound& in, const wire::request& req) {
  buffer_.clear();
  msgpack::packer<wire::buffer> pk(buffer_);
  const bool routed = clustered_ && routes_;
  size_t outcome = outcome_ok;
  switch (req.kind) {
    case wire::op::stats: {
      const stats_snapshot snap = take_snapshot();
      wire::begin_ok(buffer_, in.rid, 3);
      wire::pack_string(pk, "host");
      wire::pack_string(pk, config_.name);
      wire::pack_string(pk, "uptime_ms");
      pk.pack_uint64(snap.uptime_ms);
      wire::pack_string(pk, "stats");
      pack_stats(pk, snap);
      break;
    }
    case wire::op::actors:
      outcome = pack_actors(in, req);
      break;
    case wire::op::capabilities: {
      const auto caps = modules_.served();
      const auto mods = modules_.modules();
      wire::begin_ok(buffer_, in.rid, 4);
      wire::pack_string(pk, "host");
      wire::pack_string(pk, config_.name);
      wire::pack_string(pk, "caps");
      put_strings(pk, caps);
      wire::pack_string(pk, "cluster_caps");
      put_strings(pk, routed ? routes_->capabilities() : caps);
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
      break;
    }
    case wire::op::register_capabilities: {
      modules_.register_capabilities(req.capabilities);
      const auto caps = modules_.served();
      std::string list;
      for (const auto& c : caps) list += (list.empty() ? "" : ",") + c;
      spdlog::info("capabilities registered: {} caps={}", log_value(config_.name), log_value(list));
      announce_capabilities();
      wire::begin_ok(buffer_, in.rid, 1);
      wire::pack_string(pk, "caps");
      put_strings(pk, caps);
      break;
    }
    case wire::op::shard:
      wire::begin_ok(buffer_, in.rid, 2);
      wire::pack_string(pk, "shard");
      pk.pack_uint32(wire::shard_for(req.id, config_.shards));
      wire::pack_string(pk, "shards");
      pk.pack_uint32(config_.shards);
      break;
    case wire::op::ping:
      wire::begin_ok(buffer_, in.rid, 2);
      wire::pack_string(pk, "host");
      wire::pack_string(pk, config_.name);
      wire::pack_string(pk, "shards");
      pk.pack_uint32(config_.shards);
      break;
    case wire::op::members: {
      const auto now = clock::now();
      std::vector<discovery::member_info> members;
      if (snapshot_) members = snapshot_->members;
      if (members.empty()) {  // a single host: just us
        discovery::member_info me;
        me.record.name = config_.name;
        me.record.endpoint = endpoint_;
        me.record.capabilities = modules_.served();
        me.record.shards = config_.shards;
        me.self = true;
        me.last_heard = now;
        members.push_back(me);
      }
      wire::begin_ok(buffer_, in.rid, 4);
      wire::pack_string(pk, "epoch");
      pk.pack_uint64(routed ? routes_->epoch() : 0);
      wire::pack_string(pk, "strategy");
      // A single host owns every key whatever the strategy; it reports the default.
      wire::pack_string(pk, strategy_ ? strategy_->name() : std::string("rendezvous"));
      wire::pack_string(pk, "shards");
      pk.pack_uint32(config_.shards);
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
      break;
    }
    case wire::op::nodes_for: {
      const std::string cap(req.capability);
      std::vector<std::string> nodes;
      if (routed) {
        nodes = routes_->hosts_for(cap);
      } else {
        const auto served = modules_.served();
        if (std::find(served.begin(), served.end(), cap) != served.end())
          nodes.push_back(config_.name);
      }
      wire::begin_ok(buffer_, in.rid, 2);
      wire::pack_string(pk, "cap");
      wire::pack_string(pk, cap);
      wire::pack_string(pk, "nodes");
      put_strings(pk, nodes);
      break;
    }
    case wire::op::owner: {
      const uint32_t shard = wire::shard_for(req.id, config_.shards);
      std::string owner, owner_endpoint;
      if (routed) {
        if (const auto* o = routes_->owner(req.capability, shard)) {
          owner = o->name;
          owner_endpoint = o->endpoint;
        }
      } else {
        const auto served = modules_.served();
        if (std::find(served.begin(), served.end(), req.capability) != served.end()) {
          owner = config_.name;
          owner_endpoint = endpoint_;
        }
      }
      if (owner.empty()) {
        buffer_.clear();
        wire::encode_error(buffer_, in.rid, wire::error_code::unknown_capability,
                           "no host has capability \"" + std::string(req.capability) + "\"");
        outcome = outcome_of(wire::error_code::unknown_capability);
        break;
      }
      wire::begin_ok(buffer_, in.rid, 4);
      wire::pack_string(pk, "shard");
      pk.pack_uint32(shard);
      wire::pack_string(pk, "shards");
      pk.pack_uint32(config_.shards);
      wire::pack_string(pk, "owner");
      wire::pack_string(pk, owner);
      wire::pack_string(pk, "endpoint");
      wire::pack_string(pk, owner_endpoint);
      break;
    }
    default:
      wire::encode_error(buffer_, in.rid, wire::error_code::internal, "unhandled op");
      outcome = outcome_of(wire::error_code::internal);
      break;
  }
  send_reply(in, zmq::message_t(buffer_.data(), buffer_.size()), outcome);
}

size_t server::pack_actors(const inbound& in, const wire::request& req) {
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
      wire::encode_error(buffer_, in.rid, wire::error_code::bad_request,
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
  for (const actor_module* m : modules_.modules()) {
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
  msgpack::packer<wire::buffer> pk(buffer_);
  wire::begin_ok(buffer_, in.rid, 3);
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

// ---------------------------------------------------------------------------------------------
// Counters

void server::record_latency(const inbound& in, clock::time_point now) {
  const auto accepted = in.deadline - std::chrono::milliseconds(in.timeout_ms);
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - accepted).count();
  stats_.latency.record(us < 0 ? 0 : static_cast<uint64_t>(us));
}

stats_snapshot server::take_snapshot() const {
  stats_snapshot s;
  s.host = config_.name;
  s.uptime_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started_).count());
  s.counters = stats_;
  const runtime_stats& r = runtime_->stats();
  s.activations = r.activations.load(std::memory_order_relaxed);
  s.activation_failures = r.activation_failures.load(std::memory_order_relaxed);
  s.deactivations_idle = r.deactivations_idle.load(std::memory_order_relaxed);
  s.deactivations_rebalance = r.deactivations_rebalance.load(std::memory_order_relaxed);
  s.deactivations_crash = r.deactivations_crash.load(std::memory_order_relaxed);
  s.deactivations_shutdown = r.deactivations_shutdown.load(std::memory_order_relaxed);
  for (const actor_module* m : modules_.modules()) {
    const int64_t live = std::max<int64_t>(0, m->instances.load(std::memory_order_relaxed));
    s.by_module.push_back({m->capability, m->name, static_cast<uint64_t>(live)});
    s.live_actors += static_cast<uint64_t>(live);
  }
  s.inflight = inflight_;
  s.run_queue = runtime_->run_queue_length();
  if (config_.security) {
    s.curve = true;
    for (size_t r = 0; r < security::socket_role_count; ++r)
      for (size_t d = 0; d < security::denial_count; ++d)
        s.auth_denied[r][d] = config_.security->counters().denied(
            static_cast<security::socket_role>(r), static_cast<security::denial>(d));
  }
  return s;
}

void server::publish_stats() {
  stats_snapshot s = take_snapshot();
  std::lock_guard lock(published_mutex_);
  published_ = std::move(s);
}

stats_snapshot server::published_stats() const {
  std::lock_guard lock(published_mutex_);
  return published_;
}

// ---------------------------------------------------------------------------------------------
// Deadlines and completions

void server::track_deadline(uint32_t timeout_ms, clock::time_point deadline, uint64_t seq,
                            uint32_t slot) {
  // One FIFO per distinct timeout keeps each FIFO sorted by deadline for free.
  auto it = timers_.lower_bound(timeout_ms);
  if (it == timers_.end() || it->first != timeout_ms) {
    if (timers_.size() < max_timer_queues) {
      it = timers_.emplace_hint(it, timeout_ms, std::deque<timer_entry>{});
    } else if (it == timers_.end()) {
      it = std::prev(timers_.end());  // beyond the tracked set: may expire a little late
    }
  }
  it->second.push_back(timer_entry{deadline, seq, slot});
}

std::optional<clock::time_point> server::next_deadline() const {
  std::optional<clock::time_point> next;
  for (const auto& [ms, fifo] : timers_)
    if (!fifo.empty() && (!next || fifo.front().deadline < *next)) next = fifo.front().deadline;
  return next;
}

void server::expire_calls(clock::time_point now) {
  for (auto& [ms, fifo] : timers_) {
    while (!fifo.empty()) {
      const timer_entry front = fifo.front();
      inbound* call = calls_.find(front.slot, front.seq);
      auto fwd = call == nullptr ? forwards_.find(front.seq) : forwards_.end();
      if (call == nullptr && fwd == forwards_.end()) {  // already answered
        fifo.pop_front();
        continue;
      }
      if (front.deadline > now) break;
      fifo.pop_front();
      const std::string message = "no reply within " + std::to_string(ms) + " ms";
      if (call != nullptr) {
        // The worker still owns the task, but never touches its routing id or rid.
        calls_.remove(call->slot);
        send_error(*call, wire::error_code::timeout, message);
        record_latency(*call, now);
      } else {
        send_error(*fwd->second.in, wire::error_code::timeout, message);
        forwards_.erase(fwd);
        --inflight_;
      }
    }
  }
}

void server::drain_completions() {
  completed_.clear();
  completions_.take_all(completed_);
  completed_.insert(completed_.end(), inline_done_.begin(), inline_done_.end());
  inline_done_.clear();
  if (completed_.empty()) return;
  const clock::time_point now = clock::now();
  for (inbound* in : completed_) {
    if (in->once) {
      // Repeats that waited for this request get its reply; later ones get it from the table.
      const std::string_view reply =
          in->kind == wire::op::call ? std::string_view(in->reply.data<char>(), in->reply.size())
                                     : std::string_view();
      for (auto& waiter : once_.finish(in->rid, in->actor_key, reply, now)) {
        if (reply.empty())
          send_error(*waiter, wire::error_code::internal, "could not encode the reply");
        else
          send_reply(*waiter, zmq::message_t(reply.data(), reply.size()), in->outcome);
      }
    }
    if (in->kind == wire::op::call) {
      if (calls_.find(in->slot, in->seq) == in) {  // else answered already (timed out)
        calls_.remove(in->slot);
        if (in->reply.size() == 0) {
          send_error(*in, wire::error_code::internal, "could not encode the reply");
        } else {
          send_reply(*in, std::move(in->reply), in->outcome);
        }
        record_latency(*in, now);
      }
    }
    --inflight_;
    delete in;
  }
}

void server::send_error(inbound& in, wire::error_code code, std::string_view message,
                        std::string_view owner) {
  buffer_.clear();
  wire::encode_error(buffer_, in.rid, code, message, owner);
  send_reply(in, zmq::message_t(buffer_.data(), buffer_.size()), outcome_of(code),
             code == wire::error_code::wrong_owner, owner);
}

void server::send_reply(const inbound& in, zmq::message_t&& body, size_t outcome, bool retry,
                        std::string_view owner) {
  ++stats_.requests[in.op_slot][outcome];
  try {
    zmq::message_t id(in.routing_id.data(), in.routing_id.size());
    if (!socket_.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      ++stats_.dropped_replies;  // the client's queue is full; it will time out
      return;
    }
    if (in.forwarded) {
      wire::buffer h;
      host::forward_header header;
      header.fseq = in.fseq;
      header.retry = retry;  // wrong owner: the forwarding host routes again
      header.owner = std::string(owner);
      host::encode_forward_header(h, header);
      socket_.send(zmq::buffer(h.data(), h.size()), zmq::send_flags::sndmore);
    } else if (in.delimiter) {
      socket_.send(zmq::message_t(), zmq::send_flags::sndmore);
    }
    socket_.send(body, zmq::send_flags::none);
  } catch (const zmq::error_t& e) {
    ++stats_.dropped_replies;  // EHOSTUNREACH: the client went away
    spdlog::debug("reply dropped: {}", e.what());
  }
}

}  // namespace mesh::host
