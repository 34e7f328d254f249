#include "server/server.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace mesh::host {

/// One request as it travels: the frame (which the task's views point into), who sent it, and
/// the reply the worker encodes. Allocated by the dispatcher, freed by it after completion.
struct server::inbound : task {
  zmq::message_t routing_id;
  zmq::message_t frame;
  zmq::message_t reply;
  uint64_t rid = 0;
  uint64_t seq = 0;
  bool delimiter = false;
};

namespace {

constexpr int max_batch = 256;
constexpr auto housekeeping_tick = std::chrono::milliseconds(100);
constexpr size_t max_timer_queues = 64;

std::string default_name(const std::string& endpoint) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "mesh");
  const auto colon = endpoint.rfind(':');
  return std::string(host) + ":" + (colon == std::string::npos ? endpoint : endpoint.substr(colon + 1));
}

template <class Stream>
void put_str(msgpack::packer<Stream>& pk, std::string_view s) {
  pk.pack_str(static_cast<uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

}  // namespace

server::server(host_config config, zmq::context_t& context)
    : config_(std::move(config)),
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

void server::post_plugin(plugin_event event) { plugin_events_.push(std::move(event)); }

void server::stop() noexcept {
  stopping_.store(true);
  completions_.wake();
}

void server::complete(task* t, const outcome& result) noexcept {
  auto* in = static_cast<inbound*>(t);
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
    spdlog::debug("cast to {} {} failed: {}: {}", t->actor->module->name, t->actor->id,
                  wire::to_string(result.code), result.message);
  }
  completions_.push(in);
}

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
    if (!list.empty()) list += ", ";
    list += m.name + " [" + m.capability + "]";
  }
  spdlog::info("plugin loaded: {} ({} {}, ABI {}): {}", file, event.plugin->name,
               event.plugin->version, abi_version_string(event.plugin->abi_version), list);
}

void server::run() {
  zmq::pollitem_t items[] = {
      {socket_.handle(), 0, ZMQ_POLLIN, 0},
      {nullptr, completions_.fd(), ZMQ_POLLIN, 0},
      {nullptr, plugin_events_.fd(), ZMQ_POLLIN, 0},
  };
  const auto sweep_every = std::clamp<clock::duration>(config_.idle_timeout / 4,
                                                       std::chrono::milliseconds(10),
                                                       std::chrono::seconds(5));
  auto next_sweep = clock::now() + sweep_every;
  clock::time_point drain_deadline{};
  for (;;) {
    auto now = clock::now();
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(housekeeping_tick);
    if (auto next = next_deadline(); next && *next - now < wait)
      wait = std::max(std::chrono::milliseconds(0),
                      std::chrono::ceil<std::chrono::milliseconds>(*next - now));
    try {
      zmq::poll(items, 3, wait);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;  // a signal (SIGTERM) interrupted the wait: carry on
      for (auto& item : items) item.revents = 0;
    }
    receive_batch();
    drain_completions();
    if (items[2].revents & ZMQ_POLLIN) apply_pending_plugins();
    now = clock::now();
    expire_calls(now);
    if (now >= next_sweep) {
      if (size_t retired = runtime_->retire_idle(config_.idle_timeout); retired > 0)
        spdlog::debug("deactivated {} idle actors", retired);
      next_sweep = now + sweep_every;
    }
    if (stopping_.load(std::memory_order_relaxed) && !draining_) {
      draining_ = true;
      drain_deadline = now + config_.drain_timeout;
      spdlog::info("stopping: {} requests in flight, {} live actors", inflight_,
                   runtime_->live_actors());
    }
    if (draining_ && (inflight_ == 0 || now >= drain_deadline)) break;
  }
  if (inflight_ != 0)
    spdlog::warn("drain timeout: {} requests still in flight; waiting for their handlers",
                 inflight_);
  const size_t actors = runtime_->live_actors();
  runtime_->shutdown();
  drain_completions();
  // Give the last replies a moment to leave (linger 0 would drop them at close).
  socket_.set(zmq::sockopt::linger, 1000);
  spdlog::info("stopped: {} actors deactivated", actors);
}

