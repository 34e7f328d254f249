#include "server/server.hpp"

#include "cluster/forward_header.hpp"
#include <mesh/wire/shard.hpp>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "security/authenticator.hpp"
#include "server/log_value.hpp"

namespace mesh::host {

static_assert(inbound::no_slot == slot_table<inbound>::none &&
                  inbound::no_slot == deadlines::no_slot,
              "a forward's deadline entry has no call slot");

namespace {

constexpr int max_batch = 256;
constexpr auto housekeeping_tick = std::chrono::milliseconds(100);
constexpr auto publish_every = std::chrono::milliseconds(250);

std::string default_name(const std::string& endpoint) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "mesh");
  const auto colon = endpoint.rfind(':');
  return std::string(host) + ":" + (colon == std::string::npos ? endpoint : endpoint.substr(colon + 1));
}

bool is_actor_op(wire::op kind) { return kind == wire::op::call || kind == wire::op::cast; }

}  // namespace

server::server(host_config config, zmq::context_t& context)
    : config_(std::move(config)),
      context_(context),
      socket_(context, zmq::socket_type::router),
      modules_(config_.capabilities),
      control_(control_ops::context{config_, endpoint_, modules_, cluster_,
                                    [this] { return take_snapshot(); },
                                    [this] { announce_capabilities(); }}) {
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
  runtime_config rc;
  rc.workers = config_.workers;
  rc.max_reply_bytes = std::max<size_t>(config_.max_frame, 64);
  rc.host_name = config_.name;
  runtime_ = std::make_unique<runtime>(rc, completions_);
  runtime_->set_router(this);
  std::random_device seed;
  next_actor_rid_ = (uint64_t{seed()} << 32) ^ seed();
}

server::~server() {
  runtime_.reset();  // joins the workers before the queue they push to goes away
}

void server::enable_cluster(std::unique_ptr<placement::placement_strategy> strategy, cluster_hooks hooks) {
  cluster_.enable(std::move(strategy), hooks.incarnation);
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
  if (cluster_.enabled() && hooks_.set_capabilities) hooks_.set_capabilities(modules_.served());
}

// ---------------------------------------------------------------------------------------------
// The loop

void server::rebuild_poll_items() {
  poll_items_.clear();
  poll_items_.push_back({socket_.handle(), 0, ZMQ_POLLIN, 0});
  poll_items_.push_back({nullptr, completions_.fd(), ZMQ_POLLIN, 0});
  poll_items_.push_back({nullptr, plugin_events_.fd(), ZMQ_POLLIN, 0});
  poll_items_.push_back({nullptr, membership_updates_.fd(), ZMQ_POLLIN, 0});
  poll_items_.push_back({nullptr, runtime_->outbound_fd(), ZMQ_POLLIN, 0});
  forwarder_.add_poll_items(poll_items_);  // one per peer link, after these
}