void server::receive_batch() {
  for (int i = 0; i < max_batch; ++i) {
    auto in = std::make_unique<inbound>();
    try {
      if (!socket_.recv(in->routing_id, zmq::recv_flags::dontwait)) return;
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) return;
      throw;
    }
    bool more = in->routing_id.more();
    size_t extra_frames = 0;
    if (more) {
      (void)socket_.recv(in->frame, zmq::recv_flags::none);
      more = in->frame.more();
      if (in->frame.size() == 0 && more) {  // REQ-style empty delimiter
        in->delimiter = true;
        (void)socket_.recv(in->frame, zmq::recv_flags::none);
        more = in->frame.more();
      }
      for (zmq::message_t rest; more; more = rest.more()) {
        (void)socket_.recv(rest, zmq::recv_flags::none);
        ++extra_frames;
      }
    }
    ++stats_.requests;
    if (extra_frames != 0) {
      ++stats_.decode_errors;
      send_error(*in, wire::error_code::bad_request,
                 "expected exactly one envelope frame after the routing id");
      continue;
    }
    handle(std::move(in));
  }
}

void server::handle(std::unique_ptr<inbound> in) {
  if (draining_) {
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
  zone_.clear();
  auto req = wire::decode_request(in->frame.data<uint8_t>(), in->frame.size(), zone_);
  if (!req) {
    ++stats_.decode_errors;
    send_error(*in, req.error().code, req.error().message);
    return;
  }
  in->rid = req->rid;
  if (req->kind != wire::op::call && req->kind != wire::op::cast) {
    handle_control(*in, *req);
    return;
  }
  if (inflight_ >= config_.max_inflight) {
    send_error(*in, wire::error_code::overloaded,
               "the host has " + std::to_string(inflight_) + " requests in flight; retry later");
    return;
  }
  auto module = modules_.resolve(req->capability, req->module);
  if (!module) {
    send_error(*in, module.error().code, module.error().message);
    return;
  }
  in->kind = req->kind;
  in->payload = req->payload;
  in->init_arg = req->init_arg;
  inbound* raw = in.release();  // owned by the runtime until it completes
  ++inflight_;
  if (raw->kind == wire::op::call) {
    raw->deadline = clock::now() + std::chrono::milliseconds(req->timeout_ms);
    raw->seq = next_seq_++;
    pending_calls_.emplace(raw->seq, raw);
    track_deadline(req->timeout_ms, raw->deadline, raw->seq);
    runtime_->submit(**module, req->id.as_string(), raw);
  } else {
    // Acknowledge before the handler runs. The routing id is ours: workers never touch it.
    zmq::message_t id(raw->routing_id.data(), raw->routing_id.size());
    const bool delimiter = raw->delimiter;
    const uint64_t rid = raw->rid;
    runtime_->submit(**module, req->id.as_string(), raw);
    buffer_.clear();
    wire::encode_ok(buffer_, rid);
    send_frames(id, delimiter, zmq::message_t(buffer_.data(), buffer_.size()));
  }
}

void server::handle_control(inbound& in, const wire::request& req) {
  buffer_.clear();
  msgpack::packer<wire::buffer> pk(buffer_);
  switch (req.kind) {
    case wire::op::capabilities: {
      const auto caps = modules_.served();
      const auto mods = modules_.modules();
      wire::begin_ok(pk, in.rid, 3);
      put_str(pk, "host");
      put_str(pk, config_.name);
      put_str(pk, "caps");
      pk.pack_array(static_cast<uint32_t>(caps.size()));
      for (const auto& c : caps) put_str(pk, c);
      put_str(pk, "modules");
      pk.pack_array(static_cast<uint32_t>(mods.size()));
      for (const actor_module* m : mods) {
        pk.pack_map(3);
        put_str(pk, "mod");
        put_str(pk, m->name);
        put_str(pk, "cap");
        put_str(pk, m->capability);
        put_str(pk, "plugin");
        put_str(pk, m->plugin_file);
      }
      break;
    }
    case wire::op::register_capabilities: {
      modules_.register_capabilities(req.capabilities);
      const auto caps = modules_.served();
      std::string list;
      for (const auto& c : caps) list += (list.empty() ? "" : ",") + c;
      spdlog::info("capabilities registered; now serving: {}", list);
      wire::begin_ok(pk, in.rid, 1);
      put_str(pk, "caps");
      pk.pack_array(static_cast<uint32_t>(caps.size()));
      for (const auto& c : caps) put_str(pk, c);
      break;
    }
    case wire::op::shard:
      wire::begin_ok(pk, in.rid, 2);
      put_str(pk, "shard");
      pk.pack_uint32(wire::shard_for(req.id, config_.shards));
      put_str(pk, "shards");
      pk.pack_uint32(config_.shards);
      break;
    case wire::op::ping:
      wire::begin_ok(pk, in.rid, 2);
      put_str(pk, "host");
      put_str(pk, config_.name);
      put_str(pk, "shards");
      pk.pack_uint32(config_.shards);
      break;
    default:
      wire::encode_error(buffer_, in.rid, wire::error_code::internal, "unhandled op");
      break;
  }
  send_frames(in.routing_id, in.delimiter, zmq::message_t(buffer_.data(), buffer_.size()));
}

void server::track_deadline(uint32_t timeout_ms, clock::time_point deadline, uint64_t seq) {
  // One FIFO per distinct timeout keeps each FIFO sorted by deadline for free.
  auto it = timers_.lower_bound(timeout_ms);
  if (it == timers_.end() || it->first != timeout_ms) {
    if (timers_.size() < max_timer_queues) {
      it = timers_.emplace_hint(it, timeout_ms, std::deque<timer_entry>{});
    } else if (it == timers_.end()) {
      it = std::prev(timers_.end());  // beyond the tracked set: may expire a little late
    }
  }
  it->second.push_back(timer_entry{deadline, seq});
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
      auto it = pending_calls_.find(front.seq);
      if (it == pending_calls_.end()) {  // already answered
        fifo.pop_front();
        continue;
      }
      if (front.deadline > now) break;
      fifo.pop_front();
      inbound* in = it->second;
      pending_calls_.erase(it);
      ++stats_.timeouts;
      // The worker still owns `in`, but never touches its routing id or rid.
      send_error(*in, wire::error_code::timeout,
                 "no reply within " + std::to_string(ms) + " ms");
    }
  }
}

void server::drain_completions() {
  completed_.clear();
  completions_.take_all(completed_);
  for (inbound* in : completed_) {
    if (in->kind == wire::op::call) {
      auto it = pending_calls_.find(in->seq);
      if (it != pending_calls_.end()) {
        pending_calls_.erase(it);
        if (in->reply.size() == 0) {
          send_error(*in, wire::error_code::internal, "could not encode the reply");
        } else {
          send_frames(in->routing_id, in->delimiter, std::move(in->reply));
        }
      }
    }
    --inflight_;
    delete in;
  }
}

void server::send_error(inbound& in, wire::error_code code, std::string_view message) {
  ++stats_.errors;
  buffer_.clear();
  wire::encode_error(buffer_, in.rid, code, message);
  send_frames(in.routing_id, in.delimiter, zmq::message_t(buffer_.data(), buffer_.size()));
}

void server::send_frames(const zmq::message_t& routing_id, bool delimiter, zmq::message_t&& body) {
  try {
    zmq::message_t id(routing_id.data(), routing_id.size());
    if (!socket_.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      ++stats_.dropped_replies;  // the client's queue is full; it will time out
      return;
    }
    if (delimiter) socket_.send(zmq::message_t(), zmq::send_flags::sndmore);
    socket_.send(body, zmq::send_flags::none);
  } catch (const zmq::error_t& e) {
    ++stats_.dropped_replies;  // EHOSTUNREACH: the client went away
    spdlog::debug("reply dropped: {}", e.what());
  }
}

}  // namespace mesh::host