void server::run() {
  const auto sweep_every = std::clamp<clock::duration>(config_.idle_timeout / 4,
                                                       std::chrono::milliseconds(10),
                                                       std::chrono::seconds(5));
  auto next_sweep = clock::now() + sweep_every;
  clock::time_point drain_deadline{}, grace_end{};
  auto next_publish = clock::now();
  constexpr size_t fixed_items = 5;
  auto now = clock::now();  // then: the end of the previous turn's work
  for (;;) {
    if (poll_items_.empty() || forwarder_.links_changed()) rebuild_poll_items();
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(housekeeping_tick);
    if (auto next = deadlines_.next(); next && *next - now < wait)
      wait = std::max(std::chrono::milliseconds(0),
                      std::chrono::ceil<std::chrono::milliseconds>(*next - now));
    if (forwarder_.retries_waiting() || cluster_.rebalance_pending())
      wait = std::min(wait, forwarder::retry_step);
    if (const auto timer = runtime_->next_timer(); timer - now < wait)
      wait = std::max(std::chrono::milliseconds(0),
                      std::chrono::ceil<std::chrono::milliseconds>(timer - now));
    if (runtime_->inline_pending()) wait = std::chrono::milliseconds(0);
    try {
      zmq::poll(poll_items_.data(), poll_items_.size(), wait);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;  // a signal (SIGTERM) interrupted the wait: carry on
      for (auto& item : poll_items_) item.revents = 0;
    }
    const auto woke = clock::now();
    if (hooks_.pause_limit.count() > 0 && turn_start_ != clock::time_point{} &&
        woke - turn_start_ > wait + hooks_.pause_limit)
      cluster_.recover_from_pause(*runtime_, woke - turn_start_, hooks_.pause_limit);
    turn_start_ = woke;
    if (poll_items_[3].revents & ZMQ_POLLIN) apply_membership();
    // Actors' requests from the workers, and deactivations they asked for, before new mail.
    if (poll_items_[4].revents & ZMQ_POLLIN) runtime_->run_outbound();
    receive_batch();
    runtime_->run_timers(woke);
    // Actors' own calls between actors of this host run to the end here, in a few rounds
    // (each round's replies are the next round's mail), within the inline budget per round.
    for (int round = 0; round < 8; ++round) {
      runtime_->run_inline(round > 0);
      drain_completions();
      if (!runtime_->inline_pending()) break;
    }
    forwarder_.receive_replies(poll_items_.data() + fixed_items, relayed_);
    finish_forwards();
    if (poll_items_[2].revents & ZMQ_POLLIN) apply_pending_plugins();
    now = clock::now();
    expire_calls(now);
    if (const routing_table* routes = cluster_.routes()) {
      forwarder_.run_due_retries(now, *routes, returned_);
      finish_forwards();
    }
    if (cluster_.rebalance_pending()) cluster_.rebalance(*runtime_);
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
      if (cluster_.enabled() && hooks_.leave) {
        hooks_.leave();
        grace_end = now + hooks_.leave_grace;
      }
      spdlog::info("stopping: {} inflight={} actors={}", config_.name, inflight(),
                   runtime_->live_actors());
    }
    if (draining_ && ((now >= grace_end && inflight() == 0) || now >= drain_deadline)) break;
  }
  // Requests still queued on the socket get shutting_down rather than silence.
  closing_ = true;
  for (int turn = 0; turn < 10'000 && (socket_.get(zmq::sockopt::events) & ZMQ_POLLIN); ++turn)
    receive_batch();
  if (inflight() != 0)
    spdlog::warn("drain timeout: {} inflight={}; waiting for their handlers", config_.name,
                 inflight());
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
  if (closing_ || (draining_ && !cluster_.enabled())) {
    // Not run; the reply names the request, so that a pipelining client knows which one.
    in->rid = wire::read_rid(in->frame.data<uint8_t>(), in->frame.size()).value_or(0);
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
    // A readable envelope's refusal carries its rid; only an unreadable one gets rid 0.
    ++stats_.decode_errors;
    in->rid = wire::read_rid(in->frame.data<uint8_t>(), in->frame.size()).value_or(0);
    send_error(*in, req.error().code, req.error().message);
    return;
  }
  in->rid = req->rid;
  in->op_slot = static_cast<uint8_t>(req->kind);
  if (!is_actor_op(req->kind)) {
    const size_t outcome = control_.handle(*req, buffer_);
    send_reply(*in, zmq::message_t(buffer_.data(), buffer_.size()), outcome);
    return;
  }
  in->kind = req->kind;
  in->timeout_ms = req->timeout_ms;
  // Meant for an earlier (or later) run of this host, on the same endpoint: that run's view
  // and activations are not ours, and its caller may re-send the request elsewhere once it
  // learns that run is dead. Not run; the caller learns the view and sends it again.
  const uint64_t addressed = in->forwarded ? in->addressed : req->to_incarnation;
  // A host without gossip has no incarnation (0): no request can be meant for a run of it, so
  // it refuses every addressed one. A clustered host knows its own from start-up.
  if (const uint64_t incarnation = cluster_.incarnation();
      addressed != 0 && (incarnation != 0 || !cluster_.enabled()) && addressed != incarnation) {
    ++stats_.wrong_incarnation;
    send_error(*in, wire::error_code::wrong_owner,
               "addressed to incarnation " + std::to_string(addressed) + " of " + config_.name +
                   "; this is incarnation " + std::to_string(incarnation),
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
  const routing_table* routes = cluster_.routes();
  if (routes == nullptr) {
    serve_locally(std::move(in), req);
    return;
  }
  const uint32_t shard = wire::shard_for(req.id, config_.shards);
  const discovery::member_record* owner = routes->owner(req.capability, shard);
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
    if (in->origin != nullptr && in->frame.size() == 0) {
      // An actor's request leaves the host: now it needs an envelope. "once" with a rid unique
      // to this host, so that a forward the forwarder sends again runs at most once.
      wire::request out = req;
      out.rid = in->rid;
      out.timeout_ms = in->timeout_ms;
      out.once = true;
      actor_frame_.clear();
      wire::encode_request(actor_frame_, out);
      in->frame.rebuild(actor_frame_.data(), actor_frame_.size());
    }
    forwarder_.forward(std::move(in), *owner, routes->epoch());
  }
}

void server::route_from_actor(actor_request_ptr request) {
  if (request->refused != wire::error_code::none) {
    if (request->want_reply)
      runtime_->deliver_reply(*request, false, request->refused, request->refusal);
    return;
  }
  auto in = std::make_unique<inbound>();
  const bool call = request->kind == actor_request::what::call;
  in->kind = call ? wire::op::call : wire::op::cast;
  in->op_slot = static_cast<uint8_t>(in->kind);
  in->rid = next_actor_rid_++;
  in->timeout_ms = request->timeout_ms;
  in->deadline = clock::now() + std::chrono::milliseconds(request->timeout_ms);
  wire::request req;
  req.kind = in->kind;
  req.rid = in->rid;
  req.capability = request->capability();
  req.module = request->module();
  req.id = request->id();
  req.payload = request->payload();
  req.timeout_ms = request->timeout_ms;
  req.chain = request->chain();
  req.chain_len = request->chain_len;
  in->origin = std::move(request);  // the views above point into its bytes, which stay put
  if (closing_ || draining_) {
    send_error(*in, wire::error_code::shutting_down, "the host is stopping");
    return;
  }
  route(std::move(in), req);
}

void server::answer_actor(const inbound& in, bool ok, wire::error_code code, std::string_view body) {
  if (!in.origin->want_reply) {
    if (!ok)
      spdlog::debug("actor cast failed: from={}/{} to={}/{} code={} msg={}",
                    in.origin->caller->name, log_value(in.origin->caller_id()),
                    log_value(in.origin->module()), log_value(in.origin->id().as_string()),
                    wire::to_string(code), log_value(body));
    return;
  }
  runtime_->deliver_reply(*in.origin, ok, code, body);
}

void server::serve_locally(std::unique_ptr<inbound> in, const wire::request& req) {
  if (draining_ && !cluster_.enabled()) {
    send_error(*in, wire::error_code::shutting_down, "the host is stopping");
    return;
  }
  if (cluster_.refusing_requests()) {
    // Queued before or during a pause: the caller has likely had it run by the key's new
    // owner already. Not run here; the client re-sends it (docs/RELIABILITY.md, S3).
    send_error(*in, wire::error_code::overloaded,
               "the host was paused long enough to be declared dead; retry later");
    return;
  }
  if (const size_t inflight = this->inflight(); inflight >= config_.max_inflight) {
    send_error(*in, wire::error_code::overloaded,
               "the host has " + std::to_string(inflight) + " requests in flight; retry later");
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
  in->chain = req.chain;
  in->chain_len = static_cast<uint8_t>(req.chain_len);
  ++inflight_;
  if (in->kind == wire::op::call) {
    inbound* raw = in.release();  // owned by the runtime until it completes
    raw->seq = deadlines_.next_seq();
    raw->slot = calls_.add(raw->seq, raw);
    deadlines_.track(raw->timeout_ms, raw->deadline, raw->seq, raw->slot);
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
// What the forwarder hands back, the view, deadlines

void server::finish_forwards() {
  for (relayed_reply& r : relayed_) send_reply(*r.in, std::move(r.body), outcome_forwarded);
  relayed_.clear();
  for (returned_request& r : returned_) {
    if (r.serve_here) {
      serve_locally(std::move(r.in), r.req);
    } else {
      send_error(*r.in, r.code, r.message);
    }
  }
  returned_.clear();
}

void server::apply_membership() {
  std::vector<std::shared_ptr<const discovery::membership_snapshot>> updates;
  membership_updates_.take_all(updates);
  if (cluster_.apply(updates)) forwarder_.view_changed(*cluster_.routes());
}

void server::expire_calls(clock::time_point now) {
  deadlines_.expire(
      now,
      [this](const deadline_entry& e) {
        return e.slot == deadlines::no_slot ? !forwarder_.waiting(e.seq)
                                            : calls_.find(e.slot, e.seq) == nullptr;
      },
      [this, now](const deadline_entry& e, uint32_t timeout_ms) {
        const std::string message = "no reply within " + std::to_string(timeout_ms) + " ms";
        if (e.slot != deadlines::no_slot) {
          // The worker still owns the task, but never touches its routing id or rid.
          inbound* call = calls_.find(e.slot, e.seq);
          calls_.remove(call->slot);
          send_error(*call, wire::error_code::timeout, message);
          record_latency(*call, now);
        } else {
          std::unique_ptr<inbound> in = forwarder_.take(e.seq);
          send_error(*in, wire::error_code::timeout, message);
        }
      });
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
  s.services.calls = r.actor_calls.load(std::memory_order_relaxed);
  s.services.casts = r.actor_casts.load(std::memory_order_relaxed);
  s.services.deferred_replies = r.deferred_replies.load(std::memory_order_relaxed);
  s.services.timer_firings = r.timer_firings.load(std::memory_order_relaxed);
  s.services.messages_dropped = r.messages_dropped.load(std::memory_order_relaxed);
  s.services.refused = r.services_refused.load(std::memory_order_relaxed);
  s.services.timers_armed = runtime_->timers_armed();
  for (const actor_module* m : modules_.modules()) {
    const int64_t live = std::max<int64_t>(0, m->instances.load(std::memory_order_relaxed));
    s.by_module.push_back({m->capability, m->name, static_cast<uint64_t>(live)});
    s.live_actors += static_cast<uint64_t>(live);
  }
  s.inflight = inflight();
  s.run_queue = runtime_->run_queue_length();
  if (config_.security) {
    s.curve = true;
    for (size_t role = 0; role < security::socket_role_count; ++role)
      for (size_t d = 0; d < security::denial_count; ++d)
        s.auth_denied[role][d] = config_.security->counters().denied(
            static_cast<security::socket_role>(role), static_cast<security::denial>(d));
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
// Completions and replies

void server::drain_completions() {
  completed_.clear();
  completions_.take_all(completed_);  // from the workers, then those run inline
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
    if (in->kind == wire::op::call && in->origin != nullptr) {
      if (calls_.find(in->slot, in->seq) == in) {
        calls_.remove(in->slot);
        const auto code = static_cast<wire::error_code>(in->outcome);
        answer_actor(*in, in->outcome == outcome_ok, code,
                     std::string_view(in->reply.data<char>(), in->reply.size()));
      } else {
        ++stats_.late_replies;
      }
    } else if (in->kind == wire::op::call) {
      if (calls_.find(in->slot, in->seq) != in) {
        ++stats_.late_replies;  // answered already (timed out)
      } else {
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
  if (in.origin != nullptr) {
    answer_actor(in, false, code, message);
    return;
  }
  buffer_.clear();
  wire::encode_error(buffer_, in.rid, code, message, owner);
  send_reply(in, zmq::message_t(buffer_.data(), buffer_.size()), outcome_of(code),
             code == wire::error_code::wrong_owner, owner);
}

void server::send_reply(const inbound& in, zmq::message_t&& body, size_t outcome, bool retry,
                        std::string_view owner) {
  if (in.origin != nullptr) {
    // An envelope for an actor's request: the owner's reply relayed, or this host's ack.
    auto rep = wire::decode_reply(body.data<uint8_t>(), body.size());
    if (!rep) {
      answer_actor(in, false, wire::error_code::internal,
                   "the owner's reply could not be decoded: " + rep.error().message);
    } else if (rep->ok) {
      answer_actor(in, true, wire::error_code::none, rep->body.as_string());
    } else {
      answer_actor(in, false,
                   wire::error_code_from_string(rep->error_code).value_or(wire::error_code::internal),
                   rep->error_message);
    }
    return;
  }
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
